"""Managed CloudWatch alarms (issue 15, point 4): the recommended set of an endpoint created and updated through the
action layer, checked with describe_alarms and its tags; a dry run and a viewer write nothing; delete removes only
what Sextant manages. The plan's thresholds and cost are fast tests on a tiny input."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import actions as a
from actions.alarms import (
    DEFAULT_P99_MS,
    CreateRecommendedAlarms,
    DeleteManagedAlarms,
    monthly_cost,
    p99_threshold_ms,
    recommended,
)
from actions.audit import AuditLog
from sextant import prices
from sextant.aws import Clients
from sextant.settings import AccountSettings, AlertSettings, Settings
from tests.conftest import Account, start_account, stop_account

MAIN = "123456789012"
OPERATOR = a.Actor("oncall@example.com", "operator")
VIEWER = a.Actor("viewer@example.com", "viewer")
TOPIC = f"arn:aws:sns:us-east-1:{MAIN}:ml-oncall"
GPU_ENDPOINT = "nlp-summarizer-prod"  # AllTraffic on ml.g5.xlarge in the demo world
CPU_ENDPOINT = "fraud-txn-scorer-prod"  # AllTraffic on ml.m5.xlarge


# --------------------------------------------------------------------------- fast: the plan's logic


def test_the_recommended_set_per_variant_thresholds_and_units():
    specs = recommended("ep", [("A", "ml.g5.xlarge"), ("B", "ml.m5.large")], p99_ms=250.0, errors_5xx=7,
                        zero_minutes=30, had_traffic=True)
    by = {s.name: s for s in specs}
    assert sorted(by) == ["sextant-ep-A-5xx", "sextant-ep-A-gpu-memory", "sextant-ep-A-p99-latency",
                          "sextant-ep-A-zero-invocations", "sextant-ep-B-5xx", "sextant-ep-B-p99-latency",
                          "sextant-ep-B-zero-invocations"]
    p99 = by["sextant-ep-A-p99-latency"]
    assert (p99.namespace, p99.metric, p99.statistic, p99.threshold) == ("AWS/SageMaker", "ModelLatency", "p99",
                                                                         250_000.0)  # microseconds
    params = p99.params("ep", TOPIC)
    assert params["ExtendedStatistic"] == "p99" and "Statistic" not in params
    assert params["Dimensions"] == [{"Name": "EndpointName", "Value": "ep"}, {"Name": "VariantName", "Value": "A"}]
    assert params["AlarmActions"] == [TOPIC] and params["OKActions"] == [TOPIC]
    e5 = by["sextant-ep-B-5xx"]
    assert (e5.metric, e5.statistic, e5.comparison, e5.threshold, e5.period_s) == (
        "Invocation5XXErrors", "Sum", "GreaterThanThreshold", 7.0, 300)
    zero = by["sextant-ep-A-zero-invocations"]
    assert (zero.metric, zero.comparison, zero.threshold, zero.period_s, zero.treat_missing) == (
        "Invocations", "LessThanThreshold", 1.0, 1800, "breaching")
    gpu = by["sextant-ep-A-gpu-memory"]
    assert (gpu.namespace, gpu.metric, gpu.statistic, gpu.threshold) == (
        "/aws/sagemaker/Endpoints", "GPUMemoryUtilization", "Average", 90.0)


def test_no_zero_invocations_alarm_without_traffic_and_no_gpu_alarm_on_cpu_or_serverless():
    specs = recommended("ep", [("A", "ml.c5.xlarge"), ("S", None)], p99_ms=100.0, errors_5xx=1, zero_minutes=15,
                        had_traffic=False)
    assert {s.kind for s in specs} == {"p99-latency", "5xx"}


def test_the_p99_threshold_comes_from_the_baseline_else_the_settings_else_the_default():
    s = Settings(alerts=AlertSettings(p99_baseline_factor=3.0, p99_max_ms=0.0))
    assert p99_threshold_ms(80.0, s)[0] == 240.0
    assert p99_threshold_ms(None, s)[0] == DEFAULT_P99_MS
    assert p99_threshold_ms(None, Settings(alerts=AlertSettings(p99_max_ms=500.0)))[0] == 500.0


def test_the_monthly_cost_is_the_list_price_per_alarm():
    assert prices.CLOUDWATCH_ALARM_MONTH == 0.10
    assert monthly_cost(4) == pytest.approx(0.40)


@pytest.mark.parametrize("req, says", [
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn="not-an-arn"), "not an SNS topic ARN"),
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn=TOPIC + "\n"), "not an SNS topic ARN"),
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn=f"arn:aws:sqs:us-east-1:{MAIN}:q"), "not an SNS topic ARN"),
    (CreateRecommendedAlarms(MAIN, "bad name", sns_topic_arn=TOPIC), "not a valid AWS name"),
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn=TOPIC, p99_baseline_ms=float("nan")), "p99 baseline"),
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn=TOPIC, p99_baseline_ms=-1.0), "p99 baseline"),
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn=TOPIC, errors_5xx_per_5min=0), "5xx errors"),
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn=TOPIC, zero_invocations_minutes=5), "minutes without"),
    (CreateRecommendedAlarms(MAIN, "ep", sns_topic_arn=TOPIC, had_traffic="yes"), "had traffic"),  # type: ignore[arg-type]
    (DeleteManagedAlarms(MAIN, "-x"), "not a valid AWS name"),
])
def test_bad_input_gets_a_clear_message_no_call_and_one_audit_row(tmp_path, req, says):
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), Settings(store=tmp_path / "store"))
    audit = AuditLog(tmp_path / "audit.sqlite")
    out = a.run_action(req, OPERATOR, env, audit, a.new_token())
    assert out.status == "invalid" and says in out.message, out.message
    assert env.clients.counter.total() == 0
    rows = audit.frame()
    assert len(rows) == 1 and rows.iloc[0].result == "invalid"


# --------------------------------------------------------------------------- against the emulated account


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Iterator[Account]:
    with pytest.MonkeyPatch.context() as mp:
        acc = start_account(tmp_path_factory.mktemp("alarms"), live=False)
        for k, v in acc.env.items():
            mp.setenv(k, v)
        yield acc
    stop_account(acc)


@pytest.fixture
def env(acc, tmp_path) -> a.Env:
    return a.Env(Clients(AccountSettings(regions=("us-east-1",))),
                 Settings(store=tmp_path / "store", alerts=AlertSettings(p99_baseline_factor=3.0)))


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit.sqlite")


def _ours(acc: Account, endpoint: str) -> dict[str, dict]:
    cw = acc.client("cloudwatch")
    alarms = cw.describe_alarms(AlarmNamePrefix=f"sextant-{endpoint}-")["MetricAlarms"]
    return {x["AlarmName"]: x for x in alarms}


def test_creating_the_recommended_alarms_puts_them_as_planned_and_again_updates_them(acc, env, audit):
    req = CreateRecommendedAlarms(MAIN, GPU_ENDPOINT, sns_topic_arn=TOPIC, p99_baseline_ms=120.0, had_traffic=True,
                                  errors_5xx_per_5min=5)
    plan = a.plan(req, OPERATOR, env)
    assert plan.calls == ["cloudwatch:PutMetricAlarm"]
    assert plan.cost_per_day_delta == pytest.approx(4 * 0.10 / 30)
    assert any("$0.40 a month" in n for n in plan.notes), plan.notes
    assert set(plan.before.values()) == {"absent"}

    before = env.clients.counter.snapshot()
    out = a.run_action(req, OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert env.clients.counter.diff(before).get("cloudwatch:PutMetricAlarm") == 4
    alarms = _ours(acc, GPU_ENDPOINT)
    assert sorted(alarms) == [f"sextant-{GPU_ENDPOINT}-AllTraffic-{k}"
                              for k in ("5xx", "gpu-memory", "p99-latency", "zero-invocations")]
    p99 = alarms[f"sextant-{GPU_ENDPOINT}-AllTraffic-p99-latency"]
    assert (p99["Namespace"], p99["MetricName"], p99["ExtendedStatistic"], p99["Threshold"]) == (
        "AWS/SageMaker", "ModelLatency", "p99", 360_000.0)  # 120 ms × 3, in microseconds
    assert p99["AlarmActions"] == [TOPIC] and p99["OKActions"] == [TOPIC]
    assert {d["Name"]: d["Value"] for d in p99["Dimensions"]} == {"EndpointName": GPU_ENDPOINT,
                                                                   "VariantName": "AllTraffic"}
    e5 = alarms[f"sextant-{GPU_ENDPOINT}-AllTraffic-5xx"]
    assert (e5["MetricName"], e5["Statistic"], e5["Threshold"], e5["Period"]) == ("Invocation5XXErrors", "Sum", 5.0,
                                                                                  300)
    zero = alarms[f"sextant-{GPU_ENDPOINT}-AllTraffic-zero-invocations"]
    assert (zero["ComparisonOperator"], zero["Threshold"], zero["TreatMissingData"]) == (
        "LessThanThreshold", 1.0, "breaching")
    gpu = alarms[f"sextant-{GPU_ENDPOINT}-AllTraffic-gpu-memory"]
    assert (gpu["Namespace"], gpu["Statistic"], gpu["Threshold"]) == ("/aws/sagemaker/Endpoints", "Average", 90.0)
    tags = acc.client("cloudwatch").list_tags_for_resource(ResourceARN=p99["AlarmArn"])["Tags"]
    assert {"Key": "managed-by", "Value": "sextant"} in tags
    assert audit.frame().iloc[-1].result == "succeeded"

    again = CreateRecommendedAlarms(MAIN, GPU_ENDPOINT, sns_topic_arn=TOPIC, p99_baseline_ms=200.0,
                                    had_traffic=True, errors_5xx_per_5min=5)
    plan = a.plan(again, OPERATOR, env)
    assert "create 0 and update 4" in plan.summary and plan.cost_per_day_delta == 0
    out = a.run_action(again, OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    alarms = _ours(acc, GPU_ENDPOINT)
    assert len(alarms) == 4  # updated, never duplicated
    assert alarms[f"sextant-{GPU_ENDPOINT}-AllTraffic-p99-latency"]["Threshold"] == 600_000.0


def test_a_dry_run_plans_and_audits_but_writes_nothing(acc, env, audit):
    req = CreateRecommendedAlarms(MAIN, CPU_ENDPOINT, sns_topic_arn=TOPIC, had_traffic=True)
    writes = env.clients.counter.writes()
    out = a.run_action(req, OPERATOR, env, audit, a.new_token(), dry_run=True)
    assert out.status == "dry_run" and "would create 3" in out.message, out.message
    assert env.clients.counter.writes() == writes
    assert env.clients.counter.snapshot().get("cloudwatch:PutMetricAlarm") is None
    assert _ours(acc, CPU_ENDPOINT) == {}
    rows = audit.frame()
    assert len(rows) == 1 and rows.iloc[0].dry_run == 1 and rows.iloc[0].result == "dry_run"


@pytest.mark.parametrize("req", [CreateRecommendedAlarms(MAIN, CPU_ENDPOINT, sns_topic_arn=TOPIC),
                                 DeleteManagedAlarms(MAIN, CPU_ENDPOINT)], ids=lambda r: r.ACTION)
def test_a_viewer_is_refused_with_one_audit_row_and_no_aws_call(acc, env, audit, req):
    with pytest.raises(a.ActionError, match="viewer"):
        a.plan(req, VIEWER, env)
    out = a.run_action(req, VIEWER, env, audit, a.new_token())
    assert out.status == "refused"
    assert env.clients.counter.total() == 0
    rows = audit.frame()
    assert len(rows) == 1 and rows.iloc[0].result == "refused" and rows.iloc[0].actor == VIEWER.name
    assert rows.iloc[0].action == req.ACTION


def test_a_topic_in_another_region_is_refused_before_any_write(acc, env, audit):
    req = CreateRecommendedAlarms(MAIN, CPU_ENDPOINT, sns_topic_arn=f"arn:aws:sns:eu-west-1:{MAIN}:ml-oncall")
    out = a.run_action(req, OPERATOR, env, audit, a.new_token())
    assert out.status == "invalid" and "own region" in out.message
    assert env.clients.counter.writes() == 0


def test_delete_removes_only_the_alarms_sextant_manages_on_that_endpoint(acc, env, audit):
    endpoint = "nlp-intent-classifier-prod"
    cw = acc.client("cloudwatch")
    # made outside Sextant, on the same endpoint, even with Sextant's prefix: it stays
    outside = f"sextant-{endpoint}-AllTraffic-by-hand"
    cw.put_metric_alarm(AlarmName=outside, Namespace="AWS/SageMaker", MetricName="Invocations", Statistic="Sum",
                        Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                                    {"Name": "VariantName", "Value": "AllTraffic"}],
                        Period=300, EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="LessThanThreshold")
    out = a.run_action(CreateRecommendedAlarms(MAIN, endpoint, sns_topic_arn=TOPIC, had_traffic=True), OPERATOR,
                       env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert len(_ours(acc, endpoint)) == 4  # 3 managed (a CPU endpoint) + the one by hand

    plan = a.plan(DeleteManagedAlarms(MAIN, endpoint), OPERATOR, env)
    assert "delete 3" in plan.summary and any(outside in n for n in plan.notes)
    out = a.run_action(DeleteManagedAlarms(MAIN, endpoint), OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert list(_ours(acc, endpoint)) == [outside]

    out = a.run_action(DeleteManagedAlarms(MAIN, endpoint), OPERATOR, env, audit, a.new_token())
    assert out.status == "invalid" and "nothing to delete" in out.message
    assert list(_ours(acc, endpoint)) == [outside]


def test_an_alarm_made_by_hand_under_a_recommended_name_is_not_overwritten(acc, env, audit):
    endpoint = "search-ranker-prod"
    name = f"sextant-{endpoint}-champion-5xx"  # search-ranker-prod: variants champion and challenger
    cw = acc.client("cloudwatch")
    cw.put_metric_alarm(AlarmName=name, Namespace="AWS/SageMaker", MetricName="Invocation5XXErrors", Statistic="Sum",
                        Dimensions=[{"Name": "EndpointName", "Value": endpoint},
                                    {"Name": "VariantName", "Value": "champion"}],
                        Period=60, EvaluationPeriods=1, Threshold=99.0, ComparisonOperator="GreaterThanThreshold")
    out = a.run_action(CreateRecommendedAlarms(MAIN, endpoint, sns_topic_arn=TOPIC), OPERATOR, env, audit,
                       a.new_token())
    assert out.status == "invalid" and "not tagged managed-by = sextant" in out.message and name in out.message
    assert env.clients.counter.writes() == 0
    assert list(_ours(acc, endpoint)) == [name] and _ours(acc, endpoint)[name]["Threshold"] == 99.0


# --------------------------------------------------------------------------- the confirmation dialog, through Streamlit

DIALOG_ENDPOINT = "vision-defect-detector-shadow"  # ml.g4dn.2xlarge; opened without traffic: 3 alarms
DIALOG = """
from actions.alarms import CreateRecommendedAlarms
from dashboard import action_ui
action_ui._confirm(CreateRecommendedAlarms("{main}", "{endpoint}", sns_topic_arn="{topic}", region="us-east-1"),
                   "probe")
"""


def _text(element) -> str:
    return re.sub(r"\\(.)", r"\1", element.value)


def test_the_dialog_shows_the_plan_and_monthly_cost_a_dry_run_writes_nothing_then_confirm_creates(
        acc, tmp_path, monkeypatch):
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SEXTANT_LOCAL_ADMIN", "1")
    # the dialog's clients are a cached resource per account: an earlier test in this process (the scale dialog's)
    # cached them for another emulated account, since stopped
    st.cache_resource.clear()
    at = AppTest.from_string(DIALOG.format(main=MAIN, endpoint=DIALOG_ENDPOINT, topic=TOPIC), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    assert [m for m in at.metric if m.label == "Cost impact" and _text(m).startswith("+$0.30 / month")], \
        [(m.label, m.value) for m in at.metric]
    shown = next(d.value for d in at.dataframe if "after" in d.value.columns)
    assert sorted(shown[""]) == [f"sextant-{DIALOG_ENDPOINT}-AllTraffic-{k}" for k in ("5xx", "gpu-memory",
                                                                                        "p99-latency")]
    assert set(shown.now) == {"absent"}

    at.toggle(key="probe_dry").set_value(True).run()
    at.button(key="probe_confirm").click().run()
    assert not at.exception, at.exception
    assert [s for s in at.success if _text(s).startswith("dry run: would create 3")], [_text(s) for s in at.success]
    assert _ours(acc, DIALOG_ENDPOINT) == {}

    at.toggle(key="probe_dry").set_value(False).run()
    at.button(key="probe_confirm").click().run()
    assert not at.exception, at.exception
    assert len(_ours(acc, DIALOG_ENDPOINT)) == 3
    results = list(AuditLog(tmp_path / "store" / "audit.sqlite").frame().result)
    assert sorted(results) == ["dry_run", "succeeded"]
