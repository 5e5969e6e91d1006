"""Placeholder: filled in by the resources work."""

from demo.world import World


def install(world: World) -> None:
    pass


def seed(world: World) -> None:
    pass
