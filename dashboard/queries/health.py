"""Read queries of endpoint health and what needs attention: each endpoint judged ok, degraded or idle (and why),
the endpoint summary it is judged on, alarms firing, failed training jobs and pipeline runs.

Health is judged relative to the newest invocation collected (:func:`metrics_as_of`), not the wall clock, so a
store that stopped collecting does not turn every endpoint idle.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _utc
from dashboard.queries.endpoints import endpoint_list

SUMMARY = "aws_cloudwatch_endpoint_summary"
THRESHOLDS = {"error_rate_pct": 1.0, "p99_vs_baseline": 2.0}
IDLE_DAYS = 7
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
        out[c] = out[c].fillna(0.0)
    # days without an invocation, bounded by what was collected: with no invocation in the collected metrics,
    # idle at least since the later of the endpoint's creation and the start of metrics collection
    ref = out.as_of.fillna(summary.as_of.max())
    created = pd.to_datetime(out.creation_time, utc=True)
    covered = out.metrics_since.min()
    last = out.last_invocation
    since = last.where(last.notna(), created.clip(lower=covered) if pd.notna(covered) else created)
    out["idle_days"] = (ref - since).dt.total_seconds() / 86400
    return out


def _judge(rate_1h, rate_24h, p99_1h, p99_24h, base, idle_days, last) -> tuple[str, str]:
    """(health, reason) of one endpoint from its plain values."""
    reasons = []
    for w, rate, p99 in (("1h", rate_1h, p99_1h), ("24h", rate_24h, p99_24h)):
        if pd.notna(rate) and rate > THRESHOLDS["error_rate_pct"]:
            reasons.append(f"5xx {rate:.1f}% over {w}")
        if pd.notna(p99) and pd.notna(base) and base > 0 and p99 > THRESHOLDS["p99_vs_baseline"] * base:
            reasons.append(f"p99 {p99:,.0f} ms over {w} ({p99 / base:.1f}x its usual {base:,.0f} ms)")
    if reasons:
        return "degraded", "; ".join(dict.fromkeys(reasons))
    if idle_days >= IDLE_DAYS:
        since = f"no invocations since {last:%Y-%m-%d}" if pd.notna(last) else \
            f"no invocations in the {idle_days:.0f} days collected"
        return "idle", since
    return "ok", ""


def endpoint_health(f: Filters) -> pd.DataFrame:
    """One row per endpoint with its health: ok, degraded or idle, and why.

    degraded: 5xx error rate > 1 % of invocations, or p99 ModelLatency > 2 x the endpoint's own 7-day
    median hourly p99, in the last hour or the last 24 h of data; idle: zero invocations over 7+ days
    (the endpoint being older than that). Columns: endpoint_name, health, reason, team, project, account_id,
    region, invocations_1h, invocations_24h, error_rate_1h_pct, error_rate_24h_pct, p99_1h_ms, p99_24h_ms,
    p99_baseline_ms, last_invocation."""
    out = last_invocation(f)
    if out.empty:
        return out
    out = out.rename(columns={"errors_5xx_1h": "errors_1h", "errors_5xx_24h": "errors_24h"})
    out["error_rate_1h_pct"] = out.errors_1h / out.invocations_1h.where(out.invocations_1h > 0) * 100
    out["error_rate_24h_pct"] = out.errors_24h / out.invocations_24h.where(out.invocations_24h > 0) * 100
    for c in ("p99_1h", "p99_24h", "p99_baseline"):
        out[f"{c}_ms"] = out[f"{c}_us"].astype(float) / 1000
    # one call per endpoint over plain values (a row-wise DataFrame.apply costs ~0.1 ms a row)
    judged = [_judge(*v) for v in zip(out.error_rate_1h_pct, out.error_rate_24h_pct, out.p99_1h_ms, out.p99_24h_ms,
                                      out.p99_baseline_ms, out.idle_days, out.last_invocation, strict=True)]
    out["health"] = [h for h, _ in judged]
    out["reason"] = [r for _, r in judged]
    return out[["endpoint_name", "health", "reason", "team", "project", "account_id", "region",
                "invocations_1h", "invocations_24h", "error_rate_1h_pct", "error_rate_24h_pct", "p99_1h_ms",
                "p99_24h_ms", "p99_baseline_ms", "last_invocation"]].sort_values(
        ["health", "endpoint_name"], key=lambda s: s.map({"degraded": 0, "idle": 1, "ok": 2}) if s.name == "health"
        else s).reset_index(drop=True)


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
