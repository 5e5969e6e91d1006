"""dashboard.queries.prices, the one hourly-price rule, on tiny stores: its window and exclusions, its fallbacks,
and the issue's acceptance test: the Endpoints table, unit economics, the savings list and the scale dialog give
the same $ per hour for one instance type."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from dashboard.queries import cost, endpoints, prices, savings
from tests.dashboard.queries.conftest import END, f

PAYER, LINKED = "111111111111", "222222222222"
TYPE = "ml.m5.xlarge"
NEWEST = date(2026, 11, 10)  # the bill's newest day, ten days before the tiny clock's today


def _line(day: date, key2: str, usd: float, hours: float, account: str = PAYER) -> dict:
    return {"account_id": account, "region": "us-east-1", "date": day, "group_by_kind": "SERVICE/USAGE_TYPE",
            "key1": "Amazon SageMaker", "key2": key2, "unblended_cost_usd": usd, "usage_quantity": hours}


def _bill() -> list[dict]:
    rows = [_line(NEWEST - timedelta(days=n), f"USE1-Host:{TYPE}", 10.0 + n, 40.0) for n in range(30)]  # in
    rows.append(_line(NEWEST - timedelta(days=30), f"USE1-Host:{TYPE}", 999.0, 1.0))  # 31 days back: out
    rows.append(_line(NEWEST, f"USE1-Host:{TYPE}", 999.0, 1.0, account=LINKED))  # the payer's bill holds it: out
    rows.append({**_line(NEWEST, LINKED, 0.0, 0.0), "group_by_kind": "LINKED_ACCOUNT/SERVICE", "key1": LINKED})
    return rows


EXPECTED = sum(10.0 + n for n in range(30)) / (40.0 * 30)


def test_the_price_is_cost_over_hours_of_the_30_days_ending_at_the_bills_newest_day(tiny_store):
    tiny_store(aws_cost_daily=_bill())
    p = prices.hourly_prices()
    assert list(p.columns) == prices.COLUMNS
    assert p[(p.kind == "Host") & (p.instance_type == TYPE)].usd_per_hour.iloc[0] == pytest.approx(EXPECTED)


def test_training_falls_back_between_on_demand_and_spot_hosting_does_not(tiny_store):
    tiny_store(aws_cost_daily=[_line(NEWEST, "USE1-Train-Spot:ml.g5.xlarge", 3.0, 10.0),
                               _line(NEWEST, "USE1-Train:ml.g5.xlarge", 12.0, 10.0),
                               _line(NEWEST, "USE1-Train-Spot:ml.p3.2xlarge", 2.0, 4.0)])
    lookup = prices.price_lookup()
    assert lookup("ml.g5.xlarge", "Train") == pytest.approx(1.2)
    assert lookup("ml.g5.xlarge", "Train-Spot") == pytest.approx(0.3)
    assert lookup("ml.p3.2xlarge", "Train") == pytest.approx(0.5)  # only spot on the bill yet
    assert lookup("ml.p3.2xlarge", "Host") is None  # never guessed
    assert list(prices.prices_for("Train").instance_type) == ["ml.g5.xlarge", "ml.p3.2xlarge"]


def test_without_a_bill_there_is_no_price(tiny_store):
    tiny_store()
    assert prices.hourly_prices().empty and prices.price_lookup()(TYPE, "Host") is None


def test_endpoints_table_unit_cost_savings_and_the_scale_dialog_agree_on_the_hourly_price(tiny_store):
    created = datetime(2026, 8, 1, tzinfo=UTC)
    tiny_store(
        aws_cost_daily=_bill(),
        aws_sagemaker_endpoint=[{"account_id": PAYER, "region": "us-east-1", "endpoint_name": "e", "team": "t",
                                 "status": "InService", "creation_time": created}],
        aws_sagemaker_endpoint_variant=[{"account_id": PAYER, "region": "us-east-1", "endpoint_name": "e",
                                         "variant_name": v, "instance_type": TYPE, "current_instance_count": n}
                                        for v, n in (("AllTraffic", 2), ("Shadow", 1))],
        aws_sagemaker_endpoint_variant_history=[{"account_id": PAYER, "region": "us-east-1", "endpoint_name": "e",
                                                 "variant_name": "AllTraffic", "observed_at": created,
                                                 "instance_type": TYPE, "current_instance_count": 3}],
        aws_cloudwatch_endpoint_summary=[{"account_id": PAYER, "region": "us-east-1", "endpoint_name": "e",
                                          "as_of": END, "invocations_7d": 0.0,
                                          "last_invocation": END - timedelta(days=30),
                                          "metrics_since": END - timedelta(days=60)}],
    )
    table = endpoints.endpoints(f()).iloc[0]
    endpoints_table = table.cost_per_day / 24 / table.instances
    unit = cost.endpoint_unit_cost(f(), END - timedelta(days=7), END).iloc[0]
    unit_economics = unit.hosting_usd / unit.instance_hours
    idle = savings.idle_endpoints(f(), 14).iloc[0]
    savings_list = idle.usd_per_hour / idle.instances
    scale_dialog = prices.price_lookup()(TYPE, "Host")  # what the action dialog's Env.price calls
    assert endpoints_table == pytest.approx(EXPECTED)
    assert unit_economics == pytest.approx(EXPECTED)
    assert savings_list == pytest.approx(EXPECTED)
    assert scale_dialog == pytest.approx(EXPECTED)
