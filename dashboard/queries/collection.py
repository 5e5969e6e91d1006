"""Read queries of the collection area: which sources there are, how fresh each is against its cadence, the
collection runs and their errors (a partial run: the source's core rows landed, an optional operation failed), what
collecting costs in AWS API charges (the self-cost meter), and what the store takes on disk.

The sources are read from the store (``sextant_source``, the collectors' registry written at migration), so the
dashboard needs no collector import; a store whose registry is still empty lists the sources it has runs of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from dashboard.data import query, reader
from sextant.freshness import FRESH_WITHIN, LATE_WITHIN, cadence_s
from sextant.settings import Settings


def sources() -> list[str]:
    """Names of the collector sources, from the store's registry (``sextant_source``); while that is empty, the
    sources seen in ``sextant_collection_run``."""
    df = query("""
        SELECT source FROM sextant_source
        UNION SELECT DISTINCT source FROM sextant_collection_run WHERE NOT EXISTS (SELECT 1 FROM sextant_source)
        ORDER BY source""")
    return [] if df.empty else df.source.tolist()


COLLECTED = ("succeeded", "partial")  # run statuses whose core rows landed (partial: an optional call failed)


def _status(age_s: float, last_status: object, expected_s: float) -> str:
    if pd.isna(age_s):
        return "never"
    if last_status == "failed":
        return "failing"
    ratio = age_s / expected_s
    if ratio <= FRESH_WITHIN:
        return "partial" if last_status == "partial" else "fresh"
    return "late" if ratio <= LATE_WITHIN else "stale"


def freshness(sources: list[str], settings: Settings, now: datetime) -> pd.DataFrame:
    """One row per source (and account/region it ran for): last run, last success, age, expected cadence,
    status (fresh: age <= 2 x cadence; partial: as fresh, but an optional operation of the last run failed
    (``last_error`` names it, ``last_hint`` says what to do); late: <= 6 x; stale beyond; failing when the last run
    failed; never when it never succeeded). A partial run counts as a success: its source's core rows landed.
    ``sources`` without any run get one row, ``never``."""
    cad = cadence_s(settings)
    runs = query("""
        SELECT source, account_id, region,
               max(ended_at) FILTER (WHERE status IN ('succeeded', 'partial')) AS last_success,
               arg_max(status, ended_at) AS last_status, arg_max(error, ended_at) AS last_error,
               arg_max(hint, ended_at) AS last_hint, max(ended_at) AS last_run
        FROM sextant_collection_run GROUP BY ALL
    """)
    known = set(runs.source) if not runs.empty else set()
    missing = pd.DataFrame({"source": [s for s in sources if s not in known]})
    cols = ["source", "account_id", "region", "last_success", "last_status", "last_error", "last_hint", "last_run"]
    out = pd.concat([runs.reindex(columns=cols), missing], ignore_index=True).reindex(columns=cols)
    out["expected_every_s"] = out.source.map(lambda s: cad.get(s, settings.collect.hot_every_s))
    last = pd.to_datetime(out.get("last_success"), utc=True)
    out["age_s"] = (pd.Timestamp(now) - last).dt.total_seconds()
    out["status"] = [_status(a, s, e) for a, s, e in zip(out.age_s, out.last_status, out.expected_every_s,
                                                         strict=True)]
    return out.sort_values(["source", "account_id"]).reset_index(drop=True)


def stale_sources(sources: tuple[str, ...], settings: Settings, now: datetime) -> pd.DataFrame:
    """The :func:`freshness` rows of ``sources`` that are stale (not collected for over ``LATE_WITHIN`` x their
    cadence) or failing (their last run failed), for a page's banner; sources never run are left to the empty
    states (a store being filled shows its first collection's progress)."""
    fresh = freshness(list(sources), settings, now)
    return fresh[fresh.source.isin(sources) & fresh.status.isin(("stale", "failing"))].reset_index(drop=True)


def data_as_of() -> pd.DataFrame:
    """Last successful (or partial: core rows landed) collection per source: source, as_of."""
    return query("SELECT source, max(ended_at) AS as_of FROM sextant_collection_run "
                 "WHERE status IN ('succeeded', 'partial') GROUP BY source ORDER BY source")


def collection_runs(limit: int = 200) -> pd.DataFrame:
    """Collection cycles, newest first: started, ended, sources, failed, partial (an optional operation failed),
    rows, API calls, $."""
    return query("""
        SELECT run_id, min(started_at) AS started_at, max(ended_at) AS ended_at,
               epoch(max(ended_at) - min(started_at)) AS duration_s,
               count(*) AS sources, count(*) FILTER (WHERE status = 'failed') AS failed,
               count(*) FILTER (WHERE status = 'partial') AS partial,
               sum(rows) AS rows, sum(api_calls) AS api_calls, sum(estimated_cost_usd) AS cost_usd
        FROM sextant_collection_run GROUP BY run_id ORDER BY started_at DESC LIMIT ?
    """, [limit])


def collection_run_sources(run_id: str) -> pd.DataFrame:
    """The sources of one collection cycle, with their calls by operation (JSON text) and error."""
    return query("""
        SELECT source, account_id, region, status, rows, api_calls, estimated_cost_usd, started_at, ended_at,
               epoch(ended_at - started_at) AS duration_s, api_calls_by_operation, error, hint
        FROM sextant_collection_run WHERE run_id = ? ORDER BY source, account_id, region
    """, [run_id])


def collection_errors(limit: int = 100) -> pd.DataFrame:
    """Failed and partial source runs, newest first (status says which; a partial run's error names the optional
    operations that failed)."""
    return query("""
        SELECT ended_at, source, account_id, region, status, error, hint, run_id
        FROM sextant_collection_run WHERE status IN ('failed', 'partial') ORDER BY ended_at DESC LIMIT ?
    """, [limit])


def maintenance_runs(limit: int = 20) -> pd.DataFrame:
    """A DuckLake store's maintenance runs (sextant/lake.py maintain), newest first: started_at, status, seconds,
    snapshots and files before and after, error. Empty for the DuckDB file, which has none."""
    return query("""
        SELECT started_at, status, date_diff('millisecond', started_at, ended_at) / 1000.0 AS seconds,
               snapshots_before, snapshots_after, files_before, files_after, files_tracked_after, error
        FROM sextant_maintenance_run ORDER BY started_at DESC LIMIT ?
    """, [limit])


@dataclass(frozen=True)
class StoreDisk:
    """Bytes the store takes on disk: the collector's file (and its write-ahead log), the published snapshots
    (the collector keeps the newest three), temporary copies a killed publish left, and anything else in the
    store's folder (the audit log)."""

    location: Path
    writer_bytes: int
    snapshot_bytes: int
    snapshots: int
    temporary_bytes: int
    other_bytes: int

    @property
    def total_bytes(self) -> int:
        return self.writer_bytes + self.snapshot_bytes + self.temporary_bytes + self.other_bytes


def store_disk(location: Path | None = None) -> StoreDisk:
    """What the store at ``location`` (default: the store this dashboard reads) takes on disk, from the file
    system."""
    root = Path(location) if location is not None else reader().location
    writer = snaps = temp = other = count = 0
    for path in root.rglob("*") if root.exists() else ():
        try:
            if not path.is_file():
                continue
            size = path.stat().st_size
        except OSError:  # pruned or renamed while we looked
            continue
        rel = path.relative_to(root)
        if path.name.startswith("writer.duckdb"):
            writer += size
        elif rel.parts[0] == "snapshots" and path.suffix == ".duckdb" and not path.name.startswith("."):
            snaps, count = snaps + size, count + 1
        elif path.name.endswith(".tmp") or path.name.startswith(".CURRENT."):
            temp += size
        else:
            other += size
    return StoreDisk(root, writer, snaps, count, temp, other)


@dataclass(frozen=True)
class SelfCost:
    last_24h_usd: float
    api_calls_24h: int
    runs_24h: int
    hours_covered: float  # span of the runs counted (< 24 while the store is younger than a day)
    projected_monthly_usd: float  # last 24 h x 30
    budget_usd: float
    by_source: pd.DataFrame  # source, api_calls, cost_usd, runs, projected_monthly_usd over the last 24 h


def self_cost(settings: Settings, now: datetime) -> SelfCost:
    """What collecting costs in AWS API charges: the last 24 h of runs, projected to a month (x 30)."""
    budget = settings.collect.monthly_api_budget_usd
    since = now - timedelta(days=1)
    by = query("""
        SELECT source, sum(api_calls) AS api_calls, sum(estimated_cost_usd) AS cost_usd,
               count(DISTINCT run_id) AS runs, min(started_at) AS first_run
        FROM sextant_collection_run WHERE started_at >= ? GROUP BY source ORDER BY cost_usd DESC
    """, [since])
    if by.empty:
        return SelfCost(0.0, 0, 0, 0.0, 0.0, budget, by)
    by["projected_monthly_usd"] = by.cost_usd * 30
    runs = query("SELECT count(DISTINCT run_id) AS n FROM sextant_collection_run WHERE started_at >= ?", [since])
    first = pd.to_datetime(by.first_run, utc=True).min()
    covered = max(0.0, (pd.Timestamp(now) - first).total_seconds() / 3600)
    total = float(by.cost_usd.sum())
    return SelfCost(total, int(by.api_calls.sum()), int(runs.n.iloc[0]), min(24.0, covered), total * 30, budget,
                    by.drop(columns="first_run"))


def metrics_plan() -> pd.DataFrame:
    """The metrics collector's own plan estimate, newest polls first; series_promoted and promoted_monthly_usd are
    the series on the hot cadence because an alarm is in ALARM and what they add to the estimate (NULL in polls
    recorded before promotions existed)."""
    return query("""
        SELECT polled_at, account_id, region, queries, requests, datapoints, deferred, hot_every_s, cold_every_s,
               series_promoted, estimated_monthly_usd, promoted_monthly_usd, budget_usd
        FROM aws_cloudwatch_metric_poll ORDER BY polled_at DESC LIMIT 50
    """)


@dataclass(frozen=True)
class Promotions:
    """Freshness that follows attention, as of the latest metrics plan of each account and region (summed): the
    series polled on the hot cadence because an alarm watching them or their endpoint is in ALARM, and what that
    adds to the plan's monthly GetMetricData estimate."""

    series: int  # series promoted
    queries: int  # series x statistic pairs promoted
    monthly_usd: float  # what the promotions add per month (hot instead of cold cadence), estimated
    estimated_monthly_usd: float  # the whole plan's estimate, promotions included
    polled_at: datetime | None  # the newest of those plans; None before the first poll


def metrics_promotions() -> Promotions:
    """The latest plans' promotions (see :class:`Promotions`); zeros before the first poll."""
    df = query("""
        SELECT max(polled_at) AS polled_at, coalesce(sum(series_promoted), 0) AS series,
               coalesce(sum(queries_promoted), 0) AS queries, coalesce(sum(promoted_monthly_usd), 0) AS monthly_usd,
               coalesce(sum(estimated_monthly_usd), 0) AS estimated_monthly_usd
        FROM (SELECT * FROM aws_cloudwatch_metric_poll
              QUALIFY row_number() OVER (PARTITION BY account_id, region ORDER BY polled_at DESC) = 1)
    """)
    row = df.iloc[0]
    polled_at = None if pd.isna(row.polled_at) else pd.Timestamp(row.polled_at).to_pydatetime()
    return Promotions(int(row.series), int(row.queries), float(row.monthly_usd), float(row.estimated_monthly_usd),
                      polled_at)
