"""Read queries of the savings list: idle endpoints, over-provisioned endpoints and training that could run on spot,
each with its saving in $ per month at the one price rule's $ per instance-hour (:mod:`dashboard.queries.prices`).

A saving is monthly only when the cost recurs. Endpoints run every hour; training recurs only when the job does (a
retrain, a pipeline step): an on-demand job with no sibling (:func:`recurring_jobs`) is a one-off, and its spot
saving is shown as a saving on that job, never projected as a monthly one nor added to the monthly total.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _price_rows
from dashboard.queries.cost import jobs_created, training_cost
from dashboard.queries.health import last_invocation, metrics_as_of

RIGHTSIZE_TARGET_CPU = 50.0  # % a right-sized fleet would run at, at its p95
HOURS_PER_MONTH = 730.0
DEFAULT_SPOT_DISCOUNT = 0.70
RECURRENCE_DAYS = 90  # a training job recurs when a sibling was created in the 90 days to now
SPOT_COLUMNS = ["team", "instance_type", "jobs", "cost_usd", "recurs", "job", "monthly_saving_usd",
                "one_off_saving_usd"]
KEY = ["account_id", "region", "endpoint_name"]


def _current_hourly_cost(f: Filters) -> pd.DataFrame:
    """Per endpoint in scope: $ per hour of the instances serving now (current counts x the hosting price), in one
    query. Columns: account_id, region, endpoint_name, instances, instance_type, usd_per_hour."""
    where, params = f.where("e")
    prices, pparams = _price_rows("Host")
    return query(f"""
        WITH p AS ({prices})
        SELECT v.account_id, v.region, v.endpoint_name, sum(v.current_instance_count)::BIGINT AS instances,
               string_agg(DISTINCT v.instance_type, ', ' ORDER BY v.instance_type) AS instance_type,
               sum(v.current_instance_count * p.usd_per_hour) AS usd_per_hour
        FROM aws_sagemaker_endpoint_variant v JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
        LEFT JOIN p USING (instance_type)
        WHERE {where} GROUP BY ALL
    """, [*pparams, *params])  # noqa: S608 - fixed fragments; values are bound


def idle_endpoints(f: Filters, days: int) -> pd.DataFrame:
    """Endpoints older than ``days`` with zero invocations over the last ``days`` days of data.

    Columns: endpoint_name, team, project, account_id, region, instance_type, instances, last_invocation (NaT: none
    in the collected metrics), idle_days (at least; bounded by the metrics collected), usd_per_hour (instances
    serving now x the $ per instance-hour), daily_usd (x 24), monthly_saving_usd (daily cost x 30)."""
    inv = last_invocation(f)
    if inv.empty:
        return pd.DataFrame()
    idle = inv[inv.idle_days >= days]
    out = idle.merge(_current_hourly_cost(f), on=KEY, how="left")
    out["daily_usd"] = out.usd_per_hour * 24
    out["monthly_saving_usd"] = out.daily_usd * 30
    out["idle_days"] = out.idle_days.astype(float).round(1)
    return out[["endpoint_name", "team", "project", "account_id", "region", "instance_type", "instances",
                "last_invocation", "idle_days", "usd_per_hour", "daily_usd", "monthly_saving_usd"]].sort_values(
        "monthly_saving_usd", ascending=False).reset_index(drop=True)


def scalable_variants(endpoints: pd.DataFrame) -> pd.DataFrame:
    """The variants of ``endpoints`` (rows with account_id, region, endpoint_name, e.g. :func:`idle_endpoints`) that
    run more than one instance, which a scale-to-minimum action could step down.

    Columns: account_id, region, endpoint_name, variant_name, current_instance_count."""
    keys = (endpoints.account_id + "/" + endpoints.region + "/" + endpoints.endpoint_name).tolist() \
        if not endpoints.empty else []
    return query("""
        SELECT account_id, region, endpoint_name, variant_name, current_instance_count
        FROM aws_sagemaker_endpoint_variant
        WHERE list_contains(?::VARCHAR[], account_id || '/' || region || '/' || endpoint_name)
          AND current_instance_count > 1
        ORDER BY endpoint_name, variant_name
    """, [keys])


def overprovisioned(f: Filters, cpu_p95_below: float = 20.0, days: int = 7) -> pd.DataFrame:
    """Endpoints with traffic whose p95 hourly CPU over ``days`` days is below the threshold.

    The saving: with several instances, the ones a fleet at 50 % p95 CPU would not need; with one
    instance, half its cost (one instance size down in the same family halves the price).
    Columns: endpoint_name, team, project, account_id, instance_type, instances, cpu_p95_pct, suggestion,
    monthly_saving_usd."""
    ref = metrics_as_of() or datetime.now(UTC)
    p95 = query("""
        SELECT s.account_id, s.region, s.endpoint_name, quantile_cont(h.value, 0.95) AS cpu_p95_pct
        FROM aws_cloudwatch_metric_series s
        JOIN aws_cloudwatch_metric_hourly h USING (account_id, region, series_id)
        WHERE s.namespace = '/aws/sagemaker/Endpoints' AND s.metric_name = 'CPUUtilization'
          AND h.stat = 'Average' AND s.endpoint_name IS NOT NULL AND h.hour >= ? AND h.hour < ?
        GROUP BY ALL
    """, [ref - timedelta(days=days), ref + timedelta(hours=1)])
    if p95.empty:
        return pd.DataFrame()
    eps = last_invocation(f)
    eps = eps[eps.invocations_7d > 0][[*KEY, "team", "project"]]
    out = eps.merge(p95, on=KEY).merge(_current_hourly_cost(f), on=KEY, how="left")
    out = out[out.cpu_p95_pct < cpu_p95_below].copy()
    if out.empty:
        return pd.DataFrame(columns=["endpoint_name", "team", "project", "account_id", "instance_type", "instances",
                                     "cpu_p95_pct", "suggestion", "monthly_saving_usd"])
    need = (out.instances * out.cpu_p95_pct / RIGHTSIZE_TARGET_CPU).apply(math.ceil).clip(lower=1)
    per_instance = out.usd_per_hour / out.instances
    many = out.instances > 1
    out["suggestion"] = [f"{int(n)} → {int(k)} instances" if m else "one size smaller instance"
                         for n, k, m in zip(out.instances, need, many, strict=True)]
    out["monthly_saving_usd"] = ((out.instances - need) * per_instance).where(many, out.usd_per_hour / 2) \
        * HOURS_PER_MONTH
    return out[["endpoint_name", "team", "project", "account_id", "instance_type", "instances", "cpu_p95_pct",
                "suggestion", "monthly_saving_usd"]].sort_values("monthly_saving_usd", ascending=False) \
        .reset_index(drop=True)


def observed_spot_discount(f: Filters, now: datetime) -> float:
    """1 - billable / training seconds of the spot jobs of the last 90 days (the default when none)."""
    jobs = jobs_created(f, now - timedelta(days=90), now)
    spot = jobs[(jobs.spot.fillna(False)) & (jobs.training_seconds > 0)] if not jobs.empty else jobs
    if spot.empty:
        return DEFAULT_SPOT_DISCOUNT
    return float(1 - spot.billable_seconds.sum() / spot.training_seconds.sum())


def job_family(name: str) -> str:
    """A training job's family, from its name: digits dropped and the separators they leave folded
    ("fraud-lgbm-scorer-20261120-1200-017" and the SDK's "pytorch-training-2026-11-20-12-00-00-123" lose their
    timestamp and counter), so the runs of one retrain share it."""
    return re.sub(r"[-_.]*([-_.])[-_.]*", r"\1", re.sub(r"\d+", "", name)).strip("-_.")


def recurring_jobs(f: Filters, now: datetime, jobs: pd.DataFrame) -> pd.Series:
    """For each row of ``jobs`` (training jobs with training_job_name, image, instance_type, instance_count): whether
    it recurs, i.e. another job of the ``RECURRENCE_DAYS`` to ``now`` (in scope) shares its family
    (:func:`job_family`), or its training image repository (the tag dropped) with the same instance type and count
    (a pipeline's step, whose names carry random ids)."""
    seen = jobs_created(f, now - timedelta(days=RECURRENCE_DAYS), now)
    seen = pd.concat([seen, jobs[~jobs.training_job_name.isin(seen.training_job_name)]], ignore_index=True) \
        if not seen.empty else jobs

    def keys(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        family = df.training_job_name.map(job_family)
        image = df.image.astype("string").str.replace(r"[:@][^/]*$", "", regex=True)
        shape = image + "|" + df.instance_type.astype("string") + "|" + df.instance_count.astype("string")
        return family, shape

    family, shape = keys(seen)
    families, shapes = family.value_counts(), shape.dropna().value_counts()
    mine_family, mine_shape = keys(jobs)
    return (mine_family.map(families).fillna(0) > 1) | (mine_shape.map(shapes).fillna(0) > 1).astype(bool)


def spot_candidates(f: Filters, now: datetime, discount: float, days: int = 30) -> pd.DataFrame:
    """On-demand training of the last ``days`` days that spot would have made cheaper.

    Recurring jobs (:func:`recurring_jobs`), per team and instance type: jobs, cost_usd, monthly_saving_usd = cost x
    discount scaled to 30 days (one_off_saving_usd blank). One-off jobs, one row each (job: its name):
    one_off_saving_usd = its cost x discount, a saving on that job (monthly_saving_usd blank, so a monthly total
    leaves it out). recurs tells them apart. Columns: SPOT_COLUMNS; recurring rows first, biggest saving first."""
    jobs = training_cost(f, now - timedelta(days=days), now)
    if jobs.empty:
        return pd.DataFrame()
    od = jobs[~jobs.spot.fillna(False) & (jobs.cost_usd > 0)]
    if od.empty:
        return pd.DataFrame(columns=SPOT_COLUMNS)
    od = od.assign(recurs=recurring_jobs(f, now, od).to_numpy())
    rec = od[od.recurs].groupby(["team", "instance_type"], dropna=False).agg(
        jobs=("training_job_name", "count"), cost_usd=("cost_usd", "sum")).reset_index()
    rec["recurs"], rec["job"] = True, None
    rec["monthly_saving_usd"] = rec.cost_usd * discount * 30 / days
    rec["one_off_saving_usd"] = float("nan")
    once = od[~od.recurs].rename(columns={"training_job_name": "job"}).assign(jobs=1)
    once["monthly_saving_usd"] = float("nan")
    once["one_off_saving_usd"] = once.cost_usd * discount
    return pd.concat([rec.sort_values("monthly_saving_usd", ascending=False),
                      once.sort_values("one_off_saving_usd", ascending=False)], ignore_index=True)[SPOT_COLUMNS]
