"""Placeholder: filled in by the costs work."""

from demo.world import World


def install(world: World) -> None:
    pass


def seed(world: World) -> None:
    pass
