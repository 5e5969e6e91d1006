"""Freshness that follows attention, against the emulated account: with an alarm in ALARM on an endpoint's
GPUUtilization, a collection a few minutes after the last one brings that GPU series to the last minutes; without
the alarm (or once it is back to OK) the series waits for the cold cadence.

A private account (the test adds an alarm and removes the endpoint's own alarms, so that only the test's alarm
decides). "A few minutes later" is the store set back: every series cursor of the metrics source moved back and the
points since removed, as if the last poll had run that long ago; the collections themselves are the real ones."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from sextant.settings import CollectSettings
from tests.collectors.conftest import Collection, ok
from tests.conftest import Account

ENDPOINT = "nlp-summarizer-prod"  # a GPU endpoint of the demo's main account
SOURCES = ["sagemaker_endpoints", "cloudwatch_alarms", "cloudwatch_metrics"]
GAP = timedelta(minutes=10)  # since the last poll: past the hot cadence (5 min), well within the cold one (1 h)
FRESH = timedelta(minutes=2)
ALARM_NAME = "attention-test-gpu"


def _own_alarms_removed(acc: Account) -> None:
    """The endpoint's own alarms deleted: only the test's alarm decides whether it is in ALARM."""
    cw = acc.client("cloudwatch")
    own = [a["AlarmName"] for p in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=ENDPOINT)
           for a in p["MetricAlarms"]]
    if own:
        cw.delete_alarms(AlarmNames=own)


def _gpu_alarm(acc: Account, state: str) -> None:
    """The test's alarm on the endpoint's GPUUtilization, in ``state``: its threshold always (ALARM) or never (OK)
    breached, so the emulated account's own evaluations keep that state."""
    cw = acc.client("cloudwatch")
    breach = state == "ALARM"
    cw.put_metric_alarm(
        AlarmName=ALARM_NAME, Namespace="/aws/sagemaker/Endpoints", MetricName="GPUUtilization",
        Dimensions=[{"Name": "EndpointName", "Value": ENDPOINT}, {"Name": "VariantName", "Value": "AllTraffic"}],
        Statistic="Average", Period=60, EvaluationPeriods=1, Threshold=-1.0 if breach else 1e9,
        ComparisonOperator="GreaterThanThreshold" if breach else "LessThanThreshold", TreatMissingData="ignore")
    cw.set_alarm_state(AlarmName=ALARM_NAME, StateValue=state, StateReason="set by the attention test")




def _gpu(c: Collection) -> tuple[str, datetime, datetime]:
    """The endpoint's GPUUtilization series: its poll class, newest Average point, and the last poll's time."""
    [(poll_class, newest)] = c.query(
        "SELECT s.poll_class, max(p.ts) FROM aws_cloudwatch_metric_series s JOIN aws_cloudwatch_metric_point p "
        "USING (account_id, region, series_id) WHERE s.endpoint_name = ? AND s.metric_name = 'GPUUtilization' "
        "AND p.stat = 'Average' GROUP BY ALL", [ENDPOINT])
    [(polled_at,)] = c.query("SELECT max(polled_at) FROM aws_cloudwatch_metric_poll")
    return poll_class, newest, polled_at


def _classes(c: Collection) -> dict[str, int]:
    """The endpoint's series per poll class."""
    return dict(c.query("SELECT poll_class, count(*) FROM aws_cloudwatch_metric_series WHERE endpoint_name = ? "
                        "GROUP BY ALL", [ENDPOINT]))


def _poll(c: Collection) -> tuple[int, int, float, float, float]:
    [row] = c.query("SELECT series_promoted, queries_promoted, promoted_monthly_usd, estimated_monthly_usd, "
                    "budget_usd FROM aws_cloudwatch_metric_poll ORDER BY polled_at DESC LIMIT 1")
    return row


def test_an_alarm_in_alarm_on_gpu_brings_the_gpu_series_to_the_last_minutes(fresh_account, tmp_path, monkeypatch):
    private = fresh_account
    for k, v in private.env.items():
        monkeypatch.setenv(k, v)
    _own_alarms_removed(private)
    c = Collection(tmp_path / "store")
    c.settings = replace(c.settings, collect=CollectSettings(backfill_days=1))  # hot 5 min, cold 1 h, $10

    # without the alarm: a collection a few minutes after the last one leaves the GPU series on the cold cadence
    ok(c.run(sources=SOURCES))
    c.set_back(GAP)
    ok(c.run(sources=SOURCES))
    poll_class, newest, polled_at = _gpu(c)
    assert poll_class == "cold" and polled_at - newest > GAP
    assert set(_classes(c)) <= {"hot", "cold"}  # the demo's other endpoints may have alarms in ALARM: not this one

    # the alarm fires: the next collection, a few minutes later, reads the GPU series to the last minutes
    _gpu_alarm(private, "ALARM")
    c.set_back(GAP)
    ok(c.run(sources=SOURCES))
    poll_class, newest, polled_at = _gpu(c)
    assert poll_class == "hot (alarm)"
    assert polled_at - newest <= FRESH, (polled_at, newest)
    classes = _classes(c)  # Invocations and 5xx may be hot anyway (traffic): every other series is promoted
    assert classes["hot (alarm)"] == 1 and classes["hot (endpoint alarm)"] >= sum(classes.values()) - 3
    assert "cold" not in classes  # CPU, memory, p50/p90, 4xx: every series of the endpoint
    series, queries, usd, estimated, budget = _poll(c)
    assert series >= classes["hot (alarm)"] + classes["hot (endpoint alarm)"] and queries > series and usd > 0
    assert estimated <= budget

    # back to OK: the series return to their class
    _gpu_alarm(private, "OK")
    ok(c.run(sources=SOURCES))
    assert _gpu(c)[0] == "cold"
    assert set(_classes(c)) <= {"hot", "cold"}
