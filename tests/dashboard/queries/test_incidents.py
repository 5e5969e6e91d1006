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


def _watch(name, endpoint, metric, namespace, state="OK", since=None, *, stat=None, pct=None, period=60,
           threshold=1.0):
    return {"account_id": ACCOUNT, "region": REGION, "alarm_name": name, "endpoint_name": endpoint,
            "metric_name": metric, "namespace": namespace, "state_value": state, "state_updated_at": since,
            "statistic": stat, "extended_statistic": pct, "period_s": period, "threshold": threshold,
            "comparison_operator": "GreaterThanThreshold"}


SM, INST = "AWS/SageMaker", "/aws/sagemaker/Endpoints"


def test_the_page_opens_on_the_alarm_in_alarm_now_the_newest_first(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("a"), _endpoint("b"), _endpoint("c"), _endpoint("d", team="nlp")],
               aws_cloudwatch_alarm=[
                   _watch("a-p99", "a", "ModelLatency", SM, "ALARM", END - timedelta(hours=2), pct="p99"),
                   _watch("b-gpu", "b", "GPUUtilization", INST, "ALARM", END - timedelta(minutes=30), stat="Average"),
                   _watch("c-5xx", "c", "Invocation5XXErrors", SM, "OK", END - timedelta(minutes=5), stat="Sum"),
                   _watch("d-gpu", "d", "GPUUtilization", INST, "ALARM", END - timedelta(minutes=1), stat="Average")])
    on = iq.ongoing_alarms(f(teams=["vision"]))
    assert on.endpoint_name.tolist() == ["b", "a"]  # the quiet c is not an incident; d is out of scope
    assert on.alarm_name.iloc[0] == "b-gpu" and on.since.iloc[0] == pd.Timestamp(END - timedelta(minutes=30))
    assert iq.ongoing_alarms(f()).endpoint_name.iloc[0] == "d"


def test_alarm_intervals_are_the_alarm_periods_clipped_to_the_window(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("a")],
               aws_cloudwatch_alarm=[
                   _watch("a-p99", "a", "ModelLatency", SM, "ALARM", START + timedelta(hours=2), pct="p99"),
                   _watch("a-5xx", "a", "Invocation5XXErrors", SM, "ALARM", END + timedelta(hours=1), stat="Sum")],
               aws_cloudwatch_alarm_state_change=[
                   _change("a-p99", START - timedelta(hours=1), "ALARM", "OK"),  # in ALARM when the window opens
                   _change("a-p99", START - timedelta(minutes=10), "ALARM", "ALARM"),  # still the same period
                   _change("a-p99", START + timedelta(minutes=30), "OK", "ALARM"),
                   _change("a-p99", START + timedelta(hours=2), "ALARM", "OK"),  # and again, until now
                   _change("a-5xx", END + timedelta(hours=1), "ALARM", "OK")])  # after the window
    iv = iq.alarm_intervals(ACCOUNT, REGION, "a", START, END)
    assert iv.alarm_name.tolist() == ["a-p99", "a-p99"]
    assert iv.start.tolist() == [pd.Timestamp(START), pd.Timestamp(START + timedelta(hours=2))]
    assert iv.end.tolist() == [pd.Timestamp(START + timedelta(minutes=30)), pd.Timestamp(END)]
    assert iv.since.iloc[0] == pd.Timestamp(START - timedelta(hours=1))
    assert iv.ongoing.tolist() == [False, True] and pd.isna(iv.until.iloc[1])
    assert iq.alarm_intervals(ACCOUNT, REGION, "a", END + timedelta(hours=2), END + timedelta(hours=3)
                              ).alarm_name.tolist() == ["a-5xx", "a-p99"]  # both in ALARM then


def test_alarm_in_alarm_now_without_stored_history_is_an_ongoing_interval(tiny_store):
    tiny_store(aws_cloudwatch_alarm=[
        _watch("a-gpu", "a", "GPUUtilization", INST, "ALARM", END - timedelta(minutes=20), stat="Average")])
    iv = iq.alarm_intervals(ACCOUNT, REGION, "a", START, END)
    assert iv[["alarm_name", "start", "end", "ongoing"]].values.tolist() == [
        ["a-gpu", pd.Timestamp(END - timedelta(minutes=20)), pd.Timestamp(END), True]]


def test_fired_alarms_put_the_ongoing_first_with_thresholds_in_the_charts_units(tiny_store):
    tiny_store(aws_cloudwatch_alarm=[
        _watch("a-p99", "a", "ModelLatency", SM, "OK", START + timedelta(hours=1), pct="p99", threshold=1.07982e6),
        _watch("a-5xx", "a", "Invocation5XXErrors", SM, "OK", START + timedelta(hours=3), stat="Sum", period=300,
               threshold=50.0),
        _watch("a-gpu", "a", "GPUUtilization", INST, "ALARM", START + timedelta(hours=2), stat="Maximum",
               period=300, threshold=55.0),
        _watch("a-cpu", "a", "CPUUtilization", INST, "OK", START - timedelta(days=2), stat="Average")],
               aws_cloudwatch_alarm_state_change=[
                   _change("a-p99", START + timedelta(minutes=10), "ALARM", "OK"),
                   _change("a-p99", START + timedelta(hours=1), "OK", "ALARM"),
                   _change("a-5xx", START + timedelta(hours=2, minutes=30), "ALARM", "OK"),
                   _change("a-5xx", START + timedelta(hours=3), "OK", "ALARM")])
    fired = iq.fired_alarms(ACCOUNT, REGION, "a", START, END).set_index("alarm_name")
    # the GPU alarm is in ALARM now; of the resolved ones, the 5xx alarm fired last; the CPU alarm never fired
    assert fired.index.tolist() == ["a-gpu", "a-5xx", "a-p99"]
    assert fired.metric.tolist() == ["GPU", "5xx", "p99"]  # GPU Maximum is drawn on the GPU (Average) chart
    # CloudWatch's microseconds become ms; a Sum over 5 minutes is drawn per minute on the errors chart
    assert fired.loc["a-p99", "threshold"] == pytest.approx(1079.82)
    assert fired.loc["a-p99", "chart_threshold"] == pytest.approx(1079.82)
    assert fired.loc["a-p99", "threshold_unit"] == "ms"
    assert fired.loc["a-5xx", "threshold"] == 50.0 and fired.loc["a-5xx", "threshold_unit"] == "per 5 min"
    assert fired.loc["a-5xx", "chart_threshold"] == pytest.approx(10.0)
    assert fired.loc["a-gpu", "chart_threshold"] == 55.0 and fired.loc["a-gpu", "threshold_unit"] == "%"
    assert fired.alarm_minutes.tolist() == [240, 30, 50]
    assert iq.fired_alarms(ACCOUNT, REGION, "a", END + timedelta(days=1), END + timedelta(days=2)
                           ).index.size == 1  # later, only the GPU alarm is still in ALARM


# ---------------------------------------------------------------------- Sextant's own alerts about an endpoint

R5XX, RP99 = "endpoint_5xx_rate", "endpoint_p99_over_baseline"


def _res(endpoint, account=ACCOUNT):
    return f"{account}/{REGION}/{endpoint}"


def _sextant_alert(rule, endpoint, episode, state, started, fired=None, resolved=None, *, account=ACCOUNT,
                   severity="critical", value=0.3):
    return {"rule": rule, "resource": _res(endpoint, account), "episode": episode, "state": state,
            "severity": severity, "value": value, "threshold": 0.05, "comparison": ">", "account_id": account,
            "region": REGION, "team": "vision", "endpoint_name": endpoint, "name": endpoint, "started_at": started,
            "fired_at": fired, "resolved_at": resolved, "last_evaluated_at": END}


def _step(rule, endpoint, episode, to, at, value, frm=None, account=ACCOUNT):
    return {"rule": rule, "resource": _res(endpoint, account), "episode": episode, "to_state": to,
            "from_state": frm, "changed_at": at, "value": value}


E1, E1_RESOLVED = START + timedelta(minutes=30), START + timedelta(hours=1)  # episode 1: fired and resolved
E2_START, E2_FIRED = START + timedelta(hours=4), START + timedelta(hours=4, minutes=10)  # episode 2: firing now
P_START, P_END = START + timedelta(hours=2), START + timedelta(hours=2, minutes=5)  # a p99 breach that never fired


def _alert_store(tiny_store):
    tiny_store(
        sextant_alert=[
            _sextant_alert(R5XX, "a", 2, "firing", E2_START, E2_FIRED, value=0.4),
            _sextant_alert(RP99, "a", 1, "inactive", P_START, None, P_END, severity="warning", value=None),
            _sextant_alert(R5XX, "b", 1, "firing", E1, E1),  # another endpoint
            _sextant_alert(R5XX, "a", 1, "firing", E1, E1, account="222222222222"),  # its namesake elsewhere
            _sextant_alert("endpoint_invocations_zero", "a", 1, "resolved", START - timedelta(hours=3),
                           START - timedelta(hours=3), START - timedelta(hours=2))],  # before the window
        sextant_alert_event=[
            _step(R5XX, "a", 1, "pending", E1, 0.12), _step(R5XX, "a", 1, "firing", E1, 0.12, "pending"),
            _step(R5XX, "a", 1, "resolved", E1_RESOLVED, 0.01, "firing"),
            _step(R5XX, "a", 2, "pending", E2_START, 0.2),
            _step(R5XX, "a", 2, "firing", E2_FIRED, 0.25, "pending"),
            _step(RP99, "a", 1, "pending", P_START, 4.0), _step(RP99, "a", 1, "inactive", P_END, None, "pending")],
        sextant_alert_rule=[{"rule": R5XX, "description": "5xx share of the last hour's invocations",
                             "builtin": True, "severity": "critical", "threshold": 0.05, "comparison": ">"}])


def test_alert_episodes_of_an_endpoint_come_from_their_state_changes(tiny_store):
    _alert_store(tiny_store)
    eps = iq.alert_episodes(ACCOUNT, REGION, "a", START, END)
    assert eps[["rule", "episode", "state"]].values.tolist() == [
        [R5XX, 1, "resolved"], [RP99, 1, "inactive"], [R5XX, 2, "firing"]]
    first, never, now = eps.iloc[0], eps.iloc[1], eps.iloc[2]
    assert (first.fired_at, first.resolved_at) == (pd.Timestamp(E1), pd.Timestamp(E1_RESOLVED))
    assert (first.fired_value, first.value) == (0.12, 0.01)  # the value that fired it, and the one that resolved it
    assert first.description == "5xx share of the last hour's invocations" and first.severity == "critical"
    assert (now.started_at, now.fired_at) == (pd.Timestamp(E2_START), pd.Timestamp(E2_FIRED))
    assert pd.isna(now.resolved_at) and (now.fired_value, now.value) == (0.25, 0.4)  # the latest evaluation's
    # the firing part, clipped to the window, for a chart; a breach that never fired has none
    assert (first.start, first.end) == (pd.Timestamp(E1), pd.Timestamp(E1_RESOLVED))
    assert (now.start, now.end) == (pd.Timestamp(E2_FIRED), pd.Timestamp(END))
    assert pd.isna(never.start) and pd.isna(never.end) and never.severity == "warning"
    assert str(eps.fired_at.dt.tz) == "UTC" and str(eps.start.dt.tz) == "UTC"


def test_alert_episodes_overlap_the_window_and_are_clipped_to_it(tiny_store):
    _alert_store(tiny_store)
    later = iq.alert_episodes(ACCOUNT, REGION, "a", E1 + timedelta(minutes=10), E2_START + timedelta(minutes=5))
    # episode 1 is firing when the window opens; episode 2 started inside it but fires after it ends
    assert later[["episode", "state"]].values.tolist() == [[1, "resolved"], [1, "inactive"], [2, "firing"]]
    assert later.start.iloc[0] == pd.Timestamp(E1 + timedelta(minutes=10))
    assert pd.isna(later.start.iloc[2])
    assert iq.alert_episodes(ACCOUNT, REGION, "a", END + timedelta(hours=1), END + timedelta(hours=2)
                             ).episode.tolist() == [2]  # still firing then
    assert iq.alert_episodes(ACCOUNT, REGION, "a", START - timedelta(hours=1), START
                             ).empty  # nothing of this endpoint overlaps that hour (zero traffic was earlier)


def test_an_alert_without_stored_changes_is_its_current_episode(tiny_store):
    tiny_store(sextant_alert=[_sextant_alert(R5XX, "a", 3, "resolved", E1, E1, E1_RESOLVED, value=None)])
    eps = iq.alert_episodes(ACCOUNT, REGION, "a", START, END)
    assert eps[["episode", "state", "fired_at", "resolved_at"]].values.tolist() == [
        [3, "resolved", pd.Timestamp(E1), pd.Timestamp(E1_RESOLVED)]]
    assert pd.isna(eps.fired_value.iloc[0]) and pd.isna(eps.description.iloc[0])


def test_the_timeline_lists_alerts_that_fired_and_resolved_but_not_a_breach_that_never_fired(tiny_store):
    _alert_store(tiny_store)
    tl = iq.incident_timeline(ACCOUNT, REGION, "a", START, END)
    alerts = tl[tl.kind == iq.ALERT_KIND]
    assert alerts.time.tolist() == [pd.Timestamp(E1), pd.Timestamp(E1_RESOLVED), pd.Timestamp(E2_FIRED)]
    assert alerts.what.tolist() == [
        f"{R5XX} fired (critical): value 0.12, threshold > 0.05", f"{R5XX} resolved: value 0.01, threshold > 0.05",
        f"{R5XX} fired (critical): value 0.25, threshold > 0.05"]
    assert alerts.detail.iloc[0] == "5xx share of the last hour's invocations"
    assert len(tl) == len(alerts)  # nothing else happened
    assert iq.incident_timeline(ACCOUNT, REGION, "b", START, END).what.tolist() == [
        f"{R5XX} fired (critical): value 0.3, threshold > 0.05"]


def test_alert_episodes_of_a_store_without_alerts(tiny_store):
    tiny_store()
    eps = iq.alert_episodes(ACCOUNT, REGION, "a", START, END)
    assert eps.empty and list(eps.columns) == iq.ALERT_EPISODE_COLUMNS
