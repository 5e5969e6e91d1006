"""Freshness that follows attention: while a CloudWatch alarm is in ALARM, the series it watches and every series of
its endpoint are polled on the hot cadence, within the API budget (the metrics plan, on tiny in-process stores)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

import collectors
from collectors import cloudwatch_metrics as cwm
from collectors.base import Context, Cursor
from collectors.cloudwatch_alarms import ALARM
from sextant.settings import CollectSettings, Settings
from sextant.store import Writer

ACCOUNT, REGION = "111122223333", "us-east-1"
NOW = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
ENDPOINTS_NS, SAGEMAKER_NS = "/aws/sagemaker/Endpoints", "AWS/SageMaker"
METRICS = ((ENDPOINTS_NS, "GPUUtilization"), (ENDPOINTS_NS, "CPUUtilization"), (SAGEMAKER_NS, "Invocations"),
           (SAGEMAKER_NS, "Invocation4XXErrors"), (SAGEMAKER_NS, "ModelLatency"))


def _series(endpoint: str, namespace: str, metric: str) -> cwm.Series:
    dims = {"EndpointName": endpoint, "VariantName": "AllTraffic"}
    return cwm.Series(cwm.series_id(namespace, metric, dims), namespace, metric, dims, endpoint, "AllTraffic",
                      stats=cwm.stats_for(namespace, metric))


def _endpoint(endpoint: str, metrics=METRICS) -> dict[str, cwm.Series]:
    return {s.sid: s for s in (_series(endpoint, ns, m) for ns, m in metrics)}


@dataclass
class Store:
    writer: Writer

    def alarm(self, name: str, state: str, namespace: str | None, metric: str | None, dims: dict[str, str]) -> None:
        with self.writer.transaction():
            self.writer.upsert(ALARM, [{
                "account_id": ACCOUNT, "region": REGION, "alarm_name": name, "state_value": state,
                "namespace": namespace, "metric_name": metric, "dimensions": json.dumps(dims, sort_keys=True),
                "endpoint_name": dims.get("EndpointName"), "variant_name": dims.get("VariantName")}])

    def traffic(self, s: cwm.Series) -> None:
        """An Invocations point in the last hour: the endpoint is busy."""
        with self.writer.transaction():
            self.writer.upsert(cwm.SERIES, [{"account_id": ACCOUNT, "region": REGION, "series_id": s.sid,
                                             "namespace": s.namespace, "metric_name": s.metric,
                                             "dimensions": json.dumps(s.dims), "endpoint_name": s.endpoint}])
            self.writer.upsert(cwm.POINT, [{"account_id": ACCOUNT, "region": REGION, "series_id": s.sid,
                                            "stat": "Sum", "period_s": 60, "ts": NOW - timedelta(minutes=5),
                                            "value": 120.0}])

    def plan(self, pollable: dict[str, cwm.Series], polled_ago: timedelta = timedelta(minutes=10),
             **collect) -> cwm.Plan:
        """The plan at NOW, every pair fetched ``polled_ago`` (due at the hot cadence, not at the cold one)."""
        fetched = (NOW - polled_ago).isoformat()
        cursor = Cursor({Cursor.key((s.sid, stat)): fetched for s in pollable.values() for stat in s.stats})
        ctx = Context(clients=None, account_id=ACCOUNT, region=REGION,  # type: ignore[arg-type]
                      settings=Settings(collect=CollectSettings(**collect)), cursor=cursor,
                      run_sql=lambda sql, params: self.writer.con.execute(sql, params).fetchall(), now=NOW)
        return cwm._plan(ctx, NOW, pollable, {})


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    w = Writer(tmp_path / "store")
    collectors.migrate(w)
    try:
        yield Store(w)
    finally:
        w.close()


def _polled(plan: cwm.Plan) -> set[tuple[str, str]]:
    return {(q.series.sid, q.stat) for q in plan.queries}


def _dims(endpoint: str) -> dict[str, str]:
    return {"VariantName": "AllTraffic", "EndpointName": endpoint}


def test_an_alarm_in_alarm_puts_its_gpu_series_and_every_series_of_its_endpoint_on_the_hot_cadence(store):
    vision, quiet = _endpoint("vision-prod"), _endpoint("quiet-dev")
    gpu = _series("vision-prod", ENDPOINTS_NS, "GPUUtilization")
    store.alarm("vision-prod-gpu-hot", "ALARM", ENDPOINTS_NS, "GPUUtilization", _dims("vision-prod"))
    plan = store.plan({**vision, **quiet})

    assert plan.poll_class[gpu.sid] == "hot (alarm)"
    assert {plan.poll_class[sid] for sid in vision if sid != gpu.sid} == {"hot (endpoint alarm)"}
    assert {plan.poll_class[sid] for sid in quiet} == {"cold"}
    # polled 10 minutes ago: due at the hot cadence (5 min), not at the cold one (1 h)
    vision_pairs = {(s.sid, stat) for s in vision.values() for stat in s.stats}
    assert _polled(plan) == vision_pairs
    assert {(q.period, q.end) for q in plan.queries} == {(60, NOW)}
    assert plan.hot == plan.promoted == len(vision_pairs) and plan.series_promoted == len(vision)
    assert plan.promoted_usd == pytest.approx(
        cwm.monthly_usd(len(vision_pairs), 0, plan.hot_s, plan.cold_s)
        - cwm.monthly_usd(0, len(vision_pairs), plan.hot_s, plan.cold_s))
    assert plan.promoted_usd > 0


def test_an_alarm_back_to_ok_returns_the_series_to_their_class(store):
    vision = _endpoint("vision-prod")
    store.alarm("vision-prod-gpu-hot", "ALARM", ENDPOINTS_NS, "GPUUtilization", _dims("vision-prod"))
    assert store.plan(vision).promoted > 0
    store.alarm("vision-prod-gpu-hot", "OK", ENDPOINTS_NS, "GPUUtilization", _dims("vision-prod"))
    plan = store.plan(vision)
    assert set(plan.poll_class.values()) == {"cold"}
    assert plan.queries == [] and plan.hot == plan.promoted == plan.series_promoted == 0
    assert plan.promoted_usd == 0


@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_only_alarm_state_promotes(store, state):
    store.alarm("vision-prod-gpu-hot", state, ENDPOINTS_NS, "GPUUtilization", _dims("vision-prod"))
    assert store.plan(_endpoint("vision-prod")).promoted == 0


def test_an_alarm_of_another_account_or_region_promotes_nothing(store):
    store.alarm("vision-prod-gpu-hot", "ALARM", ENDPOINTS_NS, "GPUUtilization", _dims("vision-prod"))
    store.writer.con.execute("UPDATE aws_cloudwatch_alarm SET region = ?", ["eu-west-1"])
    assert store.plan(_endpoint("vision-prod")).promoted == 0


def test_an_endpoint_level_alarm_promotes_every_series_of_the_endpoint(store):
    # an alarm on the endpoint's invocations without VariantName watches no stored series, but its endpoint
    vision = _endpoint("vision-prod")
    store.alarm("vision-prod-traffic", "ALARM", SAGEMAKER_NS, "Invocations", {"EndpointName": "vision-prod"})
    plan = store.plan(vision)
    assert {plan.poll_class[sid] for sid in vision} == {"hot (endpoint alarm)"}


def test_a_training_job_series_watched_by_an_alarm_is_promoted(store):
    dims = {"Host": "job-1/algo-1"}
    s = cwm.Series(cwm.series_id(cwm.TRAINING_NAMESPACE, "GPUUtilization", dims), cwm.TRAINING_NAMESPACE,
                   "GPUUtilization", dims, job="job-1", stats=("Average", "Maximum"))
    store.alarm("job-1-gpu", "ALARM", cwm.TRAINING_NAMESPACE, "GPUUtilization", dims)
    plan = store.plan({s.sid: s})
    assert plan.poll_class[s.sid] == "hot (alarm)" and plan.promoted == 2


def test_series_hot_by_traffic_keep_their_class_and_are_not_counted_as_promoted(store):
    vision = _endpoint("vision-prod")
    invocations = _series("vision-prod", SAGEMAKER_NS, "Invocations")
    latency = _series("vision-prod", SAGEMAKER_NS, "ModelLatency")
    store.traffic(invocations)
    quiet = store.plan(vision)
    assert quiet.promoted == 0 and quiet.hot == 2  # Invocations Sum and ModelLatency p99 (no 5xx series here)
    store.alarm("vision-prod-gpu-hot", "ALARM", ENDPOINTS_NS, "GPUUtilization", _dims("vision-prod"))
    plan = store.plan(vision)
    assert plan.poll_class[invocations.sid] == "hot"  # hot anyway: the alarm changes nothing for it
    assert plan.poll_class[latency.sid] == "hot (endpoint alarm)"  # p50/p90/Average promoted with p99 hot
    pairs = sum(len(s.stats) for s in vision.values())
    assert plan.hot == pairs and plan.promoted == pairs - quiet.hot


def _fleet(n: int) -> dict[str, cwm.Series]:
    """``n`` endpoints with a GPU series each (Average and Maximum): 2 pairs per endpoint."""
    return {sid: s for i in range(n) for sid, s in _endpoint(f"gpu-{i}", ((ENDPOINTS_NS, "GPUUtilization"),)).items()}


def _budget_for(metrics_usd: float) -> float:
    """monthly_api_budget_usd that leaves ``metrics_usd`` to GetMetricData (Cost Explorer's share reserved)."""
    reserve = 100.0 - cwm.metrics_budget_usd(CollectSettings(monthly_api_budget_usd=100.0))
    return reserve + metrics_usd


def test_promotions_are_priced_in_the_budget_fit_which_stretches_the_cold_cadence_first(store):
    fleet = _fleet(10)  # 20 pairs: $0.144 a month hourly; 10 of them every 5 minutes: $0.864
    budget = _budget_for(0.89)
    calm = store.plan(fleet, monthly_api_budget_usd=budget)
    assert (calm.hot_s, calm.cold_s, calm.promoted) == (300, 3600, 0)
    assert calm.estimated_usd == pytest.approx(20 * 720 * 1e-5)
    for i in range(5):
        store.alarm(f"gpu-{i}-hot", "ALARM", ENDPOINTS_NS, "GPUUtilization", _dims(f"gpu-{i}"))
    plan = store.plan(fleet, monthly_api_budget_usd=budget)
    assert plan.promoted == plan.hot == 10 and plan.series_promoted == 5
    assert plan.hot_s == 300 and plan.cold_s > 3600  # the cold cadence pays for the promotions first
    assert plan.estimated_usd <= plan.budget_usd == pytest.approx(0.89)
    assert (plan.hot_s, plan.cold_s, plan.estimated_usd) == cwm.fit_budget(10, 10, 300, 3600, plan.budget_usd)
    assert {sid for sid, _ in _polled(plan)} == {sid for sid, c in plan.poll_class.items() if c == "hot (alarm)"}


def test_promotions_beyond_the_budget_stretch_the_hot_cadence_too(store):
    fleet = _fleet(10)
    for i in range(10):
        store.alarm(f"gpu-{i}-hot", "ALARM", ENDPOINTS_NS, "GPUUtilization", _dims(f"gpu-{i}"))
    plan = store.plan(fleet, polled_ago=timedelta(minutes=7), monthly_api_budget_usd=_budget_for(0.5))
    assert plan.promoted == 20 and plan.hot_s > 300  # 20 pairs every 5 minutes cost $1.73 a month
    assert plan.estimated_usd <= plan.budget_usd
    # polled 7 minutes ago: due at the configured 5 minutes, deferred at the stretched hot cadence
    assert plan.queries == [] and plan.deferred == 20


def test_a_store_of_schema_version_2_gains_the_promotion_columns_and_keeps_its_polls(tmp_path):
    from sextant.schema import SCHEMA_VERSION, ident
    new = {"series_promoted", "queries_promoted", "promoted_monthly_usd"}
    w = Writer(tmp_path / "old")
    try:
        old_cols = [c for c in cwm.POLL.columns if c.name not in new]
        w.con.execute(f"CREATE TABLE {ident(cwm.POLL.name)} ("  # the poll table as version 2 made it
                      + ", ".join(f"{ident(c.name)} {c.type}" for c in old_cols) + ")")
        w.con.execute(f"INSERT INTO {ident(cwm.POLL.name)} (account_id, region, polled_at, queries) "
                      "VALUES (?, ?, ?, ?)", [ACCOUNT, REGION, NOW, 7])
        collectors.migrate(w)
        assert w.con.execute("SELECT max(version) FROM sextant_schema").fetchone() == (SCHEMA_VERSION,)
        assert w.con.execute("SELECT queries, series_promoted, queries_promoted, promoted_monthly_usd "
                             "FROM aws_cloudwatch_metric_poll").fetchall() == [(7, None, None, None)]
    finally:
        w.close()
