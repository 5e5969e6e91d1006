"""Read queries of endpoint health and what needs attention: each endpoint judged ok, degraded or idle (and why),
the endpoint summary it is judged on, alarms firing, failed training jobs and pipeline runs.

Health agrees with the alarms and with the Endpoints page: an endpoint that a CloudWatch alarm in ALARM watches is
never "ok"; the traffic, error rates and p99 it is judged on are the ones the Endpoints page shows
(:func:`dashboard.queries.endpoints.traffic` over the last hour and the last 24 hours, and
:func:`dashboard.queries.endpoints.p99_now`: the traffic to the last collection's minute for a view ending now, p99 now
to :func:`dashboard.filters.fixed_end`). Idleness is judged
relative to the newest invocation collected (:func:`metrics_as_of`), not the wall clock, so a store that stopped
collecting does not turn every endpoint idle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.data import gather, query
from dashboard.filters import Filters
from dashboard.queries._common import _lookup, _utc
from dashboard.queries.endpoints import P99_NOW_SQL, endpoint_list, p99_now_params, traffic_windows
from sextant.traffic import IDLE_DAYS

SUMMARY = "aws_cloudwatch_endpoint_summary"
THRESHOLDS = {"error_rate_pct": 1.0, "p99_vs_baseline": 2.0}
KEY = ["account_id", "region", "endpoint_name"]
_COUNTS = ("invocations_1h", "invocations_24h", "invocations_7d", "invocations_30d", "errors_5xx_1h",
           "errors_5xx_24h")


def metrics_as_of() -> datetime | None:
    """Newest endpoint invocation datapoint collected (the metrics collector records it with each cycle's endpoint
    summary): health is judged relative to it. None before any invocation is collected."""
    df = query(f"SELECT max(as_of) AS ts FROM {SUMMARY}")  # noqa: S608 - a constant table name
    if df.empty or pd.isna(df.ts.iloc[0]):
        return None
    return pd.Timestamp(df.ts.iloc[0]).tz_convert(UTC).to_pydatetime()


def endpoint_summary() -> pd.DataFrame:
    """Per endpoint: invocations over 1 h / 24 h / 7 d / 30 d, 5xx errors, p99 and its 7-day baseline, last
    invocation, first day collected, all to ``as_of`` (see ``aws_cloudwatch_endpoint_summary``): the table the
    metrics collector rewrites each cycle, one row per endpoint, nothing to scan at view time."""
    return _utc(query(f"SELECT * FROM {SUMMARY}"), "as_of", "last_invocation", "metrics_since")  # noqa: S608


def last_invocation(f: Filters) -> pd.DataFrame:
    """Per endpoint in scope (the endpoint list's columns): invocations in the last 1 h / 24 h / 7 d / 30 d of data,
    5xx errors, p99s, the last hour with an invocation, and the days without one (idle_days), from the endpoint
    summary."""
    eps = endpoint_list(f)
    key = ["account_id", "region", "endpoint_name"]
    summary = endpoint_summary()
    if summary.empty:
        for c in _COUNTS:
            eps[c] = 0.0
        for c in ("p99_1h_us", "p99_24h_us", "p99_baseline_us"):
            eps[c] = float("nan")
        eps["last_invocation"] = pd.NaT
        eps["idle_days"] = 0.0  # no metrics collected: nothing can be called idle
        return eps
    out = eps.merge(summary, on=key, how="left")
    for c in _COUNTS:
        out[c] = out[c].astype(float).fillna(0.0)
    # days without an invocation, bounded by what was collected: with no invocation in the collected metrics,
    # idle at least since the later of the endpoint's creation and the start of metrics collection
    ref = out.as_of.fillna(summary.as_of.max())
    created = pd.to_datetime(out.creation_time, utc=True)
    covered = out.metrics_since.min()
    last = out.last_invocation
    since = last.where(last.notna(), created.clip(lower=covered) if pd.notna(covered) else created)
    out["idle_days"] = (ref - since).dt.total_seconds() / 86400
    return out


# per endpoint that a CloudWatch alarm in ALARM watches (its EndpointName dimension, the alarm table's
# endpoint_name): account_id, region, endpoint_name, alarms ("name (metric)", comma-separated, by name)
_ALARMS_SQL = """
    SELECT account_id, region, endpoint_name,
           string_agg(alarm_name || coalesce(' (' || metric_name || ')', ''), ', ' ORDER BY alarm_name) AS alarms
    FROM aws_cloudwatch_alarm WHERE state_value = 'ALARM' AND endpoint_name IS NOT NULL
    GROUP BY ALL"""


def _judge(alarms, rate_1h, rate_24h, p99_now, p99_24h, base, idle_days, last) -> tuple[str, str]:
    """(health, reason) of one endpoint from its plain values."""
    reasons = [f"in ALARM: {alarms}"] if isinstance(alarms, str) and alarms else []
    for w, rate in (("1h", rate_1h), ("24h", rate_24h)):
        if pd.notna(rate) and rate > THRESHOLDS["error_rate_pct"]:
            reasons.append(f"5xx {rate:.1f}% over {w}")
    for w, p99 in (("now", p99_now), ("over 24h", p99_24h)):
        if pd.notna(p99) and pd.notna(base) and base > 0 and p99 > THRESHOLDS["p99_vs_baseline"] * base:
            reasons.append(f"p99 {p99:,.0f} ms {w} ({p99 / base:.1f}x its usual {base:,.0f} ms)")
    if idle_days >= IDLE_DAYS:  # idle first: an alarm on an idle endpoint is mostly about its silence
        since = f"no invocations since {last:%Y-%m-%d}" if pd.notna(last) else \
            f"no invocations in the {idle_days:.0f} days collected"
        return "idle", "; ".join([since, *reasons])
    if reasons:
        return "degraded", "; ".join(dict.fromkeys(reasons))
    return "ok", ""


HEALTH_COLUMNS = ["endpoint_name", "health", "reason", "team", "project", "account_id", "region", "invocations_1h",
                  "invocations_24h", "error_rate_1h_pct", "error_rate_24h_pct", "p99_now_ms", "p99_24h_ms",
                  "p99_baseline_ms", "last_invocation", "alarms", "traffic_through"]


def endpoint_health(f: Filters) -> pd.DataFrame:
    """One row per endpoint with its health: ok, degraded or idle, and why.

    degraded: a CloudWatch alarm in ALARM watches it (the reason names the alarms); or its 5xx error rate is above
    1 % of invocations over the last hour or the last 24 hours (:func:`dashboard.queries.endpoints.traffic`, windows
    of complete minutes ending at ``traffic_through``); or its p99 ModelLatency, now
    (:func:`dashboard.queries.endpoints.p99_now`) or in the worst hour of the 24 hours, is above 2 x its own 7-day
    median hourly p99. idle: zero invocations over 7+ days of data (the endpoint being older than that); an idle
    endpoint's reason also names the alarms in ALARM. ok: none of these, so never while an alarm watching it is in
    ALARM. Columns: HEALTH_COLUMNS (alarms: the alarms in ALARM, "name (metric)", or blank; traffic_through: where the
    traffic windows end, blank for an endpoint without metrics)."""
    windows = (timedelta(hours=1), timedelta(hours=24))
    where, params = f.where("e")
    out, traffic = gather(lambda: _utc(query(_HEALTH_SQL.format(where=where), [*params, *p99_now_params(f)]),
                                       "last_invocation"),
                          lambda: traffic_windows(f, windows))
    if out.empty:
        return pd.DataFrame(columns=HEALTH_COLUMNS)
    for window, suffix in zip(windows, ("1h", "24h"), strict=True):
        _lookup(out, traffic[window], {"invocations": f"invocations_{suffix}", "errors_5xx": f"errors_{suffix}",
                                       "peak_p99_ms": f"p99_{suffix}_ms", "through": "traffic_through"})
    for c in ("invocations_1h", "invocations_24h", "errors_1h", "errors_24h"):
        out[c] = out[c].astype(float).fillna(0.0)
    out["error_rate_1h_pct"] = out.errors_1h / out.invocations_1h.where(out.invocations_1h > 0) * 100
    out["error_rate_24h_pct"] = out.errors_24h / out.invocations_24h.where(out.invocations_24h > 0) * 100
    # one call per endpoint over plain values (a row-wise DataFrame.apply costs ~0.1 ms a row)
    judged = [_judge(*v) for v in zip(out.alarms, out.error_rate_1h_pct, out.error_rate_24h_pct, out.p99_now_ms,
                                      out.p99_24h_ms, out.p99_baseline_ms, out.idle_days, out.last_invocation,
                                      strict=True)]
    out["health"] = [h for h, _ in judged]
    out["reason"] = [r for _, r in judged]
    return out[HEALTH_COLUMNS].sort_values(
        ["health", "endpoint_name"], key=lambda s: s.map({"degraded": 0, "idle": 1, "ok": 2}) if s.name == "health"
        else s).reset_index(drop=True)


# endpoint_health's per-endpoint facts in one query: the endpoints in scope, their summary row, p99 now and the
# alarms in ALARM watching them, and the days without an invocation (last_invocation's rule: bounded by what was
# collected, relative to the newest invocation collected; 0 before any metrics)
_HEALTH_SQL = f"""
    WITH eps AS (
        SELECT e.endpoint_name, e.account_id, e.region, e.team, e.project, e.creation_time
        FROM aws_sagemaker_endpoint e WHERE {{where}}),
    now AS ({P99_NOW_SQL}),
    alarm AS ({_ALARMS_SQL}),
    j AS (
        SELECT eps.*, s.as_of, s.last_invocation, s.metrics_since, s.p99_baseline_us / 1000.0 AS p99_baseline_ms,
               now.p99_now_ms, alarm.alarms, min(s.metrics_since) OVER () AS covered
        FROM eps
        LEFT JOIN {SUMMARY} s USING (account_id, region, endpoint_name)
        LEFT JOIN now USING (account_id, region, endpoint_name)
        LEFT JOIN alarm USING (account_id, region, endpoint_name))
    SELECT endpoint_name, account_id, region, team, project, last_invocation, p99_baseline_ms, p99_now_ms, alarms,
           CASE WHEN NOT EXISTS (SELECT 1 FROM {SUMMARY}) THEN 0.0
                ELSE epoch(coalesce(as_of, (SELECT max(as_of) FROM {SUMMARY}))
                           - coalesce(last_invocation, CASE WHEN covered IS NULL OR creation_time IS NULL
                                                            THEN creation_time
                                                            ELSE greatest(creation_time, covered) END)) / 86400
           END AS idle_days
    FROM j ORDER BY team, endpoint_name"""  # noqa: S608 - constant table names; the scope's values are bound


def alarms_firing(f: Filters) -> pd.DataFrame:
    """CloudWatch alarms in ALARM in scope (account, region), newest state change first: alarm_name,
    endpoint_name, metric_name, since, state_reason, account_id, region."""
    where, params = f.where("a", team_col="", project_col="")
    return query(f"""
        SELECT a.alarm_name, a.endpoint_name, a.metric_name, a.state_updated_at AS since, a.state_reason,
               a.account_id, a.region
        FROM aws_cloudwatch_alarm a WHERE a.state_value = 'ALARM' AND {where}
        ORDER BY a.state_updated_at DESC
    """, params)  # noqa: S608


def failed_training(f: Filters, since: datetime) -> pd.DataFrame:
    """Training jobs in scope that failed at or after ``since``, newest first."""
    where, params = f.where()
    return query(f"""
        SELECT training_job_name, team, project, coalesce(training_end_time, last_modified_time) AS failed_at,
               failure_reason, spot, instance_type, account_id
        FROM aws_sagemaker_training_job
        WHERE status = 'Failed' AND coalesce(training_end_time, last_modified_time) >= ? AND {where}
        ORDER BY failed_at DESC
    """, [since, *params])  # noqa: S608


def failed_pipeline_runs(f: Filters, since: datetime) -> pd.DataFrame:
    """Pipeline executions in scope (by the pipeline's tags) that failed at or after ``since``, newest first."""
    where, params = f.where("p")
    return query(f"""
        SELECT x.pipeline_name, x.display_name, coalesce(x.end_time, x.start_time) AS failed_at, x.failed_step,
               x.failure_reason, p.team, x.execution_arn, x.account_id
        FROM aws_sagemaker_pipeline_execution x
        JOIN aws_sagemaker_pipeline p USING (account_id, region, pipeline_name)
        WHERE x.status = 'Failed' AND coalesce(x.end_time, x.start_time) >= ? AND {where}
        ORDER BY failed_at DESC
    """, [since, *params])  # noqa: S608
