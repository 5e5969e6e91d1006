"""dashboard.queries.cost on tiny stores: the bill's windows and scope, month to date, the 7-day change, the
forecast, anomalies, and unit economics (hosting per endpoint, training per team)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dashboard.queries import cost
from tests.dashboard.queries.conftest import END, f

PAYER, LINKED = "111111111111", "222222222222"
TODAY = END.date()  # 2026-11-20
SVC = "SERVICE/USAGE_TYPE"


def bill(day: date, key1: str, key2: str, usd: float, kind: str = SVC, account: str = PAYER,
         hours: float = 0.0) -> dict:
    return {"account_id": account, "region": "us-east-1", "date": day, "group_by_kind": kind, "key1": key1,
            "key2": key2, "unblended_cost_usd": usd, "usage_quantity": hours, "usage_unit": "Hrs",
            "estimated": day == TODAY}


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


# --------------------------------------------------------------------------- the bill


def test_daily_cost_covers_start_and_stops_before_end(tiny_store):
    tiny_store(aws_cost_daily=[bill(days_ago(n), "Amazon SageMaker", "USE1-Host:ml.m5.large", 10.0 + n)
                               for n in range(5)])
    df = cost.daily_cost(f(), "service", days_ago(3), days_ago(1))
    assert sorted(df.date.dt.date) == [days_ago(3), days_ago(2)]
    assert df.cost_usd.sum() == pytest.approx(13.0 + 12.0)


def test_a_linked_accounts_own_bill_is_not_counted_twice(tiny_store):
    day = days_ago(2)
    tiny_store(aws_cost_daily=[
        bill(day, "Amazon SageMaker", "USE1-Host:ml.m5.large", 100.0),  # the payer's bill, linked account included
        bill(day, LINKED, "Amazon SageMaker", 30.0, kind="LINKED_ACCOUNT/SERVICE"),
        bill(day, PAYER, "Amazon SageMaker", 70.0, kind="LINKED_ACCOUNT/SERVICE"),
        bill(day, "Amazon SageMaker", "USE1-Host:ml.m5.large", 30.0, account=LINKED),  # the linked account's own
    ])
    assert cost.daily_cost(f(), "service", day, TODAY).cost_usd.sum() == pytest.approx(100.0)
    by_account = cost.daily_cost(f(), "account", day, TODAY)
    assert dict(zip(by_account.group, by_account.cost_usd, strict=True)) == {LINKED: 30.0, PAYER: 70.0}


def test_untagged_cost_has_a_name_of_its_own(tiny_store):
    day = days_ago(1)
    tiny_store(aws_cost_daily=[bill(day, "fraud", "Amazon SageMaker", 5.0, kind="TAG:team/SERVICE"),
                               bill(day, "", "Amazon S3", 2.0, kind="TAG:team/SERVICE")])
    df = cost.daily_cost(f(), "team", day, TODAY)
    assert dict(zip(df.group, df.cost_usd, strict=True)) == {"fraud": 5.0, cost.UNTAGGED: 2.0}


def test_a_team_filter_reads_the_team_grouping_and_names_the_filters_it_cannot_honour(tiny_store):
    day = days_ago(1)
    tiny_store(aws_cost_daily=[bill(day, "fraud", "Amazon SageMaker", 5.0, kind="TAG:team/SERVICE"),
                               bill(day, "vision", "Amazon SageMaker", 7.0, kind="TAG:team/SERVICE"),
                               bill(day, "Amazon SageMaker", "USE1-Host:ml.m5.large", 12.0)])
    by_service = cost.daily_cost(f(teams=["fraud"]), "service", day, TODAY)
    assert list(by_service.group) == ["Amazon SageMaker"] and by_service.cost_usd.sum() == 5.0
    assert by_service.attrs["ignored"] == []
    by_team = cost.daily_cost(f(teams=["fraud"], accounts=[PAYER]), "team", day, TODAY)
    assert by_team.cost_usd.sum() == 5.0
    assert by_team.attrs["ignored"] == ["account"]  # the sidebar's name for it, as pages show it


def test_without_a_bill_the_daily_frame_is_empty_with_its_columns(tiny_store):
    tiny_store()
    assert not cost.has_bill()
    df = cost.daily_cost(f(), "service", days_ago(30), TODAY)
    assert df.empty and list(df.columns) == cost.DAILY_COLUMNS


def test_month_to_date_compares_the_same_complete_days_of_last_month(tiny_store):
    rows = [bill(date(2026, 11, d), "Amazon SageMaker", "USE1-Host:ml.m5.large", 10.0) for d in range(1, 21)]
    rows += [bill(date(2026, 10, d), "Amazon SageMaker", "USE1-Host:ml.m5.large", 8.0) for d in range(1, 32)]
    tiny_store(aws_cost_daily=rows)
    mtd = cost.month_to_date(f(), TODAY)
    assert mtd.month_start == date(2026, 11, 1) and mtd.days == 19
    assert mtd.mtd_usd == pytest.approx(200.0)  # today (partial) included
    assert mtd.complete_usd == pytest.approx(190.0)  # through yesterday
    assert mtd.previous_same_days_usd == pytest.approx(8.0 * 19)  # October 1-19, not the whole month
    assert mtd.change_pct == pytest.approx((190 - 152) / 152 * 100)


def test_month_to_date_names_the_filters_it_honours_and_ignores(tiny_store):
    tiny_store(aws_cost_daily=[bill(days_ago(1), "fraud", "Amazon SageMaker", 5.0, kind="TAG:team/SERVICE")])
    mtd = cost.month_to_date(f(accounts=[PAYER], teams=["fraud"]), TODAY)
    assert mtd.honoured == ("account",) and mtd.ignored == ("team",)
    assert cost.month_to_date(f(), TODAY).honoured == ()


def test_the_7_day_change_is_the_last_7_complete_days_against_the_7_before(tiny_store):
    rows = [bill(days_ago(n), "Amazon SageMaker", "x", 1.0) for n in range(0, 16)]  # n = 0: today, partial
    rows += [bill(days_ago(n), "Amazon S3", "y", 2.0) for n in range(8, 15)]  # only the week before
    tiny_store(aws_cost_daily=rows)
    change = cost.seven_day_change(f(), "service", TODAY).set_index("group")
    assert change.loc["Amazon SageMaker", "last_7d_usd"] == 7.0  # days 1-7 ago; today and day 15 out
    assert change.loc["Amazon SageMaker", "previous_7d_usd"] == 7.0  # days 8-14 ago
    assert change.loc["Amazon S3", "change_usd"] == -14.0 and change.loc["Amazon S3", "change_pct"] == -100.0


def test_movers_are_the_largest_changes_first(tiny_store):
    rows = [bill(days_ago(n), s, "x", usd) for n in range(1, 8) for s, usd in (("a", 1.0), ("b", 5.0), ("c", 2.0))]
    rows += [bill(days_ago(n), s, "x", 1.0) for n in range(8, 15) for s in ("a", "b", "c")]
    tiny_store(aws_cost_daily=rows)
    mv = cost.movers(f(), "service", TODAY, limit=2)
    assert list(mv.group) == ["b", "c"]
    assert list(mv.columns) == cost.CHANGE_COLUMNS


def test_breakdown_shares_sum_to_100_and_carry_the_7_day_change(tiny_store):
    rows = [bill(days_ago(n), "a", "x", 3.0) for n in range(1, 30)] + \
        [bill(days_ago(n), "b", "x", 1.0) for n in range(1, 30)]
    tiny_store(aws_cost_daily=rows)
    df = cost.daily_cost(f(), "service", days_ago(29), TODAY + timedelta(days=1))
    br = cost.breakdown(df, f(), "service", TODAY)
    assert list(br.service) == ["a", "b"] and br.share_pct.sum() == pytest.approx(100.0)
    assert list(br.last_7d_usd) == [21.0, 7.0] and list(br.change_pct) == [0.0, 0.0]


def test_month_end_forecast_adds_the_spend_before_it(tiny_store):
    tiny_store(aws_cost_daily=[bill(date(2026, 11, d), "Amazon SageMaker", "x", 10.0) for d in range(1, 21)],
               aws_cost_forecast=[{"account_id": PAYER, "region": "us-east-1", "as_of": TODAY,
                                   "period_start": TODAY, "period_end": date(2026, 12, 1), "mean_usd": 110.0,
                                   "lower_usd": 90.0, "upper_usd": 130.0}])
    fc = cost.forecast(TODAY)
    assert fc.actual_before_usd.iloc[0] == pytest.approx(190.0)  # November 1-19
    assert fc.month_end_usd.iloc[0] == pytest.approx(300.0)
    assert (fc.month_end_lower_usd.iloc[0], fc.month_end_upper_usd.iloc[0]) == (280.0, 320.0)


def test_anomalies_are_those_starting_in_the_window(tiny_store):
    tiny_store(aws_cost_anomaly=[{"account_id": PAYER, "region": "us-east-1", "anomaly_id": f"a{n}",
                                  "start_date": days_ago(n), "service": "Amazon SageMaker",
                                  "total_impact_usd": 10.0 * n} for n in (1, 9, 20)])
    df = cost.anomalies(days_ago(14), TODAY)
    assert list(df.anomaly_id) == ["a1", "a9"]
    assert (df.end_date == df.start_date).all()  # an open anomaly ends where it starts


# --------------------------------------------------------------------------- unit economics

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _endpoint(name: str, team: str = "vision") -> dict:
    return {"account_id": PAYER, "region": "us-east-1", "endpoint_name": name, "team": team, "project": "p",
            "status": "InService", "creation_time": T0 - timedelta(days=30)}


def _state(name: str, at: datetime, count: int, itype: str = "ml.m5.large") -> dict:
    return {"account_id": PAYER, "region": "us-east-1", "endpoint_name": name, "variant_name": "AllTraffic",
            "observed_at": at, "instance_type": itype, "current_instance_count": count}


def _series_and_points(name: str, hourly: dict[datetime, float]) -> dict:
    series = {"account_id": PAYER, "region": "us-east-1", "series_id": f"inv-{name}", "namespace": "AWS/SageMaker",
              "metric_name": "Invocations", "endpoint_name": name, "variant_name": "AllTraffic"}
    hours = [{"account_id": PAYER, "region": "us-east-1", "series_id": f"inv-{name}", "stat": "Sum", "hour": h,
              "value": v} for h, v in hourly.items()]
    days: dict[datetime, float] = {}
    for h, v in hourly.items():
        d = h.replace(hour=0)
        days[d] = days.get(d, 0.0) + v
    daily = [{"account_id": PAYER, "region": "us-east-1", "series_id": f"inv-{name}", "stat": "Sum", "day": d,
              "value": v} for d, v in days.items()]
    return {"series": [series], "hourly": hours, "daily": daily}


def test_variant_hours_integrate_each_state_until_the_next(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")],
               aws_sagemaker_endpoint_variant_history=[_state("e", T0 + timedelta(hours=10), 2),
                                                       _state("e", T0 + timedelta(hours=20), 5)])
    # the earliest state holds before it: 2 instances over [0 h, 20 h), then 5 over [20 h, 24 h)
    hours = cost.variant_hours(f(), T0, T0 + timedelta(days=1))
    assert hours.instance_hours.iloc[0] == pytest.approx(2 * 20 + 5 * 4)


def test_endpoint_unit_cost_prices_instance_hours_and_counts_inferences(tiny_store):
    m = _series_and_points("e", {T0 + timedelta(hours=h): 100.0 for h in range(0, 48, 6)})
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")],
               aws_sagemaker_endpoint_variant_history=[_state("e", T0, 2)],
               aws_cost_daily=[bill(days_ago(1), "Amazon SageMaker", "USE1-Host:ml.m5.large", 48.0, hours=40.0)],
               aws_cloudwatch_metric_series=m["series"], aws_cloudwatch_metric_hourly=m["hourly"],
               aws_cloudwatch_metric_daily=m["daily"])
    # [T0 + 3 h, T0 + 1 day + 9 h): hourly rows at 6 h, 12 h, 18 h of day 1 and 0 h, 6 h of day 2
    unit = cost.endpoint_unit_cost(f(), T0 + timedelta(hours=3), T0 + timedelta(days=1, hours=9))
    row = unit.iloc[0]
    assert row.instance_hours == pytest.approx(2 * 30)
    assert row.usd_per_hour == pytest.approx(1.2)  # 48 $ / 40 h, as the bill paid
    assert row.hosting_usd == pytest.approx(60 * 1.2)
    assert row.invocations == 500.0
    assert row.usd_per_1k_inferences == pytest.approx(72.0 / 500 * 1000)


def test_endpoint_unit_cost_over_whole_days_reads_the_daily_rollup(tiny_store):
    m = _series_and_points("e", {T0 + timedelta(hours=h): 10.0 for h in range(72)})
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")],
               aws_sagemaker_endpoint_variant_history=[_state("e", T0, 1)],
               aws_cloudwatch_metric_series=m["series"], aws_cloudwatch_metric_hourly=m["hourly"][:0],
               aws_cloudwatch_metric_daily=m["daily"])
    unit = cost.endpoint_unit_cost(f(), T0, T0 + timedelta(days=2))
    assert unit.invocations.iloc[0] == 480.0  # two whole days, from the daily rollup alone
    assert unit.hosting_usd.isna().all()  # no price on the bill: unknown, not zero


def _job(name: str, team: str, spot: bool, seconds: int, billable: int, n: int = 1,
         itype: str = "ml.g4dn.xlarge") -> dict:
    return {"account_id": PAYER, "region": "us-east-1", "training_job_name": name, "team": team, "project": "p",
            "status": "Completed", "spot": spot, "instance_type": itype, "instance_count": n,
            "training_seconds": seconds, "billable_seconds": billable, "creation_time": T0 + timedelta(days=1)}


def test_training_cost_is_billable_time_at_the_on_demand_rate(tiny_store):
    tiny_store(aws_sagemaker_training_job=[_job("od", "fraud", False, 3600, 3600, n=2),
                                           _job("sp", "fraud", True, 3600, 1200)],
               aws_cost_daily=[bill(days_ago(1), "Amazon SageMaker", "USE1-Train:ml.g4dn.xlarge", 8.0, hours=8.0),
                               bill(days_ago(1), "Amazon SageMaker", "USE1-Train-Spot:ml.g4dn.xlarge", 1.0,
                                    hours=3.0)])
    jobs = cost.training_cost(f(), T0, END).set_index("training_job_name")
    assert jobs.loc["od", "cost_usd"] == pytest.approx(2 * 1.0)  # 2 instances x 1 h x $1.00
    assert jobs.loc["sp", "cost_usd"] == pytest.approx(1200 / 3600 * 1.0)  # billable time at the on-demand rate
    per_team = cost.training_unit_cost(f(), T0, END).set_index("team")
    assert per_team.loc["fraud", "training_hours"] == pytest.approx(3.0)
    assert per_team.loc["fraud", "spot_share_pct"] == pytest.approx(100 / 3)


def test_training_cost_falls_back_to_the_spot_rate_when_the_bill_has_only_spot(tiny_store):
    tiny_store(aws_sagemaker_training_job=[_job("od", "fraud", False, 3600, 3600)],
               aws_cost_daily=[bill(days_ago(1), "Amazon SageMaker", "USE1-Train-Spot:ml.g4dn.xlarge", 3.0,
                                    hours=10.0)])
    assert cost.training_cost(f(), T0, END).cost_usd.iloc[0] == pytest.approx(0.3)


# --------------------------------------------------------------------------- like with like


def test_month_to_date_7_day_columns_are_the_overviews_movers_for_the_same_scope(tiny_store):
    """On the 2nd of a month the period holds a day and a half; the 7-day columns still cover 7 complete days (they
    covered one: $126.70 against $928.46 on the Overview)."""
    today = date(2026, 12, 2)
    team = "TAG:team/SERVICE"
    rows = [bill(today - timedelta(days=n), t, "Amazon SageMaker", usd * (1 + n % 3), kind=team)
            for n in range(0, 20) for t, usd in (("vision", 130.0), ("fraud", 40.0), ("nlp", 7.0))]
    rows += [bill(today - timedelta(days=n), "Amazon SageMaker", "x", 1.0) for n in range(0, 20)]
    tiny_store(aws_cost_daily=rows)
    for scope in ({}, {"teams": ["vision", "nlp"]}):
        period = cost.daily_cost(f(**scope), "team", today.replace(day=1), today + timedelta(days=1))
        table = cost.breakdown(period, f(**scope), "team", today).set_index("team")
        movers = cost.movers(f(**scope), "team", today, limit=10).set_index("group")
        assert set(table.index) == set(movers.index)
        for g in movers.index:
            assert table.loc[g, "last_7d_usd"] == pytest.approx(movers.loc[g, "last_7d_usd"])
            assert table.loc[g, "previous_7d_usd"] == pytest.approx(movers.loc[g, "previous_7d_usd"])
        assert table.loc["vision", "last_7d_usd"] == pytest.approx(
            sum(130.0 * (1 + n % 3) for n in range(1, 8)))  # 7 complete days, not the 1 of the month


def test_the_daily_average_leaves_out_todays_partial_day(tiny_store):
    rows = [bill(days_ago(n), "Amazon SageMaker", "x", 100.0) for n in range(1, 30)]
    rows.append(bill(TODAY, "Amazon SageMaker", "x", 12.0))  # today, a few hours in
    tiny_store(aws_cost_daily=rows)
    start, end = days_ago(29), TODAY + timedelta(days=1)
    avg = cost.daily_average(cost.daily_cost(f(), "service", start, end), start, end, TODAY)
    assert avg.usd == pytest.approx(100.0) and avg.days == 29
    assert (avg.first, avg.last) == (days_ago(29), days_ago(1))
    first_day = cost.daily_average(cost.daily_cost(f(), "service", TODAY, end), TODAY, end, TODAY)
    assert first_day.usd is None and first_day.days == 0  # the 1st of a month, month to date: no complete day
