"""The endpoint detail's Alarms tab on a tiny store (fast tier): the recommended CloudWatch alarms with the state the
store has for each, for everyone; the control that creates them (topic box and button) for operators only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from actions.roles import Actor
from dashboard import action_ui, auth
from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture

ACCOUNT = {"account_id": "111111111111", "region": "us-east-1"}
NAME = "gpu-ep"
TOPIC = "arn:aws:sns:us-east-1:111111111111:ml-oncall"
MANAGED = f"sextant-{NAME}-AllTraffic-5xx"
END = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
START = END - timedelta(hours=3)
OPERATOR = Actor("olu@corp.example", "operator")
VIEWER = Actor("ana@corp.example", "viewer")


def _store(tiny_store) -> None:  # noqa: F811
    series = {**ACCOUNT, "series_id": "s-p99", "namespace": "AWS/SageMaker", "metric_name": "ModelLatency",
              "endpoint_name": NAME, "variant_name": "AllTraffic", "unit": "Microseconds", "stats": "p99"}
    hourly = [{**ACCOUNT, "series_id": "s-p99", "stat": "p99", "hour": END - timedelta(hours=h), "value": 40_000.0,
               "points": 60, "period_s": 60} for h in range(1, 48)]
    tiny_store(
        aws_sagemaker_endpoint=[{**ACCOUNT, "endpoint_name": NAME, "status": "InService", "team": "vision",
                                 "endpoint_config_name": f"{NAME}-1", "creation_time": START - timedelta(days=3)}],
        aws_sagemaker_endpoint_variant=[{**ACCOUNT, "endpoint_name": NAME, "variant_name": "AllTraffic",
                                         "instance_type": "ml.g5.xlarge", "current_instance_count": 1}],
        aws_cloudwatch_metric_series=[series],
        aws_cloudwatch_metric_hourly=hourly,
        aws_cloudwatch_alarm=[{**ACCOUNT, "alarm_name": MANAGED, "endpoint_name": NAME, "variant_name": "AllTraffic",
                               "namespace": "AWS/SageMaker", "metric_name": "Invocation5XXErrors",
                               "statistic": "Sum", "threshold": 10.0, "comparison_operator": "GreaterThanThreshold",
                               "period_s": 300, "evaluation_periods": 1, "state_value": "OK",
                               "state_updated_at": START}],
    )


def _open(tiny_store, tmp_path, monkeypatch, actor: Actor) -> AppTest:  # noqa: F811
    _store(tiny_store)
    config = tmp_path / "sextant.toml"
    config.write_text(f'[alerts.channels.oncall]\ntype = "sns"\ntarget = "{TOPIC}"\n')
    monkeypatch.setenv("SEXTANT_CONFIG", str(config))
    monkeypatch.setattr(auth, "current_actor", lambda settings=None: actor)
    monkeypatch.setattr(action_ui, "current_actor", lambda settings=None: actor)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params.update({"endpoint": NAME, "start": START.isoformat(), "end": END.isoformat(), "tab": "Alarms"})
    at.run()
    at.switch_page("../pages/endpoints.py").run()
    assert not at.exception, at.exception
    return at


def _recommended(at: AppTest):
    return next(d.value for d in at.dataframe if "watches" in d.value.columns)


@pytest.mark.parametrize("actor, offered", [(OPERATOR, True), (VIEWER, False)], ids=["operator", "viewer"])
def test_everyone_sees_the_recommendation_and_only_an_operator_the_control(tiny_store, tmp_path, monkeypatch,  # noqa: F811
                                                                             actor, offered):
    at = _open(tiny_store, tmp_path, monkeypatch, actor)
    rec = _recommended(at)
    assert rec.alarm_name.tolist() == [f"sextant-{NAME}-AllTraffic-{k}"
                                       for k in ("p99-latency", "5xx", "zero-invocations", "gpu-memory")]
    state = dict(zip(rec.alarm_name, rec.state, strict=True))
    assert state[MANAGED] == "OK" and state[f"sextant-{NAME}-AllTraffic-p99-latency"] == "not created"
    assert "120 ms" in rec.watches.iloc[0]  # the 40 ms baseline × p99_baseline_factor 3
    assert any("$0.40 a month" in c.value.replace("\\", "") for c in at.caption)  # ui.plain escapes $
    labels = [b.label for b in at.button]
    assert (action_ui.ALARMS_LABEL in labels) is offered
    assert (action_ui.DELETE_ALARMS_LABEL in labels) is offered  # a managed alarm is in the store
    topics = [t for t in at.text_input if t.key == "ep_rec_alarms_topic"]
    assert [t.value for t in topics] == ([TOPIC] if offered else [])  # the [alerts] SNS channel's topic
