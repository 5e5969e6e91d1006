"""Per-cycle commit cost: the DuckDB store's snapshot copy against DuckLake on a local catalog, at growing sizes.

For each store size (metric points, generated in SQL into ``aws_cloudwatch_metric_point`` as the product creates it,
through ``Writer.migrate``) and each backend, a fresh store is filled, then ``--cycles`` collection cycles run the
product's write path: one transaction with a poll-shaped batch (``--series`` series x 3 new minutes, re-reading the
newest minute as the collector does, so the upsert really deletes rows), the source's watermark and its collection
run; then ``publish``. Printed per backend and size: the median transaction (upsert + commit), the median publish,
their sum (the cycle's commit cost), bytes on disk, and a reader's first query after the cycle (a new snapshot).

Backends: ``duckdb`` (writer.duckdb, published by checkpoint + whole-file copy: today's default), ``lake-sqlite``
(DuckLake, SQLite catalog, Parquet in a local directory: the embedded candidate that more than one process can
open) and ``lake-duckdb`` (DuckLake, a DuckDB-file catalog: one process only).

    python -m bench.lake_cycle                       # 1 M, 10 M, 30 M points, 3 cycles each
    python -m bench.lake_cycle --sizes 1 --cycles 5  # quicker
    python -m bench.lake_cycle --contention          # SQLite catalog: rollback journal against WAL
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from collectors.cloudwatch_metrics import POINT
from sextant.settings import Settings
from sextant.store import BaseWriter, Reader, UniqueKeys, Writer, now_utc

BACKENDS = ("duckdb", "lake-sqlite", "lake-duckdb")
T0 = pd.Timestamp("2026-01-01", tz="UTC")


@dataclass
class Figure:
    backend: str
    points: int
    transaction_s: float
    publish_s: float
    disk_bytes: int
    first_read_s: float
    query_s: float  # a dashboard's uncached query on the long-lived reader: current() + a small query

    @property
    def cycle_s(self) -> float:
        return self.transaction_s + self.publish_s


def _settings(backend: str, location: Path) -> Settings:
    if backend == "duckdb":
        return Settings(store=location)
    catalog = {"lake-sqlite": f"sqlite:{location / 'catalog.sqlite'}",
               "lake-duckdb": f"duckdb:{location / 'catalog.ducklake'}"}[backend]
    return Settings(store=location, store_backend="ducklake", catalog=catalog, data_path=str(location / "data"))


def _open(backend: str, location: Path) -> tuple[BaseWriter, Callable[[], Reader | None]]:
    """The writer, and how a dashboard opens a reader (None: a DuckDB-file catalog admits no second attach, so the
    first read goes through a new cursor of the writer's own connection)."""
    settings = _settings(backend, location)
    if backend == "duckdb":
        return Writer(location), lambda: Reader(location)
    from sextant.lake import LakeReader, LakeWriter
    return LakeWriter.open(settings), (lambda: None) if backend == "lake-duckdb" else lambda: LakeReader.open(settings)


def _fill(w: BaseWriter, points: int, series: int) -> None:
    """``points`` one-minute points of ``series`` series, in time order, in one INSERT."""
    with w.transaction() as con:
        con.execute("""
            INSERT INTO aws_cloudwatch_metric_point (account_id, region, series_id, stat, period_s, ts, value)
            SELECT '111111111111', 'us-east-1', 'series-' || (i % $series), 'Average', 60,
                   $t0 + to_minutes(i // $series), round(random() * 1000, 3)
            FROM range($points) r(i)""", {"series": series, "t0": T0.to_pydatetime(), "points": points})


def _batch(minute: int, series: int) -> pd.DataFrame:
    """A poll: the newest stored minute again (new values) and two new minutes, for every series."""
    rows = [("111111111111", "us-east-1", f"series-{s}", "Average", 60, T0 + pd.Timedelta(minutes=m), 1.0 + m)
            for m in range(minute - 1, minute + 2) for s in range(series)]
    return pd.DataFrame(rows, columns=POINT.column_names)


def _disk(location: Path) -> int:
    return sum(p.stat().st_size for p in location.rglob("*") if p.is_file())


def measure(backend: str, points: int, cycles: int, series: int, workdir: Path) -> Figure:
    location = workdir / f"{backend}-{points}"
    shutil.rmtree(location, ignore_errors=True)
    w, reader = _open(backend, location)
    try:
        w.migrate([POINT])
        _fill(w, points, series)
        w.publish()  # the store as a cycle finds it: published
        minute = points // series
        r = reader()  # a dashboard process, open before the cycles: its first query after each one
        tx, pub, reads = [], [], []
        for cycle in range(cycles):
            batch = _batch(minute, series)
            t = time.perf_counter()
            with w.transaction():
                w.upsert(POINT, UniqueKeys(batch))
                w.set_watermarks("111111111111", "us-east-1", "cloudwatch_metrics", {"poll": str(minute)})
                w.record_run(account_id="111111111111", region="us-east-1", run_id=f"bench-{cycle}",
                             source="cloudwatch_metrics", started_at=now_utc(), ended_at=now_utc(),
                             status="succeeded", rows=len(batch), api_calls=0)
            tx.append(time.perf_counter() - t)
            t = time.perf_counter()
            w.publish()
            pub.append(time.perf_counter() - t)
            minute += 2
            t = time.perf_counter()
            if r is not None:
                r.current()  # what the dashboard reads before each query: the snapshot's name
                cur = r.thread_cursor()
            else:
                cur = w.con.cursor()
                cur.execute("USE lake")
            assert cur is not None
            got = cur.execute("SELECT count(*) FROM aws_cloudwatch_metric_point WHERE series_id = 'series-1' "
                              "AND ts >= ?", [(T0 + pd.Timedelta(minutes=minute - 60)).to_pydatetime()]).fetchall()
            reads.append(time.perf_counter() - t)
            assert got[0][0] > 0
        queries = []
        for _ in range(50 if r is not None else 0):
            t = time.perf_counter()
            r.current()
            r.thread_cursor().execute("SELECT count(*), max(value) FROM aws_cloudwatch_metric_point "
                                      "WHERE series_id = 'series-7' AND ts >= ?",
                                      [(T0 + pd.Timedelta(minutes=minute - 60)).to_pydatetime()]).fetchall()
            queries.append(time.perf_counter() - t)
        if r is not None:
            r.close()
        return Figure(backend, points, statistics.median(tx), statistics.median(pub), _disk(location),
                      statistics.median(reads), statistics.median(queries) if queries else float("nan"))
    finally:
        w.close()
        shutil.rmtree(location, ignore_errors=True)


def contention(workdir: Path, wal: bool, commits: int = 40) -> None:
    """A writer committing small upserts while a thread reads as fast as it can, on a SQLite catalog: failed commits
    and reads, commit and read latencies. ``wal=False`` keeps SQLite's default rollback journal (what DuckLake gets
    unless the catalog is switched to WAL, as ``sextant.lake`` does)."""
    import threading

    from sextant import lake

    location = workdir / f"contention-{'wal' if wal else 'rollback'}"
    shutil.rmtree(location, ignore_errors=True)
    keep = lake.wal_journal
    if not wal:
        lake.wal_journal = lambda path: None  # the bench's baseline only: the product always sets WAL
    try:
        w, open_reader = _open("lake-sqlite", location)
    finally:
        lake.wal_journal = keep
    w.migrate([POINT])
    r = open_reader()
    assert r is not None
    stop, reads, read_errors = False, [], 0

    def read() -> None:
        nonlocal read_errors
        while not stop:
            t = time.perf_counter()
            try:
                r.current()
                cur = r.thread_cursor()
                if cur is not None:
                    cur.execute("SELECT count(*) FROM aws_cloudwatch_metric_point").fetchall()
            except Exception:
                read_errors += 1
            reads.append(time.perf_counter() - t)

    thread = threading.Thread(target=read)
    thread.start()
    times, errors = [], 0
    try:
        for i in range(commits):
            t = time.perf_counter()
            try:
                with w.transaction():
                    w.upsert(POINT, UniqueKeys(_batch(10 + 2 * i, 20)))
            except Exception:
                errors += 1
            times.append(time.perf_counter() - t)
    finally:
        stop = True
        thread.join()
        r.close()
        w.close()
        shutil.rmtree(location, ignore_errors=True)
    times.sort()
    reads.sort()
    print(f"{'WAL' if wal else 'rollback journal'}: {errors} of {commits} commits failed, commit p50 "
          f"{times[len(times) // 2]:.3f}s max {times[-1]:.3f}s; {read_errors} of {len(reads)} reads failed, read p50 "
          f"{reads[len(reads) // 2] * 1000:.0f}ms p99 {reads[int(len(reads) * 0.99)] * 1000:.0f}ms", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,30", help="store sizes in millions of metric points")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--series", type=int, default=2000, help="series per poll (batch = 3 x series points)")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--workdir", type=Path, default=Path("var/bench/lake_cycle"))
    parser.add_argument("--contention", action="store_true",
                        help="instead: one writer and one reading thread on a SQLite catalog, rollback journal vs WAL")
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.contention:
        for wal in (False, True):
            contention(args.workdir, wal)
        return
    print(f"{'backend':<12} {'points':>6} {'upsert+commit':>14} {'publish':>9} {'cycle':>8} {'disk MB':>8} "
          f"{'1st read':>9} {'query':>8}", flush=True)
    for size in (float(s) for s in args.sizes.split(",")):
        for backend in args.backends.split(","):
            f = measure(backend, int(size * 1_000_000), args.cycles, args.series, args.workdir)
            print(f"{f.backend:<12} {size:>5g}M {f.transaction_s:>13.3f}s {f.publish_s:>8.3f}s {f.cycle_s:>7.3f}s "
                  f"{f.disk_bytes / 2**20:>8.0f} {f.first_read_s * 1000:>7.0f}ms {f.query_s * 1000:>6.1f}ms",
                  flush=True)


if __name__ == "__main__":
    main()
