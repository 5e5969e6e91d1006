"""Read queries of the alerts area: the alerts in scope (firing, pending, lately resolved), the rules with their last
evaluation, and each channel's health with its delivery log. The alerts package writes these tables at the end of
every collection cycle (``sextant.schema.ALERT_TABLES``, docs/ALERTS.md); the dashboard only reads them.

Scope: an alert about a resource with an account (endpoints, jobs, executions) follows the sidebar's account,
region and team filters; an alert about Sextant itself (a source failing or stale, the bill's forecast) has no
account and is always shown.
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from actions.alarms import PREFIX as MANAGED_PREFIX
from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _or_empty, _utc

SEVERITY_ORDER = "CASE a.severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END"
ALERT_COLUMNS = ["state", "severity", "rule", "name", "endpoint_name", "value", "comparison", "threshold",
                 "started_at", "fired_at", "resolved_at", "last_evaluated_at", "team", "account_id", "region",
                 "resource", "episode"]


def alerts(f: Filters, resolved_since: datetime) -> pd.DataFrame:
    """Alerts in scope: every one pending or firing, and those resolved at or after ``resolved_since``; firing
    first, then pending, then resolved, by severity, newest first. Columns: ALERT_COLUMNS (times tz-aware UTC)."""
    where, params = f.where("a", project_col="")
    df = query(f"""
        SELECT a.state, a.severity, a.rule, a.name, a.endpoint_name, a.value, a.comparison, a.threshold,
               a.started_at, a.fired_at, a.resolved_at, a.last_evaluated_at, a.team, a.account_id, a.region,
               a.resource, a.episode
        FROM sextant_alert a
        WHERE (a.state IN ('pending', 'firing') OR (a.state = 'resolved' AND a.resolved_at >= ?))
          AND (a.account_id IS NULL OR ({where}))
        ORDER BY CASE a.state WHEN 'firing' THEN 0 WHEN 'pending' THEN 1 ELSE 2 END, {SEVERITY_ORDER},
                 coalesce(a.resolved_at, a.fired_at, a.started_at) DESC, a.rule, a.resource
    """, [resolved_since, *params])  # noqa: S608 - fixed fragments; values are bound
    return _utc(_or_empty(df, ALERT_COLUMNS), "started_at", "fired_at", "resolved_at", "last_evaluated_at")


RULE_COLUMNS = ["rule", "description", "severity", "comparison", "threshold", "for_s", "window", "builtin", "status",
                "error", "rows", "breaching", "last_evaluated_at", "duration_ms"]


def rules() -> pd.DataFrame:
    """Every rule with its last evaluation (a failing rule first). Columns: RULE_COLUMNS."""
    df = query("""
        SELECT rule, description, severity, comparison, threshold, for_s, "window", builtin, status, error, "rows",
               breaching, last_evaluated_at, duration_ms
        FROM sextant_alert_rule ORDER BY status = 'ok', NOT builtin, rule""")
    return _utc(_or_empty(df, RULE_COLUMNS), "last_evaluated_at")


CHANNEL_COLUMNS = ["channel", "sent", "pending", "failed", "suppressed", "last_attempt_at", "last_status",
                   "last_error"]


def channels() -> pd.DataFrame:
    """Per channel that has had a message: messages sent, pending (queued or waiting for a retry), failed (every
    attempt failed) and suppressed (held back by a silence, never sent), and its last attempt's time, status and error
    (never a secret: the delivery log holds none)."""
    df = query("""
        WITH last AS (
            SELECT channel, attempted_at, status, error,
                   row_number() OVER (PARTITION BY channel ORDER BY attempted_at DESC, attempt DESC) AS n
            FROM sextant_alert_attempt)
        SELECT d.channel, count(*) FILTER (WHERE d.status = 'sent') AS sent,
               count(*) FILTER (WHERE d.status = 'pending') AS pending,
               count(*) FILTER (WHERE d.status = 'failed') AS failed,
               count(*) FILTER (WHERE d.status = 'suppressed') AS suppressed,
               any_value(l.attempted_at) AS last_attempt_at, any_value(l.status) AS last_status,
               any_value(l.error) AS last_error
        FROM sextant_alert_delivery d LEFT JOIN last l ON l.channel = d.channel AND l.n = 1
        GROUP BY d.channel ORDER BY failed DESC, d.channel""")
    return _utc(_or_empty(df, CHANNEL_COLUMNS), "last_attempt_at")


ATTEMPT_COLUMNS = ["attempted_at", "channel", "kind", "rule", "resource", "attempt", "status", "error", "duration_ms"]


def attempts(limit: int = 200) -> pd.DataFrame:
    """The delivery log, newest first (at most ``limit`` attempts)."""
    df = query("""
        SELECT attempted_at, channel, kind, rule, resource, attempt, status, error, duration_ms
        FROM sextant_alert_attempt ORDER BY attempted_at DESC, attempt DESC LIMIT ?""", [limit])
    return _utc(_or_empty(df, ATTEMPT_COLUMNS), "attempted_at")


SUPPRESSED_COLUMNS = ["created_at", "channel", "kind", "rule", "resource", "episode", "error"]


def suppressed(since: datetime, limit: int = 200) -> pd.DataFrame:
    """Messages a silence held back (``status = 'suppressed'``), queued at or after ``since``, newest first; ``error``
    names the silence."""
    df = query("""
        SELECT created_at, channel, kind, rule, resource, episode, error
        FROM sextant_alert_delivery WHERE status = 'suppressed' AND created_at >= ?
        ORDER BY created_at DESC, rule, resource, kind LIMIT ?""", [since, limit])
    return _utc(_or_empty(df, SUPPRESSED_COLUMNS), "created_at")


MANAGED_COLUMNS = ["alarm_name", "state_value", "state_updated_at", "endpoint_name", "variant_name", "metric_name",
                   "statistic", "comparison_operator", "threshold", "account_id", "region"]


def managed_alarms(f: Filters) -> pd.DataFrame:
    """The CloudWatch alarms Sextant manages in scope (created by its recommended-alarms action: named
    ``sextant-<endpoint>-<variant>-<kind>``, actions.alarms), as last collected: in ALARM first, then the others by
    name. AWS evaluates them every period, whatever Sextant's cadence. Columns: MANAGED_COLUMNS (statistic: the
    percentile when there is one; thresholds in the metric's unit, latencies in microseconds)."""
    where, params = f.where("a", team_col="", project_col="")
    df = query(f"""
        SELECT a.alarm_name, a.state_value, a.state_updated_at, a.endpoint_name, a.variant_name, a.metric_name,
               coalesce(a.extended_statistic, a.statistic) AS statistic, a.comparison_operator, a.threshold,
               a.account_id, a.region
        FROM aws_cloudwatch_alarm a
        WHERE starts_with(a.alarm_name, ?) AND {where}
        ORDER BY a.state_value = 'ALARM' DESC, a.alarm_name""", [MANAGED_PREFIX, *params])  # noqa: S608
    return _utc(_or_empty(df, MANAGED_COLUMNS), "state_updated_at")
