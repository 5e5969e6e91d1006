"""Incident timeline: yesterday's incident on the fraud scorer, in time order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

INCIDENT = "fraud-txn-scorer-prod"


def _timeline(app):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=1)
    at = app("pages/incident.py", resource=INCIDENT, start=start.isoformat(), end=today.isoformat())
    return start, next(d.value for d in at.dataframe if "what" in d.value.columns)


def test_incident_lists_deploy_scaling_alarm_and_error_events_in_time_order(app):
    start, tl = _timeline(app)
    assert {"deploy", "rollback", "scaling", "alarm", "error logs"} <= set(tl.kind)
    assert tl.time.is_monotonic_increasing
    first = {k: tl[tl.kind == k].time.min() for k in ("deploy", "alarm", "error logs", "rollback")}
    # the bad deploy precedes the errors and the alarms; the rollback follows them
    assert first["deploy"] < first["error logs"] < first["alarm"] < first["rollback"]
    assert start + timedelta(hours=13, minutes=30) <= first["deploy"] < start + timedelta(hours=14)


def test_incident_events_match_the_store(app, demo_store):
    start, tl = _timeline(app)
    alarms = demo_store.query(
        "SELECT c.ts FROM aws_cloudwatch_alarm_state_change c JOIN aws_cloudwatch_alarm a USING "
        "(account_id, region, alarm_name) WHERE a.endpoint_name = ? AND c.ts >= ? AND c.ts < ?",
        [INCIDENT, start, start + timedelta(days=1)])
    scaling = demo_store.query(
        "SELECT end_time FROM aws_application_autoscaling_activity WHERE endpoint_name = ? "
        "AND end_time >= ? AND end_time < ?", [INCIDENT, start, start + timedelta(days=1)])
    assert (tl.kind == "alarm").sum() == len(alarms) > 0
    assert (tl.kind == "scaling").sum() == len(scaling) > 0
