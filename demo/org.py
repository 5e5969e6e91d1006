"""``python -m demo.org``: the emulated account as an organisation of N like accounts (``--accounts N``).

The demo's world has one large account (the ML platform's) and one small one (forecasting). A measurement of sharded
collection needs accounts of equal weight, or the figure measures the largest account rather than the sharding: this
module builds the world as ``python -m demo`` does, then gives each further member account (ids :data:`MEMBERS`) a copy
of the main account's ML resources (endpoints and their timelines, model packages, training and processing jobs,
pipelines and their executions). A member account is reached as a real one would be, with AssumeRole into it
(``role_arn = "arn:aws:iam::<id>:role/..."`` in sextant.toml; see :func:`settings_toml`). Every other option is
``python -m demo``'s, including the per-request latency (``SEXTANT_DEMO_LATENCY_MS``, demo/server.py).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import datetime
from typing import Any

from demo import world as world_mod

# The member accounts after the main one, in order (``--accounts 4``: the main account and the first three).
MEMBERS = ("111122223333", "222233334444", "333344445555", "444455556666", "555566667777", "666677778888",
           "777788889999")
ROLE = "SextantReadOnly"


def member_ids(accounts: int) -> list[str]:
    """The account ids of an organisation of ``accounts`` accounts: the main account first."""
    if not 1 <= accounts <= len(MEMBERS) + 1:
        raise ValueError(f"--accounts {accounts}: between 1 and {len(MEMBERS) + 1}")
    return [world_mod.MAIN_ACCOUNT, *MEMBERS[:accounts - 1]]


def copy_main(world: world_mod.World, account: str) -> None:
    """Give ``account`` a copy of the main account's ML resources, in place (names repeat: they are per account)."""
    main = world_mod.MAIN_ACCOUNT

    def mine(items: list[Any]) -> list[Any]:
        return [replace(x, account=account) for x in items if x.account == main]

    world.teams += mine(world.teams)
    world.endpoints += mine(world.endpoints)
    world.packages += mine(world.packages)
    world.training_jobs += mine(world.training_jobs)
    world.pipelines += mine(world.pipelines)
    world.pipeline_executions += mine(world.pipeline_executions)
    world.processing_jobs += mine(world.processing_jobs)
    for e in [e for e in world.endpoints if e.account == main]:
        for v in e.variants:
            for state in world.timeline.states(main, e.name, v.name):
                world.timeline.record(replace(state, account=account))


def build(seed: int = 7, anchor: datetime | None = None, accounts: int = 4) -> world_mod.World:
    """The demo's world, with member accounts 2..``accounts`` holding copies of the main account's resources."""
    world = world_mod.build_world(seed, anchor)
    for account in member_ids(accounts)[1:]:
        copy_main(world, account)
    return world


def settings_toml(accounts: int, regions: tuple[str, ...] = ("us-east-1",), names: list[str] | None = None) -> str:
    """The ``[[accounts]]`` of sextant.toml for the organisation: the main account from the environment, each member
    by AssumeRole (``names``: the accounts' names in the settings; default org-1..org-N)."""
    ids = member_ids(accounts)
    names = names or [f"org-{i + 1}" for i in range(len(ids))]
    region_list = ", ".join(f'"{r}"' for r in regions)
    out = []
    for name, account in zip(names, ids, strict=True):
        role = "" if account == world_mod.MAIN_ACCOUNT else f'role_arn = "arn:aws:iam::{account}:role/{ROLE}"\n'
        out.append(f'[[accounts]]\nname = "{name}"\n{role}regions = [{region_list}]\n')
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m demo.org [--accounts N] [python -m demo's options]``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    accounts = 4
    if "--accounts" in argv:
        i = argv.index("--accounts")
        try:
            accounts = int(argv[i + 1])
            member_ids(accounts)
        except (IndexError, ValueError) as exc:
            print(f"python -m demo.org: --accounts: {exc}", file=sys.stderr)
            return 2
        del argv[i:i + 2]
    original = world_mod.build_world

    def build_org(seed: int = 7, anchor: datetime | None = None) -> world_mod.World:
        world = original(seed, anchor)
        for account in member_ids(accounts)[1:]:
            copy_main(world, account)
        return world

    world_mod.build_world = build_org  # demo.server.start builds the world through this name
    from demo.__main__ import main as demo_main

    return int(demo_main(argv))


if __name__ == "__main__":
    raise SystemExit(main())
