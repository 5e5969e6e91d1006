"""Figure 2: each page's query set, timed through the product's own query functions, against pandas.

``SQL_SETS[page](ctx)`` calls the same ``dashboard.queries`` functions, with the
same arguments, that the page calls on its default view (sidebar range: the last 24 hours, no scope
filter). The query caches (``dashboard.data._cached`` and the per-snapshot facts ``_MEMO``) are cleared before every
run: in production it is keyed by snapshot, and every collection cycle publishes a new snapshot, so a
cold cache is what a viewer meets after each cycle.

``PANDAS_SETS[page](frames, ctx)`` does the same computations the way a typical Streamlit dashboard
does: the tables are read into DataFrames once (``load_frames``, timed separately), then every view
filters, joins and groups in pandas. Two concessions favour pandas (so the ratio is conservative): the
262 M metric points cannot be held in memory as a DataFrame on this machine, so only the last 48 hours
of points (the raw-resolution window) are loaded, plus the whole hourly rollup; and repeated string
columns are loaded as categoricals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import pandas as pd

from bench.reference import HOST_TYPES, SPOT_DISCOUNT, TRAIN_TYPES


@dataclass
class Ctx:
    """The default view of every page: the last 24 h, no scope filter, and the endpoint a viewer opens."""

    f: object  # dashboard.filters.Filters
    now: datetime
    today: date
    endpoint: str
    account: str
    region: str
    settings: object


def make_ctx() -> Ctx:
    from dashboard.filters import Filters
    from dashboard.queries import endpoints as eq
    from sextant.settings import load
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    f = Filters(now - timedelta(days=1), now, "24h")
    eps = eq.endpoints(f)
    busiest = eps.sort_values("invocations_24h", ascending=False).iloc[0]
    return Ctx(f, now, now.date(), busiest.endpoint_name, busiest.account_id, busiest.region, load())


def clear_cache() -> None:
    from dashboard import data
    data._cached.clear()
    data._MEMO.clear()


# --------------------------------------------------------------------------- the product's query sets


def _overview(c: Ctx) -> None:
    from dashboard.queries import catalog, cost, overview
    if not cost.has_bill():  # as the page: the data dictionary only when there is no bill to show
        catalog.tables_doc()
    overview.overview(c.f, c.settings, c.now)  # every query of the page, side by side (as the page)


def _endpoints_list(c: Ctx) -> None:
    from dashboard.queries import endpoints as eq
    eq.endpoints(c.f)


def _endpoint_detail(c: Ctx) -> None:
    from dashboard.queries import endpoints as eq
    from dashboard.queries import logs as lq
    start, end = c.f.start, c.f.end
    eq.endpoint(c.f, c.endpoint)
    eq.endpoint_metrics(c.account, c.region, c.endpoint, start, end)
    eq.config_events(c.account, c.region, c.endpoint, start, end)
    eq.latency_baseline(c.account, c.region, c.endpoint, start)
    eq.endpoint_variants(c.account, c.region, c.endpoint)
    eq.instance_count_history(c.account, c.region, c.endpoint, start, end)
    eq.scaling_activities(c.account, c.region, c.endpoint, start, end)
    eq.alarms(c.account, c.region, c.endpoint)
    eq.alarm_changes(c.account, c.region, c.endpoint, start, end)
    lq.log_events(start, end, levels=["ERROR"], endpoint=c.endpoint, accounts=(c.account,), regions=(c.region,),
                  limit=200)


def _training(c: Ctx) -> None:
    from dashboard.queries import training as tq
    tq.training_filter_options(c.f)
    tq.training_jobs(c.f, statuses=[], instance_types=[], spot=None, text="")


def _pipelines(c: Ctx) -> None:
    from dashboard.queries import pipelines as pq
    runs = pq.pipeline_executions(c.f)
    pq.pipeline_summary(runs)


def _models(c: Ctx) -> None:
    from dashboard.queries import models as mq
    mq.serving_map(c.f)
    mq.model_groups(c.f)
    mq.deploy_history(c.f)


def _cost_period(c: Ctx) -> tuple[date, date]:
    return c.today - timedelta(days=29), c.today + timedelta(days=1)


def _cost_spend(c: Ctx) -> None:
    from dashboard.queries import cost
    cost.has_bill()
    start, end = _cost_period(c)
    cost.daily_cost(c.f, "service", start, end)
    cost.forecast(c.today)
    cost.anomalies(start, end)


def _cost_unit(c: Ctx) -> None:
    from dashboard.queries import cost
    start, end = _cost_period(c)
    ustart = datetime.combine(start, datetime.min.time(), UTC)
    uend = min(datetime.combine(end, datetime.min.time(), UTC), c.now)
    cost.endpoint_unit_cost(c.f, ustart, uend)
    cost.training_unit_cost(c.f, ustart, uend)


def _cost_waste(c: Ctx) -> None:
    from dashboard.queries import savings
    discount = savings.observed_spot_discount(c.f, c.now)
    savings.idle_endpoints(c.f, 7)
    savings.overprovisioned(c.f, 20.0)
    savings.spot_candidates(c.f, c.now, discount)


def _logs(c: Ctx) -> None:
    from dashboard.queries import logs as lq
    lq.log_resources(c.f.start, c.f.end)
    lq.log_counts(c.f.start, c.f.end)
    lq.log_events(c.f.start, c.f.end, limit=2000)


def _incident(c: Ctx) -> None:
    from dashboard.queries import endpoints as eq
    from dashboard.queries import incidents as iq
    start, end = c.f.start, c.f.end
    eps = eq.endpoint_list(c.f)
    iq.alarm_periods(c.f)
    iq.endpoint_errors(start, end)
    team = eps[eps.endpoint_name == c.endpoint].team.iloc[0]
    iq.incident_timeline(c.account, c.region, c.endpoint, start, end, team=team)
    eq.endpoint_metrics(c.account, c.region, c.endpoint, start, end, metrics=("p99", "5xx"))
    iq.error_counts_per_minute(c.account, c.region, c.endpoint, start, end)
    eq.latency_baseline(c.account, c.region, c.endpoint, start)


def _alerts(c: Ctx) -> None:
    from dashboard.queries import alerts
    alerts.alerts(c.f, c.now - timedelta(days=7))
    alerts.rules()
    alerts.channels()
    alerts.attempts()


def _audit(c: Ctx) -> None:
    from dashboard import action_ui
    action_ui.audit_log().frame()


def _collection(c: Ctx) -> None:
    from dashboard.queries import collection
    collection.freshness(collection.sources(), c.settings, c.now)
    collection.self_cost(c.settings, c.now)
    runs = collection.collection_runs()
    collection.collection_run_sources(runs.run_id.iloc[0])
    collection.collection_errors()
    collection.metrics_plan()


def _data(c: Ctx) -> None:
    from dashboard.queries import catalog
    catalog.tables_doc()
    catalog.columns_doc()


SQL_SETS: dict[str, Callable[[Ctx], None]] = {
    "overview": _overview, "endpoints (list)": _endpoints_list, "endpoints (detail)": _endpoint_detail,
    "training": _training, "pipelines": _pipelines, "models": _models, "cost: spend": _cost_spend,
    "cost: unit cost": _cost_unit, "cost: waste": _cost_waste, "logs": _logs, "incident": _incident,
    "alerts": _alerts, "audit": _audit, "collection": _collection, "data": _data,
}

# --------------------------------------------------------------------------- the pandas baseline


def load_frames(con: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, pd.DataFrame]:
    """Read the tables the pages use into DataFrames, as a typical Streamlit dashboard does at start."""
    def df(sql: str, params: list | None = None, cats: tuple[str, ...] = ()) -> pd.DataFrame:
        out = con.execute(sql, params or []).df()
        for col in cats:
            out[col] = out[col].astype("category")
        for col in out.columns:
            if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                out[col] = out[col].dt.tz_convert(UTC)
        return out
    return {
        "endpoint": df("SELECT * FROM aws_sagemaker_endpoint"),
        "variant": df("SELECT * FROM aws_sagemaker_endpoint_variant"),
        "history": df("SELECT * FROM aws_sagemaker_endpoint_variant_history"),
        "model": df("SELECT * FROM aws_sagemaker_model"),
        "package": df("SELECT * FROM aws_sagemaker_model_package"),
        "config": df("SELECT * FROM aws_sagemaker_endpoint_config"),
        "series": df("SELECT * FROM aws_cloudwatch_metric_series"),
        "hourly": df("SELECT series_id, stat, hour, value, points, period_s FROM aws_cloudwatch_metric_hourly",
                     cats=("series_id", "stat")),
        "points": df("SELECT series_id, stat, period_s, ts, value FROM aws_cloudwatch_metric_point WHERE ts >= ?",
                     [now - timedelta(hours=48)], cats=("series_id", "stat")),
        "cost": df("SELECT * FROM aws_cost_daily", cats=("group_by_kind", "key1", "key2")),
        "job": df("SELECT * FROM aws_sagemaker_training_job"),
        "pipeline": df("SELECT * FROM aws_sagemaker_pipeline"),
        "execution": df("SELECT * FROM aws_sagemaker_pipeline_execution"),
        "logs": df("SELECT log_group, log_stream, ts, level, message, endpoint_name, variant_name, training_job_name "
                   "FROM aws_logs_event", cats=("log_group", "log_stream", "level", "endpoint_name", "variant_name",
                                                "training_job_name")),
        "alarm": df("SELECT * FROM aws_cloudwatch_alarm"),
        "alarm_change": df("SELECT * FROM aws_cloudwatch_alarm_state_change"),
        "runs": df("SELECT * FROM sextant_collection_run"),
    }


def _hourly_metric(fr, metric: str, stat: str, start, end) -> pd.DataFrame:
    s = fr["series"][fr["series"].metric_name == metric][["series_id", "endpoint_name", "variant_name"]]
    h = fr["hourly"]
    h = h[(h.stat == stat) & (h.hour >= start) & (h.hour < end)]
    return h.merge(s.astype({"series_id": h.series_id.dtype}), on="series_id")


def _pd_cost(fr, kind: str, start: date, end: date) -> pd.DataFrame:
    c = fr["cost"]
    d = pd.to_datetime(c.date)
    return c[(c.group_by_kind == kind) & (d >= pd.Timestamp(start)) & (d < pd.Timestamp(end))]


def _pd_overview(fr, c: Ctx) -> None:
    month = c.today.replace(day=1)
    prev = (month - timedelta(days=1)).replace(day=1)
    _pd_cost(fr, "SERVICE/USAGE_TYPE", month, c.today + timedelta(days=1)).groupby("date").unblended_cost_usd.sum()
    _pd_cost(fr, "SERVICE/USAGE_TYPE", prev, prev + timedelta(days=c.today.day)).unblended_cost_usd.sum()
    end = pd.Timestamp(c.now)
    inv = _hourly_metric(fr, "Invocations", "Sum", end - timedelta(days=7), end)
    err = _hourly_metric(fr, "Invocation5XXErrors", "Sum", end - timedelta(days=1), end)
    p99 = _hourly_metric(fr, "ModelLatency", "p99", end - timedelta(days=7), end)
    base = p99.groupby("endpoint_name", observed=True).value.median()
    last = p99[p99.hour >= end - timedelta(days=1)].groupby("endpoint_name", observed=True).value.max()
    i24 = inv[inv.hour >= end - timedelta(days=1)].groupby("endpoint_name", observed=True).value.sum()
    pd.DataFrame({"inv": i24, "err": err.groupby("endpoint_name", observed=True).value.sum(),
                  "p99": last, "base": base}).assign(degraded=lambda d: (d.err / d.inv > 0.01) | (d.p99 > 2 * d.base))
    a = fr["alarm"]
    a[a.state_value == "ALARM"]
    j = fr["job"]
    j[(j.status == "Failed") & (j.training_end_time >= end - timedelta(days=1))]
    x = fr["execution"]
    x[(x.status == "Failed") & (x.start_time >= end - timedelta(days=1))].merge(fr["pipeline"], on="pipeline_name")
    for kind in ("SERVICE/USAGE_TYPE", "TAG:team/SERVICE"):
        m = _pd_cost(fr, kind, c.today - timedelta(days=14), c.today)
        recent = pd.to_datetime(m.date) >= pd.Timestamp(c.today - timedelta(days=7))
        pd.DataFrame({"last": m[recent].groupby("key1", observed=True).unblended_cost_usd.sum(),
                      "prev": m[~recent].groupby("key1", observed=True).unblended_cost_usd.sum()})
    s = fr["series"]
    inv_ids = s[s.metric_name == "Invocations"].series_id
    p = fr["points"]
    p[p.series_id.isin(inv_ids)].ts.max()
    fr["runs"].groupby(["source", "account_id", "region"]).ended_at.max()


def _pd_endpoints_list(fr, c: Ctx) -> pd.DataFrame:
    end = pd.Timestamp(c.now)
    s = fr["series"][fr["series"].namespace == "AWS/SageMaker"][["series_id", "endpoint_name", "variant_name",
                                                                   "metric_name"]]
    h = fr["hourly"]
    h = h[(h.hour >= end - timedelta(days=1)) & (h.hour < end)]
    h = h.merge(s.astype({"series_id": h.series_id.dtype}), on="series_id")
    wide = h.pivot_table(index=["endpoint_name", "variant_name", "hour"], columns="metric_name", values="value",
                         aggfunc="sum", observed=True).reset_index()
    wide["w"] = wide.get("ModelLatency", np.nan) * wide.get("Invocations", np.nan)
    per = wide.groupby("endpoint_name").agg(inv=("Invocations", "sum"), w=("w", "sum"),
                                            peak=("ModelLatency", "max"))
    per["p99"] = per.w / per.inv.where(per.inv > 0)
    v = fr["variant"].assign(price=lambda d: d.instance_type.map(HOST_TYPES))
    v["cost"] = v.current_instance_count * v.price * 24
    var = v.groupby("endpoint_name").agg(instances=("current_instance_count", "sum"), cost=("cost", "sum"))
    return fr["endpoint"].merge(var, on="endpoint_name", how="left").merge(per, on="endpoint_name", how="left")


def _pd_endpoint_points(fr, c: Ctx, metrics: tuple[str, ...] = ()) -> pd.DataFrame:
    s = fr["series"][fr["series"].endpoint_name == c.endpoint]
    if metrics:
        s = s[s.metric_name.isin(metrics)]
    p = fr["points"]
    p = p[(p.ts >= pd.Timestamp(c.f.start)) & (p.ts < pd.Timestamp(c.f.end)) & p.series_id.isin(s.series_id)]
    p = p.merge(s[["series_id", "variant_name", "metric_name", "unit"]].astype({"series_id": p.series_id.dtype}),
                on="series_id")
    p["value"] = np.where(p.unit == "Microseconds", p.value / 1000, p.value)
    return p


def _pd_endpoint_detail(fr, c: Ctx) -> None:
    _pd_endpoints_list(fr, c).query("endpoint_name == @c.endpoint", local_dict={"c": c})
    _pd_endpoint_points(fr, c)
    p99 = _hourly_metric(fr, "ModelLatency", "p99", pd.Timestamp(c.f.start) - timedelta(days=7),
                         pd.Timestamp(c.f.start))
    p99[p99.endpoint_name == c.endpoint].value.median()
    fr["variant"][fr["variant"].endpoint_name == c.endpoint].merge(fr["model"], on="model_name", how="left")
    h = fr["history"]
    h[h.endpoint_name == c.endpoint].sort_values("observed_at")
    fr["alarm"][fr["alarm"].endpoint_name == c.endpoint]
    lg = fr["logs"]
    lg[(lg.endpoint_name == c.endpoint) & (lg.level == "ERROR") & (lg.ts >= pd.Timestamp(c.f.start))].nlargest(
        200, "ts")


def _pd_training(fr, c: Ctx) -> None:
    j = fr["job"]
    j = j[(j.creation_time < pd.Timestamp(c.f.end)) & (j.training_end_time.isna()
                                                       | (j.training_end_time >= pd.Timestamp(c.f.start)))]
    j[["status", "instance_type", "team"]].drop_duplicates()
    price = j.instance_type.map(TRAIN_TYPES)
    j.assign(cost=j.billable_seconds / 3600 * j.instance_count * price).sort_values("creation_time", ascending=False)


def _pd_pipelines(fr, c: Ctx) -> None:
    from dashboard.queries import pipelines as pq
    x = fr["execution"]
    x = x[(x.start_time >= pd.Timestamp(c.f.start)) & (x.start_time < pd.Timestamp(c.f.end))]
    x = x.merge(fr["pipeline"][["pipeline_name", "team"]], on="pipeline_name", how="left")
    x = x.assign(kind="SageMaker", pipeline=x.pipeline_name, status=x.status.replace({"Executing": "Running"}),
                 duration_min=(x.end_time - x.start_time).dt.total_seconds() / 60)
    pq.pipeline_summary(x)


def _pd_models(fr, c: Ctx) -> None:
    serving = fr["endpoint"].merge(fr["variant"], on="endpoint_name").merge(
        fr["model"][["model_name", "model_package_arn"]], on="model_name", how="left").merge(
        fr["package"][["model_package_arn", "group_name", "version", "approval_status"]], on="model_package_arn",
        how="left")
    p = fr["package"]
    p.groupby("group_name").agg(versions=("version", "count"), latest=("version", "max"))
    serving.groupby("group_name").endpoint_name.agg(lambda s: ", ".join(sorted(set(s))))
    fr["config"].sort_values("creation_time")


def _pd_cost_spend(fr, c: Ctx) -> None:
    start, end = _cost_period(c)
    _pd_cost(fr, "SERVICE/USAGE_TYPE", start, end).groupby(["date", "key1"], observed=True).unblended_cost_usd.sum()


def _pd_cost_unit(fr, c: Ctx) -> None:
    start, end = _cost_period(c)
    s, e = pd.Timestamp(start, tz=UTC), pd.Timestamp(end, tz=UTC)
    h = fr["history"].sort_values("observed_at")
    h["t1"] = h.groupby(["endpoint_name", "variant_name"]).observed_at.shift(-1).fillna(e)
    h["hours"] = h.current_instance_count * (h.t1.clip(upper=e) - h.observed_at.clip(lower=s)).dt.total_seconds().clip(
        lower=0) / 3600
    hours = h.groupby(["endpoint_name", "instance_type"]).hours.sum().reset_index()
    hours["usd"] = hours.hours * hours.instance_type.map(HOST_TYPES)
    inv = _hourly_metric(fr, "Invocations", "Sum", s, e).groupby("endpoint_name", observed=True).value.sum()
    hours.groupby("endpoint_name").usd.sum().to_frame().join(inv)
    j = fr["job"]
    j = j[(j.creation_time >= s) & (j.creation_time < e)]
    j.assign(cost=j.billable_seconds / 3600 * j.instance_count * j.instance_type.map(TRAIN_TYPES)).groupby(
        "team").cost.sum()


def _pd_cost_waste(fr, c: Ctx) -> None:
    end = pd.Timestamp(c.now)
    inv = _hourly_metric(fr, "Invocations", "Sum", end - timedelta(days=400), end + timedelta(hours=1))
    g = inv.groupby("endpoint_name", observed=True)
    pd.DataFrame({"d7": inv[inv.hour >= end - timedelta(days=7)].groupby("endpoint_name", observed=True).value.sum(),
                  "last": inv[inv.value > 0].groupby("endpoint_name", observed=True).hour.max(),
                  "since": g.hour.min()})
    cpu = _hourly_metric(fr, "CPUUtilization", "Average", end - timedelta(days=7), end)
    cpu.groupby("endpoint_name", observed=True).value.quantile(0.95)
    j = fr["job"]
    j = j[j.creation_time >= end - timedelta(days=30)]
    od = j[~j.spot.fillna(False)]
    od.assign(cost=od.billable_seconds / 3600 * od.instance_count * od.instance_type.map(TRAIN_TYPES)
              * SPOT_DISCOUNT).groupby(["team", "instance_type"]).cost.sum()


def _pd_logs(fr, c: Ctx) -> None:
    lg = fr["logs"]
    w = lg[(lg.ts >= pd.Timestamp(c.f.start)) & (lg.ts < pd.Timestamp(c.f.end))]
    res = w.endpoint_name.astype("object").fillna(w.training_job_name.astype("object"))
    w.assign(res=res, err=w.level == "ERROR").groupby("res").err.agg(["size", "sum"])
    w.groupby([w.ts.dt.floor("min"), "level"], observed=True).size()
    w.nlargest(2000, "ts")


def _pd_incident(fr, c: Ctx) -> None:
    fr["endpoint"][["endpoint_name", "account_id", "region", "team"]].sort_values(["team", "endpoint_name"])
    ch = fr["alarm_change"]
    ch[ch.ts >= pd.Timestamp(c.f.end) - timedelta(days=7)].merge(fr["alarm"][["alarm_name", "endpoint_name"]],
                                                                  on="alarm_name").sort_values("ts")
    lg = fr["logs"]
    w = lg[(lg.level == "ERROR") & (lg.ts >= pd.Timestamp(c.f.start)) & (lg.ts < pd.Timestamp(c.f.end))]
    w.groupby("endpoint_name", observed=True).size().sort_values(ascending=False)
    _pd_endpoint_points(fr, c, ("ModelLatency", "Invocation5XXErrors"))
    lg = fr["logs"]
    e = lg[(lg.endpoint_name == c.endpoint) & (lg.level == "ERROR") & (lg.ts >= pd.Timestamp(c.f.start))]
    e.groupby(e.ts.dt.floor("min")).size()


def _pd_collection(fr, c: Ctx) -> None:
    r = fr["runs"]
    r.groupby(["source", "account_id", "region"]).agg(last=("ended_at", "max"))
    r.groupby("run_id").agg(start=("started_at", "min"), calls=("api_calls", "sum"),
                            cost=("estimated_cost_usd", "sum")).sort_values("start", ascending=False).head(200)
    r[r.started_at >= pd.Timestamp(c.now) - timedelta(days=1)].groupby("source").estimated_cost_usd.sum()


PANDAS_SETS: dict[str, Callable] = {
    "overview": _pd_overview, "endpoints (list)": _pd_endpoints_list, "endpoints (detail)": _pd_endpoint_detail,
    "training": _pd_training, "pipelines": _pd_pipelines, "models": _pd_models, "cost: spend": _pd_cost_spend,
    "cost: unit cost": _pd_cost_unit, "cost: waste": _pd_cost_waste, "logs": _pd_logs, "incident": _pd_incident,
    "collection": _pd_collection,
}


def timed(fn: Callable, runs: int, before: Callable[[], None] = lambda: None) -> list[float]:
    """Wall times (ms) of ``runs`` calls of ``fn``, calling ``before`` (untimed) ahead of each."""
    out = []
    for _ in range(runs):
        before()
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))
