"""The endpoint detail on a tiny store (fast tier): only the open tab is built, and each chart of a metric an alarm
watches shades the periods that alarm was in ALARM."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture

ACCOUNT = {"account_id": "111111111111", "region": "us-east-1"}
NAME = "gpu-ep"
ALARM = "gpu-ep-gpu-hot"
INST = "/aws/sagemaker/Endpoints"
END = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=5)
START = END - timedelta(hours=3)
FIRED, CLEARED, AGAIN = START + timedelta(minutes=40), START + timedelta(minutes=70), START + timedelta(minutes=150)
DEPLOYED = START + timedelta(minutes=100)


def _series(sid: str, namespace: str, metric: str, stat: str, unit: str) -> dict:
    return {**ACCOUNT, "series_id": sid, "namespace": namespace, "metric_name": metric, "endpoint_name": NAME,
            "variant_name": "AllTraffic", "unit": unit, "stats": stat}


def _points(sid: str, stat: str, value: float) -> list[dict]:
    return [{**ACCOUNT, "series_id": sid, "stat": stat, "period_s": 60, "ts": START + timedelta(minutes=i),
             "value": value + i % 7} for i in range(0, 180, 5)]


def _store(tiny_store, *, alarmed: bool = True) -> None:  # noqa: F811
    alarm = {**ACCOUNT, "alarm_name": ALARM, "endpoint_name": NAME, "namespace": INST,
             "metric_name": "GPUUtilization", "statistic": "Average", "threshold": 55.0,
             "comparison_operator": "GreaterThanThreshold", "period_s": 300, "evaluation_periods": 3,
             "state_value": "ALARM", "state_updated_at": AGAIN}
    changes = [{**ACCOUNT, "alarm_name": ALARM, "ts": t, "old_state": old, "new_state": new}
               for t, old, new in ((FIRED, "OK", "ALARM"), (CLEARED, "ALARM", "OK"), (AGAIN, "OK", "ALARM"))]
    variants = json.dumps([{"variant_name": "AllTraffic", "model_name": "m", "instance_type": "ml.g5.xlarge",
                            "initial_instance_count": 1}])
    tiny_store(
        aws_sagemaker_endpoint=[{**ACCOUNT, "endpoint_name": NAME, "status": "InService", "team": "vision",
                                 "endpoint_config_name": f"{NAME}-2", "creation_time": START - timedelta(days=3)}],
        aws_sagemaker_endpoint_config=[  # created 3 days ago, deployed again inside the window
            {**ACCOUNT, "endpoint_config_name": f"{NAME}-1", "creation_time": START - timedelta(days=3),
             "variants": variants},
            {**ACCOUNT, "endpoint_config_name": f"{NAME}-2", "creation_time": DEPLOYED,
             "variants": variants.replace('"m"', '"m2"')}],
        aws_sagemaker_endpoint_variant=[{**ACCOUNT, "endpoint_name": NAME, "variant_name": "AllTraffic",
                                         "instance_type": "ml.g5.xlarge", "current_instance_count": 1}],
        aws_cloudwatch_metric_series=[_series("s-gpu", INST, "GPUUtilization", "Average", "Percent"),
                                      _series("s-p99", "AWS/SageMaker", "ModelLatency", "p99", "Microseconds")],
        aws_cloudwatch_metric_point=_points("s-gpu", "Average", 50.0) + _points("s-p99", "p99", 40_000.0),
        aws_cloudwatch_alarm=[alarm] if alarmed else [],
        aws_cloudwatch_alarm_state_change=changes if alarmed else [],
    )


def _open(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"endpoint": NAME, "start": START.isoformat(), "end": END.isoformat(), **query})
    at.run()
    at.switch_page("../pages/endpoints.py").run()
    assert not at.exception, at.exception
    return at


def _charts(at: AppTest) -> dict[str, dict]:
    """The page's Plotly figures by title."""
    out = {}
    for el in at.get("plotly_chart"):
        fig = json.loads(el.proto.spec)
        title = fig["layout"].get("title", {})
        out[title.get("text", "") if isinstance(title, dict) else str(title)] = fig
    return out


def _shaded(fig: dict) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    return [(pd.Timestamp(s["x0"]), pd.Timestamp(s["x1"])) for s in fig["layout"].get("shapes", [])
            if s["type"] == "rect"]


def _utc(t: pd.Timestamp) -> pd.Timestamp:
    return t.tz_localize(UTC) if t.tzinfo is None else t.tz_convert(UTC)


def test_the_detail_builds_only_the_open_tab(tiny_store):  # noqa: F811
    _store(tiny_store)
    at = _open()
    assert [t.label for t in at.tabs] == ["Latency & traffic", "Utilization", "Capacity", "Changes", "Alarms",
                                          "Logs", "Variants"]
    assert set(_charts(at)) == {"ModelLatency percentiles"}  # the GPU chart of the closed Utilization tab is not built
    assert not any("alarm_name" in d.value.columns for d in at.dataframe)  # nor the Alarms tab's table

    at = _open(tab="Alarms")
    assert _charts(at) == {}
    alarms = next(d.value for d in at.dataframe if "alarm_name" in d.value.columns)
    assert alarms.alarm_name.tolist() == [ALARM]


def test_the_chart_of_an_alarmed_metric_shades_its_alarm_periods(tiny_store):  # noqa: F811
    _store(tiny_store)
    gpu = _charts(_open(tab="Utilization"))["GPU utilization (average per instance)"]
    shaded = sorted((_utc(a), _utc(b)) for a, b in _shaded(gpu))
    assert shaded == [(pd.Timestamp(FIRED), pd.Timestamp(CLEARED)), (pd.Timestamp(AGAIN), pd.Timestamp(END))]
    assert f"{ALARM} in ALARM" in [t.get("name") for t in gpu["data"]]  # one legend entry says what is shaded
    assert any(s["type"] == "line" and s["y0"] == 55.0 for s in gpu["layout"]["shapes"])  # and its threshold


@pytest.mark.parametrize("alarmed", [True, False])
def test_a_chart_no_alarm_watches_is_not_shaded(tiny_store, alarmed):  # noqa: F811
    _store(tiny_store, alarmed=alarmed)
    latency = _charts(_open())["ModelLatency percentiles"]  # no alarm watches latency here
    assert _shaded(latency) == []
    gpu = _charts(_open(tab="Utilization"))["GPU utilization (average per instance)"]
    assert bool(_shaded(gpu)) is alarmed


# ---------------------------------------------------------------------- the zone times are shown in

BERLIN = "Europe/Berlin"


def _open_in(browser_zone: str | None, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.context = {"timezone": browser_zone}
    at.query_params.update({"endpoint": NAME, "start": START.isoformat(), "end": END.isoformat(), **query})
    at.run()
    at.switch_page("../pages/endpoints.py").run()
    assert not at.exception, at.exception
    return at


def _xs(fig: dict, name: str) -> pd.DatetimeIndex:
    trace = next(t for t in fig["data"] if t.get("name") == name)
    return pd.DatetimeIndex(pd.to_datetime(trace["x"]))


def _column(at: AppTest, column: str) -> dict:
    """The configuration of ``column`` in the first grid that shows it."""
    grid = next(d for d in at.dataframe if column in d.value.columns)
    return json.loads(grid.proto.columns)[column]


def test_times_are_in_utc_unless_the_viewer_picks_their_zone(tiny_store):  # noqa: F811
    _store(tiny_store)
    at = _open_in(BERLIN)
    picker = at.selectbox(key="f_zone")
    assert picker.value == "UTC" and picker.options == ["UTC", f"{BERLIN} (your browser)"]
    assert "tz" not in at.query_params
    latency = _charts(at)["ModelLatency percentiles"]
    assert latency["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    assert _xs(latency, "p99")[0] == pd.Timestamp(START).tz_localize(None)
    assert "window" in " ".join(c.value for c in at.caption) and f"{END:%Y-%m-%d %H:%M} UTC" in \
        " ".join(c.value for c in at.caption)


def test_the_viewers_zone_converts_the_charts_and_tables_and_names_the_zone(tiny_store):  # noqa: F811
    _store(tiny_store)
    at = _open_in(BERLIN, tab="Utilization")
    at.selectbox(key="f_zone").select(BERLIN).run()
    assert not at.exception, at.exception
    assert at.query_params["tz"] == BERLIN  # a link keeps it
    gpu = _charts(at)["GPU utilization (average per instance)"]
    local = pd.Timestamp(START).tz_convert(BERLIN).tz_localize(None)
    assert _xs(gpu, "GPU · AllTraffic")[0] == local  # wall-clock times of the zone on the axis
    assert gpu["layout"]["xaxis"]["title"]["text"] == f"time ({BERLIN})"
    shaded = sorted(_shaded(gpu))  # the ALARM periods move with the traces
    assert shaded[0] == (pd.Timestamp(FIRED).tz_convert(BERLIN).tz_localize(None),
                         pd.Timestamp(CLEARED).tz_convert(BERLIN).tz_localize(None))
    assert BERLIN in gpu["layout"]["title"]["subtitle"]["text"]  # the freshness line names the zone
    marks = [pd.Timestamp(m["x0"]) for m in gpu["layout"]["shapes"] if m["type"] == "line" and m["x0"] == m["x1"]]
    assert marks == [pd.Timestamp(DEPLOYED).tz_convert(BERLIN).tz_localize(None)]  # the deploy, on the same clock
    captions = " ".join(c.value for c in at.caption)
    assert f"{pd.Timestamp(END).tz_convert(BERLIN):%Y-%m-%d %H:%M} Europe/Berlin" in captions.replace("\\", "")

    at = _open_in(BERLIN, tab="Alarms", tz=BERLIN)  # a link that names the zone opens in it
    assert at.selectbox(key="f_zone").value == BERLIN
    since = _column(at, "state_updated_at")
    assert since["label"] == f"State since ({BERLIN})" and since["type_config"]["timezone"] == BERLIN
    alarms = next(d.value for d in at.dataframe if "alarm_name" in d.value.columns)
    assert alarms.state_updated_at.iloc[0] == pd.Timestamp(AGAIN)  # the data stays UTC: the grid converts


def test_an_unknown_zone_in_the_link_falls_back_to_utc_with_a_notice(tiny_store):  # noqa: F811
    _store(tiny_store)
    at = _open_in(BERLIN, tz="Mars/Olympus_Mons")
    assert at.selectbox(key="f_zone").value == "UTC"
    assert any("Unknown time zone" in w.value and "Olympus" in w.value for w in at.warning)
    assert "tz" not in at.query_params
    assert _charts(at)["ModelLatency percentiles"]["layout"]["xaxis"]["title"]["text"] == "time (UTC)"
    at.run()  # the notice stays through reruns...
    assert any("Unknown time zone" in w.value for w in at.warning)
    at.selectbox(key="f_zone").select(BERLIN).run()  # ...until the viewer picks a zone
    assert not any("Unknown time zone" in w.value for w in at.warning)
    assert at.query_params["tz"] == BERLIN


def test_the_incident_chart_follows_the_chosen_zone(tiny_store):  # noqa: F811
    _store(tiny_store)
    at = AppTest.from_file(APP, default_timeout=60)
    at.context = {"timezone": BERLIN}
    at.query_params.update({"resource": NAME, "start": START.isoformat(), "end": END.isoformat(), "tz": BERLIN})
    at.run()
    at.switch_page("../pages/incident.py").run()
    assert not at.exception, at.exception
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    gpu = next(t for t in fig["data"] if str(t.get("name", "")).startswith("GPU"))
    assert pd.Timestamp(gpu["x"][0]) == pd.Timestamp(START).tz_convert(BERLIN).tz_localize(None)
    assert sorted(_shaded(fig))[0][0] == pd.Timestamp(FIRED).tz_convert(BERLIN).tz_localize(None)
    assert any(a.get("title", {}).get("text") == f"time ({BERLIN})" for k, a in fig["layout"].items()
               if k.startswith("xaxis"))
    assert f"{pd.Timestamp(END).tz_convert(BERLIN):%Y-%m-%d %H:%M} Europe/Berlin" in \
        " ".join(c.value for c in at.caption).replace("\\", "")
