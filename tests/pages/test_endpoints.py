"""Endpoints page: the table of every endpoint, and the detail that shows yesterday's incident."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

INCIDENT = "fraud-txn-scorer-prod"


def _yesterday() -> tuple[datetime, datetime]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=1), today


def _values(v) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array {dtype, bdata} (Plotly >= 6)."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _figure(at, title: str) -> dict:
    for el in at.get("plotly_chart"):
        fig = json.loads(el.proto.spec)
        if title in json.dumps(fig["layout"].get("title", "")):
            return fig
    raise AssertionError(f"no chart titled {title!r}")


def test_endpoints_page_lists_every_endpoint_aws_holds(app, account):
    names = {e["EndpointName"] for e in account.client("sagemaker").list_endpoints(MaxResults=100)["Endpoints"]}
    at = app("pages/endpoints.py")
    table = at.dataframe[0].value
    assert set(table["endpoint_name"]) == names
    assert (table["instances"] >= 1).all()


def test_every_collected_endpoint_is_listed_once(app, demo_store):
    stored = [r[0] for r in demo_store.query("SELECT endpoint_name FROM aws_sagemaker_endpoint")]
    table = app("pages/endpoints.py").dataframe[0].value
    assert sorted(table["endpoint_name"]) == sorted(stored)


def test_team_filter_in_the_url_narrows_the_table(app, account):
    at = app("pages/endpoints.py", team="fraud")
    table = at.dataframe[0].value
    assert set(table["team"]) == {"fraud"}
    assert len(table) >= 1


def test_p99_column_is_in_milliseconds(app, demo_store):
    """CloudWatch gives ModelLatency in microseconds; the table shows ms (a unit slip is a 1000x error)."""
    table = app("pages/endpoints.py").dataframe[0].value.set_index("endpoint_name")
    (median_us,) = demo_store.query(
        "SELECT median(p.value) FROM aws_cloudwatch_metric_point p JOIN aws_cloudwatch_metric_series s "
        "USING (account_id, region, series_id) WHERE s.endpoint_name = ? AND s.metric_name = 'ModelLatency' "
        "AND p.stat = 'p99' AND p.period_s = 60 AND p.ts >= now() - INTERVAL 24 HOUR", ["search-ranker-prod"])[0]
    shown = table.loc["search-ranker-prod", "p99_ms"]
    assert 0.5 * median_us / 1000 <= shown <= 2 * median_us / 1000


def test_idle_endpoint_shows_no_invocations(app, demo_store):
    table = app("pages/endpoints.py").dataframe[0].value.set_index("endpoint_name")
    assert table.loc["vision-defect-detector-shadow", "invocations_24h"] == 0
    assert table.loc["search-ranker-prod", "invocations_24h"] > 0


def test_incident_detail_shows_the_latency_spike(app):
    start, end = _yesterday()
    at = app("pages/endpoints.py", endpoint=INCIDENT, start=start.isoformat(), end=end.isoformat())
    fig = _figure(at, "ModelLatency percentiles")
    p99 = next(t for t in fig["data"] if t["name"] == "p99")
    s = pd.Series(_values(p99["y"]), index=pd.to_datetime(p99["x"], utc=True))
    inside = s[(s.index >= start + timedelta(hours=14)) & (s.index < start + timedelta(hours=15, minutes=10))]
    outside = s[(s.index < start + timedelta(hours=13, minutes=30)) | (s.index >= start + timedelta(hours=16))]
    assert inside.max() > 4 * outside.median()


def test_incident_detail_marks_the_deploy_and_the_rollback_at_their_config_times(app, demo_store):
    start, end = _yesterday()
    created = dict(demo_store.query(
        "SELECT endpoint_config_name, creation_time FROM aws_sagemaker_endpoint_config "
        "WHERE starts_with(endpoint_config_name, ?) AND creation_time >= ? AND creation_time < ?",
        [INCIDENT, start, end]))
    assert len(created) == 2
    at = app("pages/endpoints.py", endpoint=INCIDENT, start=start.isoformat(), end=end.isoformat())
    fig = _figure(at, "ModelLatency percentiles")
    marks = [a["text"] for a in fig["layout"].get("annotations", [])]
    assert any(m.startswith("deploy") for m in marks) and any(m.startswith("rollback") for m in marks)
    # the detail builds only the open tab: the list of changes is on the Changes tab
    at = app("pages/endpoints.py", endpoint=INCIDENT, start=start.isoformat(), end=end.isoformat(), tab="Changes")
    changes = next(d.value for d in at.dataframe if "kind" in d.value.columns and "label" in d.value.columns)
    marked = changes[changes.kind.isin(["deploy", "rollback"])]
    assert sorted(marked.time) == sorted(pd.Timestamp(t).tz_convert(UTC) for t in created.values())
    assert list(marked.sort_values("time").kind) == ["deploy", "rollback"]
