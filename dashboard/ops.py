"""Typed read queries of the operations pages: endpoints, training, pipelines, models, logs, incidents.

Every function returns a DataFrame (or a small dict of them) and binds every value as a parameter;
the only text formatted into SQL is fixed in this module (table names, the scope fragment that
``Filters.where`` builds from bound parameters). Units are converted here, once: latencies leave
in milliseconds (CloudWatch's ModelLatency is in microseconds), counts as per-minute rates, money
in USD.

Resolution: ranges up to ``MINUTE_RANGE`` read the raw points (1-minute where the collector has
them, 5-minute backfill before that); longer ranges read the hourly rollup.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import pandas as pd

from dashboard.data import has_table, per_snapshot, query
from dashboard.filters import Filters
from sextant.schema import ident

MINUTE_RANGE = timedelta(hours=48)
PRICE_LOOKBACK = timedelta(days=30)
SAGEMAKER = "Amazon SageMaker"

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


def _have(*tables: str) -> bool:
    return all(has_table(t) for t in tables)


def _in_several_accounts(table: str, column: str) -> frozenset[str]:
    """Values of ``column`` (a series id, an endpoint name) that ``table`` holds for more than one account or
    region, once per snapshot: where a value is in one only, it alone picks its rows (no account filter)."""
    if not _have(table):
        return frozenset()
    sql = (f"SELECT {ident(column)} FROM {ident(table)} GROUP BY 1 "  # noqa: S608 - this module's constants
           "HAVING count(DISTINCT (account_id, region)) > 1")
    return per_snapshot(f"several accounts: {table}.{column}",
                        lambda cur: frozenset(r[0] for r in cur.execute(sql).fetchall())) or frozenset()


def _utc(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Timestamp columns as tz-aware UTC (DuckDB hands TIMESTAMPTZ over in the session's zone)."""
    for c in cols:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True)
    return df


def fine_grained(start: datetime, end: datetime) -> bool:
    """True when the range is short enough to read raw points rather than the hourly rollup."""
    return end - start <= MINUTE_RANGE


# --------------------------------------------------------------------------- prices


def instance_prices(kind: str = "Host") -> pd.DataFrame:
    """$/instance-hour per instance type, derived from the bill: cost / usage of the ``*-<kind>:<type>`` lines.

    There is no price table in the product: Cost Explorer's SERVICE/USAGE_TYPE lines (e.g.
    ``USE1-Host:ml.m5.xlarge`` in Hrs) give the effective rate the account pays. ``kind`` is Host
    (real-time inference) or Train (training; on-demand lines, with the spot lines as a fallback).
    """
    if not _have("aws_cost_daily"):
        return pd.DataFrame(columns=["instance_type", "usd_per_hour"])
    pattern = {"Host": r"-Host:(ml\..+)$", "Train": r"-Train(-Spot)?:(ml\..+)$"}[kind]
    group = 1 if kind == "Host" else 2
    df = query(f"""
        SELECT regexp_extract(key2, ?, {group}) AS instance_type,
               sum(unblended_cost_usd) FILTER (WHERE NOT contains(key2, '-Spot:')) AS od_cost,
               sum(usage_quantity) FILTER (WHERE NOT contains(key2, '-Spot:')) AS od_hours,
               sum(unblended_cost_usd) AS all_cost, sum(usage_quantity) AS all_hours
        FROM aws_cost_daily
        WHERE group_by_kind = 'SERVICE/USAGE_TYPE' AND regexp_matches(key2, ?)
          AND date >= (SELECT max(date) FROM aws_cost_daily) - ?::INTEGER
        GROUP BY 1
    """, [pattern, pattern, PRICE_LOOKBACK.days])  # noqa: S608 - the group index is a constant
    if df.empty:
        return pd.DataFrame(columns=["instance_type", "usd_per_hour"])
    od = df.od_cost / df.od_hours.where(df.od_hours > 0)
    fallback = df.all_cost / df.all_hours.where(df.all_hours > 0)
    return pd.DataFrame({"instance_type": df.instance_type, "usd_per_hour": od.fillna(fallback)}).dropna()


def _price_cte(kind: str) -> tuple[str, list]:
    """A VALUES list of (instance_type, usd_per_hour) to join in SQL, with its parameters."""
    p = instance_prices(kind)
    if p.empty:
        return "SELECT NULL::VARCHAR AS instance_type, NULL::DOUBLE AS usd_per_hour WHERE FALSE", []
    return ("SELECT unnest(?::VARCHAR[]) AS instance_type, unnest(?::DOUBLE[]) AS usd_per_hour",
            [p.instance_type.tolist(), p.usd_per_hour.astype(float).tolist()])


# --------------------------------------------------------------------------- endpoints


def endpoints(f: Filters, name: str | None = None) -> pd.DataFrame:
    """One row per endpoint (or only ``name``): status, capacity, autoscaling bounds, last-24-h traffic, p99,
    errors, cost.

    The 24 hours end at the range end. p99 is the hourly p99 (max of the period p99s) weighted by
    invocations; cost per day is the instances now x the hosting rate from the bill x 24.
    """
    if not _have("aws_sagemaker_endpoint", "aws_sagemaker_endpoint_variant"):
        return pd.DataFrame()
    where, params = f.where("e")
    prices, pparams = _price_cte("Host")
    metrics = _have("aws_cloudwatch_metric_hourly", "aws_cloudwatch_metric_series")
    targets = _have("aws_application_autoscaling_scalable_target")
    m_sql = """
        SELECT account_id, region, endpoint_name, sum(inv) AS invocations_24h, sum(e4) AS errors_4xx,
               sum(e5) AS errors_5xx, sum(p99 * inv) / nullif(sum(inv) FILTER (WHERE p99 IS NOT NULL), 0) AS p99_us,
               max(p99) AS peak_p99_us
        FROM (SELECT s.account_id, s.region, s.endpoint_name, s.variant_name, h.hour,
                     sum(h.value) FILTER (WHERE s.metric_name = 'Invocations' AND h.stat = 'Sum') AS inv,
                     sum(h.value) FILTER (WHERE s.metric_name = 'Invocation4XXErrors' AND h.stat = 'Sum') AS e4,
                     sum(h.value) FILTER (WHERE s.metric_name = 'Invocation5XXErrors' AND h.stat = 'Sum') AS e5,
                     max(h.value) FILTER (WHERE s.metric_name = 'ModelLatency' AND h.stat = 'p99') AS p99
              FROM aws_cloudwatch_metric_hourly h
              JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id)
              WHERE s.namespace = 'AWS/SageMaker' AND h.hour >= ? AND h.hour < ?
                AND (?::VARCHAR IS NULL OR s.endpoint_name = ?)
              GROUP BY ALL)
        GROUP BY ALL""" if metrics else """
        SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS region, NULL::VARCHAR AS endpoint_name,
               NULL::DOUBLE AS invocations_24h, NULL::DOUBLE AS errors_4xx, NULL::DOUBLE AS errors_5xx,
               NULL::DOUBLE AS p99_us, NULL::DOUBLE AS peak_p99_us
        WHERE FALSE AND ? IS NULL AND ? IS NULL AND ?::VARCHAR IS NULL AND ? IS NULL"""
    t_sql = ("SELECT account_id, region, endpoint_name, min(min_capacity) AS autoscaling_min, "
             "max(max_capacity) AS autoscaling_max FROM aws_application_autoscaling_scalable_target GROUP BY ALL"
             if targets else "SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS region, "
             "NULL::VARCHAR AS endpoint_name, NULL::INTEGER AS autoscaling_min, NULL::INTEGER AS autoscaling_max "
             "WHERE FALSE")
    sql = f"""
        WITH prices AS ({prices}),
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
        asg AS ({t_sql}),
        m AS ({m_sql})
        SELECT e.endpoint_name, e.status, var.capacity,
               asg.autoscaling_min, asg.autoscaling_max,
               coalesce(m.invocations_24h, 0)::BIGINT AS invocations_24h,
               m.p99_us / 1000.0 AS p99_ms,
               (coalesce(m.errors_4xx, 0) + coalesce(m.errors_5xx, 0)) / nullif(m.invocations_24h, 0) AS error_rate,
               CASE WHEN var.price_missing THEN NULL ELSE var.cost_per_day END AS cost_per_day,
               CASE WHEN var.price_missing THEN NULL
                    ELSE var.cost_per_day / nullif(m.invocations_24h, 0) * 1000 END AS cost_per_1k,
               m.peak_p99_us / 1000.0 AS peak_p99_ms,
               coalesce(m.errors_5xx, 0) / nullif(m.invocations_24h, 0) AS error_rate_5xx,
               var.instance_type, var.instances, var.variants, e.team, e.project, e.env, e.account_id, e.region,
               e.endpoint_config_name, e.last_modified_time
        FROM aws_sagemaker_endpoint e
        LEFT JOIN var USING (account_id, region, endpoint_name)
        LEFT JOIN asg USING (account_id, region, endpoint_name)
        LEFT JOIN m USING (account_id, region, endpoint_name)
        WHERE {where} AND (?::VARCHAR IS NULL OR e.endpoint_name = ?)
        ORDER BY e.team, e.endpoint_name
    """  # noqa: S608 - fragments are fixed text; values are bound
    df = query(sql, [*pparams, f.end - timedelta(hours=24), f.end, name, name, *params, name, name])
    return _utc(df, "last_modified_time")


def endpoint_names(f: Filters) -> pd.DataFrame:
    """The endpoints in scope, ordered as ``endpoints`` orders them, without their metrics: endpoint_name,
    account_id, region, team (for pickers, which need no traffic figures)."""
    if not _have("aws_sagemaker_endpoint"):
        return pd.DataFrame(columns=["endpoint_name", "account_id", "region", "team"])
    where, params = f.where("e")
    return query(f"""SELECT e.endpoint_name, e.account_id, e.region, e.team FROM aws_sagemaker_endpoint e
                     WHERE {where} ORDER BY e.team, e.endpoint_name""", params)  # noqa: S608


def endpoint(f: Filters, name: str) -> pd.DataFrame:
    """The endpoints() row of one endpoint (empty when it is not in scope), computed for it alone."""
    return endpoints(f, name).reset_index(drop=True)


def endpoint_variants(account: str, region: str, name: str) -> pd.DataFrame:
    """Variants of an endpoint now: type, counts, weight, model, and the registry version it came from."""
    if not _have("aws_sagemaker_endpoint_variant"):
        return pd.DataFrame()
    reg = _have("aws_sagemaker_model", "aws_sagemaker_model_package")
    join = """LEFT JOIN aws_sagemaker_model m ON m.account_id = v.account_id AND m.region = v.region
                                                AND m.model_name = v.model_name
              LEFT JOIN aws_sagemaker_model_package pk ON pk.model_package_arn = m.model_package_arn""" if reg else ""
    cols = ("pk.group_name AS model_group, pk.version AS model_version, pk.approval_status"
            if reg else "NULL AS model_group, NULL AS model_version, NULL AS approval_status")
    return query(f"""
        SELECT v.variant_name, v.instance_type, v.current_instance_count, v.desired_instance_count,
               v.current_weight, v.model_name, {cols}, v.endpoint_config_name
        FROM aws_sagemaker_endpoint_variant v {join}
        WHERE v.account_id = ? AND v.region = ? AND v.endpoint_name = ?
        ORDER BY v.variant_name""", [account, region, name])  # noqa: S608


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
    if not _have("aws_cloudwatch_metric_series", "aws_cloudwatch_metric_point"):
        return pd.DataFrame(columns=cols)
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
    if not _have("aws_cloudwatch_metric_hourly", "aws_cloudwatch_metric_series"):
        return None
    df = query("""
        SELECT median(h.value) / 1000.0 AS p99_ms
        FROM aws_cloudwatch_metric_hourly h JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id)
        WHERE s.account_id = ? AND s.region = ? AND s.endpoint_name = ? AND s.metric_name = 'ModelLatency'
          AND s.namespace = 'AWS/SageMaker' AND h.stat = 'p99' AND h.hour >= ? AND h.hour < ?""",
               [account, region, name, before - timedelta(days=days), before])
    return None if df.empty or pd.isna(df.p99_ms.iloc[0]) else float(df.p99_ms.iloc[0])


def _configs_of(account: str, region: str, name: str) -> pd.DataFrame:
    """Endpoint configs of an endpoint: those it was seen on, plus those named after it (NAME-config-...)."""
    if not _have("aws_sagemaker_endpoint_config"):
        return pd.DataFrame()
    hist = _have("aws_sagemaker_endpoint_variant_history")
    seen = ("SELECT endpoint_config_name FROM aws_sagemaker_endpoint_variant_history "
            "WHERE account_id = ? AND region = ? AND endpoint_name = ?") if hist else "SELECT NULL WHERE FALSE"
    sql = f"""
        SELECT c.endpoint_config_name, c.creation_time, c.variants
        FROM aws_sagemaker_endpoint_config c
        WHERE c.account_id = ? AND c.region = ?
          AND (starts_with(c.endpoint_config_name, ? || '-')
               OR c.endpoint_config_name IN (SELECT endpoint_config_name FROM aws_sagemaker_endpoint
                                             WHERE account_id = ? AND region = ? AND endpoint_name = ?)
               OR c.endpoint_config_name IN ({seen}))
        ORDER BY c.creation_time"""  # noqa: S608
    params = [account, region, name, account, region, name] + ([account, region, name] if hist else [])
    return _utc(query(sql, params), "creation_time")


def deploys(account: str, region: str, name: str) -> pd.DataFrame:
    """Endpoint config creations of an endpoint as deploys: time, config, models, and whether it is a rollback.

    A config whose models equal those of an earlier config (but not the one just before) is a rollback.
    """
    return _deploy_rows(_configs_of(account, region, name))


_DEPLOY_COLUMNS = ["time", "kind", "config", "models", "variants", "label"]


def _deploy_records(configs) -> list[dict]:
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
    return pd.DataFrame(_deploy_records(configs), columns=_DEPLOY_COLUMNS)


_COUNT = re.compile(r"(\d+)")


def scaling_activities(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Application Auto Scaling activities of an endpoint's variants in [start, end)."""
    if not _have("aws_application_autoscaling_activity"):
        return pd.DataFrame(columns=["time", "variant_name", "status_code", "description", "cause", "count"])
    df = query("""
        SELECT coalesce(end_time, start_time) AS time, start_time, variant_name, status_code, description, cause,
               TRY_CAST(regexp_extract(description, 'to (\\d+)', 1) AS INTEGER) AS count
        FROM aws_application_autoscaling_activity
        WHERE account_id = ? AND region = ? AND endpoint_name = ? AND coalesce(end_time, start_time) >= ?
          AND start_time < ?
        ORDER BY time""", [account, region, name, start, end])
    return _utc(df, "time", "start_time")


def instance_count_history(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Instances per variant over [start, end] as steps (time, variant_name, instances).

    From the observed variant states, the scaling activities (their 'to N') and the deploys' initial
    counts; the count at ``start`` is the last one known before it, and the current count closes the series.
    """
    parts = []
    if _have("aws_sagemaker_endpoint_variant_history"):
        parts.append(_utc(query("""
            SELECT observed_at AS time, variant_name, current_instance_count AS instances
            FROM aws_sagemaker_endpoint_variant_history WHERE account_id = ? AND region = ? AND endpoint_name = ?""",
                                [account, region, name]), "time"))
    if _have("aws_application_autoscaling_activity"):
        acts = scaling_activities(account, region, name, start - timedelta(days=400), end)
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


def alarms(account: str, region: str, name: str) -> pd.DataFrame:
    """CloudWatch alarms watching an endpoint, with their state now (thresholds of latency alarms in ms)."""
    if not _have("aws_cloudwatch_alarm"):
        return pd.DataFrame()
    df = query("""
        SELECT alarm_name, state_value, state_updated_at, metric_name, variant_name,
               coalesce(extended_statistic, statistic) AS statistic, comparison_operator,
               CASE WHEN metric_name LIKE '%Latency' THEN threshold / 1000.0 ELSE threshold END AS threshold,
               CASE WHEN metric_name LIKE '%Latency' THEN 'ms' ELSE '' END AS threshold_unit,
               period_s, evaluation_periods, state_reason, description
        FROM aws_cloudwatch_alarm WHERE account_id = ? AND region = ? AND endpoint_name = ?
        ORDER BY state_value = 'ALARM' DESC, alarm_name""", [account, region, name])
    return _utc(df, "state_updated_at")


def alarm_changes(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """State changes in [start, end) of the alarms watching an endpoint."""
    if not _have("aws_cloudwatch_alarm", "aws_cloudwatch_alarm_state_change"):
        return pd.DataFrame(columns=["time", "alarm_name", "old_state", "new_state", "reason", "metric_name"])
    df = query("""
        SELECT c.ts AS time, c.alarm_name, c.old_state, c.new_state, c.reason, a.metric_name
        FROM aws_cloudwatch_alarm_state_change c
        JOIN aws_cloudwatch_alarm a USING (account_id, region, alarm_name)
        WHERE a.account_id = ? AND a.region = ? AND a.endpoint_name = ? AND c.ts >= ? AND c.ts < ?
        ORDER BY c.ts""", [account, region, name, start, end])
    return _utc(df, "time")


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
    if _have("aws_sagemaker_endpoint_variant_history"):
        hist = _utc(query("""
            SELECT observed_at AS time, variant_name, current_instance_count, endpoint_config_name, model_name,
                   lag(current_instance_count) OVER w AS prev_count, lag(endpoint_config_name) OVER w AS prev_config
            FROM aws_sagemaker_endpoint_variant_history
            WHERE account_id = ? AND region = ? AND endpoint_name = ?
            WINDOW w AS (PARTITION BY variant_name ORDER BY observed_at)""", [account, region, name]), "time")
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


# --------------------------------------------------------------------------- logs


def _log_where(start: datetime, end: datetime, *, text: str = "", levels: list[str] | tuple = (),
               endpoint: str | None = None, job: str | None = None, accounts: tuple = (),
               regions: tuple = ()) -> tuple[str, list]:
    parts, params = ["ts >= ?", "ts < ?"], [start, end]
    if text:
        parts.append("contains(lower(message), lower(?))")
        params.append(text)
    if len(levels) == 1:  # an equality DuckDB can push into the scan
        parts.append("level = ?")
        params.append(levels[0])
    elif levels:
        parts.append("level IN (SELECT unnest(?))")
        params.append(list(levels))
    if endpoint:
        parts.append("endpoint_name = ?")
        params.append(endpoint)
    if job:
        parts.append("training_job_name = ?")
        params.append(job)
    if endpoint and not job and endpoint not in _in_several_accounts("aws_sagemaker_endpoint", "endpoint_name"):
        accounts = regions = ()  # the name alone picks the endpoint's lines: skip two string filters per line
    for col, values in (("account_id", accounts), ("region", regions)):
        if values:
            parts.append(f"{col} IN (SELECT unnest(?))")
            params.append(list(values))
    return " AND ".join(parts), params


def log_events(start: datetime, end: datetime, *, text: str = "", levels: list[str] | tuple = (),
               endpoint: str | None = None, job: str | None = None, accounts: tuple = (), regions: tuple = (),
               limit: int = 1000) -> pd.DataFrame:
    """Collected log events matching the search, newest first, at most ``limit``."""
    if not _have("aws_logs_event"):
        return pd.DataFrame()
    where, params = _log_where(start, end, text=text, levels=levels, endpoint=endpoint, job=job,
                               accounts=accounts, regions=regions)
    df = query(f"""
        SELECT ts, level, coalesce(endpoint_name, training_job_name) AS resource, variant_name, message,
               log_group, log_stream, account_id, region
        FROM aws_logs_event WHERE {where}
        ORDER BY ts DESC LIMIT ?""", [*params, int(limit)])  # noqa: S608 - WHERE is built from bound parameters
    return _utc(df, "ts")


def log_counts(start: datetime, end: datetime, *, text: str = "", levels: list[str] | tuple = (),
               endpoint: str | None = None, job: str | None = None, accounts: tuple = (), regions: tuple = (),
               bucket_s: int | None = None) -> pd.DataFrame:
    """Matching events per time bucket and level (bucket: 1 min up to 6 h, 5 min up to 2 d, 1 h beyond)."""
    if not _have("aws_logs_event"):
        return pd.DataFrame(columns=["ts", "level", "events"])
    span = (end - start).total_seconds()
    bucket_s = bucket_s or (60 if span <= 6 * 3600 else 300 if span <= 2 * 86400 else 3600)
    where, params = _log_where(start, end, text=text, levels=levels, endpoint=endpoint, job=job,
                               accounts=accounts, regions=regions)
    df = query(f"""
        SELECT to_timestamp(floor(epoch(ts) / ?) * ?) AS ts, coalesce(level, 'NONE') AS level, count(*) AS events
        FROM aws_logs_event WHERE {where} GROUP BY ALL ORDER BY 1""",  # noqa: S608
               [bucket_s, bucket_s, *params])
    return _utc(df, "ts")


def log_resources(start: datetime, end: datetime) -> pd.DataFrame:
    """Endpoints and training jobs with log events in [start, end): kind, name, events, errors."""
    if not _have("aws_logs_event"):
        return pd.DataFrame(columns=["kind", "name", "events", "errors"])
    return query("""
        SELECT CASE WHEN endpoint_name IS NOT NULL THEN 'endpoint' ELSE 'training job' END AS kind,
               coalesce(endpoint_name, training_job_name) AS name, count(*) AS events,
               count(*) FILTER (WHERE level = 'ERROR') AS errors
        FROM aws_logs_event WHERE ts >= ? AND ts < ? AND coalesce(endpoint_name, training_job_name) IS NOT NULL
        GROUP BY ALL ORDER BY errors DESC, events DESC""", [start, end])


def endpoint_errors(start: datetime, end: datetime) -> pd.DataFrame:
    """Endpoints with ERROR log lines in [start, end), most first: endpoint_name, errors (the level filter
    comes first, so only the ERROR lines' endpoint column is read)."""
    if not _have("aws_logs_event"):
        return pd.DataFrame(columns=["endpoint_name", "errors"])
    return query("""
        SELECT endpoint_name, count(*) AS errors FROM aws_logs_event
        WHERE level = 'ERROR' AND ts >= ? AND ts < ? AND endpoint_name IS NOT NULL
        GROUP BY endpoint_name ORDER BY errors DESC, endpoint_name""", [start, end])


def _error_minutes(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """ERROR log lines of an endpoint per minute: minute, lines, a sample message (one query for the bursts on
    the timeline and the per-minute chart)."""
    if not _have("aws_logs_event"):
        return pd.DataFrame(columns=["minute", "lines", "sample"])
    where, params = _log_where(start, end, levels=["ERROR"], endpoint=name, accounts=(account,), regions=(region,))
    return _utc(query(f"""
        SELECT date_trunc('minute', ts) AS minute, count(*) AS lines, any_value(message) AS sample
        FROM aws_logs_event WHERE {where} GROUP BY 1 ORDER BY 1""", params), "minute")  # noqa: S608


def error_bursts(account: str, region: str, name: str, start: datetime, end: datetime,
                 gap: timedelta = timedelta(minutes=5)) -> pd.DataFrame:
    """ERROR log lines of an endpoint per minute, grouped into bursts (a gap over ``gap`` splits them).

    One row per burst: first and last minute, lines, peak lines per minute, and a sample message.
    """
    cols = ["time", "end", "lines", "peak_per_min", "sample"]
    per_min = _error_minutes(account, region, name, start, end)
    if per_min.empty:
        return pd.DataFrame(columns=cols)
    burst = (per_min.minute.diff() > pd.Timedelta(gap)).cumsum()
    out = per_min.groupby(burst).agg(time=("minute", "min"), end=("minute", "max"), lines=("lines", "sum"),
                                     peak_per_min=("lines", "max"), sample=("sample", "first"))
    out["end"] = out["end"] + pd.Timedelta(minutes=1)
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- incidents


def cost_spikes(team: str | None, start: datetime, end: datetime, jump: float = 0.25,
                min_usd: float = 5.0) -> pd.DataFrame:
    """Days in [start, end) where a team's SageMaker cost rose over ``jump`` above its trailing 7-day mean."""
    cols = ["time", "cost_usd", "baseline_usd", "change"]
    if not team or not _have("aws_cost_daily"):
        return pd.DataFrame(columns=cols)
    df = query("""
        WITH d AS (SELECT date, sum(unblended_cost_usd) AS cost FROM aws_cost_daily
                   WHERE group_by_kind = 'TAG:team/SERVICE' AND key1 = ? AND key2 = ? GROUP BY date),
        w AS (SELECT date, cost, avg(cost) OVER (ORDER BY date ROWS BETWEEN 7 PRECEDING AND 1 PRECEDING) AS base
              FROM d)
        SELECT date::TIMESTAMP AT TIME ZONE 'UTC' AS time, cost AS cost_usd, base AS baseline_usd,
               cost / nullif(base, 0) - 1 AS change
        FROM w WHERE date >= ?::DATE AND date <= ?::DATE AND cost - base > ? AND cost > base * (1 + ?)
        ORDER BY date""", [team, SAGEMAKER, start.date(), end.date(), min_usd, jump])
    return _utc(df, "time")


def incident_timeline(account: str, region: str, name: str, start: datetime, end: datetime,
                      team: str | None = None) -> pd.DataFrame:
    """Everything that happened to an endpoint in [start, end), time-ordered: time, kind, what, detail."""
    rows = []
    for e in config_events(account, region, name, start, end).itertuples():
        rows.append({"time": e.time, "kind": e.kind, "what": e.label, "detail": e.detail})
    for a in alarm_changes(account, region, name, start, end).itertuples():
        rows.append({"time": a.time, "kind": "alarm", "what": f"{a.alarm_name}: {a.old_state or '?'} → {a.new_state}",
                     "detail": a.reason or ""})
    for b in error_bursts(account, region, name, start, end).itertuples():
        minutes = max(1, round((b.end - b.time).total_seconds() / 60))
        rows.append({"time": b.time, "kind": "error logs",
                     "what": f"{b.lines:,} ERROR lines over {minutes} min (peak {b.peak_per_min}/min)",
                     "detail": b.sample})
    for c in cost_spikes(team, start, end).itertuples():
        rows.append({"time": c.time, "kind": "cost spike",
                     "what": f"{team} SageMaker cost ${c.cost_usd:,.0f}/day, {c.change:+.0%} vs the 7 days before",
                     "detail": f"trailing mean ${c.baseline_usd:,.0f}/day"})
    df = pd.DataFrame(rows, columns=["time", "kind", "what", "detail"])
    return _utc(df, "time").sort_values("time", kind="stable").reset_index(drop=True)


def error_counts_per_minute(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """ERROR log lines per minute of an endpoint (for a chart): ts, level, events, as ``log_counts`` gives them."""
    per_min = _error_minutes(account, region, name, start, end)
    return pd.DataFrame({"ts": per_min.minute, "level": "ERROR", "events": per_min.lines.astype("int64")})


# --------------------------------------------------------------------------- training


def training_jobs(f: Filters, *, statuses: list[str] | tuple = (), instance_types: list[str] | tuple = (),
                  spot: bool | None = None, text: str = "") -> pd.DataFrame:
    """Training jobs that ran in the range (created before its end, not ended before its start), with cost.

    cost = billable hours x instance count x the on-demand rate of the type from the bill; spot savings
    = (training - billable) hours x instance count x the same rate. Blank when the bill has no rate.
    """
    if not _have("aws_sagemaker_training_job"):
        return pd.DataFrame()
    where, params = f.where("j")
    prices, pparams = _price_cte("Train")
    extra, eparams = [], []
    if statuses:
        extra.append("j.status IN (SELECT unnest(?))")
        eparams.append(list(statuses))
    if instance_types:
        extra.append("j.instance_type IN (SELECT unnest(?))")
        eparams.append(list(instance_types))
    if spot is not None:
        extra.append("j.spot = ?")
        eparams.append(bool(spot))
    if text:
        extra.append("contains(lower(j.training_job_name), lower(?))")
        eparams.append(text)
    cond = " AND ".join(["TRUE", *extra])
    sql = f"""
        WITH prices AS ({prices})
        SELECT j.training_job_name, j.status, j.team, j.instance_type, j.instance_count, j.spot,
               j.training_seconds / 60.0 AS duration_min,
               j.billable_seconds * j.instance_count / 3600.0 AS billable_hours,
               j.billable_seconds * j.instance_count / 3600.0 * p.usd_per_hour AS cost_usd,
               CASE WHEN j.spot THEN greatest(j.training_seconds - j.billable_seconds, 0) * j.instance_count
                                     / 3600.0 * p.usd_per_hour END AS spot_savings_usd,
               j.creation_time, j.failure_reason, j.secondary_status, j.project, j.training_start_time,
               j.training_end_time, p.usd_per_hour, j.account_id, j.region
        FROM aws_sagemaker_training_job j LEFT JOIN prices p USING (instance_type)
        WHERE {where} AND {cond} AND j.creation_time < ?
          AND (j.training_end_time IS NULL OR j.training_end_time >= ?)
        ORDER BY j.creation_time DESC"""  # noqa: S608
    df = query(sql, [*pparams, *params, *eparams, f.end, f.start])
    return _utc(df, "creation_time", "training_start_time", "training_end_time")


def training_filter_options(f: Filters) -> dict[str, list]:
    if not _have("aws_sagemaker_training_job"):
        return {"status": [], "instance_type": [], "team": []}
    where, params = f.where("j", team_col="")
    df = query(f"SELECT DISTINCT status, instance_type, team FROM aws_sagemaker_training_job j WHERE {where}",  # noqa: S608
               params)
    return {k: sorted(df[k].dropna().unique().tolist()) for k in ("status", "instance_type", "team")}


def training_job(name: str) -> pd.DataFrame:
    """One training job, every stored column, plus its cost figures (from training_jobs' formula)."""
    if not _have("aws_sagemaker_training_job"):
        return pd.DataFrame()
    prices, pparams = _price_cte("Train")
    df = query(f"""
        WITH prices AS ({prices})
        SELECT j.*, j.training_seconds / 60.0 AS duration_min,
               j.billable_seconds * j.instance_count / 3600.0 AS billable_hours,
               j.billable_seconds * j.instance_count / 3600.0 * p.usd_per_hour AS cost_usd,
               CASE WHEN j.spot THEN greatest(j.training_seconds - j.billable_seconds, 0) * j.instance_count
                                     / 3600.0 * p.usd_per_hour END AS spot_savings_usd, p.usd_per_hour
        FROM aws_sagemaker_training_job j LEFT JOIN prices p USING (instance_type)
        WHERE j.training_job_name = ?""", [*pparams, name])  # noqa: S608
    return _utc(df, "creation_time", "training_start_time", "training_end_time", "last_modified_time")


def training_transitions(name: str) -> pd.DataFrame:
    if not _have("aws_sagemaker_training_job_status_transition"):
        return pd.DataFrame()
    df = query("""SELECT status, start_time, end_time, date_diff('second', start_time, end_time) / 60.0 AS minutes,
                         message FROM aws_sagemaker_training_job_status_transition
                  WHERE training_job_name = ? ORDER BY start_time, end_time NULLS LAST""", [name])
    return _utc(df, "start_time", "end_time")


def training_curves(name: str) -> pd.DataFrame:
    """Algorithm metrics of a training job over time (ts, metric, host, value), from /aws/sagemaker/TrainingJobs."""
    if not _have("aws_cloudwatch_metric_series", "aws_cloudwatch_metric_point"):
        return pd.DataFrame(columns=["ts", "metric", "host", "value"])
    df = query("""
        SELECT p.ts, s.metric_name AS metric, s.host, p.value
        FROM aws_cloudwatch_metric_point p JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id)
        WHERE s.training_job_name = ? AND s.namespace = '/aws/sagemaker/TrainingJobs' AND p.stat = 'Average'
        QUALIFY p.period_s = min(p.period_s) OVER (PARTITION BY p.series_id, floor(epoch(p.ts) / 300))
        ORDER BY s.metric_name, p.ts""", [name])
    return _utc(df, "ts")


def training_compare(a: str, b: str) -> dict[str, pd.DataFrame]:
    """Two jobs side by side: 'summary' (one column per job), 'hyperparameters' (with a differs flag), 'metrics'."""
    ja, jb = training_job(a), training_job(b)
    if ja.empty or jb.empty:
        return {"summary": pd.DataFrame(), "hyperparameters": pd.DataFrame(), "metrics": pd.DataFrame()}
    ra, rb = ja.iloc[0], jb.iloc[0]
    fields = ["status", "team", "instance_type", "instance_count", "spot", "duration_min", "billable_hours",
              "cost_usd", "failure_reason"]

    def fmt(v) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return "–"
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    summary = pd.DataFrame({"field": fields, a: [fmt(ra[k]) for k in fields], b: [fmt(rb[k]) for k in fields]})

    def side(col: str) -> pd.DataFrame:
        ha = json.loads(ra[col] or "{}")
        hb = json.loads(rb[col] or "{}")
        keys = sorted(set(ha) | set(hb))
        out = pd.DataFrame({"name": keys, a: [ha.get(k) for k in keys], b: [hb.get(k) for k in keys]})
        out["differs"] = [ha.get(k) != hb.get(k) for k in keys]
        return out

    hp = side("hyperparameters")
    for c in (a, b):
        hp[c] = hp[c].astype("string")
    return {"summary": summary, "hyperparameters": hp, "metrics": side("final_metrics")}


# --------------------------------------------------------------------------- pipelines


def pipeline_executions(f: Filters) -> pd.DataFrame:
    """SageMaker pipeline and Step Functions executions started in the range, one normalized frame.

    status is Succeeded / Failed / Running / Stopped for both kinds; failed_step is the failing step
    (SageMaker) or state (Step Functions). Step Functions state machines carry no team tag: a team
    filter leaves them out.
    """
    parts, params = [], []
    if _have("aws_sagemaker_pipeline_execution"):
        where, p = f.where("p")
        has_steps = _have("aws_sagemaker_pipeline_execution_step")
        reason = "st.failure_reason" if has_steps else "NULL"
        steps = ("LEFT JOIN aws_sagemaker_pipeline_execution_step st ON st.account_id = x.account_id "
                 "AND st.region = x.region AND st.execution_arn = x.execution_arn AND st.step_name = x.failed_step"
                 if has_steps else "")
        parts.append(f"""
            SELECT 'SageMaker' AS kind, x.pipeline_name AS pipeline, x.execution_arn,
                   coalesce(x.display_name, regexp_extract(x.execution_arn, '[^/]+$')) AS execution,
                   CASE x.status WHEN 'Executing' THEN 'Running' WHEN 'Stopping' THEN 'Running'
                        ELSE x.status END AS status,
                   x.start_time, x.end_time, x.failed_step, coalesce({reason}, x.failure_reason) AS failure_reason,
                   p.team, x.account_id, x.region
            FROM aws_sagemaker_pipeline_execution x
            LEFT JOIN aws_sagemaker_pipeline p USING (account_id, region, pipeline_name) {steps}
            WHERE {where} AND x.start_time >= ? AND x.start_time < ?""")  # noqa: S608
        params += [*p, f.start, f.end]
    if _have("aws_sfn_execution", "aws_sfn_state_machine") and not f.teams and not f.projects:
        where, p = f.where("x", team_col="", project_col="")
        parts.append(f"""
            SELECT 'Step Functions' AS kind, m.state_machine_name AS pipeline, x.execution_arn,
                   x.execution_name AS execution,
                   CASE x.status WHEN 'SUCCEEDED' THEN 'Succeeded' WHEN 'FAILED' THEN 'Failed'
                        WHEN 'TIMED_OUT' THEN 'Failed' WHEN 'ABORTED' THEN 'Stopped' ELSE 'Running' END AS status,
                   x.start_date AS start_time, x.stop_date AS end_time, x.failing_state AS failed_step,
                   concat_ws(': ', x.error, x.cause) AS failure_reason, NULL AS team, x.account_id, x.region
            FROM aws_sfn_execution x
            LEFT JOIN aws_sfn_state_machine m USING (account_id, region, state_machine_arn)
            WHERE {where} AND x.start_date >= ? AND x.start_date < ?""")  # noqa: S608
        params += [*p, f.start, f.end]
    if not parts:
        return pd.DataFrame()
    df = query(" UNION ALL ".join(parts) + " ORDER BY start_time DESC", params)
    df = _utc(df, "start_time", "end_time")
    df["duration_min"] = (df.end_time - df.start_time).dt.total_seconds() / 60
    return df


def pipeline_summary(executions: pd.DataFrame) -> pd.DataFrame:
    """Per pipeline: executions, success rate, median and p90 duration, most frequent failing step."""
    if executions.empty:
        return pd.DataFrame()
    done = executions[executions.status.isin(["Succeeded", "Failed", "Stopped"])]
    g = executions.groupby(["kind", "pipeline"])
    out = g.agg(executions=("execution_arn", "count"), last_start=("start_time", "max"))
    out["succeeded"] = done[done.status == "Succeeded"].groupby(["kind", "pipeline"]).size()
    out["failed"] = done[done.status == "Failed"].groupby(["kind", "pipeline"]).size()
    out[["succeeded", "failed"]] = out[["succeeded", "failed"]].fillna(0).astype(int)
    finished = done.groupby(["kind", "pipeline"]).size()
    out["success_rate"] = out.succeeded / finished.reindex(out.index).where(lambda s: s > 0)
    ok = done[done.status == "Succeeded"].groupby(["kind", "pipeline"]).duration_min
    out["median_min"] = ok.median()
    out["p90_min"] = ok.quantile(0.9)
    fails = executions.dropna(subset=["failed_step"])
    out["top_failing_step"] = fails.groupby(["kind", "pipeline"]).failed_step.agg(
        lambda s: f"{s.value_counts().index[0]} ({s.value_counts().iloc[0]}×)")
    return out.reset_index().sort_values(["success_rate", "pipeline"], na_position="last")


def pipeline_steps(execution_arn: str) -> pd.DataFrame:
    """Steps of a SageMaker execution (status, times, failure reason), or the failing state of a Step Functions one."""
    if _have("aws_sagemaker_pipeline_execution_step"):
        df = query("""
            SELECT step_name, step_type, status, start_time, end_time,
                   date_diff('second', start_time, end_time) / 60.0 AS minutes, attempt_count, failure_reason
            FROM aws_sagemaker_pipeline_execution_step WHERE execution_arn = ?
            ORDER BY start_time NULLS LAST, step_name""", [execution_arn])
        if not df.empty:
            return _utc(df, "start_time", "end_time")
    if _have("aws_sfn_execution"):
        df = query("""
            SELECT failing_state AS step_name, 'State' AS step_type, 'Failed' AS status,
                   NULL::TIMESTAMPTZ AS start_time,
                   stop_date AS end_time, NULL::DOUBLE AS minutes, NULL::INTEGER AS attempt_count,
                   concat_ws(': ', error, cause) AS failure_reason
            FROM aws_sfn_execution WHERE execution_arn = ? AND failing_state IS NOT NULL""", [execution_arn])
        return _utc(df, "start_time", "end_time")
    return pd.DataFrame()


# --------------------------------------------------------------------------- models


def model_groups(f: Filters) -> pd.DataFrame:
    """Registry groups: versions, latest version and its status, latest approved, versions serving now."""
    if not _have("aws_sagemaker_model_package_group", "aws_sagemaker_model_package"):
        return pd.DataFrame()
    where, params = f.where("g", team_col="", project_col="")
    serving = serving_map(f)
    df = query(f"""
        SELECT g.group_name, count(p.version)::INTEGER AS versions, max(p.version) AS latest_version,
               arg_max(p.approval_status, p.version) AS latest_status,
               max(p.version) FILTER (WHERE p.approval_status = 'Approved') AS latest_approved,
               count(*) FILTER (WHERE p.approval_status = 'PendingManualApproval')::INTEGER AS pending,
               g.description, g.creation_time, g.account_id, g.region
        FROM aws_sagemaker_model_package_group g
        LEFT JOIN aws_sagemaker_model_package p USING (account_id, region, group_name)
        WHERE {where} GROUP BY ALL ORDER BY g.group_name""", params)  # noqa: S608
    if not serving.empty:
        live = serving.dropna(subset=["model_group"]).groupby("model_group").apply(
            lambda s: ", ".join(sorted({f"v{int(v)} on {e}" for v, e in zip(s.model_version, s.endpoint_name,
                                                                               strict=False)})),
            include_groups=False)
        df["serving"] = df.group_name.map(live)
    else:
        df["serving"] = None
    return _utc(df, "creation_time")


def model_versions(f: Filters, group: str | None = None) -> pd.DataFrame:
    """Versions of the registry (of one group, or all): approval, when, metadata, and where each serves."""
    if not _have("aws_sagemaker_model_package"):
        return pd.DataFrame()
    where, params = f.where("p", team_col="", project_col="")
    cond, extra = ("p.group_name = ?", [group]) if group else ("TRUE", [])
    df = query(f"""
        SELECT p.group_name, p.version, p.approval_status, p.package_status, p.creation_time, p.description,
               p.customer_metadata, p.image, p.model_data_url, p.model_package_arn, p.account_id, p.region
        FROM aws_sagemaker_model_package p WHERE {where} AND {cond}
        ORDER BY p.group_name, p.version DESC""", [*params, *extra])  # noqa: S608
    serving = serving_map(f)
    if not serving.empty and not df.empty:
        live = serving.groupby("model_package_arn").apply(
            lambda s: ", ".join(f"{e}/{v}" for e, v in zip(s.endpoint_name, s.variant_name, strict=False)),
            include_groups=False)
        df["serving_on"] = df.model_package_arn.map(live)
    else:
        df["serving_on"] = None
    return _utc(df, "creation_time")


def serving_map(f: Filters) -> pd.DataFrame:
    """Endpoint variant -> model -> model package ARN -> registry group and version, with its approval."""
    if not _have("aws_sagemaker_endpoint", "aws_sagemaker_endpoint_variant"):
        return pd.DataFrame()
    where, params = f.where("e")
    reg = _have("aws_sagemaker_model", "aws_sagemaker_model_package")
    join = """LEFT JOIN aws_sagemaker_model m ON m.account_id = v.account_id AND m.region = v.region
                                                AND m.model_name = v.model_name
              LEFT JOIN aws_sagemaker_model_package pk ON pk.model_package_arn = m.model_package_arn""" if reg else ""
    cols = ("m.model_package_arn, pk.group_name AS model_group, pk.version AS model_version, pk.approval_status, "
            "pk.creation_time AS registered_at" if reg else
            "NULL AS model_package_arn, NULL AS model_group, NULL AS model_version, NULL AS approval_status, "
            "NULL AS registered_at")
    df = query(f"""
        SELECT e.endpoint_name, v.variant_name, e.env, e.team, v.model_name, {cols}, v.current_weight,
               v.current_instance_count, v.instance_type, e.account_id, e.region
        FROM aws_sagemaker_endpoint e
        JOIN aws_sagemaker_endpoint_variant v USING (account_id, region, endpoint_name)
        {join}
        WHERE {where} ORDER BY e.endpoint_name, v.variant_name""", params)  # noqa: S608
    return _utc(df, "registered_at")


def resource_kind(name: str) -> str:
    """'training job' when a training job has this name, else 'endpoint' (what the Logs page filters on)."""
    if _have("aws_sagemaker_training_job") and not query(
            "SELECT 1 FROM aws_sagemaker_training_job WHERE training_job_name = ? LIMIT 1", [name]).empty:
        return "training job"
    return "endpoint"


def deploy_history(f: Filters) -> pd.DataFrame:
    """Every deploy (endpoint config creation) of the endpoints in scope, newest first: what served what, when.

    One query for the configs of all endpoints in scope (not one per endpoint), then ``_deploy_rows``
    per endpoint, as ``deploys`` does for one."""
    cols = ["time", "endpoint_name", "kind", "models", "config", "variants"]
    eps = serving_map(f)
    if eps.empty or not _have("aws_sagemaker_endpoint_config"):
        return pd.DataFrame(columns=cols)
    names = eps[["account_id", "region", "endpoint_name"]].drop_duplicates()
    hist = _have("aws_sagemaker_endpoint_variant_history")
    seen = ("UNION SELECT account_id, region, endpoint_name, endpoint_config_name "
            "FROM aws_sagemaker_endpoint_variant_history") if hist else ""
    # an endpoint's configs: those named after it, its current one, and those it was seen on (as _configs_of)
    cfgs = _utc(query(f"""
        WITH scope AS (SELECT unnest(?::VARCHAR[]) AS account_id, unnest(?::VARCHAR[]) AS region,
                              unnest(?::VARCHAR[]) AS endpoint_name),
        cand AS (SELECT s.account_id, s.region, s.endpoint_name, c.endpoint_config_name
                 FROM scope s JOIN aws_sagemaker_endpoint_config c
                   ON c.account_id = s.account_id AND c.region = s.region
                  AND starts_with(c.endpoint_config_name, s.endpoint_name || '-')
                 UNION SELECT account_id, region, endpoint_name, endpoint_config_name FROM aws_sagemaker_endpoint
                 {seen})
        SELECT s.account_id, s.region, s.endpoint_name, c.endpoint_config_name, c.creation_time, c.variants
        FROM (SELECT DISTINCT * FROM cand) k
        JOIN scope s USING (account_id, region, endpoint_name)
        JOIN aws_sagemaker_endpoint_config c USING (account_id, region, endpoint_config_name)
        ORDER BY s.endpoint_name, c.creation_time""",  # noqa: S608 - fixed fragments
        [names.account_id.tolist(), names.region.tolist(), names.endpoint_name.tolist()]), "creation_time")
    by_endpoint: dict[tuple, list[tuple]] = {}
    for account, region, name, config, created, variants in cfgs[
            ["account_id", "region", "endpoint_name", "endpoint_config_name", "creation_time", "variants"]
    ].itertuples(index=False, name=None):  # one pass over plain tuples: no frame per endpoint
        by_endpoint.setdefault((account, region, name), []).append((created, config, variants))
    records = [{**r, "endpoint_name": name} for (_, _, name), configs in by_endpoint.items()
               for r in _deploy_records(configs)]
    if not records:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(records).sort_values("time", ascending=False, kind="stable")
    return df[cols].reset_index(drop=True)


def alarm_periods(f: Filters, days: int = 7, merge: timedelta = timedelta(minutes=30)) -> pd.DataFrame:
    """Recent incidents: ALARM periods of endpoint alarms in the ``days`` to the range end, merged per endpoint
    when they overlap or start within ``merge`` of each other; newest first.

    Columns: endpoint_name, start, end (NULL while still in ALARM), state (ongoing/resolved), minutes,
    alarms (names), account_id, region.
    """
    cols = ["endpoint_name", "start", "end", "state", "minutes", "alarms", "account_id", "region"]
    if not _have("aws_cloudwatch_alarm", "aws_cloudwatch_alarm_state_change", "aws_sagemaker_endpoint"):
        return pd.DataFrame(columns=cols)
    where, params = f.where("e")
    df = _utc(query(f"""
        WITH ch AS (
            SELECT a.account_id, a.region, a.endpoint_name, c.alarm_name, c.ts, c.new_state,
                   lead(c.ts) OVER (PARTITION BY c.account_id, c.region, c.alarm_name ORDER BY c.ts) AS next_ts
            FROM aws_cloudwatch_alarm_state_change c
            JOIN aws_cloudwatch_alarm a USING (account_id, region, alarm_name)
            JOIN aws_sagemaker_endpoint e
              ON e.account_id = a.account_id AND e.region = a.region AND e.endpoint_name = a.endpoint_name
            WHERE {where})
        SELECT account_id, region, endpoint_name, alarm_name, ts AS start, next_ts AS "end"
        FROM ch WHERE new_state = 'ALARM' AND coalesce(next_ts, ?) >= ? AND ts < ?
        ORDER BY account_id, region, endpoint_name, ts""",  # noqa: S608
                    [*params, f.end, f.end - timedelta(days=days), f.end]), "start", "end")
    if df.empty:
        return pd.DataFrame(columns=cols)
    rows, cur = [], None
    # one pass over plain tuples, ordered by endpoint and start (the query's ORDER BY): a period continues while
    # the next ALARM starts within ``merge`` of its end
    for account, region, name, alarm, start, end in df[
            ["account_id", "region", "endpoint_name", "alarm_name", "start", "end"]].itertuples(index=False, name=None):
        same = cur is not None and (cur["account_id"], cur["region"], cur["endpoint_name"]) == (account, region, name)
        if same and start <= (cur["end"] if pd.notna(cur["end"]) else start) + merge:
            cur["end"] = pd.NaT if pd.isna(end) or pd.isna(cur["end"]) else max(cur["end"], end)
            cur["alarms"].add(alarm)
            continue
        if cur:
            rows.append(cur)
        cur = {"endpoint_name": name, "start": start, "end": end if pd.notna(end) else pd.NaT, "alarms": {alarm},
               "account_id": account, "region": region}
    rows.append(cur)
    out = pd.DataFrame(rows)
    out["alarms"] = out.alarms.map(lambda s: ", ".join(sorted(s)))
    now = pd.Timestamp(f.end)
    out["minutes"] = ((out.end.fillna(now) - out.start).dt.total_seconds() / 60).round()
    out["state"] = out.end.isna().map({True: "ongoing", False: "resolved"})
    return out.sort_values("start", ascending=False)[cols].reset_index(drop=True)
