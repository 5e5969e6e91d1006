"""Per-table advisory locks on a PostgreSQL catalog (``LakeWriter.table_locks``, taken by the runner around each
source's transaction): DuckLake refuses a commit that meets another's change to the same table (an append against a
delete, either way round), whatever the keys. Two collectors upserting one table at once therefore conflict and
retry; with the locks the second waits for the first, and no commit is refused.

``python -m tests.collectors.test_table_locks [ROUNDS]`` measures both (docs/ARCHITECTURE.md quotes it)."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from collectors import runner
from collectors.base import Batch, Context
from sextant.lake import LakeWriter, lock_key
from sextant.schema import Table, table
from sextant.settings import Settings
from sextant.store import open_writer
from tests.collectors.test_runner import _NoAws
from tests.lake_fixtures import PostgresCluster, start_postgres, stop_postgres

pytestmark = pytest.mark.slow  # a PostgreSQL catalog: make test only

SHARED = table("fake_shared", "A table two collectors write, each its own region's row.",
               [("k", "VARCHAR", "Key."), ("n", "BIGINT", "Which round wrote it.")], ["k"])
OTHER = table("fake_other", "Another source's table.", [("k", "VARCHAR", "Key."), ("n", "BIGINT", "Round.")], ["k"])
REGIONS = ("eu-west-1", "us-east-1")
HOLD_S = 0.25  # how long each source's transaction stays open (its AWS calls): long enough for the two to overlap


def _settings(cluster: PostgresCluster, root: Path) -> Settings:
    catalog = f"postgres:{cluster.dsn(cluster.create_database())}"
    return replace(Settings(store=root / "store"), store_backend="ducklake", catalog=catalog,
                   data_path=str(root / "data"))


class _TwoRegions(_NoAws):
    regions = REGIONS  # type: ignore[assignment]


@dataclass
class Race:
    rounds: int
    retries: int  # commits refused for a conflict and tried again
    statuses: list[str]
    rows: list[tuple[str, str, int]]
    seconds: float

    @property
    def commits_per_s(self) -> float:
        return sum(s == "succeeded" for s in self.statuses) / self.seconds


def race(settings: Settings, rounds: int, locking: bool, apart: bool = False) -> Race:
    """Two collectors (two writers, each its own DuckDB instance and catalog connections), each upserting its own
    region's row of one table ``rounds`` times at the same moments; every upsert replaces a stored row (a delete).
    ``apart``: two sources instead, each with a table of its own, each advancing its watermark (the one table every
    source with a cursor replaces rows of)."""
    writers = [open_writer(settings) for _ in REGIONS]
    assert all(isinstance(w, LakeWriter) for w in writers)
    tables = (SHARED, OTHER) if apart else (SHARED, SHARED)
    try:
        writers[0].migrate([SHARED, OTHER])
        with writers[0].transaction():
            for t, r in zip(tables, REGIONS, strict=True):
                writers[0].upsert(t, [{"account_id": "1", "region": r, "k": r, "n": 0}])
        for w in writers:
            w.table_locking = locking  # type: ignore[attr-defined]
        n = {"round": 0}

        def source(t: Table) -> SimpleNamespace:
            def collect(ctx: Context) -> Iterator[Batch]:
                time.sleep(HOLD_S)  # inside the transaction, as a source's AWS calls are
                if apart:
                    ctx.cursor.set_text("seen", str(time.time_ns()))
                yield t, [ctx.rows(k=ctx.region, n=n["round"])]
            return SimpleNamespace(NAME=t.name, GLOBAL=False, DEPENDS_ON=(), TABLES=(t,), collect=collect)
        results: list[runner.SourceResult] = []
        start = threading.Barrier(len(REGIONS))
        failures: list[BaseException] = []

        def run(w: object, region: str, t: Table) -> None:
            try:
                for _ in range(rounds):
                    start.wait(timeout=120)  # both collectors begin each round together
                    cycle = runner.run_cycle(settings, w, [source(t)], clients_for=lambda _: _TwoRegions(),
                                             region_filter=region)
                    results.extend(cycle.results)
            except BaseException as exc:  # reported by the test
                failures.append(exc)
                start.abort()

        t0 = time.monotonic()
        threads = [threading.Thread(target=run, args=(w, r, t)) for w, r, t in zip(writers, REGIONS, tables,
                                                                                      strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.monotonic() - t0
        if failures:
            raise failures[0]
        rows = sorted(writers[0].con.execute("SELECT region, k, n FROM fake_shared UNION ALL "
                                             "SELECT region, k, n FROM fake_other").fetchall())
    finally:
        for w in writers:
            w.close()
    return Race(rounds, sum(r.attempts - 1 for r in results), [r.status for r in results], rows, seconds)


def test_with_the_table_locks_two_collectors_upserting_one_table_never_conflict(
        postgres: PostgresCluster, tmp_path: Path) -> None:
    done = race(_settings(postgres, tmp_path), rounds=4, locking=True)
    assert done.retries == 0
    assert done.statuses == ["succeeded"] * 8
    assert done.rows == [(r, r, 0) for r in sorted(REGIONS)]  # each region's row, replaced, never duplicated
    assert done.seconds >= 8 * HOLD_S  # the second waited for the first: the locks serialize the two


def test_without_the_table_locks_the_same_upserts_conflict_and_retry(postgres: PostgresCluster, tmp_path: Path) -> None:
    done = race(_settings(postgres, tmp_path), rounds=3, locking=False)
    assert done.retries > 0, "two transactions replacing rows of one table at once conflict in DuckLake"
    assert done.rows == [(r, r, 0) for r in sorted(REGIONS)]


def test_lock_keys_are_the_same_in_every_process() -> None:
    # a key that changed between versions would let an old and a new collector write one table at once
    assert lock_key("table", "sextant_watermark") == -3562542901583838461
    assert lock_key("run", "cloudwatch_metrics", "123456789012", "eu-west-1") == -4852854843751299850
    assert len({lock_key("table", t) for t in ("x", "y", "sextant_watermark")}) == 3


def _advisory(cluster: PostgresCluster, dbname: str) -> list[str]:
    return sorted(cluster.sql(dbname, "SELECT objid::bigint + (classid::bigint << 32), mode FROM pg_locks "
                                      "WHERE locktype = 'advisory'").split())


def test_table_locks_are_exclusive_to_delete_shared_to_append_and_go_at_the_end(
        postgres: PostgresCluster, tmp_path: Path) -> None:
    settings = _settings(postgres, tmp_path)
    dbname = settings.catalog.split("dbname=")[1].split()[0]
    w = open_writer(settings)
    try:
        w.migrate([SHARED])
        with w.table_locks(["fake_shared", "sextant_watermark"], ["sextant_collection_run"]):
            held = _advisory(postgres, dbname)
        after = _advisory(postgres, dbname)
    finally:
        w.close()
    key = {name: lock_key("table", name) for name in
           ("fake_shared", "sextant_watermark", "sextant_collection_run")}
    assert held == sorted([f"{key['fake_shared']}|ExclusiveLock", f"{key['sextant_watermark']}|ExclusiveLock",
                           f"{key['sextant_collection_run']}|ShareLock"])
    assert after == []


def test_a_table_lock_makes_another_collector_wait_until_the_first_ends(
        postgres: PostgresCluster, tmp_path: Path) -> None:
    settings = _settings(postgres, tmp_path)
    first, second = open_writer(settings), open_writer(settings)
    order: list[str] = []
    try:
        first.migrate([SHARED])
        with first.table_locks(["fake_shared"]):
            def wait() -> None:
                with second.table_locks(["fake_shared"], ["sextant_collection_run"]):
                    order.append("second")
            waiter = threading.Thread(target=wait)
            waiter.start()
            time.sleep(0.5)
            order.append("first done")
        waiter.join(timeout=30)
        with first.table_locks([], ["fake_shared"]), second.table_locks([], ["fake_shared"]):
            order.append("both appending")  # shared locks do not wait for one another
    finally:
        first.close()
        second.close()
    assert order == ["first done", "second", "both appending"]


if __name__ == "__main__":  # the figure in docs/ARCHITECTURE.md
    cluster = start_postgres()
    try:
        rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 20
        for apart in (False, True):
            print("two sources, a table each, each advancing its watermark" if apart else
                  "one source, one table, two regions (disjoint keys)")
            for locking in (False, True):
                with tempfile.TemporaryDirectory() as root:
                    r = race(_settings(cluster, Path(root)), rounds, locking, apart)
                print(f"  table locks {'on ' if locking else 'off'}: {len(r.statuses)} commits in {r.seconds:.1f} s "
                      f"({r.commits_per_s:.2f}/s), {r.retries} conflict retries, "
                      f"{sum(s != 'succeeded' for s in r.statuses)} failed")
    finally:
        stop_postgres(cluster)
