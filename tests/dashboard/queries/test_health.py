"""dashboard.queries.health on tiny stores: the health rules (5xx rate, p99 against its own baseline, idle days),
the reference time they are judged at, alarms firing and the failures of the last day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def _judged(tiny_store, **summary) -> tuple[str, str]:
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")], aws_cloudwatch_endpoint_summary=[_summary("e", **summary)])
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
    tiny_store(aws_sagemaker_endpoint=[_endpoint(n) for n in ("a-ok", "b-idle", "c-bad")],
               aws_cloudwatch_endpoint_summary=[_summary("a-ok"), _summary("c-bad", e5_24h=1000),
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
