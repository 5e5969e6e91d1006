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


def test_the_store_size_on_disk_is_shown(app, demo_store):
    at = app("pages/collection.py")
    caption = next(c.value for c in at.caption if c.value.startswith("Store on disk:"))
    assert "published snapshot(s)" in caption and "collector's file" in caption


def test_a_partial_source_shows_as_partial_with_the_failed_operation_and_its_hint(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from sextant.store import Writer
    from tests.conftest import APP

    now = datetime.now(UTC)
    error = "application-autoscaling:DescribeScalingActivities: AccessDeniedException (not authorized)"
    hint = "grant application-autoscaling:DescribeScalingActivities to the collector's role"
    writer = Writer(tmp_path / "store")
    try:
        collectors.migrate(writer)
        with writer.transaction():
            for source, status in (("application_autoscaling", "partial"), ("sagemaker_endpoints", "succeeded")):
                writer.record_run(run_id="r1", source=source, account_id="123456789012", region="us-east-1",
                                  started_at=now - timedelta(seconds=5), ended_at=now, status=status, rows=3,
                                  api_calls=3, estimated_cost_usd=0.0,
                                  error=error if status == "partial" else None,
                                  hint=hint if status == "partial" else None)
        writer.publish()
    finally:
        writer.close()
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("../pages/collection.py").run()
    assert not at.exception, at.exception
    fresh = next(d.value for d in at.dataframe if {"source", "status", "age"} <= set(d.value.columns))
    row = fresh.set_index("source").loc["application_autoscaling"]
    assert (row.status, row.last_error, row.last_hint) == ("partial", error, hint)
    assert any("Partial: application_autoscaling" in i.value for i in at.info)
    runs = next(d.value for d in at.dataframe if "partial" in d.value.columns and "run_id" in d.value.columns)
    assert runs.partial.tolist() == [1]
