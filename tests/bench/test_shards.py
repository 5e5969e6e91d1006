"""bench/shards.py's pieces, so that the script does not rot: the organisation (demo/org.py), the balanced account
names, and a tiny run of every phase (two accounts, two shards, one source, no latency) on a private PostgreSQL."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import shards
from collectors.runner import Shard
from demo import org
from demo import world as world_mod
from sextant.settings import load

pytestmark = pytest.mark.emulated


def test_each_member_account_holds_a_copy_of_the_main_accounts_resources() -> None:
    world = org.build(7, accounts=3)
    ids = org.member_ids(3)
    assert ids[0] == world_mod.MAIN_ACCOUNT and len(set(ids)) == 3
    for items in (world.endpoints, world.packages, world.training_jobs, world.pipelines, world.processing_jobs):
        counts = Counter(x.account for x in items)
        assert counts[ids[1]] == counts[ids[2]] == counts[ids[0]] > 0
    main = world.endpoint("nlp-summarizer-prod")
    copy = world.endpoint("nlp-summarizer-prod", ids[1])
    variant = main.variants[0].name
    assert ([(s.time, s.count) for s in world.timeline.states(ids[1], copy.name, variant)]
            == [(s.time, s.count) for s in world.timeline.states(ids[0], main.name, variant)] != [])
    with pytest.raises(ValueError, match="--accounts"):
        org.member_ids(0)


def test_the_organisations_settings_reach_each_member_by_assume_role(tmp_path: Path) -> None:
    config = tmp_path / "sextant.toml"
    config.write_text(org.settings_toml(3, names=["a", "b", "c"]))
    accounts = load(config).accounts
    assert [a.name for a in accounts] == ["a", "b", "c"]
    assert accounts[0].role_arn is None
    assert [a.role_arn for a in accounts[1:]] == [f"arn:aws:iam::{i}:role/{org.ROLE}" for i in org.member_ids(3)[1:]]


@pytest.mark.parametrize(("accounts", "count"), [(4, 4), (2, 2), (8, 4), (3, 2)])
def test_the_account_names_spread_evenly_over_the_shards(accounts: int, count: int) -> None:
    names = shards.balanced_names(accounts, count)
    owners = Counter(k for name in names for k in range(1, count + 1) if Shard(k, count).owns(name, shards.REGION))
    assert len(names) == len(set(names)) == accounts
    assert max(owners.values()) - min(owners.values()) <= 1 and len(owners) == min(accounts, count)


def test_a_tiny_run_of_every_phase_is_clean(tmp_path: Path) -> None:
    from tests.lake_fixtures import start_postgres, stop_postgres

    args = argparse.Namespace(accounts=2, shards=2, latency_ms=0.0, sources=["sagemaker_endpoints"],
                              minutes=0.75, every="5s", readers=1, pages=["endpoints (list)", "collection"],
                              action_every=5.0, settle=15.0, kills=1, kill_sources=["sagemaker_endpoints"],
                              seed=1, cold_catalog=False, server_per_account=True)
    cluster = start_postgres()
    try:
        speed = shards.speed(args, tmp_path / "speed", cluster)
        assert speed["ok"], speed["failed"]
        assert speed["returncodes"] == [0, 0, 0] and speed["ratio"] > 0
        soak = shards.soak(args, tmp_path / "soak", cluster)
        assert soak["queries"] > 0 and soak["actions"] and soak["rows"] > 0
        assert soak["differences"] == {}, soak["differences"]
        assert soak["reference"]["returncode"] == 0
        kills = shards.kills(args, tmp_path / "kills", cluster)
        assert kills["kills"] == 1 and kills["violations"] == [] and kills["rerun_differences"] == {}, kills
        assert kills["ok"]
    finally:
        stop_postgres(cluster)


def test_the_soak_store_may_hold_more_observed_states_of_the_scaled_endpoint_only() -> None:
    other = ("123456789012", "us-east-1", "fraud-txn-scorer-prod", "AllTraffic", "ml.m5.large", 2, 2)
    scaled = ("123456789012", "us-east-1", shards.ENDPOINT, "AllTraffic", "ml.g5.xlarge", 3, 3)
    ref: dict[str, list[tuple[Any, ...]]] = {"aws_sagemaker_endpoint": [("a",)], shards.OBSERVED_HISTORY: [other]}
    assert shards.compare_soak({**ref, shards.OBSERVED_HISTORY: [other, scaled]}, ref) == ({}, [scaled])
    diff, _ = shards.compare_soak({**ref, shards.OBSERVED_HISTORY: [scaled]}, ref)
    assert list(diff) == [shards.OBSERVED_HISTORY]  # a reference state is missing
    diff, _ = shards.compare_soak({**ref, shards.OBSERVED_HISTORY: [other, other[:2] + ("x",) + other[3:]]}, ref)
    assert list(diff) == [shards.OBSERVED_HISTORY]  # another endpoint's extra state
    diff, _ = shards.compare_soak({**ref, "aws_sagemaker_endpoint": [("b",)]}, ref)
    assert list(diff) == ["aws_sagemaker_endpoint"]
