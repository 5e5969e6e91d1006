"""dashboard.queries.overview on a tiny store: the Overview's one call returns exactly what each of its queries
returns on its own (read side by side, nothing mixed up between them), firing alerts only, and follows the scope."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from dashboard.queries import alerts, collection, cost, health
from dashboard.queries.overview import MOVER_GROUPS, overview
from sextant.settings import Settings
from tests.dashboard.queries.conftest import END, f
from tests.dashboard.queries.test_alerts import _alert
from tests.dashboard.queries.test_cost import bill, days_ago
from tests.dashboard.queries.test_health import ACCOUNT, _endpoint, _metrics, _summary

TODAY = END.date()


def _estate(tiny_store, tmp_path) -> Settings:
    summaries = [_summary("a-ok"), _summary("b-bad", e5_24h=1000)]
    metrics = [_metrics(s) for s in summaries]
    location = tiny_store(
        aws_sagemaker_endpoint=[_endpoint("a-ok"), _endpoint("b-bad", team="nlp")],
        aws_cloudwatch_endpoint_summary=summaries,
        aws_cloudwatch_metric_series=[r for m in metrics for r in m["series"]],
        aws_cloudwatch_metric_hourly=[r for m in metrics for r in m["hourly"]],
        aws_cloudwatch_metric_point=[r for m in metrics for r in m["points"]],
        aws_cloudwatch_alarm=[{"account_id": ACCOUNT, "region": "us-east-1", "alarm_name": "b-bad-5xx",
                               "state_value": "ALARM", "endpoint_name": "b-bad", "metric_name": "Invocation5XXErrors",
                               "state_updated_at": END - timedelta(hours=1)}],
        aws_sagemaker_training_job=[{"account_id": ACCOUNT, "region": "us-east-1", "training_job_name": "t1",
                                     "status": "Failed", "training_end_time": END - timedelta(hours=2),
                                     "team": "nlp", "failure_reason": "OOM"}],
        sextant_alert=[_alert("p99_high", "b-bad", "firing", account=ACCOUNT, team="nlp"),
                       _alert("p99_high", "a-ok", "resolved", account=ACCOUNT, minutes=90),
                       _alert("errors_5xx", "a-ok", "pending", account=ACCOUNT)],
        aws_cost_daily=[bill(days_ago(n), "Amazon SageMaker", "USE1-Host:ml.g5.xlarge", 10.0 + n) for n in range(15)]
        + [bill(days_ago(n), "nlp", "Amazon SageMaker", 4.0 * n, kind="TAG:team/SERVICE") for n in range(15)],
        sextant_collection_run=[{"run_id": "r1", "source": "sagemaker_endpoints", "account_id": ACCOUNT,
                                 "region": "us-east-1", "status": "failed", "started_at": END - timedelta(minutes=5),
                                 "ended_at": END - timedelta(minutes=4), "error": "AccessDenied"}])
    return Settings(store=tmp_path / location)


def test_one_call_equals_each_query_on_its_own(tiny_store, tmp_path):
    settings = _estate(tiny_store, tmp_path)
    for scope in (f(), f(teams=["nlp"])):
        ov = overview(scope, settings, END)
        pd.testing.assert_frame_equal(ov.endpoints, health.endpoint_health(scope))
        assert list(ov.endpoints.health) == ["degraded", "ok"] if scope.teams == () else ["degraded"]
        month = cost.month_to_date(scope, TODAY)
        pd.testing.assert_frame_equal(ov.month.daily, month.daily)
        assert ov.month.mtd_usd == month.mtd_usd > 0
        assert (ov.month.previous_same_days_usd, ov.month.ignored) == (month.previous_same_days_usd, month.ignored)
        pd.testing.assert_frame_equal(ov.forecast, cost.forecast(TODAY))
        pd.testing.assert_frame_equal(ov.alarms, health.alarms_firing(scope))
        pd.testing.assert_frame_equal(ov.failed_jobs, health.failed_training(scope, END - timedelta(days=1)))
        pd.testing.assert_frame_equal(ov.failed_runs, health.failed_pipeline_runs(scope, END - timedelta(days=1)))
        pd.testing.assert_frame_equal(ov.anomalies, cost.anomalies(TODAY - timedelta(days=14),
                                                                   TODAY + timedelta(days=1)))
        pd.testing.assert_frame_equal(ov.freshness, collection.freshness(collection.sources(), settings, END))
        for group in MOVER_GROUPS:
            pd.testing.assert_frame_equal(ov.movers[group], cost.movers(scope, group, TODAY, limit=6))
        assert ov.metrics_as_of == health.metrics_as_of()
    ov = overview(f(), settings, END)
    assert list(ov.alarms.alarm_name) == ["b-bad-5xx"] and list(ov.failed_jobs.training_job_name) == ["t1"]
    assert list(zip(ov.freshness.source, ov.freshness.status, strict=True)) == [("sagemaker_endpoints", "never")]
    assert not ov.movers["team"].empty and list(ov.movers["team"].group) == ["nlp"]


def test_only_firing_alerts_reach_the_overview(tiny_store, tmp_path):
    settings = _estate(tiny_store, tmp_path)
    every = alerts.alerts(f(), END - timedelta(days=1))
    assert set(every.state) == {"firing", "pending", "resolved"}
    ov = overview(f(), settings, END)
    pd.testing.assert_frame_equal(ov.firing, every[every.state == "firing"].reset_index(drop=True))
    assert list(ov.firing.resource) == ["b-bad"]


def test_a_second_view_within_the_minute_reads_every_query_from_the_cache(tiny_store, tmp_path, monkeypatch):
    from dashboard import data

    settings = _estate(tiny_store, tmp_path)
    at = END.replace(second=5, microsecond=123456)
    overview(f(), settings, at)
    misses = []
    real = data.frame
    monkeypatch.setattr(data, "frame", lambda cur: misses.append(1) or real(cur))  # called on a cache miss only
    overview(f(), settings, at + timedelta(seconds=40, microseconds=1))
    assert misses == []
    overview(f(), settings, at + timedelta(minutes=1))  # the next minute: the time-bound queries again
    assert 0 < len(misses) < 6
