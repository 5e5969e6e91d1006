"""dashboard.queries.incidents on tiny stores: error bursts, cost spikes, the timeline, alarm periods."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard.queries import incidents as iq
from tests.dashboard.queries.conftest import END, f

ACCOUNT = "111111111111"
REGION = "us-east-1"
START = END - timedelta(hours=6)


def _error(i, at, endpoint="a", level="ERROR", message="boom"):
    return {"account_id": ACCOUNT, "region": REGION, "log_group": "g", "log_stream": "s", "event_id": str(i),
            "ts": at, "level": level, "message": message, "endpoint_name": endpoint}


def _endpoint(name, team="vision"):
    return {"account_id": ACCOUNT, "region": REGION, "endpoint_name": name, "team": team, "status": "InService"}


def _alarm(name, endpoint="a"):
    return {"account_id": ACCOUNT, "region": REGION, "alarm_name": name, "endpoint_name": endpoint,
            "metric_name": "ModelLatency", "state_value": "OK"}


def _change(alarm, at, new, old=None):
    return {"account_id": ACCOUNT, "region": REGION, "alarm_name": alarm, "ts": at, "new_state": new,
            "old_state": old}


T = END - timedelta(hours=3)
ERRORS = [_error(1, T, message="first"), _error(2, T + timedelta(seconds=20)), _error(3, T + timedelta(minutes=2)),
          _error(4, T + timedelta(minutes=20), message="second burst"),
          _error(5, T + timedelta(minutes=1), level="INFO"), _error(6, T, endpoint="b")]


def test_error_lines_of_an_endpoint_group_into_bursts_split_by_gaps(tiny_store):
    tiny_store(aws_logs_event=ERRORS)
    bursts = iq.error_bursts(ACCOUNT, REGION, "a", START, END)
    assert bursts.lines.tolist() == [3, 1]
    assert bursts.time.iloc[0] == pd.Timestamp(T) and bursts.end.iloc[0] == pd.Timestamp(T + timedelta(minutes=3))
    assert bursts.peak_per_min.tolist() == [2, 1]
    assert bursts["sample"].iloc[1] == "second burst"
    per_min = iq.error_counts_per_minute(ACCOUNT, REGION, "a", START, END)
    assert per_min.events.tolist() == [2, 1, 1] and set(per_min.level) == {"ERROR"}


def test_endpoint_errors_rank_endpoints_by_error_lines(tiny_store):
    tiny_store(aws_logs_event=ERRORS)
    assert iq.endpoint_errors(START, END).values.tolist() == [["a", 4], ["b", 1]]
    assert iq.endpoint_errors(END, END + timedelta(hours=1)).empty


def _team_cost(day, usd):
    return {"account_id": ACCOUNT, "region": REGION, "date": day, "group_by_kind": "TAG:team/SERVICE",
            "key1": "vision", "key2": "Amazon SageMaker", "unblended_cost_usd": usd}


def test_a_cost_spike_is_a_day_well_above_the_trailing_week(tiny_store):
    days = [END.date() - timedelta(days=d) for d in range(10, -1, -1)]
    costs = [100.0] * 9 + [200.0, 101.0]  # the day before END jumps, END's day is normal
    tiny_store(aws_cost_daily=[_team_cost(d, c) for d, c in zip(days, costs, strict=True)])
    spikes = iq.cost_spikes("vision", END - timedelta(days=3), END)
    assert len(spikes) == 1
    assert spikes.time.iloc[0] == pd.Timestamp(days[-2], tz=UTC)
    assert spikes.cost_usd.iloc[0] == 200.0 and spikes.change.iloc[0] == pytest.approx(1.0)
    assert iq.cost_spikes(None, START, END).empty  # no team, no spikes


def test_the_timeline_orders_deploys_alarms_and_error_bursts(tiny_store):
    cfg_time = START + timedelta(hours=1)
    tiny_store(aws_sagemaker_endpoint=[{**_endpoint("a"), "endpoint_config_name": "a-1"}],
               aws_sagemaker_endpoint_config=[{
                   "account_id": ACCOUNT, "region": REGION, "endpoint_config_name": "a-1", "creation_time": cfg_time,
                   "variants": json.dumps([{"variant_name": "AllTraffic", "model_name": "m1",
                                            "instance_type": "ml.m5.large", "initial_instance_count": 1}])}],
               aws_cloudwatch_alarm=[_alarm("a-p99")],
               aws_cloudwatch_alarm_state_change=[_change("a-p99", T + timedelta(minutes=1), "ALARM", "OK"),
                                                  _change("a-p99", START - timedelta(hours=1), "ALARM", "OK")],
               aws_logs_event=ERRORS)
    tl = iq.incident_timeline(ACCOUNT, REGION, "a", START, END)
    assert tl.kind.tolist() == ["create", "error logs", "alarm", "error logs"]
    assert tl.time.is_monotonic_increasing
    assert tl.what.iloc[2] == "a-p99: OK → ALARM"
    assert tl.what.iloc[1] == "3 ERROR lines over 3 min (peak 2/min)"


def test_alarm_periods_merge_close_alarms_per_endpoint_newest_first(tiny_store):
    t = END - timedelta(days=1)
    tiny_store(aws_sagemaker_endpoint=[_endpoint("a"), _endpoint("b", team="nlp")],
               aws_cloudwatch_alarm=[_alarm("a-p99"), _alarm("a-5xx"), _alarm("b-p99", endpoint="b")],
               aws_cloudwatch_alarm_state_change=[
                   _change("a-p99", t, "ALARM"), _change("a-p99", t + timedelta(minutes=30), "OK"),
                   _change("a-5xx", t + timedelta(minutes=50), "ALARM"),  # 20 min after: the same period
                   _change("a-5xx", t + timedelta(minutes=70), "OK"),
                   _change("a-p99", t + timedelta(hours=5), "ALARM"),  # hours later: a new period, still on
                   _change("b-p99", t - timedelta(days=9), "ALARM"),  # older than the 7 days
                   _change("b-p99", t - timedelta(days=8), "OK")])
    periods = iq.alarm_periods(f())
    assert periods.endpoint_name.tolist() == ["a", "a"]
    assert periods.state.tolist() == ["ongoing", "resolved"]
    first = periods.iloc[1]
    assert first.alarms == "a-5xx, a-p99" and first.minutes == 70
    assert pd.isna(periods.iloc[0].end)
    assert iq.alarm_periods(f(teams=["nlp"])).empty  # the scope filter applies to the endpoint


def test_incident_queries_of_an_empty_store(tiny_store):
    tiny_store()
    assert iq.incident_timeline(ACCOUNT, REGION, "a", START, END).empty
    assert list(iq.alarm_periods(f()).columns) == ["endpoint_name", "start", "end", "state", "minutes", "alarms",
                                                   "account_id", "region"]
    assert list(iq.endpoint_errors(START, END).columns) == ["endpoint_name", "errors"]


def test_cost_spikes_window_is_by_day(tiny_store):
    tiny_store(aws_cost_daily=[_team_cost(datetime(2026, 11, d).date(), 100.0) for d in range(1, 11)]
               + [_team_cost(datetime(2026, 11, 11).date(), 500.0)])
    in_range = iq.cost_spikes("vision", datetime(2026, 11, 11, 23, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC))
    assert len(in_range) == 1
    assert iq.cost_spikes("vision", datetime(2026, 11, 12, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC)).empty
