"""Read queries of the endpoints area: the endpoint list, the Endpoints table, one endpoint's variants, metrics,
deploys, scaling and alarms.

Every function returns a DataFrame and binds every value as a parameter; the only text formatted into SQL is
fixed in this module (the scope fragment that ``Filters.where`` builds from bound parameters). Units are
converted here, once: latencies leave in milliseconds (CloudWatch's ModelLatency is in microseconds), counts as
per-minute rates, money in USD (hosting at the one hourly-price rule, :mod:`dashboard.queries.prices`).

Resolution: ranges up to ``MINUTE_RANGE`` read the raw points (1-minute where the collector has them, 5-minute
backfill before that); longer ranges read the hourly rollup.

**The numbers that do not follow the chart range** are defined here, once, and every page reads them from here:

- *Traffic, 24 h* (:func:`traffic`, defined in :mod:`sextant.traffic`): invocations, 4xx and 5xx over exactly the
  1,440 complete minutes that end at :func:`dashboard.filters.fixed_end` (the same for every relative range), or,
  when the view ends now, at the minute of the last collection cycle, which stored them. The complete hours inside
  come from the hourly rollup, the partial hours at both ends from the points (a 5-minute point counted for the
  minutes of it inside the window), so the figure read at :59 and at :01 of an hour differs by the traffic of those
  minutes, not by an hourly bucket.
- *Error rate* = (4xx + 5xx) / invocations, and *5xx rate* = 5xx / invocations, both over that window.
- *p99 over 24 h* = the hourly p99 of each hour touching the window, weighted by the invocations of that hour inside
  the window; *peak p99* = the worst of those hours.
- *p99 now* (:func:`p99_now`): the highest per-minute ModelLatency p99 (over the variants) in the 15 complete
  minutes ending at ``fixed_end``: recent enough for an incident, and not one noisy minute; blank when no point of
  those minutes is collected yet.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pandas as pd

from dashboard.data import gather, query
from dashboard.filters import Filters, fixed_end
from dashboard.queries._common import _PRICE_ROWS, _in_several_accounts, _lookup, _or_empty, _price_rows, _utc
from sextant.traffic import TRAFFIC_TABLE, traffic_select

MINUTE_RANGE = timedelta(hours=48)
TRAFFIC_WINDOW = timedelta(hours=24)  # "Invocations, 24 h", the error rates, $ / 1k: see traffic()
P99_NOW_WINDOW = timedelta(minutes=15)  # "p99 now": see p99_now()

ENDPOINT_METRICS = {  # (namespace, metric, stat) -> label used by the pages
    ("AWS/SageMaker", "Invocations", "Sum"): "invocations",
    ("AWS/SageMaker", "Invocation4XXErrors", "Sum"): "4xx",
    ("AWS/SageMaker", "Invocation5XXErrors", "Sum"): "5xx",
    ("AWS/SageMaker", "ModelLatency", "p50"): "p50",
    ("AWS/SageMaker", "ModelLatency", "p90"): "p90",
    ("AWS/SageMaker", "ModelLatency", "p99"): "p99",
    ("AWS/SageMaker", "OverheadLatency", "p99"): "overhead p99",
    ("/aws/sagemaker/Endpoints", "CPUUtilization", "Average"): "CPU",
    ("/aws/sagemaker/Endpoints", "MemoryUtilization", "Average"): "memory",
    ("/aws/sagemaker/Endpoints", "DiskUtilization", "Average"): "disk",
    ("/aws/sagemaker/Endpoints", "GPUUtilization", "Average"): "GPU",
    ("/aws/sagemaker/Endpoints", "GPUMemoryUtilization", "Average"): "GPU memory",
}
_METRIC_KEYS = [f"{ns}|{m}|{s}" for ns, m, s in ENDPOINT_METRICS]
_METRIC_LABELS = {f"{ns}|{m}|{s}": label for (ns, m, s), label in ENDPOINT_METRICS.items()}


def fine_grained(start: datetime, end: datetime) -> bool:
    """True when the range is short enough to read raw points rather than the hourly rollup."""
    return end - start <= MINUTE_RANGE


ENDPOINT_LIST_COLUMNS = ["endpoint_name", "account_id", "region", "team", "project", "env", "status",
                         "creation_time", "endpoint_config_name", "last_modified_time"]


def endpoint_list(f: Filters) -> pd.DataFrame:
    """The endpoints in scope (``f.where()``), one row each, ordered by team then name, without metrics:
    endpoint_name, account_id, region, team, project, env, status, creation_time, endpoint_config_name,
    last_modified_time (times tz-aware UTC). The one endpoint-list query: pickers and the finance side read it."""
    where, params = f.where("e")
    df = query(f"""
        SELECT e.endpoint_name, e.account_id, e.region, e.team, e.project, e.env, e.status, e.creation_time,
               e.endpoint_config_name, e.last_modified_time
        FROM aws_sagemaker_endpoint e
        WHERE {where} ORDER BY e.team, e.endpoint_name""", params)  # noqa: S608 - bound parameters only
    return _utc(_or_empty(df, ENDPOINT_LIST_COLUMNS), "creation_time", "last_modified_time")


TRAFFIC_COLUMNS = ["account_id", "region", "endpoint_name", "invocations", "errors_4xx", "errors_5xx", "error_rate",
                   "error_rate_5xx", "p99_ms", "peak_p99_ms", "through"]


def traffic(f: Filters, window: timedelta = TRAFFIC_WINDOW, name: str | None = None) -> pd.DataFrame:
    """Per endpoint with metrics (every one, or only ``name``; the caller joins its scope): invocations, errors_4xx,
    errors_5xx, error_rate ((4xx + 5xx) / invocations), error_rate_5xx, p99_ms and peak_p99_ms over exactly the
    ``window`` of complete minutes ending at ``through`` (:mod:`sextant.traffic`: the one definition).

    ``through`` is :func:`dashboard.filters.fixed_end`, or, for a view that ends now, the minute of the last
    collection cycle, which stored these windows (``aws_cloudwatch_endpoint_traffic``): the store holds no minute
    after it, so the figure holds still between cycles instead of losing its oldest minutes."""
    return traffic_windows(f, (window,), name)[window][TRAFFIC_COLUMNS]


# the traffic rows as pages read them, from either reader of the definition (the stored windows or the SELECT)
_TRAFFIC_OUT = """win, account_id, region, endpoint_name, invocations, errors_4xx, errors_5xx,
    (errors_4xx + errors_5xx) / nullif(invocations, 0) AS error_rate, errors_5xx / nullif(invocations, 0) AS
    error_rate_5xx, p99_us / 1000.0 AS p99_ms, peak_p99_us / 1000.0 AS peak_p99_ms"""


def _stored_traffic(end: datetime, windows: tuple[timedelta, ...], name: str | None) -> pd.DataFrame:
    """The collector's stored windows, when they answer a view ending at ``end``: every requested window stored, the
    view not ending before the cycle, every account and region with endpoint series stored (an account whose metrics
    have not run since the table came is computed at view time). Empty otherwise."""
    minutes = ", ".join("(?::INTEGER, ?::INTEGER)" for _ in windows)
    return query(f"""
        WITH m(win, minutes) AS (VALUES {minutes}),
        t AS (SELECT * FROM {TRAFFIC_TABLE}),
        usable AS (
            SELECT (SELECT max(through) FROM t) <= ?::TIMESTAMPTZ
               AND (SELECT count(DISTINCT window_minutes) FROM t JOIN m ON t.window_minutes = m.minutes)
                   = (SELECT count(*) FROM m)
               AND NOT EXISTS (SELECT account_id, region FROM aws_cloudwatch_metric_series
                               WHERE namespace = 'AWS/SageMaker' AND endpoint_name IS NOT NULL
                               EXCEPT SELECT account_id, region FROM t) AS ok)
        SELECT {_TRAFFIC_OUT}, through
        FROM t JOIN m ON t.window_minutes = m.minutes
        WHERE (SELECT ok FROM usable) AND (?::VARCHAR IS NULL OR endpoint_name = ?)""",  # noqa: S608 - fixed text
                 [*(v for k, w in enumerate(windows) for v in (k, w // timedelta(minutes=1))), end, name, name])


def traffic_windows(f: Filters, windows: tuple[timedelta, ...],
                    name: str | None = None) -> dict[timedelta, pd.DataFrame]:
    """:func:`traffic` over each of ``windows`` (all ending at the same minute), in one pass over the store (Overview
    judges health on the last hour and the last 24 hours). Returns {window: the traffic frame}."""
    end = fixed_end(f)
    df = _stored_traffic(end, windows, name)
    if df.empty:
        sql, params = traffic_select(end, windows, name=name)
        df = query(f"SELECT {_TRAFFIC_OUT}, ?::TIMESTAMPTZ AS through FROM ({sql})", [end, *params])  # noqa: S608
    df = _utc(_or_empty(df, ["win", *TRAFFIC_COLUMNS]), "through")
    return {w: df[df.win == k][TRAFFIC_COLUMNS].reset_index(drop=True) for k, w in enumerate(windows)}


def p99_now(f: Filters, name: str | None = None) -> pd.DataFrame:
    """"p99 now", the one definition: per endpoint (every one with a point, or only ``name``), the highest
    per-minute ModelLatency p99 of any variant in the ``P99_NOW_WINDOW`` (15 complete minutes) ending at
    :func:`dashboard.filters.fixed_end`, in ms, and the newest minute with a point (p99_now_through). It does not
    depend on the chart range. Columns: account_id, region, endpoint_name, p99_now_ms, p99_now_through."""
    df = query(P99_NOW_SQL, p99_now_params(f, name))
    return _utc(_or_empty(df, ["account_id", "region", "endpoint_name", "p99_now_ms", "p99_now_through"]),
                "p99_now_through")


# p99 now (:func:`p99_now`) as SQL, for the queries that join it (health); parameters from p99_now_params
P99_NOW_SQL = """
    SELECT s.account_id, s.region, s.endpoint_name, max(p.value) / 1000.0 AS p99_now_ms,
           max(p.ts) AS p99_now_through
    FROM aws_cloudwatch_metric_point p JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id)
    WHERE s.namespace = 'AWS/SageMaker' AND s.metric_name = 'ModelLatency' AND s.endpoint_name IS NOT NULL
      AND (?::VARCHAR IS NULL OR s.endpoint_name = ?)
      AND p.stat = 'p99' AND p.ts >= ? AND p.ts < ?
    GROUP BY ALL"""


def p99_now_params(f: Filters, name: str | None = None) -> list:
    end = fixed_end(f)
    return [name, name, end - P99_NOW_WINDOW, end]


ENDPOINTS_COLUMNS = ["endpoint_name", "status", "capacity", "autoscaling_min", "autoscaling_max", "invocations_24h",
                     "p99_now_ms", "p99_ms", "error_rate", "cost_per_day", "cost_per_1k", "peak_p99_ms",
                     "error_rate_5xx", "instance_type", "instances", "variants", "team", "project", "env",
                     "account_id", "region", "endpoint_config_name", "last_modified_time", "traffic_through"]


def endpoints(f: Filters, name: str | None = None) -> pd.DataFrame:
    """One row per endpoint (or only ``name``): status, capacity, autoscaling bounds, the 24-hour traffic, p99 and
    error rates (:func:`traffic`; the window ends at ``traffic_through``), p99 now (:func:`p99_now`), cost.

    Cost per day is the instances now x the hosting rate from the bill x 24; $ / 1k inferences is that cost per day
    over the 24-hour invocations x 1,000.
    """
    where, params = f.where("e")
    sql = f"""
        WITH prices AS ({_PRICE_ROWS}),
        var AS (
            SELECT v.account_id, v.region, v.endpoint_name,
                   string_agg(v.instance_type || ' × ' || coalesce(v.current_instance_count, 0), ', '
                              ORDER BY v.variant_name) AS capacity,
                   string_agg(DISTINCT v.instance_type, ', ') AS instance_type,
                   sum(v.current_instance_count)::INTEGER AS instances,
                   count(*)::INTEGER AS variants,
                   sum(v.current_instance_count * p.usd_per_hour) * 24 AS cost_per_day,
                   bool_or(p.usd_per_hour IS NULL) AS price_missing
            FROM aws_sagemaker_endpoint_variant v LEFT JOIN prices p USING (instance_type)
            GROUP BY ALL),
        asg AS (
            SELECT account_id, region, endpoint_name, min(min_capacity) AS autoscaling_min,
                   max(max_capacity) AS autoscaling_max
            FROM aws_application_autoscaling_scalable_target GROUP BY ALL),
        now AS ({P99_NOW_SQL})
        SELECT e.endpoint_name, e.status, var.capacity, now.p99_now_ms,
               asg.autoscaling_min, asg.autoscaling_max,
               CASE WHEN var.price_missing THEN NULL ELSE var.cost_per_day END AS cost_per_day,
               var.instance_type, var.instances, var.variants, e.team, e.project, e.env, e.account_id, e.region,
               e.endpoint_config_name, e.last_modified_time
        FROM aws_sagemaker_endpoint e
        LEFT JOIN var USING (account_id, region, endpoint_name)
        LEFT JOIN asg USING (account_id, region, endpoint_name)
        LEFT JOIN now USING (account_id, region, endpoint_name)
        WHERE {where} AND (?::VARCHAR IS NULL OR e.endpoint_name = ?)
        ORDER BY e.team, e.endpoint_name
    """  # noqa: S608 - fragments are fixed text; values are bound
    # the prices (a query of their own) and the main query on one thread, the traffic on another
    df, t = gather(lambda: query(sql, [*_price_rows("Host")[1], *p99_now_params(f, name), *params, name, name]),
                   lambda: traffic(f, name=name))
    if df.empty:
        return pd.DataFrame(columns=ENDPOINTS_COLUMNS)
    _lookup(df, t, {"invocations": "invocations_24h", "through": "traffic_through", "error_rate": "error_rate",
                    "error_rate_5xx": "error_rate_5xx", "p99_ms": "p99_ms", "peak_p99_ms": "peak_p99_ms"})
    df["invocations_24h"] = df.invocations_24h.fillna(0).round().astype("int64")
    df["cost_per_1k"] = df.cost_per_day / df.invocations_24h.where(df.invocations_24h > 0) * 1000
    return _utc(df[ENDPOINTS_COLUMNS].reset_index(drop=True), "last_modified_time", "traffic_through")


def traffic_end(df: pd.DataFrame, f: Filters) -> datetime:
    """Where the traffic windows of ``df`` (an :func:`endpoints` or health frame) end, for a header: the newest
    ``traffic_through`` (the last cycle's minute for a view ending now), else :func:`dashboard.filters.fixed_end`."""
    through = df.traffic_through.max() if "traffic_through" in df and not df.empty else pd.NaT
    return fixed_end(f) if pd.isna(through) else pd.Timestamp(through).to_pydatetime()


def endpoint(f: Filters, name: str) -> pd.DataFrame:
    """The endpoints() row of one endpoint (empty when it is not in scope), computed for it alone."""
    return endpoints(f, name).reset_index(drop=True)


def endpoint_variants(account: str, region: str, name: str) -> pd.DataFrame:
    """Variants of an endpoint now: type, counts, weight, model, and the registry version it came from."""
    return query("""
        SELECT v.variant_name, v.instance_type, v.current_instance_count, v.desired_instance_count,
               v.current_weight, v.model_name, pk.group_name AS model_group, pk.version AS model_version,
               pk.approval_status, v.endpoint_config_name
        FROM aws_sagemaker_endpoint_variant v
        LEFT JOIN aws_sagemaker_model m ON m.account_id = v.account_id AND m.region = v.region
                                       AND m.model_name = v.model_name
        LEFT JOIN aws_sagemaker_model_package pk ON pk.model_package_arn = m.model_package_arn
        WHERE v.account_id = ? AND v.region = ? AND v.endpoint_name = ?
        ORDER BY v.variant_name""", [account, region, name])


def _endpoint_series(account: str, region: str, name: str) -> pd.DataFrame:
    """The endpoint's series x statistic pairs that ENDPOINT_METRICS charts: series_id, stat, variant_name, metric
    (its label), unit, and shared (another account or region has a series with that id: a series id hashes the
    namespace, metric and dimensions, not the account). A few dozen rows, read first so the point scan can filter
    on series ids alone."""
    df = query("""
        SELECT s.series_id, x.stat, s.variant_name, s.namespace || '|' || s.metric_name || '|' || x.stat AS key, s.unit
        FROM aws_cloudwatch_metric_series s, unnest(string_split(s.stats, ',')) AS x(stat)
        WHERE s.account_id = ? AND s.region = ? AND s.endpoint_name = ?
          AND list_contains(?, s.namespace || '|' || s.metric_name || '|' || x.stat)""",
               [account, region, name, _METRIC_KEYS])
    if not df.empty:
        df["metric"] = df.pop("key").map(_METRIC_LABELS)
        df["shared"] = df.series_id.isin(_in_several_accounts("aws_cloudwatch_metric_series", "series_id"))
    return df


def endpoint_metrics(account: str, region: str, name: str, start: datetime, end: datetime,
                     metrics: tuple[str, ...] = ()) -> pd.DataFrame:
    """Long frame (ts, variant_name, metric, value, period_s) of one endpoint's metrics in [start, end).

    metric is a label of ENDPOINT_METRICS (only those in ``metrics``, when given). Latencies in ms,
    utilizations in %, counts per minute.
    Short ranges read the points (1-minute where collected, 5-minute before); long ones the hourly rollup
    (where a percentile is the max of the hour's period percentiles: an upper bound). The scan filters on
    the endpoint's series ids (from ``_endpoint_series``) and the time range only, so DuckDB reads the
    range's row groups once with a pushed-down IN filter; labels and units are applied to the few
    thousand rows that come back."""
    cols = ["ts", "variant_name", "metric", "value", "period_s"]
    series = _endpoint_series(account, region, name)
    if metrics and not series.empty:
        series = series[series.metric.isin(metrics)]
    if series.empty:
        return pd.DataFrame(columns=cols)
    ids = sorted(set(series.series_id))
    # the account filter costs a third of the scan (two string columns): applied only when another account or
    # region has a series with one of these ids
    scope, sparams = ("account_id = ? AND region = ?", [account, region]) if series.shared.any() else ("TRUE", [])
    if fine_grained(start, end):
        df = query(f"""
            SELECT ts, series_id, stat, period_s, value FROM aws_cloudwatch_metric_point
            WHERE {scope} AND ts >= ? AND ts < ? AND series_id IN (SELECT unnest(?::VARCHAR[]))""",  # noqa: S608
                   [*sparams, start, end, ids])
        if df.period_s.nunique() > 1:  # a 5-minute period also collected at 1 minute: keep the 1-minute points
            finest = df.groupby([df.series_id, df.stat, df.ts.dt.floor("5min")]).period_s.transform("min")
            df = df[df.period_s == finest]
    else:
        df = query(f"""
            SELECT hour AS ts, series_id, stat, 3600 AS period_s, value FROM aws_cloudwatch_metric_hourly
            WHERE {scope} AND hour >= ? AND hour < ? AND series_id IN (SELECT unnest(?::VARCHAR[]))""",  # noqa: S608
                   [*sparams, start, end, ids])
    df = df.merge(series.drop(columns="shared"), on=["series_id", "stat"])  # inner: the charted statistics only
    if df.empty:
        return pd.DataFrame(columns=cols)
    counts = df.stat == "Sum"  # per minute: a 5-minute point holds 5 minutes, an hourly one 60
    df["value"] = df.value.where(df.unit != "Microseconds", df.value / 1000.0).where(
        ~counts, df.value * 60.0 / df.period_s)
    return _utc(df.sort_values("ts", kind="stable"), "ts")[cols].reset_index(drop=True)


def latency_baseline(account: str, region: str, name: str, before: datetime, days: int = 7) -> float | None:
    """Median hourly p99 (ms) of an endpoint over the ``days`` before ``before``: what normal looks like."""
    df = query("""
        SELECT median(h.value) / 1000.0 AS p99_ms
        FROM aws_cloudwatch_metric_hourly h JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id)
        WHERE s.account_id = ? AND s.region = ? AND s.endpoint_name = ? AND s.metric_name = 'ModelLatency'
          AND s.namespace = 'AWS/SageMaker' AND h.stat = 'p99' AND h.hour >= ? AND h.hour < ?""",
               [account, region, name, before - timedelta(days=days), before])
    return None if df.empty or pd.isna(df.p99_ms.iloc[0]) else float(df.p99_ms.iloc[0])


def _configs_of(account: str, region: str, name: str) -> pd.DataFrame:
    """Endpoint configs of an endpoint: those it was seen on, plus those named after it (NAME-config-...)."""
    sql = """
        SELECT c.endpoint_config_name, c.creation_time, c.variants
        FROM aws_sagemaker_endpoint_config c
        WHERE c.account_id = ? AND c.region = ?
          AND (starts_with(c.endpoint_config_name, ? || '-')
               OR c.endpoint_config_name IN (SELECT endpoint_config_name FROM aws_sagemaker_endpoint
                                             WHERE account_id = ? AND region = ? AND endpoint_name = ?)
               OR c.endpoint_config_name IN (SELECT endpoint_config_name FROM aws_sagemaker_endpoint_variant_history
                                             WHERE account_id = ? AND region = ? AND endpoint_name = ?))
        ORDER BY c.creation_time"""
    return _utc(query(sql, [account, region, name] * 3), "creation_time")


def deploys(account: str, region: str, name: str) -> pd.DataFrame:
    """Endpoint config creations of an endpoint as deploys: time, config, models, and whether it is a rollback.

    A config whose models equal those of an earlier config (but not the one just before) is a rollback.
    """
    return _deploy_rows(_configs_of(account, region, name))


_DEPLOY_COLUMNS = ["time", "kind", "config", "models", "variants", "label"]


def deploy_records(configs) -> list[dict]:
    """Deploy rows (time, kind, config, models, variants, label) of one endpoint's configs, given as
    (creation_time, endpoint_config_name, variants JSON) tuples oldest first."""
    rows, seen, previous = [], set(), None
    for created, config, variants_json in configs:
        variants = json.loads(variants_json) if variants_json else []
        models = tuple(sorted(str(v.get("model_name")) for v in variants))
        counts = ", ".join(f"{v.get('variant_name')}: {v.get('instance_type')} × {v.get('initial_instance_count')}"
                           for v in variants)
        kind = "create" if previous is None else ("rollback" if models in seen and models != previous else "deploy")
        rows.append({"time": created, "kind": kind, "config": config, "models": ", ".join(models),
                     "variants": counts, "label": f"{kind}: {', '.join(models)}"})
        seen.add(models)
        previous = models
    return rows


def _deploy_rows(cfgs: pd.DataFrame) -> pd.DataFrame:
    """Deploy rows of one endpoint's configs (a frame with creation_time, endpoint_config_name, variants)."""
    configs = cfgs[["creation_time", "endpoint_config_name", "variants"]].itertuples(index=False, name=None) \
        if not cfgs.empty else []
    return pd.DataFrame(deploy_records(configs), columns=_DEPLOY_COLUMNS)


def scaling_activities(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Application Auto Scaling activities of an endpoint's variants in [start, end)."""
    df = query("""
        SELECT coalesce(end_time, start_time) AS time, start_time, variant_name, status_code, description, cause,
               TRY_CAST(regexp_extract(description, 'to (\\d+)', 1) AS INTEGER) AS count
        FROM aws_application_autoscaling_activity
        WHERE account_id = ? AND region = ? AND endpoint_name = ? AND coalesce(end_time, start_time) >= ?
          AND start_time < ?
        ORDER BY time""", [account, region, name, start, end])
    return _utc(_or_empty(df, ["time", "start_time", "variant_name", "status_code", "description", "cause", "count"]),
                "time", "start_time")


def instance_count_history(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Instances per variant over [start, end] as steps (time, variant_name, instances).

    From the observed variant states, the scaling activities (their 'to N') and the deploys' initial
    counts; the count at ``start`` is the last one known before it, and the current count closes the series.
    """
    parts = [_utc(query("""
        SELECT observed_at AS time, variant_name, current_instance_count AS instances
        FROM aws_sagemaker_endpoint_variant_history WHERE account_id = ? AND region = ? AND endpoint_name = ?""",
                        [account, region, name]), "time")]
    acts = scaling_activities(account, region, name, start - timedelta(days=400), end)
    if not acts.empty:
        acts = acts[acts.status_code == "Successful"].dropna(subset=["count"])
        parts.append(acts.rename(columns={"count": "instances"})[["time", "variant_name", "instances"]])
    for d in deploys(account, region, name).itertuples():
        for v in re.finditer(r"([^,:]+): [^,]* × (\d+)", d.variants):
            parts.append(pd.DataFrame({"time": [d.time], "variant_name": [v.group(1).strip()],
                                       "instances": [int(v.group(2))]}))
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=["time", "variant_name", "instances"])
    df = pd.concat(parts, ignore_index=True).dropna(subset=["instances"]).sort_values("time", kind="stable")
    out = []
    for variant, g in df.groupby("variant_name"):
        before = g[g.time < start]
        inside = g[(g.time >= start) & (g.time <= end)]
        head = [{"time": start, "variant_name": variant, "instances": int(before.instances.iloc[-1])}] \
            if not before.empty else []
        rows = head + inside.to_dict("records")
        if rows:
            rows.append({"time": end, "variant_name": variant, "instances": int(rows[-1]["instances"])})
        out.extend(rows)
    res = pd.DataFrame(out, columns=["time", "variant_name", "instances"])
    res["instances"] = res.instances.astype(int)
    return _utc(res, "time")


MICROSECOND_METRICS = ("ModelLatency", "OverheadLatency", "ModelSetupTime", "FirstChunkLatency")


def chart_metric(namespace: str | None, metric_name: str | None, stat: str | None) -> str | None:
    """The ENDPOINT_METRICS label that charts an alarm's metric: the same statistic where it is collected, otherwise
    the charted statistic of that metric (a GPU alarm on Maximum is drawn on the Average chart); None when the
    metric is not charted."""
    exact = ENDPOINT_METRICS.get((namespace or "", metric_name or "", stat or ""))
    if exact:
        return exact
    same = [label for (ns, m, st), label in ENDPOINT_METRICS.items() if ns == namespace and m == metric_name]
    return same[-1] if same else None  # ModelLatency: p99, the percentile alarms watch


def alarm_units(df: pd.DataFrame) -> pd.DataFrame:
    """Alarm rows with CloudWatch's raw ``threshold`` (namespace, metric_name, statistic, period_s) in the units the
    pages show, the one rule for every page: ``threshold`` in ms for latencies (CloudWatch's are microseconds),
    otherwise in the alarm's own terms; ``threshold_unit`` says which ("ms", "%", "per 5 min" for a Sum);
    ``metric``, the chart that draws the metric (an ENDPOINT_METRICS label, or None); ``chart_threshold``, the
    threshold in that chart's unit (ms, %, or per minute: a Sum over a period divided by its minutes)."""
    out = df.copy()
    micro = out.metric_name.isin(MICROSECOND_METRICS)
    per_sum = (out.statistic == "Sum") & out.period_s.gt(0)
    raw = pd.to_numeric(out.threshold, errors="coerce")
    out["threshold"] = raw.where(~micro, raw / 1000.0)
    minutes = pd.to_numeric(out.period_s, errors="coerce") / 60.0

    def per(m: float) -> str:
        if pd.isna(m):
            return ""
        return f"per {m / 60:g} h" if m >= 60 and m % 60 == 0 else f"per {m:g} min"

    unit = pd.Series("", index=out.index, dtype="object")
    unit = unit.mask(micro, "ms").mask(out.metric_name.fillna("").str.endswith("Utilization"), "%")
    out["threshold_unit"] = unit.mask(per_sum, minutes.map(per))
    out["metric"] = [chart_metric(n, m, s) for n, m, s in zip(out.namespace, out.metric_name, out.statistic,
                                                              strict=True)]
    out["chart_threshold"] = out.threshold.where(~per_sum, raw / minutes)
    return out


def alarms(account: str, region: str, name: str) -> pd.DataFrame:
    """CloudWatch alarms watching an endpoint, with their state now; thresholds in the units the pages show
    (:func:`alarm_units`: latencies in ms), the chart that draws each alarm's metric and its threshold there."""
    df = query("""
        SELECT alarm_name, state_value, state_updated_at, metric_name, variant_name,
               coalesce(extended_statistic, statistic) AS statistic, comparison_operator, threshold,
               period_s, evaluation_periods, state_reason, description, namespace
        FROM aws_cloudwatch_alarm WHERE account_id = ? AND region = ? AND endpoint_name = ?
        ORDER BY state_value = 'ALARM' DESC, alarm_name""", [account, region, name])
    cols = ["alarm_name", "state_value", "state_updated_at", "metric_name", "variant_name", "statistic",
            "comparison_operator", "threshold", "threshold_unit", "period_s", "evaluation_periods", "state_reason",
            "description", "metric", "chart_threshold"]
    df = alarm_units(_or_empty(df, [c for c in cols if c not in ("threshold_unit", "metric", "chart_threshold")]
                               + ["namespace"]))
    return _utc(df[cols], "state_updated_at")


def alarm_changes(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """State changes in [start, end) of the alarms watching an endpoint."""
    df = query("""
        SELECT c.ts AS time, c.alarm_name, c.old_state, c.new_state, c.reason, a.metric_name
        FROM aws_cloudwatch_alarm_state_change c
        JOIN aws_cloudwatch_alarm a USING (account_id, region, alarm_name)
        WHERE a.account_id = ? AND a.region = ? AND a.endpoint_name = ? AND c.ts >= ? AND c.ts < ?
        ORDER BY c.ts""", [account, region, name, start, end])
    return _utc(_or_empty(df, ["time", "alarm_name", "old_state", "new_state", "reason", "metric_name"]), "time")


def config_events(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Configuration changes to mark on charts: deploys/rollbacks, scaling, observed state changes."""
    rows = []
    for d in deploys(account, region, name).itertuples():
        if start <= d.time < end:
            rows.append({"time": d.time, "kind": d.kind, "label": d.label,
                         "detail": f"endpoint config {d.config} created ({d.variants})"})
    acts = scaling_activities(account, region, name, start, end)
    for a in acts.itertuples():
        rows.append({"time": a.time, "kind": "scaling", "label": f"scale {a.variant_name} to {a.count}",
                     "detail": f"{a.description} {a.cause or ''}".strip()})
    hist = _utc(query("""
        SELECT observed_at AS time, variant_name, current_instance_count, endpoint_config_name, model_name,
               lag(current_instance_count) OVER w AS prev_count, lag(endpoint_config_name) OVER w AS prev_config
        FROM aws_sagemaker_endpoint_variant_history
        WHERE account_id = ? AND region = ? AND endpoint_name = ?
        WINDOW w AS (PARTITION BY variant_name ORDER BY observed_at)""", [account, region, name]), "time")
    if not hist.empty:
        hist = hist[(hist.time >= start) & (hist.time < end) & hist.prev_config.notna()]
        # an observed count change within 10 minutes of a scaling activity is that activity, already listed
        acted = sorted(acts.time) if not acts.empty else []
        for h in hist.itertuples():
            if h.endpoint_config_name != h.prev_config:
                rows.append({"time": h.time, "kind": "config", "label": f"now serving {h.model_name}",
                             "detail": f"{h.variant_name}: {h.prev_config} → {h.endpoint_config_name}"})
            elif h.current_instance_count != h.prev_count and not any(
                    abs(t - h.time) < pd.Timedelta(minutes=10) for t in acted):
                rows.append({"time": h.time, "kind": "scaling",
                             "label": f"{h.variant_name}: {h.current_instance_count}",
                             "detail": f"instances {h.prev_count} → {h.current_instance_count} (observed)"})
    df = pd.DataFrame(rows, columns=["time", "kind", "label", "detail"])
    return _utc(df, "time").sort_values("time", kind="stable").reset_index(drop=True)
