"""dashboard.queries.health on tiny stores: the health rules (5xx rate, p99 against its own baseline, idle days),
the reference time they are judged at, alarms firing and the failures of the last day."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from dashboard.queries import endpoints as eq
from dashboard.queries import health
from tests.dashboard.queries.conftest import END, f

ACCOUNT = "111111111111"
CREATED = datetime(2026, 9, 1, tzinfo=UTC)


def _endpoint(name: str, team: str = "vision", region: str = "us-east-1") -> dict:
    return {"account_id": ACCOUNT, "region": region, "endpoint_name": name, "team": team, "project": "p",
            "status": "InService", "creation_time": CREATED}


def _summary(name: str, *, inv_1h: float = 600, inv_24h: float = 14400, e5_1h: float = 0, e5_24h: float = 0,
             p99_1h: float = 50_000, p99_24h: float = 50_000, base: float = 50_000,
             last: datetime | None = END, as_of: datetime = END) -> dict:
    return {"account_id": ACCOUNT, "region": "us-east-1", "endpoint_name": name, "as_of": as_of,
            "invocations_1h": inv_1h, "invocations_24h": inv_24h, "invocations_7d": inv_24h * 7,
            "invocations_30d": inv_24h * 30, "errors_5xx_1h": e5_1h, "errors_5xx_24h": e5_24h,
            "p99_1h_us": p99_1h, "p99_24h_us": p99_24h, "p99_baseline_us": base, "last_invocation": last,
            "metrics_since": END - timedelta(days=30)}


def _metrics(summary: dict) -> dict[str, list[dict]]:
    """The CloudWatch rows behind a summary row, as the Endpoints page reads them (health reads the same): its
    last hour [END - 1 h, END) and the rest of the 24 hours in the hourly rollup, its p99 of the last hour as the
    minute before END (p99 now)."""
    name, rows = summary["endpoint_name"], {"series": [], "hourly": [], "points": []}
    base = {"account_id": ACCOUNT, "region": "us-east-1"}
    for metric, stat, last_hour, whole in (
            ("Invocations", "Sum", summary["invocations_1h"], summary["invocations_24h"]),
            ("Invocation5XXErrors", "Sum", summary["errors_5xx_1h"], summary["errors_5xx_24h"]),
            ("ModelLatency", "p99", summary["p99_1h_us"], summary["p99_24h_us"])):
        sid = f"{name}-{metric}"
        rows["series"].append({**base, "series_id": sid, "namespace": "AWS/SageMaker", "metric_name": metric,
                               "endpoint_name": name, "variant_name": "AllTraffic", "stats": stat})
        earlier = whole if stat == "p99" else whole - last_hour
        for hour, value in ((END - timedelta(hours=1), last_hour), (END - timedelta(hours=2), earlier)):
            rows["hourly"].append({**base, "series_id": sid, "stat": stat, "hour": hour, "value": value})
        if stat == "p99":
            rows["points"].append({**base, "series_id": sid, "stat": stat, "period_s": 60,
                                   "ts": END - timedelta(minutes=1), "value": last_hour})
    return rows


def _store(tiny_store, names: list[str], summaries: list[dict]) -> None:
    metrics = [_metrics(s) for s in summaries]
    tiny_store(aws_sagemaker_endpoint=[_endpoint(n) for n in names], aws_cloudwatch_endpoint_summary=summaries,
               aws_cloudwatch_metric_series=[r for m in metrics for r in m["series"]],
               aws_cloudwatch_metric_hourly=[r for m in metrics for r in m["hourly"]],
               aws_cloudwatch_metric_point=[r for m in metrics for r in m["points"]])


def _judged(tiny_store, **summary) -> tuple[str, str]:
    _store(tiny_store, ["e"], [_summary("e", **summary)])
    row = health.endpoint_health(f()).iloc[0]
    return row.health, row.reason


def test_an_endpoint_serving_within_its_habits_is_ok(tiny_store):
    assert _judged(tiny_store) == ("ok", "")


def test_5xx_above_one_percent_of_invocations_degrades(tiny_store):
    state, reason = _judged(tiny_store, inv_1h=1000, e5_1h=11)
    assert state == "degraded" and reason == "5xx 1.1% over 1h"
    assert _judged(tiny_store, inv_1h=1000, e5_1h=10)[0] == "ok"  # exactly 1 % is not above it


def test_p99_above_twice_its_own_baseline_degrades(tiny_store):
    state, reason = _judged(tiny_store, p99_24h=120_000, base=50_000)
    assert state == "degraded" and reason == "p99 120 ms over 24h (2.4x its usual 50 ms)"
    assert _judged(tiny_store, p99_24h=100_000, base=50_000)[0] == "ok"


def test_seven_days_without_an_invocation_is_idle(tiny_store):
    state, reason = _judged(tiny_store, inv_1h=0, inv_24h=0, last=END - timedelta(days=8))
    assert state == "idle" and reason == f"no invocations since {END - timedelta(days=8):%Y-%m-%d}"
    assert _judged(tiny_store, inv_1h=0, inv_24h=0, last=END - timedelta(days=6))[0] == "ok"


def test_health_is_judged_at_the_newest_invocation_collected_not_the_clock(tiny_store):
    as_of = END - timedelta(days=40)  # collection stopped long ago: the endpoint was busy then
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")],
               aws_cloudwatch_endpoint_summary=[_summary("e", as_of=as_of, last=as_of - timedelta(hours=1))])
    assert health.metrics_as_of() == as_of
    assert health.endpoint_health(f()).health.iloc[0] == "ok"


def test_degraded_first_then_idle_then_ok(tiny_store):
    _store(tiny_store, ["a-ok", "b-idle", "c-bad"], [_summary("a-ok"), _summary("c-bad", e5_24h=1000),
                                                     _summary("b-idle", inv_1h=0, inv_24h=0, last=None)])
    df = health.endpoint_health(f())
    assert list(zip(df.endpoint_name, df.health, strict=True)) == [("c-bad", "degraded"), ("b-idle", "idle"),
                                                                   ("a-ok", "ok")]
    assert df.reason.iloc[1] == "no invocations in the 30 days collected"


def test_before_any_metrics_nothing_is_idle_and_there_is_no_reference_time(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")])
    assert health.metrics_as_of() is None
    inv = health.last_invocation(f())
    assert list(inv.idle_days) == [0.0] and list(inv.invocations_24h) == [0.0]
    assert health.endpoint_health(f()).health.iloc[0] == "ok"


def test_last_invocation_follows_the_scope(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("a"), _endpoint("b", team="nlp")],
               aws_cloudwatch_endpoint_summary=[_summary("a"), _summary("b")])
    assert list(health.last_invocation(f(teams=["nlp"])).endpoint_name) == ["b"]
    summary = health.endpoint_summary()
    assert str(summary.as_of.dt.tz) == "UTC" and len(summary) == 2


def _alarm(name: str, state: str, region: str = "us-east-1") -> dict:
    return {"account_id": ACCOUNT, "region": region, "alarm_name": name, "state_value": state,
            "state_updated_at": END - timedelta(hours=1), "endpoint_name": "e", "metric_name": "Invocations"}


def test_alarms_firing_are_those_in_alarm_in_scope(tiny_store):
    tiny_store(aws_cloudwatch_alarm=[_alarm("a", "ALARM"), _alarm("b", "OK"), _alarm("c", "ALARM", "eu-west-1")])
    assert sorted(health.alarms_firing(f()).alarm_name) == ["a", "c"]
    assert list(health.alarms_firing(f(regions=["eu-west-1"])).alarm_name) == ["c"]
    assert sorted(health.alarms_firing(f(teams=["anything"])).alarm_name) == ["a", "c"]  # alarms carry no team


def test_failed_training_jobs_since_a_time(tiny_store):
    def job(name, status, ended):
        return {"account_id": ACCOUNT, "region": "us-east-1", "training_job_name": name, "status": status,
                "training_end_time": ended, "team": "fraud", "failure_reason": "OOM"}
    tiny_store(aws_sagemaker_training_job=[job("new", "Failed", END - timedelta(hours=2)),
                                           job("old", "Failed", END - timedelta(days=3)),
                                           job("fine", "Completed", END - timedelta(hours=1))])
    assert list(health.failed_training(f(), END - timedelta(days=1)).training_job_name) == ["new"]
    assert health.failed_training(f(teams=["vision"]), END - timedelta(days=1)).empty


def test_failed_pipeline_runs_carry_their_pipelines_team(tiny_store):
    tiny_store(aws_sagemaker_pipeline=[{"account_id": ACCOUNT, "region": "us-east-1", "pipeline_name": "train",
                                        "team": "fraud"}],
               aws_sagemaker_pipeline_execution=[
                   {"account_id": ACCOUNT, "region": "us-east-1", "pipeline_name": "train", "execution_arn": arn,
                    "status": status, "start_time": END - timedelta(hours=3), "end_time": END - timedelta(hours=2),
                    "failed_step": "Evaluate"} for arn, status in (("x1", "Failed"), ("x2", "Succeeded"))])
    runs = health.failed_pipeline_runs(f(), END - timedelta(days=1))
    assert list(runs.execution_arn) == ["x1"] and runs.team.iloc[0] == "fraud"
    assert health.failed_pipeline_runs(f(teams=["nlp"]), END - timedelta(days=1)).empty


# --------------------------------------------------------------------------- health agrees with alarms and pages

def _watching(state: str, endpoint: str = "e", region: str = "us-east-1", name: str = "e-p99-high") -> dict:
    return {"account_id": ACCOUNT, "region": region, "alarm_name": name, "state_value": state,
            "state_updated_at": END - timedelta(minutes=20), "endpoint_name": endpoint, "metric_name": "ModelLatency",
            "dimensions": json.dumps({"EndpointName": endpoint, "VariantName": "AllTraffic"})}


def _health_with(tiny_store, *alarms: dict) -> tuple[str, str]:
    summary = _summary("e")
    metrics = _metrics(summary)
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")], aws_cloudwatch_endpoint_summary=[summary],
               aws_cloudwatch_metric_series=metrics["series"], aws_cloudwatch_metric_hourly=metrics["hourly"],
               aws_cloudwatch_metric_point=metrics["points"], aws_cloudwatch_alarm=list(alarms))
    row = health.endpoint_health(f()).iloc[0]
    return row.health, row.reason


def test_an_endpoint_is_not_ok_while_an_alarm_watching_it_is_in_alarm_and_ok_again_after(tiny_store):
    """Overview said "10 of 11 ok" while three prod endpoints were in ALARM."""
    state, reason = _health_with(tiny_store, _watching("ALARM"))
    assert state == "degraded" and reason == "in ALARM: e-p99-high (ModelLatency)"
    assert _health_with(tiny_store, _watching("OK")) == ("ok", "")  # the alarm returned to OK
    assert _health_with(tiny_store, _watching("INSUFFICIENT_DATA"))[0] == "ok"


def test_only_alarms_naming_the_endpoint_in_its_account_and_region_count(tiny_store):
    assert _health_with(tiny_store, _watching("ALARM", endpoint="other"),
                        _watching("ALARM", region="eu-west-1"))[0] == "ok"
    state, reason = _health_with(tiny_store, _watching("ALARM", name="b"), _watching("ALARM", name="a"))
    assert state == "degraded" and reason == "in ALARM: a (ModelLatency), b (ModelLatency)"


def test_an_idle_endpoint_in_alarm_stays_idle_and_names_the_alarm(tiny_store):
    summary = _summary("e", inv_1h=0, inv_24h=0, last=END - timedelta(days=9))
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")], aws_cloudwatch_endpoint_summary=[summary],
               aws_cloudwatch_alarm=[{**_watching("ALARM", name="e-no-invocations"), "metric_name": "Invocations"}])
    row = health.endpoint_health(f()).iloc[0]
    assert row.health == "idle"
    assert row.reason == f"no invocations since {END - timedelta(days=9):%Y-%m-%d}; in ALARM: e-no-invocations " \
                         "(Invocations)"


def test_health_reads_the_endpoints_pages_figures_whatever_the_range(tiny_store):
    """p99 now, the 24-hour invocations and the error rate are the Endpoints page's, for every range."""
    _store(tiny_store, ["e"], [_summary("e", inv_1h=1000, inv_24h=20_000, e5_24h=100, p99_1h=70_000)])
    for span in (timedelta(hours=1), timedelta(days=1), timedelta(days=7)):
        h = health.endpoint_health(f(start=END - span)).iloc[0]
        e = eq.endpoints(f(start=END - span)).iloc[0]
        assert h.p99_now_ms == e.p99_now_ms == 70.0
        assert h.invocations_24h == e.invocations_24h == 20_000
        assert h.error_rate_24h_pct == pytest.approx(e.error_rate_5xx * 100) == pytest.approx(0.5)
