"""CloudWatch metric alarms, their current state and their state changes.

Incremental: DescribeAlarms has no "changed since" filter, so its pages are read every run (one
call per 100 alarms) and upserted; alarms gone from AWS leave the current table. State changes
come from two places, both append-only: DescribeAlarmHistory (StateUpdate items) read from the
stored cursor (the newest item's timestamp) onwards, and, for changes the history does not show
(it keeps 30 days and may lag), a row whenever an alarm's state or StateUpdatedTimestamp differs
from the stored one. The history is optional (``Context.optional``): when DescribeAlarmHistory fails, the
alarms and the observed changes still land and its cursor stays.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "cloudwatch_alarms"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()

HISTORY_DAYS = 30  # CloudWatch keeps alarm history 30 days
SAME_CHANGE = timedelta(seconds=60)  # an observed change this close to a history item is that item

ALARM = table("aws_cloudwatch_alarm", "A CloudWatch metric alarm, as last described.", [
    ("alarm_name", "VARCHAR", "Alarm name."),
    ("alarm_arn", "VARCHAR", "Alarm ARN."),
    ("description", "VARCHAR", "AlarmDescription."),
    ("state_value", "VARCHAR", "OK, ALARM or INSUFFICIENT_DATA."),
    ("state_reason", "VARCHAR", "Why the alarm is in its state (CloudWatch's text)."),
    ("state_updated_at", "TIMESTAMPTZ", "When the state last changed."),
    ("metric_name", "VARCHAR", "Metric watched (first metric of a metric-math alarm)."),
    ("namespace", "VARCHAR", "Namespace of the metric watched."),
    ("dimensions", "JSON", "Dimensions of the metric watched, as a JSON object {name: value}."),
    ("endpoint_name", "VARCHAR", "EndpointName dimension, when the alarm watches a SageMaker endpoint."),
    ("variant_name", "VARCHAR", "VariantName dimension, when present."),
    ("statistic", "VARCHAR", "Statistic evaluated (Sum, Average, Maximum, ...), or NULL for a percentile."),
    ("extended_statistic", "VARCHAR", "Percentile evaluated (p99, ...), or NULL."),
    ("threshold", "DOUBLE", "Threshold, in the metric's unit (latencies in microseconds)."),
    ("comparison_operator", "VARCHAR", "GreaterThanThreshold, LessThanThreshold, ..."),
    ("period_s", "INTEGER", "Evaluation period in seconds."),
    ("evaluation_periods", "INTEGER", "Periods evaluated."),
    ("datapoints_to_alarm", "INTEGER", "Breaching periods (of evaluation_periods) that trigger ALARM."),
    ("treat_missing_data", "VARCHAR", "breaching, notBreaching, ignore or missing."),
    ("actions_enabled", "BOOLEAN", "Whether actions run on state changes."),
    ("actions", "JSON", "Actions as {alarm: [ARN], ok: [ARN], insufficient_data: [ARN]}."),
    ("observed_at", "TIMESTAMPTZ", "When the collector last described the alarm."),
], ["alarm_name"])

STATE_CHANGE = table("aws_cloudwatch_alarm_state_change", "A state change of a CloudWatch alarm.", [
    ("alarm_name", "VARCHAR", "Alarm name."),
    ("ts", "TIMESTAMPTZ", "When the state changed."),
    ("old_state", "VARCHAR", "State before (NULL when unknown: the first observation of an alarm)."),
    ("new_state", "VARCHAR", "State after: OK, ALARM or INSUFFICIENT_DATA."),
    ("reason", "VARCHAR", "CloudWatch's reason for the new state."),
    ("source", "VARCHAR", "history (DescribeAlarmHistory) or observed (state differed from the stored one)."),
], ["alarm_name", "ts", "new_state"])

TABLES = (ALARM, STATE_CHANGE)


def _metric(a: dict) -> tuple[str | None, str | None, dict[str, str]]:
    if a.get("MetricName"):
        return a["MetricName"], a.get("Namespace"), {d["Name"]: d["Value"] for d in a.get("Dimensions", [])}
    for m in a.get("Metrics", []):  # metric math: the first metric it reads
        metric = (m.get("MetricStat") or {}).get("Metric")
        if metric:
            return (metric.get("MetricName"), metric.get("Namespace"),
                    {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])})
    return None, None, {}


def _history(ctx: Context, cw, cursor: datetime | None, start: datetime
             ) -> tuple[list[dict], datetime | None, dict[tuple[str, str], list[datetime]]]:
    """State changes from DescribeAlarmHistory after ``cursor``, the newest timestamp, and when each (alarm, state)
    was entered."""
    changes, newest = [], cursor
    seen: dict[tuple[str, str], list[datetime]] = {}
    for h in paginate(cw, "describe_alarm_history", "AlarmHistoryItems", HistoryItemType="StateUpdate",
                      StartDate=start, EndDate=ctx.now):
        ts = h["Timestamp"].astimezone(UTC)
        if cursor and ts <= cursor:
            continue  # StartDate is inclusive
        data = json.loads(h.get("HistoryData") or "{}")
        old, new = data.get("oldState") or {}, data.get("newState") or {}
        if not new.get("stateValue"):
            continue
        changes.append(ctx.rows(alarm_name=h["AlarmName"], ts=ts, old_state=old.get("stateValue"),
                                new_state=new["stateValue"], reason=new.get("stateReason"), source="history"))
        seen.setdefault((h["AlarmName"], new["stateValue"]), []).append(ts)
        newest = max(newest or ts, ts)
    return changes, newest, seen


def collect(ctx: Context) -> Iterator[Batch]:
    cw = ctx.client("cloudwatch")
    stored = {name: (state, updated) for name, state, updated in ctx.sql(
        "SELECT alarm_name, state_value, state_updated_at FROM aws_cloudwatch_alarm "
        "WHERE account_id = ? AND region = ?", [ctx.account_id, ctx.region])}

    # ---- history since the cursor (optional: when it fails, changes are still observed against stored states)
    cursor = ctx.cursor.get("history_since")
    start = cursor or ctx.now - timedelta(days=HISTORY_DAYS)
    read = ctx.optional("cloudwatch:DescribeAlarmHistory", lambda: _history(ctx, cw, cursor, start))
    changes, newest, seen = read if read is not None else ([], cursor, {})

    # ---- current alarms, and changes observed against the stored state
    alarms = []
    for a in paginate(cw, "describe_alarms", "MetricAlarms"):
        metric, namespace, dims = _metric(a)
        name, state = a["AlarmName"], a["StateValue"]
        updated = a.get("StateUpdatedTimestamp")
        updated = updated.astimezone(UTC) if updated else None
        alarms.append(ctx.rows(
            alarm_name=name, alarm_arn=a.get("AlarmArn"), description=a.get("AlarmDescription"), state_value=state,
            state_reason=a.get("StateReason"), state_updated_at=updated, metric_name=metric, namespace=namespace,
            dimensions=json.dumps(dims, sort_keys=True), endpoint_name=dims.get("EndpointName"),
            variant_name=dims.get("VariantName"), statistic=a.get("Statistic"),
            extended_statistic=a.get("ExtendedStatistic"), threshold=a.get("Threshold"),
            comparison_operator=a.get("ComparisonOperator"), period_s=a.get("Period"),
            evaluation_periods=a.get("EvaluationPeriods"), datapoints_to_alarm=a.get("DatapointsToAlarm"),
            treat_missing_data=a.get("TreatMissingData"), actions_enabled=a.get("ActionsEnabled"),
            actions=json.dumps({"alarm": a.get("AlarmActions", []), "ok": a.get("OKActions", []),
                                "insufficient_data": a.get("InsufficientDataActions", [])}),
            observed_at=ctx.now))
        before = stored.get(name)
        if updated is None or (before and before[0] == state and before[1] == updated):
            continue
        if any(abs(t - updated) <= SAME_CHANGE for t in seen.get((name, state), [])):
            continue  # the history already has this change
        changes.append(ctx.rows(alarm_name=name, ts=updated, old_state=before[0] if before else None,
                                new_state=state, reason=a.get("StateReason"), source="observed"))
    gone = [n for n in stored if n not in {a["alarm_name"] for a in alarms}]
    if gone:
        ctx.delete(ALARM, "alarm_name", gone)
    yield ALARM, alarms
    yield STATE_CHANGE, changes
    if newest:
        ctx.cursor.advance("history_since", newest)
