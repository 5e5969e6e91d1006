"""Endpoints page: the table of every endpoint, and the detail that shows yesterday's incident; on a tiny store,
Sextant's own alerts drawn on the detail's charts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture

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


# ---------------------------------------------------------------------- Sextant's alerts on the detail's charts (tiny)

ACCT = {"account_id": "111111111111", "region": "us-east-1"}
EP = "fraud-ep"
RES = f"111111111111/us-east-1/{EP}"
W_END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
W_START = W_END - timedelta(hours=3)
FIRED, RESOLVED = W_START + timedelta(minutes=30), W_START + timedelta(minutes=50)  # the 5xx alert's first episode
FIRED_AGAIN = W_START + timedelta(minutes=140)  # its second, firing now
P99_FIRED = W_START + timedelta(minutes=35)  # a p99 alert, firing now


def _ep_points(sid: str, stat: str, value: float) -> list[dict]:
    return [{**ACCT, "series_id": sid, "stat": stat, "period_s": 60, "ts": W_START + timedelta(minutes=i),
             "value": value + i % 3} for i in range(0, 180, 5)]


def _sextant_alert(rule: str, severity: str, episode: int, started: datetime, value: float) -> dict:
    return {"rule": rule, "resource": RES, "episode": episode, "state": "firing", "severity": severity,
            "value": value, "threshold": 0.05 if rule == "endpoint_5xx_rate" else 3.0, "comparison": ">", **ACCT,
            "team": "risk", "endpoint_name": EP, "name": EP, "started_at": started, "fired_at": started,
            "last_evaluated_at": W_END}


def _step(rule: str, episode: int, to: str, at: datetime, value: float | None) -> dict:
    return {"rule": rule, "resource": RES, "episode": episode, "to_state": to, "changed_at": at, "value": value}


def _alerted_store(tiny_store, *, alerts: bool = True) -> None:  # noqa: F811
    series = [{**ACCT, "series_id": sid, "namespace": "AWS/SageMaker", "metric_name": metric, "endpoint_name": EP,
               "variant_name": "AllTraffic", "unit": unit, "stats": stat}
              for sid, metric, stat, unit in (("s-p99", "ModelLatency", "p99", "Microseconds"),
                                              ("s-5xx", "Invocation5XXErrors", "Sum", "None"))]
    rows = {}
    if alerts:
        rows = {"sextant_alert": [_sextant_alert("endpoint_5xx_rate", "critical", 2, FIRED_AGAIN, 0.2),
                                  _sextant_alert("endpoint_p99_over_baseline", "warning", 1, P99_FIRED, 4.5)],
                "sextant_alert_event": [
                    _step("endpoint_5xx_rate", 1, "pending", FIRED, 0.12),
                    _step("endpoint_5xx_rate", 1, "firing", FIRED, 0.12),
                    _step("endpoint_5xx_rate", 1, "resolved", RESOLVED, 0.01),
                    _step("endpoint_5xx_rate", 2, "pending", FIRED_AGAIN, 0.2),
                    _step("endpoint_5xx_rate", 2, "firing", FIRED_AGAIN, 0.2),
                    _step("endpoint_p99_over_baseline", 1, "pending", P99_FIRED, 4.5),
                    _step("endpoint_p99_over_baseline", 1, "firing", P99_FIRED, 4.5)],
                "sextant_alert_rule": [{"rule": "endpoint_5xx_rate", "description": "<b>5xx</b> share of invocations",
                                        "severity": "critical", "threshold": 0.05, "comparison": ">"}]}
    tiny_store(
        aws_sagemaker_endpoint=[{**ACCT, "endpoint_name": EP, "status": "InService", "team": "risk",
                                 "endpoint_config_name": f"{EP}-1", "creation_time": W_START - timedelta(days=3)}],
        aws_sagemaker_endpoint_variant=[{**ACCT, "endpoint_name": EP, "variant_name": "AllTraffic",
                                         "instance_type": "ml.m5.large", "current_instance_count": 1}],
        aws_cloudwatch_metric_series=series,
        aws_cloudwatch_metric_point=_ep_points("s-p99", "p99", 40_000.0) + _ep_points("s-5xx", "Sum", 1.0),
        **rows)


def _detail(zone: str | None = None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.context = {"timezone": zone}
    at.query_params.update({"endpoint": EP, "start": W_START.isoformat(), "end": W_END.isoformat(), **query})
    at.run()
    at.switch_page("../pages/endpoints.py").run()
    assert not at.exception, at.exception
    return at


def _strips(fig: dict) -> list[dict]:
    """The alert strips: rectangles in lanes under the data, placed on the figure (an ALARM period is shaded on the
    y axis's whole domain)."""
    return [s for s in fig["layout"].get("shapes", []) if s["type"] == "rect" and s.get("yref") == "paper"]


def _legend(fig: dict) -> list[str]:
    return [t.get("name") for t in fig["data"] if str(t.get("name", "")).startswith("Sextant alert")]


def _as_utc(x) -> pd.Timestamp:
    """A chart's x as UTC (naive values are UTC: the axis of a viewer in UTC)."""
    t = pd.Timestamp(x)
    return t.tz_localize(UTC) if t.tzinfo is None else t.tz_convert(UTC)


@pytest.mark.parametrize("title", ["ModelLatency percentiles", "Errors"])
def test_the_detail_charts_draw_sextants_alert_episodes_from_firing_to_resolved(tiny_store, title):  # noqa: F811
    _alerted_store(tiny_store)
    at = _detail()
    fig = _figure(at, title)
    strips = sorted(_strips(fig), key=lambda s: _as_utc(s["x0"]))
    # three episodes: the 5xx alert's resolved one and its current one, the p99 alert's; each rule has its lane
    assert [(_as_utc(s["x0"]), _as_utc(s["x1"])) for s in strips] == [
        (pd.Timestamp(FIRED), pd.Timestamp(RESOLVED)), (pd.Timestamp(P99_FIRED), pd.Timestamp(W_END)),
        (pd.Timestamp(FIRED_AGAIN), pd.Timestamp(W_END))]
    assert strips[0]["y0"] == strips[2]["y0"] != strips[1]["y0"]
    # in lanes between the time axis and the data: a strip never hides a line
    data = fig["layout"]["yaxis"]["domain"]
    assert all(fig["layout"]["xaxis"]["position"] <= s["y0"] < s["y1"] <= data[0] for s in strips)
    assert [s["fillcolor"] for s in strips] == ["#cf222e", "#bf8700", "#cf222e"]  # critical red, warning amber
    assert sorted(_legend(fig)) == ["Sextant alert, critical", "Sextant alert, warning"]
    hovers = [a["hovertext"] for a in fig["layout"]["annotations"] if a.get("text", "").startswith("⚠")]
    assert len(hovers) == 3
    first = next(h for h in hovers if f"fired {FIRED:%Y-%m-%d %H:%M} UTC" in h)
    assert "endpoint_5xx_rate (critical)" in first and f"resolved {RESOLVED:%Y-%m-%d %H:%M} UTC" in first
    assert "value 0.12 when it fired, threshold &gt; 0.05" in first
    assert "&lt;b&gt;5xx&lt;/b&gt; share" in first and "<b>5xx" not in first  # the rule's text is escaped
    assert "still firing" in next(h for h in hovers if "endpoint_p99_over_baseline (warning)" in h)
    assert any("Strips under the lines: 3 episodes of Sextant's own alerts" in c.value for c in at.caption)


def test_alert_strips_follow_the_viewers_zone(tiny_store):  # noqa: F811
    _alerted_store(tiny_store)
    at = _detail("Europe/Berlin", tz="Europe/Berlin")
    strips = _strips(_figure(at, "ModelLatency percentiles"))
    local = pd.Timestamp(FIRED).tz_convert("Europe/Berlin").tz_localize(None)
    assert local in {pd.Timestamp(s["x0"]) for s in strips}
    hovers = " ".join(a.get("hovertext", "") for a in _figure(at, "ModelLatency percentiles")["layout"]["annotations"])
    assert f"fired {local:%Y-%m-%d %H:%M} Europe/Berlin" in hovers


def test_without_sextant_alerts_the_detail_charts_draw_no_strips(tiny_store):  # noqa: F811
    _alerted_store(tiny_store, alerts=False)
    at = _detail()
    for title in ("ModelLatency percentiles", "Errors"):
        fig = _figure(at, title)
        assert _strips(fig) == [] and _legend(fig) == []
        assert fig["layout"]["yaxis"].get("domain", [0, 1]) == [0, 1]  # no lanes kept for them
        assert not any(a.get("text", "").startswith("⚠") for a in fig["layout"].get("annotations", []))
    assert not any("Strips under the lines" in c.value for c in at.caption)
