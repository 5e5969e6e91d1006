"""CloudWatch in the emulated account, checked like a client would: plain boto3 against the running server."""

from __future__ import annotations

import inspect
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from demo import model, prices
from demo.metrics import training_curve
from demo.world import MAIN_ACCOUNT, build_world

INV, INST = model.INVOCATION_NAMESPACE, model.INSTANCE_NAMESPACE
TRAINING = "/aws/sagemaker/TrainingJobs"
WORLD = build_world(7)


def dims(endpoint: str, variant: str, reverse: bool = False) -> list[dict[str, str]]:
    out = [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}]
    return out[::-1] if reverse else out


def query(qid: str, namespace: str, metric: str, endpoint: str, variant: str = "AllTraffic", stat: str = "Sum",
          period: int = 60, **extra) -> dict:
    return {"Id": qid, "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric,
                                                 "Dimensions": dims(endpoint, variant)},
                                      "Period": period, "Stat": stat}, **extra}


def fetch(cw, queries: list[dict], start: datetime, end: datetime, **kwargs) -> dict[str, dict]:
    """All pages of GetMetricData, ascending, merged by Id."""
    out: dict[str, dict] = {}
    for page in cw.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending", **kwargs):
        for r in page["MetricDataResults"]:
            acc = out.setdefault(r["Id"], {"Label": r["Label"], "Timestamps": [], "Values": []})
            acc["Timestamps"] += r["Timestamps"]
            acc["Values"] += r["Values"]
    return out


def series(cw, q: dict, start: datetime, end: datetime) -> tuple[list[datetime], list[float]]:
    r = fetch(cw, [q], start, end)[q["Id"]]
    return r["Timestamps"], r["Values"]


@pytest.fixture(scope="module")
def cw(account):
    return account.client("cloudwatch")


def now_minute() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def test_idle_endpoint_served_nothing_for_14_days(cw):
    idle = WORLD.idle_endpoint()
    end = WORLD.anchor
    start = end - timedelta(days=14)
    _, idle_sums = series(cw, query("idle", INV, "Invocations", idle.name, stat="Sum", period=86400), start, end)
    _, busy_sums = series(cw, query("busy", INV, "Invocations", "fraud-txn-scorer-prod", stat="Sum", period=86400),
                          start, end)
    assert len(idle_sums) == 14 and set(idle_sums) == {0.0}
    assert len(busy_sums) == 14 and min(busy_sums) > 1_000_000


def test_incident_shows_latency_spike_and_5xx_burst(cw):
    e = WORLD.incident_endpoint()
    start, end = e.incident.start, e.incident.end
    day = timedelta(days=1)
    p99 = query("p99", INV, "ModelLatency", e.name, stat="p99", period=300)
    errors = query("err", INV, "Invocation5XXErrors", e.name, stat="Sum", period=300)
    during = fetch(cw, [p99, errors], start, end)
    before = fetch(cw, [p99, errors], start - day, end - day)
    assert len(during["p99"]["Values"]) == 14
    assert max(during["p99"]["Values"]) > 4 * max(before["p99"]["Values"])
    assert sum(during["err"]["Values"]) > 50 * max(1.0, sum(before["err"]["Values"]))


def _main_account_queries(n: int) -> list[dict]:
    stats = ["Sum", "Average", "Maximum", "p99"]
    out = []
    for e in (x for x in WORLD.endpoints if x.account == MAIN_ACCOUNT):
        for v in e.variants:
            for ns, metric in [(INV, "Invocations"), (INV, "Invocation4XXErrors"), (INV, "Invocation5XXErrors"),
                               (INST, "CPUUtilization"),
                               (INST, "MemoryUtilization"), (INST, "DiskUtilization")]:
                stat = stats[len(out) % len(stats)] if ns == INST else "Sum"
                out.append(query(f"q{len(out)}", ns, metric, e.name, v.name, stat=stat))
    assert len(out) >= n
    return out[:n]


def test_sixty_series_over_a_day_at_one_minute_answer_fast(account):
    # botocore turns each of the 86,400 epoch timestamps into a tzlocal datetime, which alone takes seconds
    # on a small machine; this measures the account (request, computation, serialisation, transfer).
    session = boto3.Session(aws_access_key_id=account.env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=account.env["AWS_SECRET_ACCESS_KEY"], region_name="us-east-1")
    session._session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=float)
    cw = session.client("cloudwatch", endpoint_url=account.url)
    queries = _main_account_queries(60)
    end = now_minute()
    started = time.monotonic()
    resp = cw.get_metric_data(MetricDataQueries=queries, StartTime=end - timedelta(hours=24), EndTime=end)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0, f"60 series x 24 h took {elapsed:.2f} s"
    assert "NextToken" not in resp
    counts = [len(r["Values"]) for r in resp["MetricDataResults"]]
    assert len(counts) == 60 and all(1435 <= c <= 1440 for c in counts), counts


def test_hourly_sum_equals_sum_of_minutes(cw):
    start = WORLD.anchor - timedelta(days=1) + timedelta(hours=10)
    end = start + timedelta(hours=3)
    q = query("m", INV, "Invocations", "search-ranker-prod", "champion")
    minute_ts, minute_vals = series(cw, q, start, end)
    hour_ts, hour_vals = series(cw, {**q, "MetricStat": {**q["MetricStat"], "Period": 3600}}, start, end)
    counts = series(cw, {**q, "MetricStat": {**q["MetricStat"], "Period": 3600, "Stat": "SampleCount"}}, start, end)[1]
    assert len(minute_vals) == 180 and len(hour_vals) == 3 and counts == [60.0, 60.0, 60.0]
    for i, ts in enumerate(hour_ts):
        in_hour = [v for t, v in zip(minute_ts, minute_vals, strict=True) if ts <= t < ts + timedelta(hours=1)]
        assert hour_vals[i] == pytest.approx(sum(in_hour))


def test_percentiles_are_ordered(cw):
    end = now_minute()
    start = end - timedelta(hours=6)
    for e in ("fraud-txn-scorer-prod", "nlp-summarizer-prod", "search-query-embed-prod"):
        got = fetch(cw, [query(s.lower().replace(".", "_"), INV, "ModelLatency", e, stat=s, period=300)
                         for s in ("Minimum", "p50", "p90", "p99", "p99.9", "Maximum")], start, end)
        lo, p50, p90, p99, p999, hi = (got[k]["Values"] for k in ("minimum", "p50", "p90", "p99", "p99_9", "maximum"))
        assert len(p50) >= 70
        for row in zip(lo, p50, p90, p99, p999, hi, strict=True):
            assert list(row) == sorted(row), (e, row)


def test_dimension_order_is_free_namespace_is_not(cw):
    end = now_minute()
    start = end - timedelta(hours=1)
    q = query("a", INV, "Invocations", "fraud-txn-scorer-prod")
    reordered = {**q, "Id": "b"}
    reordered["MetricStat"] = {**q["MetricStat"], "Metric": {**q["MetricStat"]["Metric"],
                                                             "Dimensions": dims("fraud-txn-scorer-prod", "AllTraffic",
                                                                                reverse=True)}}
    wrong_ns = {**q, "Id": "c"}
    wrong_ns["MetricStat"] = {**q["MetricStat"], "Metric": {**q["MetricStat"]["Metric"], "Namespace": INST}}
    got = fetch(cw, [q, reordered, wrong_ns], start, end)
    assert got["a"]["Values"] and got["a"]["Values"] == got["b"]["Values"]
    assert got["c"]["Values"] == []


def test_old_data_is_five_minute_resolution(cw):
    start = WORLD.anchor - timedelta(days=20) + timedelta(hours=9, minutes=2)
    ts, vals = series(cw, query("old", INST, "CPUUtilization", "fraud-txn-scorer-prod", stat="Average"),
                      start, start + timedelta(hours=2, minutes=-2))
    assert len(vals) == 24 and ts[0] == start - timedelta(minutes=2)
    assert all(t.minute % 5 == 0 and t.second == 0 for t in ts)
    recent = now_minute() - timedelta(hours=3)
    ts, vals = series(cw, query("new", INST, "CPUUtilization", "fraud-txn-scorer-prod", stat="Average"),
                      recent, recent + timedelta(hours=2))
    assert len(vals) == 120


def test_label_id_returndata_unit_and_scan_order(cw):
    end = now_minute()
    start = end - timedelta(minutes=30)
    queries = [query("shown", INV, "Invocations", "fraud-txn-scorer-prod", Label="fraud calls"),
               query("hidden", INV, "Invocations", "fraud-txn-scorer-prod", ReturnData=False),
               query("default", INV, "ModelLatency", "fraud-txn-scorer-prod", stat="Average"),
               {**query("unit", INV, "ModelLatency", "fraud-txn-scorer-prod", stat="Average")}]
    queries[3]["MetricStat"]["Unit"] = "Seconds"
    resp = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)
    by_id = {r["Id"]: r for r in resp["MetricDataResults"]}
    assert set(by_id) == {"shown", "default", "unit"}
    assert by_id["shown"]["Label"] == "fraud calls" and by_id["default"]["Label"] == "ModelLatency"
    assert by_id["unit"]["Values"] == []
    stamps = by_id["shown"]["Timestamps"]
    assert len(stamps) == 30 and stamps == sorted(stamps, reverse=True)  # TimestampDescending by default


def test_max_datapoints_paginates_with_partial_data(cw):
    end = now_minute()
    start = end - timedelta(hours=2)
    queries = [query("a", INV, "Invocations", "fraud-txn-scorer-prod"),
               query("b", INST, "CPUUtilization", "fraud-txn-scorer-prod", stat="Average")]
    first = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end, MaxDatapoints=100)
    assert first["NextToken"] and first["MetricDataResults"][0]["StatusCode"] == "PartialData"
    assert sum(len(r["Values"]) for r in first["MetricDataResults"]) == 100
    whole = fetch(cw, queries, start, end)
    paged = fetch(cw, queries, start, end, MaxDatapoints=100)
    assert paged == whole and len(whole["a"]["Values"]) == 120


def test_query_limits_are_enforced(cw):
    end = now_minute()
    too_many = [query(f"q{i}", INV, "Invocations", "fraud-txn-scorer-prod") for i in range(501)]
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(MetricDataQueries=too_many, StartTime=end - timedelta(hours=1), EndTime=end)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "500" in err.value.response["Error"]["Message"]
    duplicate = [query("same", INV, "Invocations", "fraud-txn-scorer-prod")] * 2
    with pytest.raises(ClientError) as err:
        cw.get_metric_data(MetricDataQueries=duplicate, StartTime=end - timedelta(hours=1), EndTime=end)
    assert err.value.response["Error"]["Code"] == "ValidationError"


def _list_all(cw, **kwargs) -> list[dict]:
    return [m for page in cw.get_paginator("list_metrics").paginate(**kwargs) for m in page["Metrics"]]


def test_list_metrics_one_entry_per_series_gpu_only_on_gpu(cw):
    metrics = _list_all(cw)
    keys = [(m["Namespace"], m["MetricName"], frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]))
            for m in metrics]
    assert len(keys) == len(set(keys))
    main = [e for e in WORLD.endpoints if e.account == MAIN_ACCOUNT]
    for e in main:
        for v in e.variants:
            mine = {name for ns, name, d in keys if ns in (INV, INST) and d == frozenset(
                {("EndpointName", e.name), ("VariantName", v.name)})}
            expected = set(model.INVOCATION_METRICS + model.INSTANCE_METRICS)
            if prices.is_gpu(v.instance_type):
                expected |= set(model.GPU_METRICS)
            assert mine == expected, (e.name, v.name)
    # a job's series exist once its first epoch is logged (the account logs epochs once a minute), so a job
    # whose first epoch falls in the last minute may or may not be listed yet
    now = datetime.now(UTC)
    first_epoch = {j.name: training_curve(WORLD, j)[0][0]
                   for j in WORLD.training_jobs if j.account == MAIN_ACCOUNT}
    logged = {n for n, t in first_epoch.items() if t <= now - timedelta(minutes=1)}
    maybe = {n for n, t in first_epoch.items() if now - timedelta(minutes=1) < t <= now}
    hosts = {}
    for ns, name, d in keys:
        if ns == TRAINING:
            hosts.setdefault(dict(d)["Host"].removesuffix("/algo-1"), set()).add(name)
    assert logged <= set(hosts) <= logged | maybe, (logged ^ set(hosts))
    assert all(names == {"train:loss", "validation:auc"} for names in hosts.values())


def test_list_metrics_filters(cw):
    idle = WORLD.idle_endpoint()
    got = _list_all(cw, Namespace=INV, MetricName="Invocations", Dimensions=[{"Name": "EndpointName",
                                                                              "Value": idle.name}])
    assert [(m["MetricName"], {d["Name"]: d["Value"] for d in m["Dimensions"]}) for m in got] == [
        ("Invocations", {"EndpointName": idle.name, "VariantName": "AllTraffic"})]
    gpu = _list_all(cw, Namespace=INST, MetricName="GPUUtilization")
    gpu_variants = {(e.name, v.name) for e in WORLD.endpoints if e.account == MAIN_ACCOUNT for v in e.variants
                    if prices.is_gpu(v.instance_type)}
    assert {tuple(d["Value"] for d in m["Dimensions"]) for m in gpu} == gpu_variants


def test_training_metrics_follow_the_job(cw):
    job = next(j for j in reversed(WORLD.training_jobs) if j.account == MAIN_ACCOUNT and j.status == "Completed"
               and j.epochs >= 20)
    host = [{"Name": "Host", "Value": f"{job.name}/algo-1"}]
    names = {m["MetricName"] for m in _list_all(cw, Namespace=TRAINING, Dimensions=host)}
    assert names == {"train:loss", "validation:auc"}

    def q(qid, name, stat):
        return {"Id": qid, "MetricStat": {"Metric": {"Namespace": TRAINING, "MetricName": name, "Dimensions": host},
                                          "Period": 60, "Stat": stat}}

    got = fetch(cw, [q("loss", "train:loss", "Minimum"), q("auc", "validation:auc", "Maximum")],
                job.start - timedelta(minutes=5), job.end + timedelta(minutes=5))
    loss, auc = got["loss"]["Values"], got["auc"]["Values"]
    assert len(auc) >= 10
    assert loss[0] > loss[-1] + 0.2 and auc[0] < auc[-1]
    assert auc[-1] == pytest.approx(job.final_metrics["validation:auc"], abs=0.005)


def test_alarms_reflect_the_model(cw):
    alarms = {a["AlarmName"]: a for page in cw.get_paginator("describe_alarms").paginate()
              for a in page["MetricAlarms"]}
    incident = WORLD.incident_endpoint()
    p99 = alarms[f"{incident.name}-p99-latency"]
    assert p99["ExtendedStatistic"] == "p99" and p99["MetricName"] == "ModelLatency"
    assert {d["Name"] for d in p99["Dimensions"]} == {"EndpointName", "VariantName"}
    assert f"{incident.name}-5xx-errors" in alarms
    idle = alarms[f"{WORLD.idle_endpoint().name}-no-invocations"]
    assert idle["StateValue"] == "ALARM" and idle["StateReason"].startswith("Threshold Crossed: ")
    assert "were less than the threshold (1)" in idle["StateReason"]

    history = cw.describe_alarm_history(AlarmName=p99["AlarmName"], HistoryItemType="StateUpdate",
                                        ScanBy="TimestampAscending")["AlarmHistoryItems"]
    to_alarm = [h["Timestamp"] for h in history if h["HistorySummary"] == "Alarm updated from OK to ALARM"]
    to_ok = [h["Timestamp"] for h in history if h["HistorySummary"] == "Alarm updated from ALARM to OK"]
    assert any(incident.incident.start <= t <= incident.incident.start + timedelta(minutes=10) for t in to_alarm)
    assert any(incident.incident.end <= t <= incident.incident.end + timedelta(minutes=10) for t in to_ok)


def _records_scaling() -> bool:
    from demo import sagemaker_fill

    return "update_endpoint_weights_and_capacities" in inspect.getsource(sagemaker_fill)


@pytest.mark.slow
@pytest.mark.skipif(not _records_scaling(), reason="demo.sagemaker_fill does not yet record "
                    "UpdateEndpointWeightsAndCapacities in the world timeline; the metrics cannot see the scaling")
def test_scaling_a_variant_changes_its_metrics(fresh_account):
    cw, sm = fresh_account.client("cloudwatch"), fresh_account.client("sagemaker")
    name = "fraud-txn-scorer-prod"
    changed = now_minute() + timedelta(minutes=1)
    sm.update_endpoint_weights_and_capacities(EndpointName=name, DesiredWeightsAndCapacities=[
        {"VariantName": "AllTraffic", "DesiredInstanceCount": 1, "DesiredWeight": 1.0}])
    time.sleep(max(0.0, (changed + timedelta(minutes=1, seconds=5) - datetime.now(UTC)).total_seconds()))
    cpu = fetch(cw, [query("cpu", INST, "CPUUtilization", name, stat="Average")],
                changed - timedelta(minutes=30), changed + timedelta(minutes=1))["cpu"]
    before, after = cpu["Values"][:-1], cpu["Values"][-1]
    assert after > 1.3 * (sum(before) / len(before))  # one instance now takes the whole load


def test_list_metrics_pages_stored_metrics_once_per_series(fresh_account):
    cw = fresh_account.client("cloudwatch")
    modelled = len(_list_all(cw))
    when = now_minute() - timedelta(minutes=10)
    for batch in range(4):  # 40 series x 3 datapoints, with two dimensions each
        cw.put_metric_data(Namespace="Sextant/Test", MetricData=[
            {"MetricName": "Latency", "Dimensions": [{"Name": "Service", "Value": f"svc-{batch}-{i}"},
                                                     {"Name": "Stage", "Value": "prod"}],
             "Timestamp": when + timedelta(minutes=k), "Value": float(k)}
            for i in range(10) for k in range(3)])
    first = cw.list_metrics()
    assert len(first["Metrics"]) == 500 and first["NextToken"]
    second = cw.list_metrics(NextToken=first["NextToken"])
    assert "NextToken" not in second and len(first["Metrics"]) + len(second["Metrics"]) == modelled + 40
    custom = _list_all(cw, Namespace="Sextant/Test", Dimensions=[{"Name": "Stage", "Value": "prod"}])
    assert len(custom) == 40
    with pytest.raises(ClientError) as err:
        cw.list_metrics(NextToken="not-a-token")
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
