"""dashboard.queries.endpoints on tiny stores: the endpoint list, the Endpoints table (traffic window, prices
joined), one endpoint's metrics, deploys, scaling and alarms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard.queries import endpoints as eq
from dashboard.queries import prices
from tests.dashboard.queries.conftest import END, f

ACCOUNT = "111111111111"
REGION = "us-east-1"
T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOST_PRICE = 0.25  # $ per instance-hour of ml.m5.large hosting on the tiny bill


def _ep(name, team="vision", account=ACCOUNT, region=REGION, **kw):
    return {"account_id": account, "region": region, "endpoint_name": name, "team": team, "project": "p",
            "env": "prod", "status": "InService", "creation_time": T0, "last_modified_time": T0,
            "endpoint_config_name": f"{name}-cfg", **kw}


def _variant(name, count, instance_type="ml.m5.large", variant="AllTraffic", **kw):
    return {"account_id": ACCOUNT, "region": REGION, "endpoint_name": name, "variant_name": variant,
            "instance_type": instance_type, "current_instance_count": count, "desired_instance_count": count,
            "current_weight": 1.0, "model_name": f"{name}-model", **kw}


BILL_DAY = END.date() - timedelta(days=1)


def _bill(key2="USE1-Host:ml.m5.large", price=HOST_PRICE, hours=24.0):
    return {"account_id": ACCOUNT, "region": REGION, "date": BILL_DAY, "group_by_kind": "SERVICE/USAGE_TYPE",
            "key1": "Amazon SageMaker", "key2": key2, "unblended_cost_usd": price * hours, "usage_quantity": hours}


def _series(sid, metric, stat, endpoint="a", namespace="AWS/SageMaker", unit="Count", variant="AllTraffic"):
    return {"account_id": ACCOUNT, "region": REGION, "series_id": sid, "namespace": namespace,
            "metric_name": metric, "endpoint_name": endpoint, "variant_name": variant, "unit": unit, "stats": stat}


def _hourly(sid, stat, hour, value):
    return {"account_id": ACCOUNT, "region": REGION, "series_id": sid, "stat": stat, "hour": hour, "value": value,
            "points": 60, "period_s": 60}


def _point(sid, stat, ts, value, period_s=60):
    return {"account_id": ACCOUNT, "region": REGION, "series_id": sid, "stat": stat, "period_s": period_s,
            "ts": ts, "value": value}


# --------------------------------------------------------------------------- endpoint_list


def test_endpoint_list_has_the_columns_and_orders_by_team_then_name(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("b", team="z"), _ep("c"), _ep("a")])
    df = eq.endpoint_list(f())
    assert list(df.columns) == eq.ENDPOINT_LIST_COLUMNS
    assert list(df.endpoint_name) == ["a", "c", "b"]
    assert str(df.creation_time.dt.tz) == "UTC"


def test_endpoint_list_follows_the_scope_filters(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("a"), _ep("b", region="eu-west-1"), _ep("c", team="nlp"),
                                       _ep("d", account="222222222222")])
    assert list(eq.endpoint_list(f(regions=["eu-west-1"])).endpoint_name) == ["b"]
    assert list(eq.endpoint_list(f(teams=["nlp"])).endpoint_name) == ["c"]
    assert list(eq.endpoint_list(f(accounts=["222222222222"])).endpoint_name) == ["d"]


def test_endpoint_list_of_an_empty_store_has_the_columns(tiny_store):
    tiny_store()
    df = eq.endpoint_list(f())
    assert df.empty and list(df.columns) == eq.ENDPOINT_LIST_COLUMNS


# --------------------------------------------------------------------------- the Endpoints table


def test_endpoints_table_costs_the_instances_at_the_one_hosting_price(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("a"), _ep("b")],
               aws_sagemaker_endpoint_variant=[_variant("a", 3), _variant("b", 1, instance_type="ml.g4dn.xlarge")],
               aws_cost_daily=[_bill(), _bill("USE1-Train:ml.g4dn.xlarge", price=9.0)])
    df = eq.endpoints(f()).set_index("endpoint_name")
    assert df.loc["a", "cost_per_day"] == pytest.approx(3 * HOST_PRICE * 24)
    assert df.loc["a", "capacity"] == "ml.m5.large × 3"
    # the rule's own figure, as the savings list and the action dialog read it
    assert prices.price_of(prices.hourly_prices(), "Host", "ml.m5.large") * 3 * 24 == pytest.approx(
        df.loc["a", "cost_per_day"])
    # a training line is no hosting price: blank, never guessed
    assert pd.isna(df.loc["b", "cost_per_day"]) and pd.isna(df.loc["b", "cost_per_1k"])


def test_endpoints_table_counts_traffic_of_the_24_hours_to_the_range_end(tiny_store):
    inv, p99 = "s-inv", "s-p99"
    tiny_store(aws_sagemaker_endpoint=[_ep("a")],
               aws_sagemaker_endpoint_variant=[_variant("a", 2)],
               aws_application_autoscaling_scalable_target=[{
                   "account_id": ACCOUNT, "region": REGION, "resource_id": "endpoint/a/variant/AllTraffic",
                   "scalable_dimension": "sagemaker:variant:DesiredInstanceCount", "endpoint_name": "a",
                   "variant_name": "AllTraffic", "min_capacity": 1, "max_capacity": 4}],
               aws_cloudwatch_metric_series=[_series(inv, "Invocations", "Sum"),
                                             _series("s-5xx", "Invocation5XXErrors", "Sum"),
                                             _series(p99, "ModelLatency", "p99", unit="Microseconds")],
               aws_cloudwatch_metric_hourly=[
                   _hourly(inv, "Sum", END - timedelta(hours=25), 1000.0),  # before the window
                   _hourly(inv, "Sum", END - timedelta(hours=24), 100.0),  # first hour of the window
                   _hourly(inv, "Sum", END - timedelta(hours=1), 300.0),
                   _hourly(inv, "Sum", END, 5000.0),  # the range end is excluded
                   _hourly("s-5xx", "Sum", END - timedelta(hours=1), 4.0),
                   _hourly(p99, "p99", END - timedelta(hours=24), 10_000.0),
                   _hourly(p99, "p99", END - timedelta(hours=1), 30_000.0)],
               aws_cost_daily=[_bill()])
    row = eq.endpoints(f()).iloc[0]
    assert row.invocations_24h == 400
    assert row.p99_ms == pytest.approx((10.0 * 100 + 30.0 * 300) / 400)  # weighted by invocations, in ms
    assert row.peak_p99_ms == pytest.approx(30.0)
    assert row.error_rate_5xx == pytest.approx(4 / 400)
    assert (row.autoscaling_min, row.autoscaling_max) == (1, 4)
    assert row.cost_per_1k == pytest.approx(2 * HOST_PRICE * 24 / 400 * 1000)


def test_endpoint_is_the_table_row_of_one_endpoint_in_scope(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("a"), _ep("b", team="nlp")],
               aws_sagemaker_endpoint_variant=[_variant("a", 1), _variant("b", 2)])
    row = eq.endpoint(f(), "b")
    assert list(row.endpoint_name) == ["b"] and row.index.tolist() == [0]
    assert row.iloc[0].instances == 2
    assert eq.endpoint(f(teams=["vision"]), "b").empty  # out of the sidebar's scope


def test_endpoints_table_of_an_empty_store_is_empty(tiny_store):
    tiny_store()
    assert eq.endpoints(f()).empty


def test_endpoint_variants_name_the_registry_version_they_serve(tiny_store):
    arn = "arn:aws:sagemaker:us-east-1:111111111111:model-package/g/3"
    tiny_store(aws_sagemaker_endpoint_variant=[_variant("a", 1), _variant("a", 1, variant="Canary",
                                                                          model_name="outside")],
               aws_sagemaker_model=[{"account_id": ACCOUNT, "region": REGION, "model_name": "a-model",
                                     "model_package_arn": arn}],
               aws_sagemaker_model_package=[{"account_id": ACCOUNT, "region": REGION, "group_name": "g",
                                             "version": 3, "model_package_arn": arn, "approval_status": "Approved"}])
    v = eq.endpoint_variants(ACCOUNT, REGION, "a").set_index("variant_name")
    assert list(v.index) == ["AllTraffic", "Canary"]
    assert (v.loc["AllTraffic", "model_group"], v.loc["AllTraffic", "model_version"]) == ("g", 3)
    assert pd.isna(v.loc["Canary", "model_group"])


# --------------------------------------------------------------------------- metrics


def test_endpoint_metrics_convert_units_and_prefer_one_minute_points(tiny_store):
    t = END - timedelta(hours=2)
    tiny_store(aws_cloudwatch_metric_series=[_series("inv", "Invocations", "Sum"),
                                             _series("lat", "ModelLatency", "p99", unit="Microseconds"),
                                             _series("other", "Invocations", "Sum", endpoint="b")],
               aws_cloudwatch_metric_point=[
                   _point("inv", "Sum", t, 50.0, period_s=300),  # also collected at 1 minute: dropped
                   _point("inv", "Sum", t, 12.0), _point("inv", "Sum", t + timedelta(minutes=1), 8.0),
                   _point("inv", "Sum", t - timedelta(hours=1), 500.0, period_s=300),  # 5-minute only: kept
                   _point("lat", "p99", t, 25_000.0),
                   _point("inv", "Sum", END, 99.0),  # at the window end: excluded
                   _point("other", "Sum", t, 7.0)])
    start = END - timedelta(hours=6)
    df = eq.endpoint_metrics(ACCOUNT, REGION, "a", start, END)
    assert list(df.columns) == ["ts", "variant_name", "metric", "value", "period_s"]
    inv = df[df.metric == "invocations"]
    assert inv.value.tolist() == [100.0, 12.0, 8.0]  # per minute: 500 over 5 minutes is 100
    assert df[df.metric == "p99"].value.tolist() == [25.0]  # microseconds -> ms
    assert df.ts.is_monotonic_increasing and str(df.ts.dt.tz) == "UTC"
    assert eq.endpoint_metrics(ACCOUNT, REGION, "a", start, END, metrics=("p99",)).metric.unique().tolist() == ["p99"]


def test_endpoint_metrics_of_a_long_range_read_the_hourly_rollup(tiny_store):
    hour = END - timedelta(days=3)
    tiny_store(aws_cloudwatch_metric_series=[_series("inv", "Invocations", "Sum")],
               aws_cloudwatch_metric_hourly=[_hourly("inv", "Sum", hour, 600.0)],
               aws_cloudwatch_metric_point=[_point("inv", "Sum", hour, 1.0)])
    start = END - timedelta(days=7)
    assert not eq.fine_grained(start, END) and eq.fine_grained(END - eq.MINUTE_RANGE, END)
    df = eq.endpoint_metrics(ACCOUNT, REGION, "a", start, END)
    assert df.value.tolist() == [10.0] and df.period_s.tolist() == [3600]  # 600 an hour is 10 a minute


def test_latency_baseline_is_the_median_hourly_p99_of_the_days_before(tiny_store):
    before = END - timedelta(hours=1)
    tiny_store(aws_cloudwatch_metric_series=[_series("lat", "ModelLatency", "p99", unit="Microseconds")],
               aws_cloudwatch_metric_hourly=[_hourly("lat", "p99", before - timedelta(hours=h), v)
                                             for h, v in ((1, 10_000.0), (2, 20_000.0), (3, 90_000.0))]
               + [_hourly("lat", "p99", before, 1_000_000.0),  # at `before`: not in the baseline
                  _hourly("lat", "p99", before - timedelta(days=8), 1_000_000.0)])  # older than 7 days
    assert eq.latency_baseline(ACCOUNT, REGION, "a", before) == pytest.approx(20.0)
    assert eq.latency_baseline(ACCOUNT, REGION, "nothing", before) is None


# --------------------------------------------------------------------------- deploys, scaling, alarms


def _config(name, created, model, count=1):
    return {"account_id": ACCOUNT, "region": REGION, "endpoint_config_name": name, "creation_time": created,
            "variants": json.dumps([{"variant_name": "AllTraffic", "model_name": model,
                                     "instance_type": "ml.m5.large", "initial_instance_count": count}])}


def test_deploys_mark_a_return_to_earlier_models_as_a_rollback(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("a", endpoint_config_name="a-3")],
               aws_sagemaker_endpoint_config=[_config("a-1", T0, "m1"), _config("a-2", T0 + timedelta(days=1), "m2"),
                                              _config("a-3", T0 + timedelta(days=2), "m1"),
                                              _config("ab-1", T0, "other")])  # another endpoint's config
    d = eq.deploys(ACCOUNT, REGION, "a")
    assert d.config.tolist() == ["a-1", "a-2", "a-3"]
    assert d.kind.tolist() == ["create", "deploy", "rollback"]
    assert d.label.iloc[2] == "rollback: m1"


def test_scaling_and_config_events_keep_to_the_window(tiny_store):
    start = END - timedelta(hours=6)
    act = {"account_id": ACCOUNT, "region": REGION, "endpoint_name": "a", "variant_name": "AllTraffic",
           "status_code": "Successful", "cause": "alarm"}
    tiny_store(aws_sagemaker_endpoint=[_ep("a", endpoint_config_name="a-1")],
               aws_sagemaker_endpoint_config=[_config("a-1", start + timedelta(hours=1), "m1", count=2)],
               aws_application_autoscaling_activity=[
                   {**act, "activity_id": "in", "start_time": END - timedelta(hours=2),
                    "end_time": END - timedelta(hours=2) + timedelta(minutes=3), "description": "Setting to 4"},
                   {**act, "activity_id": "before", "start_time": start - timedelta(hours=3),
                    "end_time": start - timedelta(hours=3), "description": "Setting to 3"}])
    acts = eq.scaling_activities(ACCOUNT, REGION, "a", start, END)
    assert acts["count"].tolist() == [4]
    events = eq.config_events(ACCOUNT, REGION, "a", start, END)
    assert events.kind.tolist() == ["create", "scaling"]
    assert events.label.tolist()[1] == "scale AllTraffic to 4"
    counts = eq.instance_count_history(ACCOUNT, REGION, "a", start, END)
    # the count known before the window (3, from the earlier activity) opens it; the deploy's 2, the scaling's 4
    assert counts.instances.tolist() == [3, 2, 4, 4]
    assert counts.time.iloc[0] == start and counts.time.iloc[-1] == END


def test_alarms_list_those_in_alarm_first_with_latency_thresholds_in_ms(tiny_store):
    alarm = {"account_id": ACCOUNT, "region": REGION, "endpoint_name": "a", "statistic": "Average"}
    tiny_store(aws_cloudwatch_alarm=[{**alarm, "alarm_name": "a-5xx", "state_value": "OK",
                                      "metric_name": "Invocation5XXErrors", "threshold": 5.0},
                                     {**alarm, "alarm_name": "b-p99", "state_value": "ALARM",
                                      "metric_name": "ModelLatency", "threshold": 250_000.0},
                                     {**alarm, "alarm_name": "other", "endpoint_name": "b", "state_value": "ALARM"}],
               aws_cloudwatch_alarm_state_change=[
                   {"account_id": ACCOUNT, "region": REGION, "alarm_name": "b-p99", "ts": END - timedelta(hours=1),
                    "old_state": "OK", "new_state": "ALARM"},
                   {"account_id": ACCOUNT, "region": REGION, "alarm_name": "b-p99", "ts": END - timedelta(days=2),
                    "old_state": "ALARM", "new_state": "OK"}])
    al = eq.alarms(ACCOUNT, REGION, "a")
    assert al.alarm_name.tolist() == ["b-p99", "a-5xx"]
    assert al.threshold.tolist() == [250.0, 5.0] and al.threshold_unit.tolist() == ["ms", ""]
    changes = eq.alarm_changes(ACCOUNT, REGION, "a", END - timedelta(days=1), END)
    assert changes.new_state.tolist() == ["ALARM"] and changes.metric_name.tolist() == ["ModelLatency"]


# --------------------------------------------------------------------------- the numbers that hold still

def _steady(per_minute: float, first: datetime, last: datetime, sid: str = "s-inv", stat: str = "Sum",
            coarse_before: datetime | None = None) -> tuple[list[dict], list[dict]]:
    """Points of a series at ``per_minute`` a minute over [first, last) (5-minute points before ``coarse_before``,
    as the collector's backfill leaves them), and the hourly rollup the collector computes from them."""
    points, t = [], first
    while t < last:
        coarse = coarse_before is not None and t < coarse_before
        period = 300 if coarse else 60
        points.append(_point(sid, stat, t, per_minute * period / 60, period_s=period))
        t += timedelta(seconds=period)
    hours: dict[datetime, float] = {}
    for p in points:
        hour = p["ts"].replace(minute=0)
        hours[hour] = hours.get(hour, 0.0) + p["value"]
    return points, [_hourly(sid, stat, h, v) for h, v in hours.items()]


def test_invocations_24h_read_at_59_and_at_01_differ_by_no_more_than_those_two_minutes(tiny_store):
    """The acceptance rule: no hourly bucket appears or disappears at the hour (it dropped ~7 % at each boundary)."""
    at_59, at_01 = datetime(2026, 11, 20, 14, 59, tzinfo=UTC), datetime(2026, 11, 20, 15, 1, tzinfo=UTC)
    points, hours = _steady(10.0, at_59 - timedelta(hours=26), at_01 + timedelta(minutes=30))
    tiny_store(aws_sagemaker_endpoint=[_ep("a")], aws_sagemaker_endpoint_variant=[_variant("a", 1)],
               aws_cloudwatch_metric_series=[_series("s-inv", "Invocations", "Sum")],
               aws_cloudwatch_metric_point=points, aws_cloudwatch_metric_hourly=hours)
    before = eq.endpoints(f(end=at_59)).invocations_24h.iloc[0]
    after = eq.endpoints(f(end=at_01)).invocations_24h.iloc[0]
    assert abs(after - before) <= 2 * 10.0
    assert before == after == 24 * 60 * 10  # exactly the 1,440 minutes to the last complete one


def test_the_24h_window_counts_the_share_of_a_5_minute_point_inside_it(tiny_store):
    end = datetime(2026, 11, 20, 14, 58, tzinfo=UTC)  # the window starts at 14:58, inside a 5-minute point
    points, hours = _steady(10.0, end - timedelta(hours=26), end + timedelta(minutes=5),
                            coarse_before=end - timedelta(hours=23))
    tiny_store(aws_cloudwatch_metric_series=[_series("s-inv", "Invocations", "Sum")],
               aws_cloudwatch_metric_point=points, aws_cloudwatch_metric_hourly=hours)
    t = eq.traffic(f(end=end))
    assert t.invocations.iloc[0] == pytest.approx(24 * 60 * 10)


def test_the_24h_window_counts_a_5_minute_bucket_from_its_1_minute_points_where_it_has_both(tiny_store):
    """The collector's rollup rule, at the window's partial hours too: 1-minute points replace the 5-minute point
    of their bucket (a re-read at finer resolution), never add to it."""
    end = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    points, hours = _steady(10.0, end - timedelta(hours=25), end)
    doubled = [{**p, "period_s": 300, "value": 999.0} for p in points
               if p["ts"] >= end - timedelta(minutes=20) and p["ts"].minute % 5 == 0]  # same buckets, coarse
    tiny_store(aws_cloudwatch_metric_series=[_series("s-inv", "Invocations", "Sum")],
               aws_cloudwatch_metric_point=points + doubled, aws_cloudwatch_metric_hourly=hours)
    assert eq.traffic(f(end=end)).invocations.iloc[0] == pytest.approx(24 * 60 * 10)


def test_the_24h_window_does_not_follow_the_chart_range(tiny_store):
    points, hours = _steady(10.0, END - timedelta(hours=30), END)
    tiny_store(aws_sagemaker_endpoint=[_ep("a")],
               aws_cloudwatch_metric_series=[_series("s-inv", "Invocations", "Sum")],
               aws_cloudwatch_metric_point=points, aws_cloudwatch_metric_hourly=hours)
    shown = {r: eq.endpoints(f(start=END - span, end=END)).invocations_24h.iloc[0]
             for r, span in (("1h", timedelta(hours=1)), ("24h", timedelta(days=1)), ("7d", timedelta(days=7)))}
    assert set(shown.values()) == {24 * 60 * 10}


def test_error_rates_are_over_the_same_24_hours(tiny_store):
    end = END + timedelta(minutes=30)
    inv, inv_h = _steady(10.0, end - timedelta(hours=25), end, sid="s-inv")
    e4, e4_h = _steady(0.2, end - timedelta(hours=25), end, sid="s-4xx")
    e5, e5_h = _steady(0.1, end - timedelta(hours=25), end, sid="s-5xx")
    tiny_store(aws_sagemaker_endpoint=[_ep("a")],
               aws_cloudwatch_metric_series=[_series("s-inv", "Invocations", "Sum"),
                                             _series("s-4xx", "Invocation4XXErrors", "Sum"),
                                             _series("s-5xx", "Invocation5XXErrors", "Sum")],
               aws_cloudwatch_metric_point=inv + e4 + e5, aws_cloudwatch_metric_hourly=inv_h + e4_h + e5_h)
    row = eq.endpoints(f(end=end)).iloc[0]
    assert row.invocations_24h == 24 * 60 * 10
    assert row.error_rate == pytest.approx(0.03) and row.error_rate_5xx == pytest.approx(0.01)


def _traffic_rows(end: datetime) -> dict:
    """Two endpoints' invocations, 5xx and hourly p99 around ``end`` (5-minute points more than 23 h before it)."""
    inv_a, inv_a_h = _steady(10.0, end - timedelta(hours=26), end, sid="a-inv", coarse_before=end - timedelta(hours=23))
    e5_a, e5_a_h = _steady(0.5, end - timedelta(hours=26), end, sid="a-5xx")
    inv_b, inv_b_h = _steady(3.0, end - timedelta(hours=2), end, sid="b-inv")
    p99 = [_hourly("a-p99", "p99", end.replace(minute=0) - timedelta(hours=h), 1000.0 * (50 + h)) for h in range(26)]
    return dict(aws_sagemaker_endpoint=[_ep("a"), _ep("b")],
                aws_cloudwatch_metric_series=[_series("a-inv", "Invocations", "Sum"),
                                              _series("a-5xx", "Invocation5XXErrors", "Sum"),
                                              _series("a-p99", "ModelLatency", "p99", unit="Microseconds"),
                                              _series("b-inv", "Invocations", "Sum", endpoint="b")],
                aws_cloudwatch_metric_point=inv_a + e5_a + inv_b,
                aws_cloudwatch_metric_hourly=inv_a_h + e5_a_h + inv_b_h + p99)


def test_the_windows_the_collector_stores_equal_the_windows_computed_at_view_time(tiny_store):
    """One definition (sextant.traffic), two readers: a view ending at the cycle's minute reads the stored rows,
    and they equal what the same SELECT gives at view time on a store without them."""
    cycle = END + timedelta(minutes=37)  # inside an hour: partial hours at both ends of both windows
    rows = _traffic_rows(cycle)
    tiny_store(**rows)
    computed = eq.traffic_windows(f(end=cycle), (timedelta(hours=1), timedelta(hours=24)))
    tiny_store(cycle=(ACCOUNT, REGION, cycle + timedelta(seconds=20)), **rows)
    assert eq.query(f"SELECT count(*) AS n FROM {eq.TRAFFIC_TABLE}").n.iloc[0] == 4  # 2 endpoints x 2 windows
    stored = eq.traffic_windows(f(end=cycle), (timedelta(hours=1), timedelta(hours=24)))
    for window in computed:
        key = ["endpoint_name"]
        a, b = (x.sort_values(key).reset_index(drop=True) for x in (computed[window], stored[window]))
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    day = stored[timedelta(hours=24)].set_index("endpoint_name")
    assert day.invocations["a"] == pytest.approx(24 * 60 * 10) and day.invocations["b"] == pytest.approx(2 * 60 * 3)
    assert day.error_rate_5xx["a"] == pytest.approx(0.05)
    assert day.peak_p99_ms["a"] == pytest.approx(74.0)  # the hour 24 h back touches the window
    assert set(day.through) == {pd.Timestamp(cycle)}


def test_a_view_ending_now_holds_still_between_cycles_and_a_past_range_is_computed_at_its_own_end(tiny_store):
    cycle = END + timedelta(minutes=37)
    tiny_store(cycle=(ACCOUNT, REGION, cycle), **_traffic_rows(cycle))
    later = eq.endpoints(f(end=cycle + timedelta(minutes=4))).set_index("endpoint_name")
    assert later.invocations_24h["a"] == 24 * 60 * 10  # the stored window: nothing after the cycle to lose minutes to
    assert set(later.traffic_through) == {pd.Timestamp(cycle)}
    past = eq.endpoints(f(end=cycle - timedelta(minutes=30))).set_index("endpoint_name")
    assert set(past.traffic_through) == {pd.Timestamp(cycle - timedelta(minutes=30))}
    assert past.invocations_24h["b"] == 90 * 3  # b's traffic began 2 h before the cycle: 90 minutes of it by then


def test_an_account_whose_metrics_have_not_stored_windows_yet_is_computed_at_view_time(tiny_store):
    """A store migrated to the table, or an account whose metrics cycle failed since: no endpoint loses its traffic."""
    cycle = END + timedelta(minutes=37)
    rows = _traffic_rows(cycle)
    other = "222222222222"
    rows["aws_cloudwatch_metric_series"].append({**_series("c-inv", "Invocations", "Sum", endpoint="c"),
                                                 "account_id": other})
    points, hours = _steady(7.0, cycle - timedelta(hours=25), cycle, sid="c-inv")
    rows["aws_cloudwatch_metric_point"] += [{**p, "account_id": other} for p in points]
    rows["aws_cloudwatch_metric_hourly"] += [{**h, "account_id": other} for h in hours]
    tiny_store(cycle=(ACCOUNT, REGION, cycle), **rows)  # the cycle of the first account only
    t = eq.traffic(f(end=cycle + timedelta(minutes=2))).set_index("endpoint_name")
    assert t.invocations["c"] == 24 * 60 * 7 - 2 * 7 and t.invocations["a"] == 24 * 60 * 10 - 2 * 10  # at view time
    assert set(t.through) == {pd.Timestamp(cycle + timedelta(minutes=2))}


def test_p99_now_is_the_worst_minute_of_the_last_15_and_the_same_for_every_range(tiny_store):
    lat = "s-p99"
    tiny_store(aws_sagemaker_endpoint=[_ep("a")],
               aws_cloudwatch_metric_series=[_series(lat, "ModelLatency", "p99", unit="Microseconds")],
               aws_cloudwatch_metric_point=[
                   _point(lat, "p99", END - timedelta(minutes=16), 900_000.0),  # before the 15 minutes
                   _point(lat, "p99", END - timedelta(minutes=15), 40_000.0),
                   _point(lat, "p99", END - timedelta(minutes=3), 60_000.0),
                   _point(lat, "p99", END - timedelta(minutes=1), 30_000.0),
                   _point(lat, "p99", END, 700_000.0)],  # the current, incomplete minute
               aws_cloudwatch_metric_hourly=[_hourly(lat, "p99", END - timedelta(hours=h), 124_800.0)
                                             for h in range(1, 24 * 7)])
    ranges = (timedelta(hours=1), timedelta(days=1), timedelta(days=7))
    table = [eq.endpoints(f(start=END - span)).p99_now_ms.iloc[0] for span in ranges]
    detail = [eq.endpoint(f(start=END - span), "a").p99_now_ms.iloc[0] for span in ranges]
    assert table == detail == [60.0] * 3
    assert eq.p99_now(f()).p99_now_through.iloc[0] == END - timedelta(minutes=1)


def test_p99_now_is_blank_without_a_recent_point(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("a")],
               aws_cloudwatch_metric_series=[_series("s-p99", "ModelLatency", "p99", unit="Microseconds")],
               aws_cloudwatch_metric_point=[_point("s-p99", "p99", END - timedelta(hours=1), 50_000.0)])
    assert pd.isna(eq.endpoints(f()).p99_now_ms.iloc[0])


@pytest.mark.parametrize("end_minute", [0, 1, 37, 59])
def test_traffic_over_several_windows_in_one_pass_equals_each_window_alone(tiny_store, end_minute):
    """Health reads the last hour and the last 24 hours in one query: each window's figures are traffic()'s."""
    end = datetime(2026, 11, 20, 14, end_minute, tzinfo=UTC)
    points, hours = _steady(10.0, end - timedelta(hours=26), end + timedelta(minutes=5),
                            coarse_before=end - timedelta(hours=23))
    errors, error_hours = _steady(0.5, end - timedelta(hours=26), end, sid="s-5xx")
    p99, p99_hours = _steady(80_000.0, end - timedelta(hours=26), end, sid="s-p99", stat="p99")
    tiny_store(aws_cloudwatch_metric_series=[_series("s-inv", "Invocations", "Sum"),
                                             _series("s-5xx", "Invocation5XXErrors", "Sum"),
                                             _series("s-p99", "ModelLatency", "p99", unit="Microseconds")],
               aws_cloudwatch_metric_point=points + errors + p99,
               aws_cloudwatch_metric_hourly=hours + error_hours + p99_hours)
    windows = (timedelta(hours=1), timedelta(hours=24), timedelta(minutes=90))
    together = eq.traffic_windows(f(end=end), windows)
    for w in windows:
        pd.testing.assert_frame_equal(together[w], eq.traffic(f(end=end), w))
    assert together[timedelta(hours=1)].invocations.iloc[0] == pytest.approx(60 * 10)
    assert together[timedelta(hours=24)].invocations.iloc[0] == pytest.approx(24 * 60 * 10)
    assert together[timedelta(minutes=90)].errors_5xx.iloc[0] == pytest.approx(90 * 0.5)
