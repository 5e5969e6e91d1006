"""Collection: freshness of every source and the self-cost meter's monthly projection."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import collectors


def test_every_source_has_a_freshness_status(app):
    at = app("pages/collection.py")
    fresh = next(d.value for d in at.dataframe if {"source", "status", "age"} <= set(d.value.columns))
    assert set(fresh.source) >= {s.NAME for s in collectors.SOURCES}
    assert fresh.status.str.contains("fresh|late|stale|failing|never").all()
    assert fresh.age.ne("–").all()  # every source has run in the session's store


def test_monthly_projection_is_the_last_day_of_runs_times_thirty(app, demo_store):
    at = app("pages/collection.py")
    since = datetime.now(UTC) - timedelta(days=1)
    [(day,)] = demo_store.query(
        "SELECT sum(estimated_cost_usd) FROM sextant_collection_run WHERE started_at >= ?", [since])
    assert day > 0  # Cost Explorer requests are billed
    shown = next(m for m in at.metric if m.label == "Projected per month").value
    assert abs(float(shown.replace("$", "").replace(",", "")) - day * 30) <= 0.005
