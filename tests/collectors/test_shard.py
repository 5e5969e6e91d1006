"""Sharded collection (``python -m collectors run --shard K/N``, collectors.runner.Shard): N shards divide the
(account, region) units, each unit owned by exactly one, and each run row names its shard; a commit that conflicts
with another collector's on a shared store is retried on top of it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from types import SimpleNamespace

import pytest

from collectors import runner
from collectors.__main__ import main
from collectors.base import Batch, Context
from sextant.schema import table
from sextant.settings import Settings
from sextant.store import Writer, open_writer
from tests.collectors.test_runner import THING, _NoAws

REGIONS = ("eu-west-1", "us-east-1", "us-west-2", "ap-south-1")


class _Regions(_NoAws):
    regions = REGIONS


def test_shards_divide_every_unit_exactly_once():
    units = [(f"team-{i}", region) for i in range(10) for region in REGIONS]
    for n in range(1, 6):
        shards = [runner.Shard(k, n) for k in range(1, n + 1)]
        owners = {u: [s for s in shards if s.owns(*u)] for u in units}
        assert all(len(o) == 1 for o in owners.values()), n
        assert all(sum(o == [s] for o in owners.values()) >= 3 for s in shards), n  # none left idle
    assert runner.Shard(2, 3).owns("team-1", "us-east-1") == runner.Shard.parse("2/3").owns("team-1", "us-east-1")


@pytest.mark.parametrize("text", ["0/2", "3/2", "a/b", "2", "1/0", ""])
def test_a_wrong_shard_is_refused_with_the_form_to_use(text, capsys):
    with pytest.raises(ValueError, match="use K/N with 1 <= K <= N"):
        runner.Shard.parse(text)
    with pytest.raises(SystemExit) as stop:
        main(["run", "--shard", text])
    assert stop.value.code == 2 and "use K/N" in capsys.readouterr().err


def _source(name: str) -> SimpleNamespace:
    def collect(ctx: Context) -> Iterator[Batch]:
        yield THING, [ctx.rows(k=f"{name}-{ctx.region}")]
    return SimpleNamespace(NAME=name, GLOBAL=False, DEPENDS_ON=(), TABLES=(THING,), collect=collect)


def test_two_shards_collect_every_region_once_and_record_their_shard(tmp_path):
    sources = [_source("a"), _source("b")]
    w = Writer(tmp_path / "store")
    try:
        w.migrate([THING])
        for shard in (runner.Shard(1, 2), runner.Shard(2, 2)):
            runner.run_cycle(Settings(store=tmp_path / "store"), w, sources, clients_for=lambda _: _Regions(),
                             shard=shard)
        runs = w.con.execute("SELECT source, region, shard FROM sextant_collection_run").fetchall()
        rows = sorted(r[0] for r in w.con.execute("SELECT k FROM fake_thing").fetchall())
    finally:
        w.close()
    assert sorted((s, r) for s, r, _ in runs) == sorted((s.NAME, r) for s in sources for r in REGIONS)
    account = Settings().accounts[0].name
    for _, region, shard in runs:
        assert runner.Shard.parse(shard).owns(account, region)
    assert {shard for *_, shard in runs} == {"1/2", "2/2"}  # the work was divided, not done by one
    assert rows == sorted(f"{s.NAME}-{r}" for s in sources for r in REGIONS)


def test_a_region_filter_collects_that_region_only(tmp_path):
    w = Writer(tmp_path / "store")
    try:
        w.migrate([THING])
        cycle = runner.run_cycle(Settings(store=tmp_path / "store"), w, [_source("a")],
                                 clients_for=lambda _: _Regions(), region_filter="us-west-2")
    finally:
        w.close()
    assert [(r.region, r.status) for r in cycle.results] == [("us-west-2", "succeeded")]


VALUED = table("fake_valued", "A row with a value two writers race on.", [("k", "VARCHAR", "Key."),
                                                                           ("v", "VARCHAR", "Who wrote it.")], ["k"])


@pytest.mark.slow  # a DuckLake catalog: make test only
def test_a_commit_conflicting_with_another_collectors_is_retried_on_top_of_it(tmp_path):
    settings = replace(Settings(store=tmp_path / "store"), store_backend="ducklake")
    mine, other = open_writer(settings), open_writer(settings)
    try:
        mine.migrate([VALUED])
        row = {"account_id": "1", "region": "eu-west-1", "k": "x"}
        with mine.transaction():
            mine.upsert(VALUED, [{**row, "v": "before"}])
        attempts = []

        def collect(ctx: Context) -> Iterator[Batch]:
            attempts.append(ctx.region)
            if len(attempts) == 1:  # meanwhile another collector replaces the same row and commits first
                with other.transaction():
                    other.upsert(VALUED, [{**row, "v": "other"}])
            yield VALUED, [ctx.rows(k="x", v=f"mine-{len(attempts)}")]

        source = SimpleNamespace(NAME="racer", GLOBAL=False, DEPENDS_ON=(), TABLES=(VALUED,), collect=collect)
        cycle = runner.run_cycle(settings, mine, [source], clients_for=lambda _: _NoAws())
        rows = mine.con.execute("SELECT k, v FROM fake_valued").fetchall()
        runs = mine.con.execute("SELECT source, status FROM sextant_collection_run").fetchall()
    finally:
        mine.close()
        other.close()
    assert len(attempts) == 2, "the conflicting commit was tried again"
    assert [r.status for r in cycle.results] == ["succeeded"]
    assert rows == [("x", "mine-2")] and runs == [("racer", "succeeded")]


@pytest.mark.slow  # a DuckLake catalog: make test only
def test_a_source_another_collector_is_running_is_skipped_and_recorded_not_failed(tmp_path):
    settings = replace(Settings(store=tmp_path / "store"), store_backend="ducklake")
    mine, other = open_writer(settings), open_writer(settings)
    try:
        mine.migrate([THING])
        with other.run_guard("a", "1", "eu-west-1") as got:  # another collector is running source a there
            assert got
            cycle = runner.run_cycle(settings, mine, [_source("a"), _source("b")], clients_for=lambda _: _NoAws())
        runs = sorted(mine.con.execute("SELECT source, status, error FROM sextant_collection_run").fetchall())
        rows = mine.con.execute("SELECT k FROM fake_thing").fetchall()
        with mine.run_guard("a", "1", "eu-west-1") as again:  # released when the other's run ended
            assert again
    finally:
        mine.close()
        other.close()
    assert [(r.source, r.status) for r in cycle.results] == [("a", "skipped"), ("b", "succeeded")]
    assert not cycle.failed
    assert runs == [("a", "skipped", runner.RUNNING_ELSEWHERE), ("b", "succeeded", None)]
    assert rows == [("b-eu-west-1",)]
