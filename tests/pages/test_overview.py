"""Overview: spend this month against the store, endpoint health, links to the detail pages."""

from __future__ import annotations

from datetime import UTC, datetime

IDLE = "vision-defect-detector-shadow"


def _dollars(text: str) -> float:
    return float(text.replace("$", "").replace(",", ""))


def _metric(at, starts: str):
    return next(m for m in at.metric if m.label.startswith(starts))


def test_month_to_date_spend_is_the_stores_sum_for_the_month(app, demo_store):
    today = datetime.now(UTC).date()
    [(truth,)] = demo_store.query(
        "SELECT sum(unblended_cost_usd) FROM aws_cost_daily "
        "WHERE group_by_kind = 'SERVICE/USAGE_TYPE' AND date >= ? AND date <= ?", [today.replace(day=1), today])
    at = app()  # the default page
    assert abs(_dollars(_metric(at, "Spend").value) - truth) <= 0.5  # shown in whole dollars


def test_month_end_forecast_adds_the_forecast_to_the_spend_before_it(app, demo_store):
    [(as_of, mean)] = demo_store.query(
        "SELECT as_of, mean_usd FROM aws_cost_forecast ORDER BY as_of DESC LIMIT 1")
    [(before,)] = demo_store.query(
        "SELECT coalesce(sum(unblended_cost_usd), 0) FROM aws_cost_daily WHERE group_by_kind = 'SERVICE/USAGE_TYPE' "
        "AND date >= date_trunc('month', ?::DATE) AND date < ?", [as_of, as_of])
    at = app()
    assert abs(_dollars(_metric(at, "Month-end forecast").value) - (before + mean)) <= 0.5


def test_idle_endpoint_is_marked_idle_in_the_health_table(app):
    at = app()
    health = next(d.value for d in at.dataframe if "health" in d.value.columns)
    row = health[health.endpoint_name == IDLE]
    assert len(row) == 1 and "idle" in row.health.iloc[0]


def test_alarms_in_alarm_link_to_their_endpoint_detail(app, demo_store):
    firing = demo_store.query("SELECT alarm_name, endpoint_name FROM aws_cloudwatch_alarm "
                              "WHERE state_value = 'ALARM' AND endpoint_name IS NOT NULL")
    assert firing, "the demo account has alarms in ALARM (the idle endpoint's no-invocations alarm)"
    at = app()
    links = {(pl.proto.page, pl.proto.query_string) for pl in at.get("page_link")}
    for _alarm, endpoint in firing:
        assert ("endpoints", f"endpoint={endpoint}") in links
