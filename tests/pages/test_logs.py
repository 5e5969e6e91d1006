"""Logs page: the search the endpoint page links to finds the incident's errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

INCIDENT = "fraud-txn-scorer-prod"


def test_error_search_on_the_incident_endpoint_returns_the_incident_window(app, demo_store):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    lo, hi = today - timedelta(hours=10), today - timedelta(hours=8, minutes=50)  # yesterday 14:00-15:10
    at = app("pages/logs.py", resource=INCIDENT, level="ERROR", range="7d")
    rows = next(d.value for d in at.dataframe if "message" in d.value.columns)
    (stored,) = demo_store.query("SELECT count(*) FROM aws_logs_event WHERE endpoint_name = ? AND level = 'ERROR' "
                                 "AND ts >= now() - INTERVAL 7 DAY", [INCIDENT])[0]
    assert len(rows) == stored > 0
    assert set(rows.level) == {"ERROR"} and set(rows.resource) == {INCIDENT}
    assert rows.ts.min() >= lo and rows.ts.max() < hi


def test_text_search_narrows_the_rows(app):
    at = app("pages/logs.py", resource=INCIDENT, level="ERROR", range="7d", q="WORKER TIMEOUT")
    rows = next(d.value for d in at.dataframe if "message" in d.value.columns)
    assert len(rows) > 0 and rows.message.str.contains("WORKER TIMEOUT", case=False).all()
