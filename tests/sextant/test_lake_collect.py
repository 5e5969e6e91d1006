"""The collectors' whole write path on DuckLake (a local catalog): every source collects without failure, a rerun adds
no duplicate key, and the deterministic sources' tables equal a DuckDB store's row for row (against a frozen emulated
account, so that two collections see the same data)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

import collectors
from collectors import runner
from sextant.schema import ident
from sextant.settings import Settings
from sextant.store import StoreWriter, open_writer
from tests.conftest import Account, start_account, stop_account
from tests.reliability import storecmp
from tests.reliability.conftest import DETERMINISTIC_SOURCES, aws_env

pytestmark = pytest.mark.emulated


@pytest.fixture(scope="module")
def frozen_account(tmp_path_factory) -> Iterator[Account]:
    acc = start_account(tmp_path_factory.mktemp("frozen"), live=False)
    yield acc
    stop_account(acc)


def _collect(settings: Settings, acc: Account, sources: list[str] | None = None) -> runner.CycleResult:
    with aws_env(acc):
        writer = open_writer(settings)
        try:
            collectors.migrate(writer)
            cycle = runner.run_cycle(settings, writer, collectors.by_name(sources))
            writer.publish()
        finally:
            writer.close()
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]
    return cycle


def _dump(writer: StoreWriter, sources: list[str]) -> dict[str, list[tuple]]:
    return {**storecmp.dump(writer.con, storecmp.source_tables(sources)),
            "sextant_watermark": storecmp.watermarks(writer.con, sources)}


def test_the_deterministic_sources_collect_into_a_lake_as_into_the_duckdb_file(frozen_account, tmp_path):
    duck = Settings(store=tmp_path / "duck")
    lake = Settings(store=tmp_path / "lake", store_backend="ducklake")
    _collect(duck, frozen_account, DETERMINISTIC_SOURCES)
    _collect(lake, frozen_account, DETERMINISTIC_SOURCES)
    a, b = open_writer(duck), open_writer(lake)
    try:
        expected, got = _dump(a, DETERMINISTIC_SOURCES), _dump(b, DETERMINISTIC_SOURCES)
    finally:
        a.close()
        b.close()
    assert any(rows for rows in expected.values())
    assert storecmp.differences(expected, got) == {}


def test_every_source_collects_into_a_lake_twice_without_a_duplicate_key(frozen_account, tmp_path):
    base = Settings(store=tmp_path / "lake", store_backend="ducklake")
    # two days of metric history (rollups across a day boundary, retention deletes) rather than 30: every SQL path of
    # the collectors, in a third of the time
    lake = replace(base, collect=replace(base.collect, backfill_days=2))
    first = _collect(lake, frozen_account)
    assert {r.source for r in first.results} == {s.NAME for s in collectors.SOURCES}
    _collect(lake, frozen_account)
    w = open_writer(lake)
    try:
        doubled = {}
        for t in collectors.all_tables():
            keys = ", ".join(ident(c) for c in t.primary_key)
            rows, distinct = w.con.execute(
                f"SELECT count(*), count(DISTINCT ({keys})) FROM {ident(t.name)}").fetchone()
            if rows != distinct:
                doubled[t.name] = (rows, distinct)
        points = w.con.execute("SELECT count(*) FROM aws_cloudwatch_metric_point").fetchone()[0]
    finally:
        w.close()
    assert doubled == {}
    assert points > 0
