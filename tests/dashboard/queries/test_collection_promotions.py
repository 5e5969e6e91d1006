"""What the Collection page shows of freshness that follows attention: the latest metrics plans' promoted series and
what they cost per month."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.queries import collection
from tests.dashboard.queries.conftest import END


def _poll(minutes_ago: int, account: str = "111122223333", region: str = "us-east-1", **values) -> dict:
    return {"account_id": account, "region": region, "polled_at": END - timedelta(minutes=minutes_ago), **values}


def test_promotions_are_the_latest_plan_of_each_account_and_region_summed(tiny_store):
    tiny_store(aws_cloudwatch_metric_poll=[
        _poll(10, series_promoted=9, queries_promoted=30, promoted_monthly_usd=2.5, estimated_monthly_usd=9.0),
        _poll(5, series_promoted=4, queries_promoted=12, promoted_monthly_usd=0.9, estimated_monthly_usd=6.0),
        _poll(7, region="eu-west-1", series_promoted=1, queries_promoted=2, promoted_monthly_usd=0.1,
              estimated_monthly_usd=1.0)])
    p = collection.metrics_promotions()
    assert (p.series, p.queries, p.monthly_usd, p.estimated_monthly_usd) == (5, 14, pytest.approx(1.0),
                                                                              pytest.approx(7.0))
    assert p.polled_at == END - timedelta(minutes=5)


def test_polls_before_promotions_existed_count_none(tiny_store):
    tiny_store(aws_cloudwatch_metric_poll=[_poll(5, estimated_monthly_usd=3.0)])  # the new columns NULL
    p = collection.metrics_promotions()
    assert (p.series, p.queries, p.monthly_usd, p.estimated_monthly_usd) == (0, 0, 0.0, 3.0)


def test_no_poll_yet_is_zero(tiny_store):
    tiny_store()
    assert collection.metrics_promotions() == collection.Promotions(0, 0, 0.0, 0.0, None)


def test_the_plan_table_shows_promotions(tiny_store):
    tiny_store(aws_cloudwatch_metric_poll=[_poll(5, series_promoted=4, promoted_monthly_usd=0.9)])
    plan = collection.metrics_plan()
    assert (plan.series_promoted.iloc[0], plan.promoted_monthly_usd.iloc[0]) == (4, pytest.approx(0.9))
