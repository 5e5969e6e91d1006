"""Two collector processes, ``--shard 1/2`` and ``--shard 2/2``, at the same time on one shared store (DuckLake on a
local catalog) against the emulated account: together they collect every source of every region once, each run row
names the shard that owns its region, nothing fails for another's commit, and the endpoints equal an unsharded
collection's."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import collectors
from collectors.runner import Shard
from sextant.settings import Settings
from sextant.store import open_reader
from tests.conftest import ROOT

pytestmark = [pytest.mark.emulated, pytest.mark.slow]
CANDIDATES = ("us-east-1", "us-west-2", "eu-west-1", "ap-south-1", "eu-central-1", "us-east-2")
NAME = "ml-prod"
# every SageMaker and alarm source (they write two dozen tables, the same ones in both shards); the metrics, logs and
# bill sources (a minute of calls on this machine) add nothing to what is shown here
SOURCES = ("sagemaker_endpoints", "sagemaker_training", "sagemaker_processing", "sagemaker_registry",
           "sagemaker_pipelines", "cloudwatch_alarms", "application_autoscaling", "ecr", "eventbridge")


def _regions() -> list[str]:
    """The first two candidate regions that the two shards own one each (the main region, where the demo's
    resources are, first)."""
    first = CANDIDATES[0]
    other = next(r for r in CANDIDATES[1:] if Shard(1, 2).owns(NAME, r) != Shard(1, 2).owns(NAME, first))
    return [first, other]


def _config(tmp_path: Path, store: Path, regions: list[str]) -> Path:
    path = tmp_path / f"{store.name}.toml"
    path.write_text(f'[store]\nlocation = "{store}"\nbackend = "ducklake"\n\n[[accounts]]\nname = "{NAME}"\n'
                    f"regions = [{', '.join(repr(r).replace(chr(39), chr(34)) for r in regions)}]\n")
    return path


def _collect(config: Path, *extra: str) -> subprocess.Popen:
    only = [arg for name in SOURCES for arg in ("--source", name)]
    return subprocess.Popen([sys.executable, "-m", "collectors", "run", "--once", "--quiet", "--config", str(config),
                             *only, *extra], cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _read(store: Path, sql: str) -> list[tuple]:
    reader = open_reader(replace(Settings(store=store), store_backend="ducklake"))
    try:
        return sorted(reader.cursor().execute(sql).fetchall(), key=repr)
    finally:
        reader.close()


def test_two_shards_at_once_collect_everything_once(account, tmp_path):
    regions = _regions()
    sharded, whole = tmp_path / "sharded", tmp_path / "whole"
    config = _config(tmp_path, sharded, regions)
    procs = [_collect(config, "--shard", f"{k}/2") for k in (1, 2)]  # at the same time
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    runs = _read(sharded, "SELECT source, region, shard, status, error FROM sextant_collection_run")
    sources = {s.NAME: s for s in collectors.by_name(list(SOURCES))}
    expected = sorted((name, r) for name, s in sources.items() for r in regions if not s.GLOBAL or r == regions[0])
    assert sorted((s, r) for s, r, *_ in runs) == expected
    assert {shard for _, _, shard, *_ in runs} == {"1/2", "2/2"}
    for _, region, shard, status, error in runs:
        assert Shard.parse(shard).owns(NAME, region)
        assert status in ("succeeded", "partial"), error

    p = _collect(_config(tmp_path, whole, regions))
    assert p.wait(timeout=600) == 0, p.communicate()[0]
    endpoints = "SELECT account_id, region, endpoint_name FROM aws_sagemaker_endpoint"
    assert _read(sharded, endpoints) == _read(whole, endpoints) != []
