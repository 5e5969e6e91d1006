"""The built-in rules on tiny stores: each fires on the rows it is about and not on the others."""

from __future__ import annotations

from datetime import date, timedelta

from alerts import rules
from tests.alerts.conftest import T0, traffic

ACC = {"account_id": "123456789012", "region": "us-east-1"}


def breaching(store, name: str) -> list[str]:
    [rule] = [r for r in rules.builtins(store.settings) if r.name == name]
    return sorted(r["resource"] for r in rules.run(store.writer.con, rule, T0) if rule.breaches(r["value"]))


def test_a_busy_endpoint_without_invocations_in_the_last_hour(store):
    store.put("aws_sagemaker_endpoint", [{**ACC, "endpoint_name": n, "status": "InService"} for n in "abc"])
    store.put("aws_cloudwatch_endpoint_traffic", [
        traffic("a", 0, 0), traffic("a", 5000, 0, window=1440),  # busy, silent: fires
        traffic("b", 10, 0), traffic("b", 5000, 0, window=1440),  # busy, serving
        traffic("c", 0, 0), traffic("c", 20, 0, window=1440)])  # quiet anyway
    assert breaching(store, "endpoint_invocations_zero") == ["123456789012/us-east-1/a"]


def test_a_cloudwatch_alarm_on_an_endpoint_in_alarm(store):
    store.put("aws_sagemaker_endpoint", [{**ACC, "endpoint_name": "gpu", "status": "InService", "team": "vision"}])
    store.put("aws_cloudwatch_alarm", [
        {**ACC, "alarm_name": "gpu-hot", "endpoint_name": "gpu", "state_value": "ALARM"},
        {**ACC, "alarm_name": "gpu-5xx", "endpoint_name": "gpu", "state_value": "OK"},
        {**ACC, "alarm_name": "billing", "endpoint_name": None, "state_value": "ALARM"}])  # not about an endpoint
    assert breaching(store, "endpoint_alarm_in_alarm") == ["123456789012/us-east-1/gpu-hot"]
    [rule] = [r for r in rules.builtins(store.settings) if r.name == "endpoint_alarm_in_alarm"]
    rows = sorted(rules.run(store.writer.con, rule, T0), key=lambda r: r["name"])  # every candidate, breaching or not
    assert [(r["team"], r["endpoint_name"], r["name"], r["value"]) for r in rows] == [
        ("vision", "gpu", "gpu-5xx", 0), ("vision", "gpu", "gpu-hot", 1)]  # the OK one's 0: a resolved message's


def test_a_failed_training_job_or_pipeline_execution_fires_while_recent(store):
    store.put("aws_sagemaker_training_job", [
        {**ACC, "training_job_name": "new", "status": "Failed", "training_end_time": T0 - timedelta(hours=2)},
        {**ACC, "training_job_name": "old", "status": "Failed", "training_end_time": T0 - timedelta(days=3)},
        {**ACC, "training_job_name": "fine", "status": "Completed", "training_end_time": T0}])
    store.put("aws_sagemaker_pipeline_execution", [
        {**ACC, "execution_arn": "arn:x:1", "pipeline_name": "p", "status": "Failed", "end_time": T0},
        {**ACC, "execution_arn": "arn:x:2", "pipeline_name": "p", "status": "Succeeded", "end_time": T0}])
    assert breaching(store, "training_job_failed") == ["123456789012/us-east-1/new"]
    assert breaching(store, "pipeline_execution_failed") == ["arn:x:1"]


def run(source: str, status: str, ended, run_id: str = "r1") -> dict:
    return {**ACC, "run_id": run_id, "source": source, "status": status, "started_at": ended, "ended_at": ended}


def test_a_failing_source_and_a_source_older_than_twice_its_cadence(store):
    hot = store.settings.collect.hot_every_s  # 300 s by default; Cost Explorer: every 8 h
    store.put("sextant_collection_run", [
        run("sagemaker_endpoints", "succeeded", T0 - timedelta(seconds=hot)),
        run("sagemaker_training", "succeeded", T0 - timedelta(seconds=3 * hot)),  # stale
        run("cost_explorer", "succeeded", T0 - timedelta(hours=3)),  # fresh at its own cadence
        run("ecr", "succeeded", T0 - timedelta(hours=1), "r0"), run("ecr", "failed", T0)])  # failing
    assert breaching(store, "source_stale") == ["ecr 123456789012/us-east-1",
                                                "sagemaker_training 123456789012/us-east-1"]
    assert breaching(store, "source_failing") == ["ecr 123456789012/us-east-1"]


def test_the_month_end_forecast_over_the_budget(store):
    store.configure()
    store.put("aws_cost_daily", [{**ACC, "date": date(2026, 11, d), "group_by_kind": "SERVICE/USAGE_TYPE",
                                  "key1": "SageMaker", "key2": "x", "unblended_cost_usd": 1000.0}
                                 for d in range(1, 20)])
    store.put("aws_cost_forecast", [{**ACC, "as_of": date(2026, 11, 20), "period_start": date(2026, 11, 20),
                                     "period_end": date(2026, 12, 1), "mean_usd": 7000.0}])
    [rule] = [r for r in rules.builtins(store.settings) if r.name == "cost_forecast_over_budget"]
    [row] = rules.run(store.writer.con, rule, T0)
    assert row["value"] == 26000.0 and rule.threshold == 25000.0 and rule.breaches(row["value"])
