"""Read queries of the Incident timeline: what happened to one endpoint in a window (deploys, scaling, alarm
changes, Sextant's own alerts firing and resolving, bursts of ERROR log lines, cost spikes), recent alarm periods,
the alarms in ALARM now (the incident the page opens on), the alarms that fired on an endpoint with their ALARM
intervals, Sextant's alert episodes about an endpoint (drawn on its charts), and the endpoints with errors.

Every function returns a DataFrame and binds every value as a parameter.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _or_empty, _utc
from dashboard.queries.endpoints import alarm_changes, alarms, config_events
from dashboard.queries.logs import log_where

SAGEMAKER = "Amazon SageMaker"
COUNTS = ("invocations", "4xx", "5xx")  # endpoint_metrics' per-minute counts; latencies are ms, utilizations %


def chart_unit(metric: str) -> str:
    """The unit :func:`dashboard.queries.endpoints.endpoint_metrics` gives a metric label in."""
    if metric in COUNTS:
        return "per minute"
    return "ms" if metric.startswith(("p50", "p90", "p99", "overhead")) else "%"


def endpoint_errors(start: datetime, end: datetime) -> pd.DataFrame:
    """Endpoints with ERROR log lines in [start, end), most first: endpoint_name, errors (the level filter
    comes first, so only the ERROR lines' endpoint column is read)."""
    return _or_empty(query("""
        SELECT endpoint_name, count(*) AS errors FROM aws_logs_event
        WHERE level = 'ERROR' AND ts >= ? AND ts < ? AND endpoint_name IS NOT NULL
        GROUP BY endpoint_name ORDER BY errors DESC, endpoint_name""", [start, end]), ["endpoint_name", "errors"])


def _error_minutes(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """ERROR log lines of an endpoint per minute: minute, lines, a sample message (one query for the bursts on
    the timeline and the per-minute chart)."""
    where, params = log_where(start, end, levels=["ERROR"], endpoint=name, accounts=(account,), regions=(region,))
    df = query(f"""
        SELECT date_trunc('minute', ts) AS minute, count(*) AS lines, any_value(message) AS sample
        FROM aws_logs_event WHERE {where} GROUP BY 1 ORDER BY 1""", params)  # noqa: S608
    return _utc(_or_empty(df, ["minute", "lines", "sample"]), "minute")


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


def cost_spikes(team: str | None, start: datetime, end: datetime, jump: float = 0.25,
                min_usd: float = 5.0) -> pd.DataFrame:
    """Days in [start, end) where a team's SageMaker cost rose over ``jump`` above its trailing 7-day mean."""
    cols = ["time", "cost_usd", "baseline_usd", "change"]
    if not team:
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


ALERT_KIND = "sextant alert"  # the timeline's kind for Sextant's own alerts (CloudWatch's are "alarm")


def number(value: float | None) -> str:
    """A rule's value or threshold as the Alerts page shows it (4 significant digits), "–" when there is none."""
    return "–" if value is None or pd.isna(value) else f"{float(value):.4g}"


def _alert_rows(a, start: datetime, end: datetime) -> list[dict]:
    """An alert episode's fired and resolved transitions inside [start, end), as timeline rows."""
    rows = []
    limit = f"{a.comparison} {number(a.threshold)}"
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    if pd.notna(a.fired_at) and lo <= a.fired_at < hi:
        rows.append({"time": a.fired_at, "kind": ALERT_KIND,
                     "what": f"{a.rule} fired ({a.severity}): value {number(a.fired_value)}, threshold {limit}",
                     "detail": a.description or ""})
    if pd.notna(a.fired_at) and pd.notna(a.resolved_at) and lo <= a.resolved_at < hi:
        now = f"value {number(a.value)}" if pd.notna(a.value) else "no longer in the rule's result"
        rows.append({"time": a.resolved_at, "kind": ALERT_KIND,
                     "what": f"{a.rule} resolved: {now}, threshold {limit}", "detail": a.description or ""})
    return rows


def incident_timeline(account: str, region: str, name: str, start: datetime, end: datetime,
                      team: str | None = None) -> pd.DataFrame:
    """Everything that happened to an endpoint in [start, end), time-ordered: time, kind, what, detail. Kinds: the
    change kinds of ``config_events`` (deploy, rollback, create, config, scaling), alarm (a CloudWatch alarm's state
    change), sextant alert (one of Sextant's own alerts fired or resolved), error logs, cost spike."""
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
    for a in alert_episodes(account, region, name, start, end).itertuples():
        rows += _alert_rows(a, start, end)
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


def alarm_periods(f: Filters, days: int = 7, merge: timedelta = timedelta(minutes=30)) -> pd.DataFrame:
    """Recent incidents: ALARM periods of endpoint alarms in the ``days`` to the range end, merged per endpoint
    when they overlap or start within ``merge`` of each other; newest first.

    Columns: endpoint_name, start, end (NULL while still in ALARM), state (ongoing/resolved), minutes,
    alarms (names), account_id, region.
    """
    cols = ["endpoint_name", "start", "end", "state", "minutes", "alarms", "account_id", "region"]
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


def ongoing_alarms(f: Filters) -> pd.DataFrame:
    """Endpoint alarms in ALARM now, on endpoints in scope, the newest to fire first: endpoint_name, alarm_name,
    since (when it entered ALARM), metric_name, account_id, region. The first is the incident on call opens."""
    cols = ["endpoint_name", "alarm_name", "since", "metric_name", "account_id", "region"]
    where, params = f.where("e")
    df = query(f"""
        SELECT a.endpoint_name, a.alarm_name, a.state_updated_at AS since, a.metric_name, a.account_id, a.region
        FROM aws_cloudwatch_alarm a
        JOIN aws_sagemaker_endpoint e
          ON e.account_id = a.account_id AND e.region = a.region AND e.endpoint_name = a.endpoint_name
        WHERE a.state_value = 'ALARM' AND {where}
        ORDER BY a.state_updated_at DESC NULLS LAST, a.endpoint_name, a.alarm_name""", params)  # noqa: S608
    return _utc(_or_empty(df, cols), "since")[cols]


def alarm_intervals(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The intervals in which each alarm watching an endpoint was in ALARM, overlapping [start, end), oldest first.

    From the stored state changes (history and observed) and the alarm's state now: an interval opens at a change to
    ALARM and closes at the next change to another state; one still open is ongoing. Columns: alarm_name, start and
    end (clipped to the window, for a chart), since and until (unclipped; until is NaT while ongoing), ongoing."""
    cols = ["alarm_name", "start", "end", "since", "until", "ongoing"]
    df = _utc(_or_empty(query("""
        SELECT c.alarm_name, c.ts, c.new_state FROM aws_cloudwatch_alarm_state_change c
        JOIN aws_cloudwatch_alarm a USING (account_id, region, alarm_name)
        WHERE a.account_id = ? AND a.region = ? AND a.endpoint_name = ?
        UNION
        SELECT alarm_name, state_updated_at, state_value FROM aws_cloudwatch_alarm
        WHERE account_id = ? AND region = ? AND endpoint_name = ? AND state_updated_at IS NOT NULL
        ORDER BY alarm_name, ts""", [account, region, name] * 2), ["alarm_name", "ts", "new_state"]), "ts")
    rows = []
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    for alarm, changes in df.groupby("alarm_name", sort=True):
        opened = None
        for ts, state in changes[["ts", "new_state"]].itertuples(index=False, name=None):
            if state == "ALARM" and opened is None:
                opened = ts
            elif state != "ALARM" and opened is not None:
                rows.append((alarm, opened, ts))
                opened = None
        if opened is not None:
            rows.append((alarm, opened, pd.NaT))
    out = pd.DataFrame(rows, columns=["alarm_name", "since", "until"])
    if out.empty:
        return pd.DataFrame(columns=cols)
    out = _utc(out, "since", "until")
    out = out[(out.since < hi) & (out.until.isna() | (out.until > lo))].copy()
    out["ongoing"] = out.until.isna()
    out["start"] = out.since.where(out.since > lo, lo)
    until = out.until.fillna(hi)
    out["end"] = until.where(until < hi, hi)
    return out.sort_values(["start", "alarm_name"], kind="stable")[cols].reset_index(drop=True)


ALERT_EPISODE_COLUMNS = ["rule", "severity", "state", "started_at", "fired_at", "resolved_at", "start", "end",
                         "fired_value", "value", "comparison", "threshold", "description", "resource", "episode"]


def alert_episodes(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """Sextant's own alerts about an endpoint (``sextant_alert``: rules over the store, docs/ALERTS.md), one row per
    episode that overlaps [start, end), oldest first.

    An episode's times come from its state changes (``sextant_alert_event``), and for the alert's current episode
    from the alert itself where the changes lack one. Columns: rule, severity, state (pending, firing, resolved,
    inactive: this episode's), started_at (first breach), fired_at (NaT if it never fired), resolved_at (NaT while
    active), start and end (the firing part clipped to the window, for a chart; NaT for an episode that never
    fired), fired_value (the rule's value when it fired), value (the value at the episode's last change, or the
    latest evaluation's for the current episode), comparison, threshold, description (the rule's), resource,
    episode. Severity, comparison and threshold are the alert's at its last evaluation."""
    df = query("""
        WITH a AS (SELECT * FROM sextant_alert WHERE account_id = ? AND region = ? AND endpoint_name = ?),
        ev AS (
            SELECT e.rule, e.resource, e.episode,
                   min(e.changed_at) FILTER (WHERE e.to_state = 'pending') AS started_at,
                   min(e.changed_at) FILTER (WHERE e.to_state = 'firing') AS fired_at,
                   min(e.changed_at) FILTER (WHERE e.to_state IN ('resolved', 'inactive')) AS resolved_at,
                   any_value(e.value) FILTER (WHERE e.to_state = 'firing') AS fired_value,
                   arg_max(e.value, e.changed_at) AS last_value,
                   arg_max(e.to_state, e.changed_at) AS last_state
            FROM sextant_alert_event e JOIN a ON a.rule = e.rule AND a.resource = e.resource
            GROUP BY e.rule, e.resource, e.episode),
        cur AS (SELECT rule, resource, episode, state, started_at, fired_at, resolved_at, value FROM a),
        eps AS (
            SELECT rule, resource, episode,
                   CASE WHEN cur.state IS NOT NULL THEN cur.state ELSE ev.last_state END AS state,
                   coalesce(cur.started_at, ev.started_at, cur.fired_at, ev.fired_at) AS started_at,
                   coalesce(cur.fired_at, ev.fired_at) AS fired_at,
                   coalesce(cur.resolved_at, ev.resolved_at) AS resolved_at,
                   coalesce(ev.fired_value, CASE WHEN cur.state = 'firing' THEN cur.value END) AS fired_value,
                   CASE WHEN cur.state IS NOT NULL THEN cur.value ELSE ev.last_value END AS value
            FROM ev FULL JOIN cur USING (rule, resource, episode))
        SELECT eps.rule, a.severity, eps.state, eps.started_at, eps.fired_at, eps.resolved_at, eps.fired_value,
               eps.value, a.comparison, a.threshold, r.description, eps.resource, eps.episode
        FROM eps JOIN a USING (rule, resource) LEFT JOIN sextant_alert_rule r USING (rule)
        WHERE eps.started_at < ? AND (eps.resolved_at IS NULL OR eps.resolved_at >= ?)
        ORDER BY coalesce(eps.fired_at, eps.started_at), eps.rule, eps.resource, eps.episode""",
                [account, region, name, end, start])
    cols = [c for c in ALERT_EPISODE_COLUMNS if c not in ("start", "end")]
    df = _utc(_or_empty(df, cols), "started_at", "fired_at", "resolved_at")
    lo, hi = pd.Timestamp(start), pd.Timestamp(end)
    fired = df.fired_at.notna() & (df.fired_at < hi)
    df["start"] = df.fired_at.where(df.fired_at > lo, lo).where(fired)
    until = df.resolved_at.fillna(hi)
    df["end"] = until.where(until < hi, hi).where(fired)
    return _utc(df, "start", "end")[ALERT_EPISODE_COLUMNS].reset_index(drop=True)


def fired_alarms(account: str, region: str, name: str, start: datetime, end: datetime) -> pd.DataFrame:
    """The alarms watching an endpoint that were in ALARM at some time in [start, end): those still in ALARM first,
    then the latest to fire. Columns of :func:`dashboard.queries.endpoints.alarms` (thresholds in the pages' units,
    the chart of the metric and the threshold in its unit), plus fired_at (the latest entry into ALARM that
    overlaps the window) and alarm_minutes (minutes in ALARM inside the window)."""
    al = alarms(account, region, name)
    periods = alarm_intervals(account, region, name, start, end)
    cols = [*al.columns, "fired_at", "alarm_minutes"]
    if al.empty or periods.empty:
        return pd.DataFrame(columns=cols)
    per = periods.assign(minutes=(periods.end - periods.start).dt.total_seconds() / 60).groupby("alarm_name").agg(
        fired_at=("since", "max"), alarm_minutes=("minutes", "sum"), ongoing=("ongoing", "any"))
    out = al.merge(per, left_on="alarm_name", right_index=True)
    out["alarm_minutes"] = out.alarm_minutes.round()
    out = out.sort_values(["ongoing", "fired_at", "alarm_name"], ascending=[False, False, True], kind="stable")
    return out[cols].reset_index(drop=True)
