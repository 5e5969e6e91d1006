"""CloudWatch metrics of SageMaker endpoint variants and training jobs, polled within an API budget.

Discovery: ListMetrics (one paginated call per namespace) for ``AWS/SageMaker`` and
``/aws/sagemaker/Endpoints`` series with dimensions EndpointName + VariantName, kept only for
endpoints in the store (``aws_sagemaker_endpoint``: the source depends on ``sagemaker_endpoints``,
which runs first in a cycle), and ``/aws/sagemaker/TrainingJobs`` series (Host dimension ``JOB/algo-N``)
for training jobs in the store (``aws_sagemaker_training_job``, from ``sagemaker_training``).
Discovery is repeated only when the set of endpoints / training jobs changed or after
``cold_every`` seconds.

Polling: one query is one series x statistic (Sum for counts, Average and Maximum for
utilizations, Average + p50/p90/p99 for ModelLatency and OverheadLatency). Each query has a
cursor ``series_id|stat`` holding the time through which it was fetched. A query is *due* when
its cursor is older than its cadence: ``hot_every`` for the hot queries (Invocations Sum,
Invocation5XXErrors Sum and ModelLatency p99 of endpoints that had traffic in the last hour),
``cold_every`` for every other one. Freshness follows attention: while a CloudWatch alarm is in ALARM
(``aws_cloudwatch_alarm``: the source depends on ``cloudwatch_alarms``), every statistic of the series it
watches (matched by namespace, metric and dimensions: poll class ``hot (alarm)``) and of every series of the
endpoint it watches (``hot (endpoint alarm)``) is hot too; when the alarm leaves ALARM they return to their
class at the next cycle. An operator's "refresh this endpoint now" (``actions.refresh``; the runner passes it as
``ctx.refresh``) makes every pair of that endpoint's series due once, whatever its cadence, in one GetMetricData
batch, and reads nothing else (no plan record, no discovery unless the endpoint has no series yet). A due query
fetches 1-minute points from its cursor (less a few minutes, since CloudWatch fills the newest minutes late); a query
without a cursor backfills ``backfill_days`` at a 5-minute period up to 24 h ago and at 1 minute since (CloudWatch keeps
1-minute data 15 days and 5-minute data 63 days). Due queries are sorted by start and packed 500
per GetMetricData call (calls share StartTime/EndTime, so 5-minute and 1-minute queries go in
separate calls); a training job read for the first time gets its own calls over its lifetime
(training start to end), instead of a ``backfill_days`` scan for a job of a few hours; a finished
job is not read again once read past its end. NextToken pages are followed. Points at or after
each query's own start are upserted, so overlapping windows never duplicate a row.

Budget: GetMetricData costs $0.01 per 1,000 metrics requested. Each cycle estimates the monthly
spend of the plan (queries x cycles per month at their cadence, promoted queries at the hot one) and,
above its share of ``monthly_api_budget_usd`` (the cap on the whole API bill, less the projected Cost
Explorer spend), stretches the cold cadence first, then the hot one; the deferred queries, the estimate
and the promotions (series, queries and what they add per month) are recorded in
``aws_cloudwatch_metric_poll``, one row per cycle (with the requests made, so the packing is checkable).

Rollups: ``aws_cloudwatch_metric_hourly`` is recomputed in SQL for the hours each poll touched, and
``aws_cloudwatch_metric_daily`` from the hourly rows for the days it touched, in the same transaction as
the points: the pages answer 24-hour-to-13-month questions from 24 or 1 rows per series and day instead
of 1,440 points. Retention: each cycle deletes this account's points, hourly and daily rows older than
``metric_point_retention``, ``metric_hourly_retention`` and ``metric_daily_retention`` (0: forever).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from collectors.base import Batch, Context, paginate
from sextant import prices
from sextant.schema import ident, table
from sextant.store import UniqueKeys
from sextant.traffic import TRAFFIC_TABLE, TRAFFIC_WINDOWS, traffic_select

NAME = "cloudwatch_metrics"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ("sagemaker_endpoints", "sagemaker_training", "cloudwatch_alarms")

ENDPOINT_NAMESPACES = ("AWS/SageMaker", "/aws/sagemaker/Endpoints")
TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
MAX_QUERIES = 500  # GetMetricData limit per call
MONTH_S = 30 * 86400
MIN_CYCLE_S = 60  # a cadence of 0 ("every cycle") is priced as one poll a minute
MAX_DEGRADED_S = 86400
SETTLE = timedelta(minutes=5)  # re-read the newest minutes: CloudWatch completes them late
ONE_MINUTE_WINDOW = timedelta(hours=24)  # backfill at 1 minute for this long, 5 minutes before
FIVE_MINUTE_RETENTION = timedelta(days=62)  # 63 days at 5 minutes, with a margin
DONE_AFTER_END = timedelta(minutes=15)  # a finished training job is polled once past its end

COUNT_METRICS = {"Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "InvocationModelErrors",
                 "InvocationsPerInstance", "InvocationsPerCopy"}
LATENCY_METRICS = {"ModelLatency", "OverheadLatency", "ModelSetupTime", "FirstChunkLatency"}
HOT = {("AWS/SageMaker", "Invocations", "Sum"), ("AWS/SageMaker", "Invocation5XXErrors", "Sum"),
       ("AWS/SageMaker", "ModelLatency", "p99")}
# Poll classes (aws_cloudwatch_metric_series.poll_class): why a series is polled on the hot cadence, or not
COLD = "cold"
HOT_CLASS = "hot"  # one of HOT of an endpoint with traffic in the last hour
ALARM_CLASS = "hot (alarm)"  # promoted: a CloudWatch alarm in ALARM watches the series
ENDPOINT_ALARM_CLASS = "hot (endpoint alarm)"  # promoted: an alarm of the series' endpoint is in ALARM
PROMOTED = (ALARM_CLASS, ENDPOINT_ALARM_CLASS)
RANK = {COLD: 0, HOT_CLASS: 1, ENDPOINT_ALARM_CLASS: 2, ALARM_CLASS: 3}  # a series is labelled by its highest pair
UNITS = {"Invocations": "Count", "Invocation4XXErrors": "Count", "Invocation5XXErrors": "Count",
         "InvocationModelErrors": "Count", "InvocationsPerInstance": "Count", "InvocationsPerCopy": "Count",
         "ModelLatency": "Microseconds", "OverheadLatency": "Microseconds", "ModelSetupTime": "Microseconds",
         "FirstChunkLatency": "Microseconds", "CPUUtilization": "Percent", "MemoryUtilization": "Percent",
         "DiskUtilization": "Percent", "GPUUtilization": "Percent", "GPUMemoryUtilization": "Percent"}

SERIES = table("aws_cloudwatch_metric_series",
               "A CloudWatch metric series (namespace, metric, dimensions) of an endpoint variant or training job.", [
                   ("series_id", "VARCHAR", "Stable id: 16 hex digits of sha1(namespace, metric name, dimensions)."),
                   ("namespace", "VARCHAR", "CloudWatch namespace, e.g. AWS/SageMaker."),
                   ("metric_name", "VARCHAR", "Metric name, e.g. ModelLatency."),
                   ("dimensions", "JSON", "Dimensions as a JSON object {name: value}."),
                   ("endpoint_name", "VARCHAR", "EndpointName dimension (endpoint series)."),
                   ("variant_name", "VARCHAR", "VariantName dimension (endpoint series)."),
                   ("training_job_name", "VARCHAR", "Training job, from the Host dimension JOB/algo-N."),
                   ("host", "VARCHAR", "Host dimension of a training-job series, e.g. JOB/algo-1."),
                   ("unit", "VARCHAR", "Unit of the values: Count, Microseconds (latencies), Percent, or NULL "
                                       "(training algorithm metrics, in the algorithm's own unit)."),
                   ("stats", "VARCHAR", "Statistics collected, comma-separated (Sum, Average, Maximum, p50, ...)."),
                   ("first_seen_at", "TIMESTAMPTZ", "When ListMetrics first returned the series."),
                   ("last_seen_at", "TIMESTAMPTZ", "When ListMetrics last returned the series."),
                   ("poll_class", "VARCHAR", "As of the last plan: cold (every statistic polled every "
                                             "cold_every); hot (some statistic polled every hot_every: Invocations, "
                                             "5xx or p99 of an endpoint with traffic in the last hour); or promoted "
                                             "to hot_every, every statistic, while an alarm is in ALARM: 'hot "
                                             "(alarm)' (an alarm watches this series) or 'hot (endpoint alarm)' (an "
                                             "alarm watches its endpoint)."),
                   ("last_polled_at", "TIMESTAMPTZ", "Time through which the series was last fetched."),
               ], ["series_id"])

POINT = table("aws_cloudwatch_metric_point", "One datapoint of one statistic of a series, as CloudWatch returns it.", [
    ("series_id", "VARCHAR", "Series (aws_cloudwatch_metric_series.series_id)."),
    ("stat", "VARCHAR", "Statistic: Sum, Average, Maximum, p50, p90 or p99."),
    ("period_s", "INTEGER", "Period of the point in seconds: 60, or 300 for backfill older than 24 h."),
    ("ts", "TIMESTAMPTZ", "Start of the period."),
    ("value", "DOUBLE", "Value in the series' unit: latencies in microseconds (as CloudWatch gives them), "
                        "utilizations in percent (CPU can exceed 100 on multi-core instances), counts summed "
                        "over the period."),
], ["series_id", "stat", "period_s", "ts"], indexed=False, time_column="ts")

HOURLY = table("aws_cloudwatch_metric_hourly", "One statistic of a series rolled up per UTC hour, from the points.", [
    ("series_id", "VARCHAR", "Series (aws_cloudwatch_metric_series.series_id)."),
    ("stat", "VARCHAR", "Statistic of the points rolled up."),
    ("hour", "TIMESTAMPTZ", "Start of the UTC hour."),
    ("value", "DOUBLE", "Sum: sum of the points; Average: mean of the points (not weighted by sample count); "
                        "Maximum: max; pNN: max of the points' pNN, an upper bound of the hour's true pNN. "
                        "Same unit as the points."),
    ("points", "INTEGER", "Points rolled up (60 for a complete hour of 1-minute points)."),
    ("period_s", "INTEGER", "Finest period of the points rolled up, in seconds (1-minute points win where "
                            "both exist)."),
], ["series_id", "stat", "hour"], indexed=False, time_column="hour")

DAILY = table("aws_cloudwatch_metric_daily", "One statistic of a series rolled up per UTC day, from the hourly rows.", [
    ("series_id", "VARCHAR", "Series (aws_cloudwatch_metric_series.series_id)."),
    ("stat", "VARCHAR", "Statistic of the points rolled up."),
    ("day", "TIMESTAMPTZ", "Start of the UTC day."),
    ("value", "DOUBLE", "Sum: sum of the points; Average: mean of the points; Minimum / Maximum: min / max; "
                        "pNN: max of the hours' pNN (an upper bound of the day's true pNN). Same unit as the points."),
    ("points", "INTEGER", "Points rolled up (1,440 for a complete day of 1-minute points)."),
    ("hours", "INTEGER", "Hours of the day with at least one point."),
    ("period_s", "INTEGER", "Finest period of the points rolled up, in seconds."),
    ("last_nonzero_hour", "TIMESTAMPTZ", "Start of the day's last hour whose value is not zero (for a count, the "
                                         "last hour with any: e.g. the last invocation), or NULL."),
], ["series_id", "stat", "day"], indexed=False, time_column="day")

SUMMARY = table("aws_cloudwatch_endpoint_summary",
                "Per endpoint, its traffic, 5xx errors and p99 latency over the windows the health and savings views "
                "use, ending at the newest invocation datapoint of its account and region; rewritten each cycle.", [
                    ("endpoint_name", "VARCHAR", "Endpoint (EndpointName dimension)."),
                    ("as_of", "TIMESTAMPTZ", "Newest Invocations datapoint of the account and region: the windows "
                                             "end here (CloudWatch fills the newest minutes late)."),
                    ("invocations_1h", "DOUBLE", "Invocations in the hour of as_of (from its start)."),
                    ("invocations_24h", "DOUBLE", "Invocations in the 24 hours to as_of."),
                    ("invocations_7d", "DOUBLE", "Invocations in the 7 days to as_of."),
                    ("invocations_30d", "DOUBLE", "Invocations in the 30 days to as_of."),
                    ("errors_5xx_1h", "DOUBLE", "Invocation5XXErrors in the hour of as_of."),
                    ("errors_5xx_24h", "DOUBLE", "Invocation5XXErrors in the 24 hours to as_of."),
                    ("p99_1h_us", "DOUBLE", "Highest hourly ModelLatency p99 in the hour of as_of, microseconds."),
                    ("p99_24h_us", "DOUBLE", "Highest hourly ModelLatency p99 in the 24 hours to as_of, microseconds."),
                    ("p99_baseline_us", "DOUBLE", "Median hourly ModelLatency p99 of the 7 days before those 24 hours, "
                                                  "microseconds: what normal looks like."),
                    ("last_invocation", "TIMESTAMPTZ", "Start of the last hour with any invocation (400 days looked "
                                                       "at, from the daily rollup), or NULL."),
                    ("metrics_since", "TIMESTAMPTZ", "Start of the first day with Invocations data collected."),
                ], ["endpoint_name"])

TRAFFIC = table(TRAFFIC_TABLE,
                "Per endpoint, its traffic over the last hour and the last 24 hours of complete minutes to the minute "
                "of the collection cycle (sextant.traffic: the one definition the pages show); rewritten each cycle.", [
                    ("endpoint_name", "VARCHAR", "Endpoint (EndpointName dimension)."),
                    ("window_minutes", "INTEGER", "Length of the window in minutes: 60 or 1440."),
                    ("through", "TIMESTAMPTZ", "End of the window (exclusive): the start of the cycle's minute."),
                    ("invocations", "DOUBLE", "Invocations in the window (all variants)."),
                    ("errors_4xx", "DOUBLE", "Invocation4XXErrors in the window."),
                    ("errors_5xx", "DOUBLE", "Invocation5XXErrors in the window."),
                    ("p99_us", "DOUBLE", "ModelLatency p99 over the window: each touching hour's p99 weighted by its "
                                         "invocations inside the window, microseconds."),
                    ("peak_p99_us", "DOUBLE", "Worst hourly ModelLatency p99 of the hours touching the window, "
                                              "microseconds."),
                ], ["endpoint_name", "window_minutes"])

POLL = table("aws_cloudwatch_metric_poll", "One metrics polling cycle: what was planned, fetched and deferred.", [
    ("polled_at", "TIMESTAMPTZ", "When the cycle ran; the windows fetched end at this minute."),
    ("series", "INTEGER", "Series known and pollable."),
    ("queries_total", "INTEGER", "Series x statistic pairs known (the size of the plan at full cadence)."),
    ("queries_hot", "INTEGER", "Of those, hot pairs (polled every hot_every)."),
    ("queries", "INTEGER", "MetricDataQueries requested this cycle (a backfill counts twice: 5-min and 1-min)."),
    ("queries_1min", "INTEGER", "Queries at a 60 s period in the shared windows (from each cursor to now)."),
    ("queries_5min", "INTEGER", "Queries at a 300 s period in the shared window (backfill older than 24 h)."),
    ("queries_backfill", "INTEGER", "Queries of pairs polled for the first time."),
    ("queries_job_windows", "INTEGER", "Queries of training jobs read for the first time, over the job's lifetime."),
    ("job_windows", "INTEGER", "Distinct (training job, period) windows of those queries."),
    ("requests", "INTEGER", "GetMetricData requests: ceil(queries_1min / 500) + ceil(queries_5min / 500) + one "
                            "per job window (a job has far fewer than 500 series)."),
    ("pages", "INTEGER", "GetMetricData calls made, NextToken pages included (>= requests)."),
    ("datapoints", "BIGINT", "Datapoints returned."),
    ("deferred", "INTEGER", "Queries due at the configured cadence but deferred to stay within the budget."),
    ("hot_every_s", "INTEGER", "Hot cadence used, in seconds (configured, or stretched by the budget)."),
    ("cold_every_s", "INTEGER", "Cold cadence used, in seconds (configured, or stretched by the budget)."),
    ("estimated_monthly_usd", "DOUBLE", "Monthly GetMetricData spend of the plan at the cadences used, in USD."),
    ("budget_usd", "DOUBLE", "Budget the plan was fitted to, in USD: monthly_api_budget_usd less the projected "
                             "Cost Explorer spend (the budget caps the whole API bill)."),
    ("series_promoted", "INTEGER", "Series promoted to the hot cadence because an alarm is in ALARM (poll_class "
                                   "'hot (alarm)' or 'hot (endpoint alarm)'); NULL in polls before promotions."),
    ("queries_promoted", "INTEGER", "Of queries_hot, the pairs hot only because of those promotions (cold "
                                    "otherwise)."),
    ("promoted_monthly_usd", "DOUBLE", "Of estimated_monthly_usd, what the promotions add: queries_promoted polled "
                                       "every hot_every_s instead of every cold_every_s, in USD per month."),
], ["polled_at"])

TABLES = (SERIES, POINT, HOURLY, DAILY, SUMMARY, TRAFFIC, POLL)

# The daily rollup's columns after (account_id, region, series_id, stat), aggregated over a day's hourly rows (the
# hourly table's columns, unqualified; GROUP BY the first five): day, value by the statistic's rule, points,
# hours, finest period, last non-zero hour. One rule for the collector (_rollup) and the reference generator.
DAILY_FROM_HOURLY = (
    "to_timestamp(floor(epoch(hour) / 86400) * 86400) AS day, "
    "CASE WHEN stat = 'Sum' THEN sum(value) WHEN stat = 'Average' THEN sum(value * points) / sum(points) "
    "WHEN stat = 'Minimum' THEN min(value) ELSE max(value) END, sum(points), count(*), min(period_s), "
    "max(hour) FILTER (WHERE value <> 0)")


def series_id(namespace: str, metric: str, dims: dict[str, str]) -> str:
    key = json.dumps([namespace, metric, sorted(dims.items())], separators=(",", ":"))
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def stats_for(namespace: str, metric: str) -> tuple[str, ...]:
    if namespace == TRAINING_NAMESPACE and "Utilization" not in metric:
        return ("Average",)  # algorithm metrics (train:loss, validation:auc): the logged value
    if metric in COUNT_METRICS or (metric.startswith("Invocation") and metric.endswith("Errors")):
        return ("Sum",)
    if metric in LATENCY_METRICS or metric.endswith("Latency"):
        return ("Average", "p50", "p90", "p99")
    return ("Average", "Maximum")


def _floor(t: datetime, seconds: int) -> datetime:
    epoch = int(t.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


@dataclass
class Series:
    sid: str
    namespace: str
    metric: str
    dims: dict[str, str]
    endpoint: str | None = None
    variant: str | None = None
    job: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    stats: tuple[str, ...] = ()
    poll_class: str | None = None
    last_polled: datetime | None = None

    @property
    def host(self) -> str | None:
        return self.dims.get("Host")

    def metric_spec(self) -> dict:
        return {"Namespace": self.namespace, "MetricName": self.metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(self.dims.items())]}


@dataclass
class Query:
    series: Series
    stat: str
    period: int
    start: datetime
    end: datetime
    backfill: bool
    window: str | None = None  # a training job read over its own lifetime; None: the shared windows
    points: list[tuple[datetime, float]] = field(default_factory=list)
    ok: bool = True


def _endpoints(ctx: Context) -> set[str]:
    """Endpoints in the store (sagemaker_endpoints runs first)."""
    rows = ctx.sql("SELECT endpoint_name FROM aws_sagemaker_endpoint WHERE account_id = ? AND region = ?",
                   [ctx.account_id, ctx.region])
    return {r[0] for r in rows}


def _training_jobs(ctx: Context) -> dict[str, tuple[datetime | None, datetime | None]]:
    """Training jobs in the store (sagemaker_training runs first) -> (start, end) of training (None when unknown /
    running)."""
    rows = ctx.sql("SELECT training_job_name, training_start_time, training_end_time FROM aws_sagemaker_training_job "
                   "WHERE account_id = ? AND region = ?", [ctx.account_id, ctx.region])
    return {name: (started, ended) for name, started, ended in rows}


def _stored_series(ctx: Context) -> dict[str, Series]:
    out = {}
    for sid, ns, metric, dims, endpoint, variant, job, first, last, poll_class, polled in ctx.sql(
            "SELECT series_id, namespace, metric_name, dimensions, endpoint_name, variant_name, training_job_name, "
            "first_seen_at, last_seen_at, poll_class, last_polled_at "
            "FROM aws_cloudwatch_metric_series WHERE account_id = ? AND region = ?", [ctx.account_id, ctx.region]):
        out[sid] = Series(sid, ns, metric, json.loads(dims), endpoint, variant, job, first, last,
                          stats_for(ns, metric), poll_class, polled)
    return out


def _discover(ctx: Context, endpoints: set[str], jobs: dict, known: dict[str, Series]) -> dict[str, Series]:
    cw = ctx.client("cloudwatch")
    found: dict[str, Series] = {}
    for ns in (*ENDPOINT_NAMESPACES, TRAINING_NAMESPACE):
        for m in paginate(cw, "list_metrics", "Metrics", Namespace=ns):
            dims = {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
            if ns == TRAINING_NAMESPACE:
                job = dims.get("Host", "").split("/", 1)[0]
                if set(dims) != {"Host"} or job not in jobs:
                    continue
                s = Series("", ns, m["MetricName"], dims, job=job)
            else:
                if set(dims) != {"EndpointName", "VariantName"} or dims["EndpointName"] not in endpoints:
                    continue
                s = Series("", ns, m["MetricName"], dims, endpoint=dims["EndpointName"], variant=dims["VariantName"])
            s.sid = series_id(ns, s.metric, dims)
            old = known.get(s.sid)
            s.first_seen = old.first_seen if old and old.first_seen else ctx.now
            s.last_seen = ctx.now
            s.stats = stats_for(ns, s.metric)
            if old:
                s.poll_class, s.last_polled = old.poll_class, old.last_polled
            found[s.sid] = s
    return found


def _traffic(ctx: Context) -> set[str]:
    """Endpoints with invocations in the last hour, from the stored points."""
    return {r[0] for r in ctx.sql(
        "SELECT s.endpoint_name FROM aws_cloudwatch_metric_point p JOIN aws_cloudwatch_metric_series s "
        "ON s.account_id = p.account_id AND s.region = p.region AND s.series_id = p.series_id "
        "WHERE p.account_id = ? AND p.region = ? AND s.namespace = 'AWS/SageMaker' AND s.metric_name = 'Invocations' "
        "AND p.stat = 'Sum' AND p.ts >= ? GROUP BY s.endpoint_name HAVING sum(p.value) > 0",
        [ctx.account_id, ctx.region, ctx.now - timedelta(hours=1)])}


@dataclass(frozen=True)
class Attention:
    """What is in ALARM now, from ``aws_cloudwatch_alarm`` (cloudwatch_alarms runs first in a cycle): the series
    its alarms watch (by the series id of their namespace, metric and dimensions) and the endpoints they watch."""

    series: frozenset[str] = frozenset()
    endpoints: frozenset[str] = frozenset()


def _attention(ctx: Context) -> Attention:
    series: set[str] = set()
    endpoints: set[str] = set()
    for namespace, metric, dims, endpoint in ctx.sql(
            "SELECT namespace, metric_name, dimensions, endpoint_name FROM aws_cloudwatch_alarm "
            "WHERE account_id = ? AND region = ? AND state_value = ?", [ctx.account_id, ctx.region, "ALARM"]):
        if namespace and metric:
            series.add(series_id(namespace, metric, json.loads(dims) if dims else {}))
        if endpoint:
            endpoints.add(endpoint)
    return Attention(frozenset(series), frozenset(endpoints))


def classify(s: Series, stat: str, traffic: set[str], attention: Attention) -> str:
    """The class of one series x statistic: hot by the usual rule (HOT of an endpoint with traffic), else promoted
    while an alarm watching the series, or its endpoint, is in ALARM, else cold."""
    if (s.namespace, s.metric, stat) in HOT and s.endpoint in traffic:
        return HOT_CLASS
    if s.sid in attention.series:
        return ALARM_CLASS
    if s.endpoint is not None and s.endpoint in attention.endpoints:
        return ENDPOINT_ALARM_CLASS
    return COLD


def monthly_usd(n_hot: int, n_cold: int, hot_s: float, cold_s: float) -> float:
    return (n_hot * MONTH_S / max(hot_s, MIN_CYCLE_S) + n_cold * MONTH_S / max(cold_s, MIN_CYCLE_S)) * prices.PER_METRIC


def metrics_budget_usd(cfg) -> float:
    """The share of ``monthly_api_budget_usd`` left to GetMetricData: the budget is a cap on the whole API
    bill, so the Cost Explorer refreshes' projected spend (a request per grouping, the forecast and the
    anomalies, every ``cost_refresh_every_s``, at $0.01 a request) is reserved first."""
    from collectors.cost_explorer import kinds
    refreshes = MONTH_S / max(cfg.cost_refresh_every_s, MIN_CYCLE_S)
    cost_explorer = (len(kinds(cfg.tag_keys)) + 2) * refreshes * prices.CE_PER_REQUEST
    return max(0.0, cfg.monthly_api_budget_usd - cost_explorer)


def fit_budget(n_hot: int, n_cold: int, hot_s: int, cold_s: int, budget: float) -> tuple[int, int, float]:
    """Cadences within the budget: stretch the cold cadence first (up to a day), then the hot one."""
    def cost() -> float:
        return monthly_usd(n_hot, n_cold, hot_s, cold_s)
    while cost() > budget and n_cold and cold_s < MAX_DEGRADED_S:
        cold_s = min(max(cold_s, MIN_CYCLE_S) * 2, MAX_DEGRADED_S)
    while cost() > budget and n_hot and hot_s < MAX_DEGRADED_S:
        hot_s = min(max(hot_s, MIN_CYCLE_S) * 2, MAX_DEGRADED_S)
    return hot_s, cold_s, cost()


@dataclass
class Plan:
    """What one cycle polls: the due queries, and the cadences and spend that fit the budget."""

    queries: list[Query]
    pairs: int  # series x statistic pollable
    hot: int  # of which hot (promoted ones included)
    deferred: int  # due at their configured cadence, deferred by the budget
    poll_class: dict[str, str]  # series id -> its highest class (RANK)
    hot_s: int
    cold_s: int
    estimated_usd: float
    budget_usd: float
    promoted: int = 0  # pairs hot only because an alarm is in ALARM
    promoted_usd: float = 0.0  # what those add to estimated_usd (hot instead of cold cadence), per month

    @property
    def series_promoted(self) -> int:
        return sum(1 for c in self.poll_class.values() if c in PROMOTED)


def collect(ctx: Context) -> Iterator[Batch]:
    cfg = ctx.settings.collect
    now = _floor(ctx.now, 60)
    endpoints, jobs = _endpoints(ctx), _training_jobs(ctx)
    series, discovered = _series(ctx, now, endpoints, jobs)
    pollable = {sid: s for sid, s in series.items()
                if (s.endpoint and s.endpoint in endpoints) or (s.job and s.job in jobs)}
    refresh = ctx.refresh
    if refresh is not None:  # an operator's refresh: these endpoints' series only, every pair due
        pollable = {sid: s for sid, s in pollable.items() if s.endpoint in refresh.endpoints}
    plan = _plan(ctx, now, pollable, jobs)
    requests, pages, datapoints = _fetch(ctx.client("cloudwatch"), plan.queries)
    if refresh is not None:
        refresh.series, refresh.queries = len(pollable), len(plan.queries)
        refresh.requests, refresh.datapoints = requests, datapoints

    # ---- write points (fast path), rollups, cursors, series, the poll record
    df, touched = _points(ctx, plan.queries)
    yield POINT, UniqueKeys(df)  # series x stat x period (one query each) x distinct period starts
    if touched:
        _rollup(ctx, touched)
    polled = _advance(ctx, plan.queries)
    changed = [s for s in series.values() if s.sid in discovered or s.sid in polled
               or plan.poll_class.get(s.sid, s.poll_class) != s.poll_class]
    yield SERIES, [ctx.rows(
        series_id=s.sid, namespace=s.namespace, metric_name=s.metric, dimensions=json.dumps(s.dims, sort_keys=True),
        endpoint_name=s.endpoint, variant_name=s.variant, training_job_name=s.job, host=s.host,
        unit=UNITS.get(s.metric), stats=",".join(s.stats), first_seen_at=s.first_seen or ctx.now,
        last_seen_at=s.last_seen or ctx.now, poll_class=plan.poll_class.get(s.sid, s.poll_class or COLD),
        last_polled_at=polled.get(s.sid, s.last_polled)) for s in changed]
    if refresh is not None:  # not a polling cycle: no plan record, no retention pass; the summary follows the points
        summarize(ctx.sql, ctx.account_id, ctx.region, ctx.now)
        return
    queries = plan.queries
    shared = [q for q in queries if q.window is None]
    n1 = sum(1 for q in shared if q.period == 60)
    yield POLL, [ctx.rows(
        polled_at=ctx.now, series=len(pollable), queries_total=plan.pairs, queries_hot=plan.hot, queries=len(queries),
        queries_1min=n1, queries_5min=len(shared) - n1, queries_backfill=sum(1 for q in queries if q.backfill),
        queries_job_windows=len(queries) - len(shared),
        job_windows=len({(q.window, q.period) for q in queries if q.window is not None}), requests=requests,
        pages=pages, datapoints=datapoints, deferred=plan.deferred, hot_every_s=plan.hot_s,
        cold_every_s=plan.cold_s, estimated_monthly_usd=round(plan.estimated_usd, 4),
        budget_usd=round(plan.budget_usd, 4), series_promoted=plan.series_promoted, queries_promoted=plan.promoted,
        promoted_monthly_usd=round(plan.promoted_usd, 4))]
    # last, once the runner has written the batches above (the summary joins the series rows of this cycle)
    _expire(ctx, cfg)
    summarize(ctx.sql, ctx.account_id, ctx.region, ctx.now)


def _series(ctx: Context, now: datetime, endpoints: set[str],
            jobs: dict[str, tuple[datetime | None, datetime | None]]) -> tuple[dict[str, Series], dict[str, Series]]:
    """(every series, those discovered now): discovery runs when the resources changed or every cold_every; in an
    operator's refresh, only when the store knows no series of the endpoints refreshed."""
    known = _stored_series(ctx)
    if ctx.refresh is not None and any(s.endpoint in ctx.refresh.endpoints for s in known.values()):
        return known, {}
    fingerprint = hashlib.sha1(json.dumps([sorted(endpoints), sorted(jobs)]).encode()).hexdigest()
    last = ctx.cursor.get("discovered_at")
    stale = last is None or (now - last).total_seconds() >= ctx.settings.collect.cold_every_s
    discovered: dict[str, Series] = {}
    if stale or ctx.cursor.text("discovered_resources") != fingerprint:
        discovered = _discover(ctx, endpoints, jobs, known)
        ctx.cursor.advance("discovered_at", now)
        ctx.cursor.set_text("discovered_resources", fingerprint)
    return {**known, **discovered}, discovered


def _plan(ctx: Context, now: datetime, pollable: dict[str, Series],
          jobs: dict[str, tuple[datetime | None, datetime | None]]) -> Plan:
    """Classes (promotions included), cadences within the budget, and the due queries (with ``ctx.refresh``,
    every pair of ``pollable`` is due whatever its cadence)."""
    cfg = ctx.settings.collect
    traffic, attention = _traffic(ctx), _attention(ctx)
    classes = [(s, stat, classify(s, stat, traffic, attention)) for s in pollable.values() for stat in s.stats]
    n_hot = sum(1 for _, _, c in classes if c != COLD)
    n_promoted = sum(1 for _, _, c in classes if c in PROMOTED)
    budget = metrics_budget_usd(cfg)
    hot_s, cold_s, est = fit_budget(n_hot, len(classes) - n_hot, cfg.hot_every_s, cfg.cold_every_s, budget)
    promoted_usd = monthly_usd(n_promoted, 0, hot_s, cold_s) - monthly_usd(0, n_promoted, hot_s, cold_s)
    plan = Plan([], len(classes), n_hot, 0, {}, hot_s, cold_s, est, budget, n_promoted, promoted_usd)
    split = _floor(now - ONE_MINUTE_WINDOW, 300)
    oldest = now - min(timedelta(days=cfg.backfill_days), FIVE_MINUTE_RETENTION)
    for s, stat, cls in classes:
        hot = cls != COLD
        if RANK[cls] > RANK[plan.poll_class.get(s.sid, COLD)]:
            plan.poll_class[s.sid] = cls
        else:
            plan.poll_class.setdefault(s.sid, COLD)
        fetched = ctx.cursor.get((s.sid, stat))
        start, end, window = (max(fetched - SETTLE, oldest) if fetched else oldest), now, None
        if s.job and jobs:
            started, ended = jobs.get(s.job, (None, None))
            if ended is not None and (fetched or oldest) >= ended + DONE_AFTER_END:
                continue  # a training job finished before the window or already read past its end
            if fetched is None:  # first read of a job: its own window, its lifetime
                start = max(start, (started or start) - SETTLE)
                end = min(now, ended + DONE_AFTER_END) if ended else now
                window = s.job
        if fetched is not None and ctx.refresh is None:  # an operator's refresh reads every pair, due or not
            age = (now - fetched).total_seconds()
            configured = cfg.hot_every_s if hot else cfg.cold_every_s
            if age < configured:
                continue
            if age < (hot_s if hot else cold_s):
                plan.deferred += 1
                continue
        if start < split:
            plan.queries.append(Query(s, stat, 300, _floor(start, 300), min(split, _floor(end, 300) + timedelta(
                minutes=5)), fetched is None, window))
            start = split
        if end > start:
            plan.queries.append(Query(s, stat, 60, _floor(start, 60), end, fetched is None, window))
    return plan


def _fetch(cw: Any, queries: list[Query]) -> tuple[int, int, int]:
    """Fill each query's points; (requests, pages, datapoints). 500 queries per call; calls share
    StartTime/EndTime, so 1-minute and 5-minute queries are packed separately, and a training job read for the
    first time gets calls over its own lifetime."""
    requests = pages = datapoints = 0
    groups: dict[tuple, list[Query]] = {}
    for q in sorted(queries, key=lambda q: q.start):
        groups.setdefault((q.period, q.window or ""), []).append(q)
    for group in groups.values():
        for i in range(0, len(group), MAX_QUERIES):
            batch = group[i:i + MAX_QUERIES]
            requests += 1
            by_id = {f"q{n}": q for n, q in enumerate(batch)}
            kwargs = {"MetricDataQueries": [
                {"Id": qid, "MetricStat": {"Metric": q.series.metric_spec(), "Period": q.period, "Stat": q.stat},
                 "ReturnData": True} for qid, q in by_id.items()],
                "StartTime": min(q.start for q in batch), "EndTime": max(q.end for q in batch),
                "ScanBy": "TimestampAscending"}
            while True:
                page = cw.get_metric_data(**kwargs)
                pages += 1
                datapoints += _take(page, by_id)
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
    return requests, pages, datapoints


def _take(page: dict, by_id: dict[str, Query]) -> int:
    """Add a GetMetricData page's points to their queries; the datapoints it held."""
    datapoints = 0
    for r in page.get("MetricDataResults", []):
        q = by_id.get(r["Id"])
        if q is None:
            continue
        if r.get("StatusCode") in ("Forbidden", "InternalError"):
            q.ok = False
        q.points.extend((t, v) for t, v in zip(r.get("Timestamps", []), r.get("Values", []), strict=False)
                        if t >= q.start)
        datapoints += len(r.get("Values", []))
    return datapoints


def _points(ctx: Context, queries: list[Query]) -> tuple[pd.DataFrame, dict[tuple[str, str], list[datetime]]]:
    """The points of every query as one frame, and the [min, max] time each (series, stat) touched."""
    rows: dict[str, list] = {"series_id": [], "stat": [], "period_s": [], "ts": [], "value": []}
    touched: dict[tuple[str, str], list[datetime]] = {}
    for q in queries:
        q.points = list(dict(q.points).items())  # one point per period start: the batch's keys are distinct
        for t, v in q.points:
            rows["series_id"].append(q.series.sid)
            rows["stat"].append(q.stat)
            rows["period_s"].append(q.period)
            rows["ts"].append(t)
            rows["value"].append(v)
        if q.points:
            ts = [t for t, _ in q.points]
            span = touched.setdefault((q.series.sid, q.stat), [min(ts), max(ts)])
            span[0], span[1] = min(span[0], min(ts)), max(span[1], max(ts))
    df = pd.DataFrame(rows)
    if not df.empty:
        df["ts"] = pd.to_datetime(df["ts"], utc=True)
        df.insert(0, "region", ctx.region)
        df.insert(0, "account_id", ctx.account_id)
    return df, touched


def _advance(ctx: Context, queries: list[Query]) -> dict[str, datetime]:
    """Move each (series, stat) cursor to the end its queries reached (not when a query failed); the time each
    series was polled through."""
    polled: dict[str, datetime] = {}
    failed = {(q.series.sid, q.stat) for q in queries if not q.ok}
    reached: dict[tuple[str, str], datetime] = {}
    for q in queries:
        key = (q.series.sid, q.stat)
        if key not in failed:
            reached[key] = max(reached.get(key, q.end), q.end)
    for (sid, stat), end in reached.items():
        ctx.cursor.advance((sid, stat), end)
        polled[sid] = max(polled.get(sid, end), end)
    return polled


def _expire(ctx: Context, cfg) -> None:
    """Delete this account's metric rows older than their retention (a setting of 0 keeps them forever).

    The tables are appended in time order, so zone maps confine each DELETE to the oldest row groups."""
    for t, column, keep in ((POINT, "ts", cfg.metric_point_retention_s),
                            (HOURLY, "hour", cfg.metric_hourly_retention_s),
                            (DAILY, "day", cfg.metric_daily_retention_s)):
        if keep > 0:
            ctx.sql(f"DELETE FROM {ident(t.name)} WHERE {ident(column)} < ? AND account_id = ? AND region = ?",  # noqa: S608
                        [ctx.now - timedelta(seconds=keep), ctx.account_id, ctx.region])


def _rollup(ctx: Context, touched: dict[tuple[str, str], list[datetime]]) -> None:
    """Recompute the hourly rollups of the touched hours from the stored points, then the daily rollups of the
    touched days from the hourly rows (same transaction).

    Where 1-minute points exist in a 5-minute period, the 5-minute point of that period is left out.
    Both tables are unindexed (no ART at 100 M+ rows): the touched hours are deleted, then re-inserted,
    and every scan is bounded by the overall [lo, hi) so only the newest row groups are read.
    """
    keys = list(touched)
    lo = [_floor(touched[k][0], 3600) for k in keys]
    hi = [_floor(touched[k][1], 3600) + timedelta(hours=1) for k in keys]
    point, hourly = ident(POINT.name), ident(HOURLY.name)
    # numbered parameters: $1-$4 the touched keys and hours, $5/$6 account and region, $7/$8 the overall window
    touched_cte = ("WITH touched AS (SELECT unnest($1::VARCHAR[]) AS series_id, unnest($2::VARCHAR[]) AS stat, "
                   "unnest($3::TIMESTAMPTZ[]) AS lo, unnest($4::TIMESTAMPTZ[]) AS hi) ")
    key_params = [[k[0] for k in keys], [k[1] for k in keys], lo, hi]
    params = [*key_params, ctx.account_id, ctx.region, min(lo), max(hi)]
    ctx.sql(
        f"DELETE FROM {hourly} h USING ({touched_cte}SELECT * FROM touched) t "  # noqa: S608
        "WHERE h.series_id = t.series_id AND h.stat = t.stat AND h.hour >= t.lo AND h.hour < t.hi "
        "AND h.account_id = $5 AND h.region = $6 AND h.hour >= $7::TIMESTAMPTZ AND h.hour < $8::TIMESTAMPTZ",
        params)
    pts = (f"SELECT p.series_id, p.stat, p.period_s, p.ts, p.value FROM {point} p JOIN touched t "  # noqa: S608
           "ON p.series_id = t.series_id AND p.stat = t.stat AND p.ts >= t.lo AND p.ts < t.hi "
           "WHERE p.account_id = $5 AND p.region = $6 AND p.ts >= $7::TIMESTAMPTZ AND p.ts < $8::TIMESTAMPTZ")
    # 5-minute points (backfill older than 24 h) in the touched hours: usually none, and then every point is kept
    # as it is; otherwise a 5-minute point is kept only where its period has no 1-minute points
    [(coarse,)] = ctx.sql(f"{touched_cte}SELECT count(*) FROM ({pts} AND p.period_s = 300)", params)  # noqa: S608
    kept = pts if not coarse else (
        f"WITH pts AS ({pts}), "  # noqa: S608
        "coarse AS (SELECT *, floor(epoch(ts) / 300) AS b FROM pts WHERE period_s = 300), "
        "fine AS (SELECT DISTINCT c.series_id, c.stat, c.b FROM coarse c JOIN pts p ON p.series_id = c.series_id "
        "AND p.stat = c.stat AND floor(epoch(p.ts) / 300) = c.b AND p.period_s = 60) "
        "SELECT series_id, stat, period_s, ts, value FROM pts WHERE period_s = 60 UNION ALL "
        "SELECT c.series_id, c.stat, c.period_s, c.ts, c.value FROM coarse c ANTI JOIN fine f "
        "ON c.series_id = f.series_id AND c.stat = f.stat AND c.b = f.b")
    ctx.sql(
        f"INSERT INTO {hourly} (account_id, region, series_id, stat, hour, value, points, period_s) "  # noqa: S608
        f"{touched_cte}"
        "SELECT $5, $6, series_id, stat, to_timestamp(floor(epoch(ts) / 3600) * 3600) AS hour, "
        "CASE WHEN stat = 'Sum' THEN sum(value) WHEN stat = 'Average' THEN avg(value) "
        "WHEN stat = 'Minimum' THEN min(value) ELSE max(value) END, count(*), min(period_s) "
        f"FROM ({kept}) GROUP BY series_id, stat, hour", params)
    day_lo = [_floor(t, 86400) for t in lo]
    day_hi = [_floor(t - timedelta(seconds=1), 86400) + timedelta(days=1) for t in hi]
    daily = ident(DAILY.name)
    day_params = [[k[0] for k in keys], [k[1] for k in keys], day_lo, day_hi, ctx.account_id, ctx.region,
                  min(day_lo), max(day_hi)]
    ctx.sql(
        f"DELETE FROM {daily} d USING ({touched_cte}SELECT * FROM touched) t "  # noqa: S608
        "WHERE d.series_id = t.series_id AND d.stat = t.stat AND d.day >= t.lo AND d.day < t.hi "
        "AND d.account_id = $5 AND d.region = $6 AND d.day >= $7::TIMESTAMPTZ AND d.day < $8::TIMESTAMPTZ",
        day_params)
    ctx.sql(
        f"INSERT INTO {daily} ({', '.join(DAILY.column_names)}) {touched_cte}"  # noqa: S608
        f"SELECT account_id, region, series_id, stat, {DAILY_FROM_HOURLY} "
        f"FROM (SELECT h.* FROM {hourly} h JOIN touched t ON h.series_id = t.series_id AND h.stat = t.stat "
        "AND h.hour >= t.lo AND h.hour < t.hi WHERE h.account_id = $5 AND h.region = $6 "
        "AND h.hour >= $7::TIMESTAMPTZ AND h.hour < $8::TIMESTAMPTZ) GROUP BY 1, 2, 3, 4, 5",
        day_params)


# The endpoint summary, as a SELECT: the collector stores it per account and region each cycle (summarize); a
# dashboard on a store collected before the table existed runs it itself (dashboard.finance.endpoint_summary).
# Parameters: $1 as_of, $2 start of its hour, $3 - $6 as_of less 24 h / 7 d / 8 d / 30 d, $7 as_of less 400 days,
# $8 the end of the windows (as_of + 1 h), $9 / $10 account and region (NULL: every one).
SUMMARY_SELECT = f"""
WITH s AS (
    SELECT account_id, region, series_id, endpoint_name, metric_name FROM {ident(SERIES.name)}
    WHERE namespace = 'AWS/SageMaker' AND endpoint_name IS NOT NULL
      AND metric_name IN ('Invocations', 'Invocation5XXErrors', 'ModelLatency')
      AND ($9::VARCHAR IS NULL OR account_id = $9) AND ($10::VARCHAR IS NULL OR region = $10)),
recent AS (
    SELECT s.account_id, s.region, s.endpoint_name,
           sum(h.value) FILTER (WHERE s.metric_name = 'Invocations' AND h.hour >= $2) AS invocations_1h,
           sum(h.value) FILTER (WHERE s.metric_name = 'Invocations' AND h.hour >= $3) AS invocations_24h,
           sum(h.value) FILTER (WHERE s.metric_name = 'Invocations' AND h.hour >= $4) AS invocations_7d,
           sum(h.value) FILTER (WHERE s.metric_name = 'Invocations') AS invocations_30d,
           sum(h.value) FILTER (WHERE s.metric_name = 'Invocation5XXErrors' AND h.hour >= $2) AS errors_5xx_1h,
           sum(h.value) FILTER (WHERE s.metric_name = 'Invocation5XXErrors' AND h.hour >= $3) AS errors_5xx_24h,
           max(h.value) FILTER (WHERE s.metric_name = 'ModelLatency' AND h.hour >= $2) AS p99_1h_us,
           max(h.value) FILTER (WHERE s.metric_name = 'ModelLatency' AND h.hour >= $3) AS p99_24h_us,
           median(h.value) FILTER (WHERE s.metric_name = 'ModelLatency' AND h.hour >= $5 AND h.hour < $3)
               AS p99_baseline_us
    FROM {ident(HOURLY.name)} h JOIN s USING (account_id, region, series_id)
    WHERE h.hour >= $6 AND h.hour < $8 AND h.stat = CASE s.metric_name WHEN 'ModelLatency' THEN 'p99' ELSE 'Sum' END
    GROUP BY ALL),
history AS (
    SELECT s.account_id, s.region, s.endpoint_name, max(d.last_nonzero_hour) AS last_invocation,
           min(d.day) AS metrics_since
    FROM {ident(DAILY.name)} d JOIN s USING (account_id, region, series_id)
    WHERE s.metric_name = 'Invocations' AND d.stat = 'Sum' AND d.day >= $7 AND d.day < $8
    GROUP BY ALL)
SELECT account_id, region, endpoint_name, $1::TIMESTAMPTZ AS as_of,
       coalesce(invocations_1h, 0) AS invocations_1h, coalesce(invocations_24h, 0) AS invocations_24h,
       coalesce(invocations_7d, 0) AS invocations_7d, coalesce(invocations_30d, 0) AS invocations_30d,
       coalesce(errors_5xx_1h, 0) AS errors_5xx_1h, coalesce(errors_5xx_24h, 0) AS errors_5xx_24h,
       p99_1h_us, p99_24h_us, p99_baseline_us, last_invocation, metrics_since
FROM history FULL JOIN recent USING (account_id, region, endpoint_name)
"""  # noqa: S608 - the table names come from the registry


def summary_params(as_of: datetime, account_id: str | None = None, region: str | None = None) -> list:
    """The parameters of SUMMARY_SELECT for windows ending at ``as_of``."""
    return [as_of, as_of.replace(minute=0, second=0, microsecond=0),
            *(as_of - timedelta(days=d) for d in (1, 7, 8, 30, 400)), as_of + timedelta(hours=1), account_id, region]


def _store_traffic(execute, account_id: str, region: str, through: datetime) -> None:
    """The pages' traffic windows (sextant.traffic.TRAFFIC_WINDOWS) to ``through``, per endpoint of the account."""
    execute(f"DELETE FROM {ident(TRAFFIC.name)} WHERE account_id = ? AND region = ?", [account_id, region])  # noqa: S608
    select, params = traffic_select(through, TRAFFIC_WINDOWS, account_id=account_id, region=region)
    minutes = ", ".join("(?::INTEGER, ?::INTEGER)" for _ in TRAFFIC_WINDOWS)
    cols = ", ".join(ident(c) for c in TRAFFIC.column_names)
    execute(f"""INSERT INTO {ident(TRAFFIC.name)} ({cols})
        SELECT t.account_id, t.region, t.endpoint_name, m.minutes, ?::TIMESTAMPTZ, t.invocations, t.errors_4xx,
               t.errors_5xx, t.p99_us, t.peak_p99_us
        FROM ({select}) t JOIN (VALUES {minutes}) m(win, minutes) USING (win)""",  # noqa: S608 - fixed text
            [through, *params, *(v for k, w in enumerate(TRAFFIC_WINDOWS) for v in (k, w // timedelta(minutes=1)))])


def newest_invocation(execute, account_id: str | None, region: str | None, now: datetime) -> datetime | None:
    """The newest Invocations datapoint stored (of one account and region, or of all), or None.

    Two steps, so each scan is bounded by a constant DuckDB prunes row groups with: the hourly rollup's newest
    hour with invocation points (looked for in the last two days first, everywhere only when the store is older),
    then the points from that hour on."""
    inv = (f"SELECT account_id, region, series_id FROM {ident(SERIES.name)} WHERE namespace = 'AWS/SageMaker' "  # noqa: S608
           "AND metric_name = 'Invocations' AND ($1::VARCHAR IS NULL OR account_id = $1) "
           "AND ($2::VARCHAR IS NULL OR region = $2)")
    since = None
    for bound in (now.replace(minute=0, second=0, microsecond=0) - timedelta(days=2), None):
        [(since,)] = execute(f"SELECT max(h.hour) FROM {ident(HOURLY.name)} h JOIN ({inv}) s "  # noqa: S608
                             "USING (account_id, region, series_id) WHERE ($3::TIMESTAMPTZ IS NULL OR h.hour >= $3)",
                             [account_id, region, bound])
        if since is not None:
            break
    [(newest,)] = execute(f"SELECT max(p.ts) FROM {ident(POINT.name)} p JOIN ({inv}) s "  # noqa: S608
                          "USING (account_id, region, series_id) WHERE ($3::TIMESTAMPTZ IS NULL OR p.ts >= $3)",
                          [account_id, region, since])
    return newest


def summarize(execute, account_id: str, region: str, now: datetime) -> None:
    """Rewrite the account's rows of aws_cloudwatch_endpoint_summary and aws_cloudwatch_endpoint_traffic (in the
    caller's transaction)."""
    execute(f"DELETE FROM {ident(SUMMARY.name)} WHERE account_id = ? AND region = ?", [account_id, region])  # noqa: S608
    _store_traffic(execute, account_id, region, now.replace(second=0, microsecond=0))
    as_of = newest_invocation(execute, account_id, region, now)
    if as_of is None:
        return
    cols = ", ".join(ident(c) for c in SUMMARY.column_names)
    execute(f"INSERT INTO {ident(SUMMARY.name)} ({cols}) {SUMMARY_SELECT}",
            summary_params(as_of, account_id, region))
