"""Cost: grouping that sums to the bill, anomalies on the trend, idle endpoints priced under savings."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

IDLE = "vision-defect-detector-shadow"


def _table_with(at, *columns):
    return next(d.value for d in at.dataframe if set(columns) <= set(d.value.columns))


def _period_30d():
    today = datetime.now(UTC).date()
    return today - timedelta(days=29), today + timedelta(days=1)


def test_cost_by_team_sums_to_the_whole_bill(app, demo_store):
    # complete days only: today's partial figures move between Cost Explorer requests, one per grouping
    today = datetime.now(UTC).date()
    start, last = today - timedelta(days=30), today - timedelta(days=1)
    [(truth,)] = demo_store.query(
        "SELECT sum(unblended_cost_usd) FROM aws_cost_daily WHERE group_by_kind = 'SERVICE/USAGE_TYPE' "
        "AND date >= ? AND date <= ?", [start, last])
    at = app("pages/cost.py", by="team", period="sidebar", range="custom", **{"from": start.isoformat(),
                                                                            "to": last.isoformat()})
    by_team = _table_with(at, "team", "cost_usd")
    assert len(by_team) >= 5  # the demo's five teams (and untagged lines, if any)
    assert abs(by_team.cost_usd.sum() - truth) < 0.01


def test_team_filter_narrows_the_bill_to_that_teams_tag(app, demo_store):
    start, end = _period_30d()
    [(truth,)] = demo_store.query(
        "SELECT sum(unblended_cost_usd) FROM aws_cost_daily WHERE group_by_kind = 'TAG:team/SERVICE' "
        "AND key1 = 'fraud' AND date >= ? AND date < ?", [start, end])
    at = app("pages/cost.py", by="service", period="30d", team="fraud")
    by_service = _table_with(at, "service", "cost_usd")
    assert abs(by_service.cost_usd.sum() - truth) < 0.01


def test_cost_anomaly_is_marked_on_the_daily_trend(app, demo_store):
    start, _ = _period_30d()
    days = {d.isoformat() for (d,) in demo_store.query(
        "SELECT start_date FROM aws_cost_anomaly WHERE start_date >= ?", [start])}
    assert days, "the demo plants a runaway training job nine days ago"
    at = app("pages/cost.py", period="30d")
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    marked = next(t for t in fig["data"] if t.get("name") == "anomaly")
    assert {x[:10] for x in marked["x"]} == days


def test_idle_endpoint_is_under_savings_with_its_monthly_cost(app, account, demo_store):
    described = account.client("sagemaker").describe_endpoint(EndpointName=IDLE)
    variants = described["ProductionVariants"]
    config = account.client("sagemaker").describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    types = {v["VariantName"]: v["InstanceType"] for v in config["ProductionVariants"]}
    today = datetime.now(UTC).date()
    expected = 0.0
    for v in variants:
        [(price,)] = demo_store.query(
            "SELECT sum(unblended_cost_usd) / sum(usage_quantity) FROM aws_cost_daily "
            "WHERE group_by_kind = 'SERVICE/USAGE_TYPE' AND key2 LIKE ? AND date >= ? AND date <= ?",
            [f"%Host:{types[v['VariantName']]}", today - timedelta(days=30), today])
        expected += v["CurrentInstanceCount"] * price * 24 * 30
    at = app("pages/cost.py", tab="Savings")
    idle = _table_with(at, "endpoint_name", "monthly_saving_usd", "idle_days")
    row = idle[idle.endpoint_name == IDLE]
    assert len(row) == 1
    assert abs(row.monthly_saving_usd.iloc[0] - expected) < 0.01
