"""Two collector processes given the same work (the same ``--shard K/N``) on one shared store: every (source,
account, region) is collected once, by one of them; the other skips it (a run row ``skipped``, not a failure). On a
PostgreSQL catalog the guard is a session's advisory lock, on a local catalog an OS file lock beside it.

The processes run this module (``python -m tests.collectors.test_same_shard child ...``): a cycle of fake sources
that hold their transaction for a moment each, as a source's AWS calls do."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from collectors import runner
from collectors.base import Batch, Context
from sextant.schema import table
from sextant.settings import Settings
from sextant.store import open_reader, open_writer
from tests.collectors.test_runner import _NoAws
from tests.collectors.test_shard_emulated import SOURCES as REAL
from tests.collectors.test_shard_emulated import _collect
from tests.collectors.test_shard_emulated import _regions as _two_regions
from tests.conftest import ROOT
from tests.lake_fixtures import PostgresCluster

pytestmark = pytest.mark.slow  # DuckLake catalogs and child processes: make test only

UNIT = table("fake_unit", "One row per source and region, naming the process that collected it.",
             [("k", "VARCHAR", "Source and region."), ("pid", "BIGINT", "The collector process.")], ["k"])
CANDIDATES = ("eu-west-1", "us-east-1", "us-west-2", "ap-south-1", "eu-central-1", "us-east-2", "ap-northeast-1",
              "ca-central-1")
SHARD = runner.Shard(1, 2)
SOURCES = ("alpha", "beta")
HOLD_S = 0.6


def _regions() -> tuple[str, ...]:
    account = Settings().accounts[0].name
    return tuple(r for r in CANDIDATES if SHARD.owns(account, r))


class _Clients(_NoAws):
    regions = _regions()  # type: ignore[assignment]


def _source(name: str) -> SimpleNamespace:
    def collect(ctx: Context) -> Iterator[Batch]:
        time.sleep(HOLD_S)  # inside the run, as its AWS calls are
        yield UNIT, [ctx.rows(k=f"{name}-{ctx.region}", pid=os.getpid())]
    return SimpleNamespace(NAME=name, GLOBAL=False, DEPENDS_ON=(), TABLES=(UNIT,), collect=collect)


def _child(settings: Settings, start_at: float) -> None:
    """One collector process: open the store, wait for the common start, one cycle of shard 1/2; its results as
    JSON on stdout."""
    writer = open_writer(settings)
    try:
        writer.migrate([UNIT])
        time.sleep(max(0.0, start_at - time.time()))
        cycle = runner.run_cycle(settings, writer, [_source(n) for n in SOURCES],
                                 clients_for=lambda _: _Clients(), shard=SHARD)
    finally:
        writer.close()
    print(json.dumps([[r.source, r.region, r.status, r.error, r.attempts] for r in cycle.results]))


def _settings(kind: str, root: Path, cluster: PostgresCluster | None) -> Settings:
    settings = replace(Settings(store=root / "store"), store_backend="ducklake")
    if kind == "postgres":
        assert cluster is not None
        settings = replace(settings, catalog=f"postgres:{cluster.dsn(cluster.create_database())}",
                           data_path=str(root / "data"))
    return settings


@pytest.mark.parametrize("kind", ["postgres", "sqlite"])
def test_two_collectors_with_the_same_shard_collect_each_unit_once(kind: str, tmp_path: Path,
                                                                   request: pytest.FixtureRequest) -> None:
    cluster = request.getfixturevalue("postgres") if kind == "postgres" else None
    settings = _settings(kind, tmp_path, cluster)
    first = open_writer(settings)  # the catalog and tables exist before the two start
    try:
        first.migrate([UNIT])
    finally:
        first.close()
    start_at = time.time() + 6  # both have loaded their extensions and attached by then
    args = [sys.executable, "-m", "tests.collectors.test_same_shard", "child", json.dumps(
        {"store": str(settings.store), "catalog": settings.catalog, "data_path": settings.data_path}), str(start_at)]
    procs = [subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(err for _, err in outs)
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]

    units = [(s, r) for r in _regions() for s in SOURCES]
    done = Counter((s, r) for result in results for s, r, status, *_ in result if status == "succeeded")
    assert done == Counter(units), "every unit collected exactly once"
    skipped = [(s, r, error) for result in results for s, r, status, error, _ in result if status == "skipped"]
    assert sorted((s, r) for s, r, _ in skipped) == sorted(units)  # and skipped by the other, with why
    assert all(error.startswith(("running elsewhere", "collected elsewhere")) for *_, error in skipped)
    assert all(status in ("succeeded", "skipped") for result in results for _, _, status, *_ in result)
    assert all(r.count("succeeded") for r in ([status for *_, status, _, _ in result] for result in results)), \
        "both collectors did part of the work"

    reader = open_reader(settings)
    try:
        cur = reader.cursor()
        assert cur is not None
        rows = cur.execute("SELECT k, count(*) FROM fake_unit GROUP BY k").fetchall()
        runs = Counter(s for (s,) in cur.execute("SELECT status FROM sextant_collection_run").fetchall())
    finally:
        reader.close()
    assert sorted(rows) == sorted((f"{s}-{r}", 1) for s, r in units)
    assert runs == Counter({"succeeded": len(units), "skipped": len(units)})


if __name__ == "__main__" and sys.argv[1:2] == ["child"]:
    where = json.loads(sys.argv[2])
    _child(replace(Settings(store=Path(where["store"])), store_backend="ducklake", catalog=where["catalog"],
                   data_path=where["data_path"]), float(sys.argv[3]))


@pytest.mark.emulated
def test_two_cli_collectors_with_the_same_shard_never_run_a_source_twice_at_once(
        account: object, postgres: PostgresCluster, tmp_path: Path) -> None:
    """The real command twice with the same ``--shard`` on one PostgreSQL catalog, against the emulated account:
    every source of every region is collected, no two runs of one (source, account, region) overlap in time, and each
    collector either collected or skipped each unit."""
    regions = _two_regions()
    catalog = f"postgres:{postgres.dsn(postgres.create_database())}"
    config = tmp_path / "team.toml"
    config.write_text(f'[store]\nlocation = "{tmp_path / "store"}"\nbackend = "ducklake"\ncatalog = "{catalog}"\n'
                      f'data_path = "{tmp_path / "data"}"\n\n[[accounts]]\nname = "ml-prod"\n'
                      f"regions = [{', '.join(json.dumps(r) for r in regions)}]\n")
    procs = [_collect(config, "--shard", "1/1") for _ in range(2)]  # the same work, at the same time
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(outs)
    settings = replace(Settings(store=tmp_path / "store"), store_backend="ducklake", catalog=catalog,
                       data_path=str(tmp_path / "data"))
    reader = open_reader(settings)
    try:
        cur = reader.cursor()
        assert cur is not None
        runs = cur.execute("SELECT source, account_id, region, status, error, started_at, ended_at, run_id "
                           "FROM sextant_collection_run").fetchall()
    finally:
        reader.close()
    collected = [r for r in runs if r[3] in ("succeeded", "partial")]
    assert {r[0] for r in collected} == set(REAL)
    assert all(r[3] in ("succeeded", "partial", "skipped") for r in runs), [r for r in runs if r[3] == "failed"]
    by_unit: dict[tuple[str, str, str], list[tuple[Any, ...]]] = {}
    for r in collected:
        by_unit.setdefault((r[0], r[1], r[2]), []).append(r)
    for unit, done in by_unit.items():
        spans = sorted((r[5], r[6]) for r in done)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), f"{unit} ran twice at once: {spans}"
    assert len(runs) == 2 * len(by_unit), "each collector collected or skipped each unit once"
