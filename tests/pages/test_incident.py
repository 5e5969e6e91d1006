"""Incident timeline: yesterday's incident on the fraud scorer, in time order; on a tiny store, Sextant's own alerts
on the chart and in the timeline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture
from tests.pages import test_endpoints as ep  # the tiny store with Sextant's alerts, and its helpers

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


def _chart(at) -> dict:
    (el,) = [el for el in at.get("plotly_chart") if "inc_chart" in str(el.proto.id)] or at.get("plotly_chart")[:1]
    return json.loads(el.proto.spec)


def test_without_a_link_it_opens_on_the_alarm_in_alarm_now_the_newest(app, demo_store):
    ongoing = demo_store.query(
        "SELECT endpoint_name, alarm_name FROM aws_cloudwatch_alarm WHERE state_value = 'ALARM' "
        "AND endpoint_name IS NOT NULL ORDER BY state_updated_at DESC, endpoint_name, alarm_name")
    assert ongoing, "the demo has alarms in ALARM (the idle shadow endpoint's at least)"
    at = app("pages/incident.py")
    assert at.selectbox(key="inc_resource").value == ongoing[0][0]
    assert at.query_params["alarm"] == [ongoing[0][1]] or at.query_params["alarm"] == ongoing[0][1]
    fig = _chart(at)
    shapes = fig["layout"].get("shapes", [])
    # the alarm's threshold is drawn, and the time it has been in ALARM is shaded
    assert any(s["type"] == "line" and s.get("y0") == s.get("y1") and s.get("xref", "").endswith("domain")
               for s in shapes)
    assert any(s["type"] == "rect" for s in shapes)
    assert ongoing[0][1] in json.dumps(fig["layout"]["title"])


def test_the_alarmed_metric_is_charted_with_its_threshold_in_ms_and_its_alarm_periods_shaded(app, demo_store):
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=1)
    ((alarm, threshold_us),) = demo_store.query(
        "SELECT alarm_name, threshold FROM aws_cloudwatch_alarm WHERE endpoint_name = ? "
        "AND metric_name = 'ModelLatency'", [INCIDENT])
    at = app("pages/incident.py", resource=INCIDENT, alarm=alarm, start=start.isoformat(), end=today.isoformat())
    fig = _chart(at)
    lines = [s for s in fig["layout"]["shapes"] if s["type"] == "line" and s.get("y0") == s.get("y1")]
    assert any(abs(s["y0"] - threshold_us / 1000) < 1e-6 for s in lines)  # ms, like the p99 line it sits on
    label = next(a["text"] for a in fig["layout"]["annotations"] if a["text"].startswith(alarm))
    assert f"{threshold_us / 1000:,.4g} ms" in label and "e+" not in label
    p99 = next(t for t in fig["data"] if str(t.get("name", "")).startswith("p99"))
    assert p99["line"]["color"] != "#1a7f37"  # never green
    # the shading covers the periods the store has the alarm in ALARM in the window
    changes = demo_store.query(
        "SELECT ts, new_state FROM aws_cloudwatch_alarm_state_change WHERE alarm_name = ? AND ts >= ? AND ts < ? "
        "ORDER BY ts", [alarm, start, today])
    entered = [ts for ts, state in changes if state == "ALARM"]
    rects = [s for s in fig["layout"]["shapes"] if s["type"] == "rect"]
    assert entered and {pd.Timestamp(r["x0"]).tz_localize(None) for r in rects} >= {
        pd.Timestamp(t).tz_convert(UTC).tz_localize(None) for t in entered}
    fired = next(d.value for d in at.dataframe if "alarm_minutes" in d.value.columns).set_index("alarm_name")
    assert fired.loc[alarm, "threshold"] == threshold_us / 1000 and fired.loc[alarm, "threshold_unit"] == "ms"


# ---------------------------------------------------------------------- Sextant's alerts (tiny store)

def _incident(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"resource": ep.EP, "start": ep.W_START.isoformat(), "end": ep.W_END.isoformat(), **query})
    at.run()
    at.switch_page("../pages/incident.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("alerts", [True, False])
def test_sextant_alerts_are_on_the_incident_chart_and_in_its_timeline(tiny_store, alerts):  # noqa: F811
    ep._alerted_store(tiny_store, alerts=alerts)
    at = _incident()
    fig = _chart(at)
    strips = ep._strips(fig)
    timeline = next((d.value for d in at.dataframe if "what" in d.value.columns), pd.DataFrame(columns=["kind"]))
    mine = timeline[timeline.kind == "sextant alert"]
    if not alerts:
        assert strips == [] and mine.empty
        assert not any("Sextant alert" in str(t.get("name")) for t in fig["data"])
        return
    # on the top panel, one strip per episode that fired, from firing to resolved (or the window's end)
    assert sorted((ep._as_utc(s["x0"]), ep._as_utc(s["x1"])) for s in strips) == [
        (pd.Timestamp(ep.FIRED), pd.Timestamp(ep.RESOLVED)), (pd.Timestamp(ep.P99_FIRED), pd.Timestamp(ep.W_END)),
        (pd.Timestamp(ep.FIRED_AGAIN), pd.Timestamp(ep.W_END))]
    top, below = fig["layout"]["yaxis"]["domain"], fig["layout"]["yaxis2"]["domain"]  # under the top panel's lines
    assert all(below[1] < s["y0"] < s["y1"] <= top[0] for s in strips) and {s["xref"] for s in strips} == {"x"}
    assert {"Sextant alert, critical", "Sextant alert, warning"} <= {t.get("name") for t in fig["data"]}
    # the timeline lists each firing and the resolution, in time order with the other events
    assert mine.time.tolist() == [pd.Timestamp(t) for t in (ep.FIRED, ep.P99_FIRED, ep.RESOLVED, ep.FIRED_AGAIN)]
    assert mine.what.iloc[0] == "endpoint_5xx_rate fired (critical): value 0.12, threshold > 0.05"
    assert mine.what.iloc[2] == "endpoint_5xx_rate resolved: value 0.01, threshold > 0.05"
    assert any("Strips under the top panel's lines: 3 episodes" in c.value for c in at.caption)
