"""Figure 1: metric points per second through the collectors' write path, against row-by-row inserts.

The write path is what ``collectors/cloudwatch_metrics.py`` does with a poll's points, in one
transaction: ``Writer.upsert(POINT, UniqueKeys(frame))`` (the collector builds one point per query and
period start, so the keys are distinct by construction; the upsert replaces the stored rows with the
batch's keys in the time range both cover, then appends the batch sorted by time) and ``_rollup``
(recompute the touched hours of ``aws_cloudwatch_metric_hourly`` from the points, then the touched days
of ``aws_cloudwatch_metric_daily`` from the hours). Batches are shaped like a backfill of the reference
account: every (series, statistic) pair of 200 variants x 10 series, consecutive 1-minute points, each
batch overlapping the previous one by the 5 minutes the collector re-reads (so the replace half of the
upsert really deletes rows).

The baseline inserts the same rows one by one (``executemany`` of a single-row INSERT) into the same
table; it is measured on a smaller sample and its per-row rate extrapolated (it is linear in rows).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

import collectors
from bench.reference import ACCOUNT, REGION, VARIANT_SERIES
from collectors import cloudwatch_metrics as cwm
from collectors.base import Context
from sextant.schema import ident
from sextant.store import UniqueKeys, Writer

PAIRS = 200 * len(VARIANT_SERIES)


@dataclass
class IngestResult:
    batch_points: int
    batches: int
    path_pts_s: list[float]  # per batch: upsert + rollup
    upsert_pts_s: list[float]  # per batch: upsert alone
    baseline_rows: int
    baseline_pts_s: list[float]
    rows_after: int
    distinct_keys: int


def _batch(start: datetime, minutes: int, pairs: int) -> pd.DataFrame:
    sids = [f"{i:016x}" for i in range(pairs)]
    ts = pd.date_range(start, periods=minutes, freq="min", tz=UTC)
    n = pairs * minutes
    return pd.DataFrame({
        "account_id": ACCOUNT, "region": REGION,
        "series_id": np.repeat(np.array(sids, dtype=object), minutes),
        "stat": np.repeat(np.array([VARIANT_SERIES[i % len(VARIANT_SERIES)][2] for i in range(pairs)], dtype=object),
                          minutes),
        "period_s": np.full(n, 60, dtype=np.int32),
        "ts": np.tile(ts, pairs),
        "value": np.random.default_rng(n).random(n) * 100,
    })


def _touched(df: pd.DataFrame) -> dict[tuple[str, str], list[datetime]]:
    g = df.groupby(["series_id", "stat"]).ts.agg(["min", "max"])
    return {k: [lo.to_pydatetime(), hi.to_pydatetime()] for k, (lo, hi) in g.iterrows()}


def run(workdir: Path, batches: int = 6, minutes: int = 500, baseline_rows: int = 20_000,
        baseline_runs: int = 3, log=print) -> IngestResult:
    """Append ``batches`` batches of PAIRS x ``minutes`` points; time the write path and the baseline."""
    if workdir.exists():
        shutil.rmtree(workdir)
    w = Writer(workdir / "store")
    collectors.migrate(w)

    def execute(sql, params):
        return w.con.execute(sql, params).fetchall()

    ctx = Context(clients=None, account_id=ACCOUNT, region=REGION, settings=None, run_sql=execute)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    path, upsert = [], []
    try:
        for b in range(batches):
            df = _batch(start + timedelta(minutes=b * (minutes - 5)), minutes, PAIRS)
            touched = _touched(df)  # the collector tracks these while it reads the pages, before writing
            t0 = time.perf_counter()
            with w.transaction():
                w.upsert(cwm.POINT, UniqueKeys(df))
                t1 = time.perf_counter()
                cwm._rollup(ctx, touched)
            t2 = time.perf_counter()
            path.append(len(df) / (t2 - t0))
            upsert.append(len(df) / (t1 - t0))
            log(f"  batch {b + 1}/{batches}: {len(df):,} points, upsert {t1 - t0:.2f} s, + rollup {t2 - t1:.2f} s")
        point = ident(cwm.POINT.name)
        rows_after = w.con.execute(f"SELECT count(*) FROM {point}").fetchone()[0]  # noqa: S608
        distinct = w.con.execute(f"SELECT count(*) FROM (SELECT DISTINCT series_id, stat, period_s, ts "  # noqa: S608
                                 f"FROM {point})").fetchone()[0]
        # baseline: the same rows, one INSERT per row, into the same table
        sample = _batch(datetime(2027, 1, 1, tzinfo=UTC), max(1, baseline_rows // PAIRS), PAIRS).head(baseline_rows)
        rows = [tuple(r) for r in sample[cwm.POINT.column_names].itertuples(index=False)]
        cols = ", ".join(ident(c) for c in cwm.POINT.column_names)
        sql = f"INSERT INTO {point} ({cols}) VALUES (?, ?, ?, ?, ?, ?, ?)"  # noqa: S608
        base = []
        for k in range(baseline_runs):
            shifted = [(*r[:5], r[5] + timedelta(days=k), r[6]) for r in rows]
            t0 = time.perf_counter()
            with w.transaction():
                w.con.executemany(sql, shifted)
            base.append(len(rows) / (time.perf_counter() - t0))
    finally:
        w.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return IngestResult(PAIRS * minutes, batches, path, upsert, len(rows), base, rows_after, distinct)
