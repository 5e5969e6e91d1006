"""The emulated account as a whole: deterministic from its seed, and live."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from demo import scale_check
from tests.conftest import start_account, stop_account


def _fingerprint(acc, end: datetime) -> dict:
    sm = acc.client("sagemaker")
    endpoints = sorted((e["EndpointName"], e["CreationTime"].isoformat())
                       for e in sm.get_paginator("list_endpoints").paginate().build_full_result()["Endpoints"])
    summaries = sm.get_paginator("list_training_jobs").paginate().build_full_result()["TrainingJobSummaries"]
    jobs = sorted((j["TrainingJobName"], j["TrainingJobStatus"], j["CreationTime"].isoformat()) for j in summaries)
    dims = [{"Name": "EndpointName", "Value": "fraud-txn-scorer-prod"}, {"Name": "VariantName", "Value": "AllTraffic"}]
    data = acc.client("cloudwatch").get_metric_data(
        MetricDataQueries=[{"Id": "m", "MetricStat": {"Metric": {"Namespace": "AWS/SageMaker",
                                                                   "MetricName": "Invocations", "Dimensions": dims},
                                                        "Period": 300, "Stat": "Sum"}}],
        StartTime=end - timedelta(days=2), EndTime=end)["MetricDataResults"][0]
    return {"endpoints": endpoints, "jobs": jobs, "invocations": list(zip(data["Timestamps"], data["Values"],
                                                                          strict=True))}


@pytest.mark.slow
def test_the_same_seed_gives_the_same_account(tmp_path):
    end = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)  # one window for both
    first = start_account(tmp_path, seed=11, live=False)
    try:
        a = _fingerprint(first, end)
    finally:
        stop_account(first)
    second = start_account(tmp_path, seed=11, live=False)
    try:
        b = _fingerprint(second, end)
    finally:
        stop_account(second)
    assert a["endpoints"] and a["jobs"] and a["invocations"]
    assert a == b


@pytest.mark.slow
def test_scaling_up_through_boto3_lowers_cpu_and_latency_within_two_minutes(tmp_path, monkeypatch):
    # Under load at any hour: the champion gets 0.8 of 7,000 invocations a minute, about 0.55 of its 3
    # instances' capacity (latency × 1.5 over idle; × 1.1 on 6). In the nightly trough without the surge,
    # utilisation is below 0.1 and latency is flat in the instance count, as on a real endpoint.
    acc = start_account(tmp_path, args=["--surge", "search-ranker-prod=7000"])
    try:
        for k, v in acc.env.items():
            monkeypatch.setenv(k, v)
        out = io.StringIO()
        r = scale_check.run("search-ranker-prod", None, out=out)
    finally:
        stop_account(acc)
    assert r["count_after"] == 2 * r["count_before"]
    assert r["waited_s"] <= 120 + 5, out.getvalue()
    # the model: CPU ≈ 3 + 88 × demand / (instances × capacity), so doubling instances about halves CPU
    assert r["cpu_after"] < 0.75 * r["cpu_before"], out.getvalue()
    assert r["latency_after"] < r["latency_before"], out.getvalue()
