"""Everything the Overview reads, in one call: its queries are independent of one another, so they run side by side
(:func:`dashboard.data.gather`) instead of one after the other. The Overview is the page every viewer opens first,
and at reference scale its dozen small queries read one after another took ~150 ms; the page renders from the
:class:`Overview` this returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd

from dashboard.data import gather
from dashboard.filters import Filters
from dashboard.queries import alerts, collection, cost, health
from sextant.settings import Settings

MOVER_GROUPS = ("service", "team")


@dataclass(frozen=True)
class Overview:
    month: cost.MonthToDate
    forecast: pd.DataFrame  # cost.forecast
    endpoints: pd.DataFrame  # health.endpoint_health
    alarms: pd.DataFrame  # health.alarms_firing
    failed_jobs: pd.DataFrame  # health.failed_training over the last 24 h
    failed_runs: pd.DataFrame  # health.failed_pipeline_runs over the last 24 h
    firing: pd.DataFrame  # alerts.alerts, firing only
    anomalies: pd.DataFrame  # cost.anomalies of the last 14 days
    freshness: pd.DataFrame  # collection.freshness of every source
    movers: dict[str, pd.DataFrame]  # cost.movers by MOVER_GROUPS
    metrics_as_of: datetime | None  # health.metrics_as_of


def overview(f: Filters, settings: Settings, now: datetime, movers: int = 6) -> Overview:
    """The Overview's data for scope ``f`` at ``now``: the headline numbers, what needs attention, the movers."""
    # the times bound into queries to the minute: a query's cache key holds its parameters, so a time to the
    # microsecond would miss the cache on every view
    minute = now.replace(second=0, microsecond=0)
    today, since = now.date(), minute - timedelta(days=1)
    # endpoint_health first: it runs on this thread and gathers its own four queries, so the pool's threads never
    # wait on one another
    (eps, month, fc, alarms, failed_jobs, failed_runs, firing, anomalies, fresh, as_of, *moved) = gather(
        lambda: health.endpoint_health(f),
        lambda: cost.month_to_date(f, today),
        lambda: cost.forecast(today),
        lambda: health.alarms_firing(f),
        lambda: health.failed_training(f, since),
        lambda: health.failed_pipeline_runs(f, since),
        lambda: alerts.alerts(f, minute),
        lambda: cost.anomalies(today - timedelta(days=14), today + timedelta(days=1)),
        lambda: collection.freshness(collection.sources(), settings, now),
        health.metrics_as_of,
        *(lambda g=g: cost.movers(f, g, today, limit=movers) for g in MOVER_GROUPS))
    return Overview(month, fc, eps, alarms, failed_jobs, failed_runs, firing[firing.state == "firing"], anomalies,
                    fresh, dict(zip(MOVER_GROUPS, moved, strict=True)), as_of)
