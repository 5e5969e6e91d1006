"""Cost Explorer collector: consistent sums across groupings, forecast and anomalies, thrift (no request while
the data cannot have changed, a per-run request budget), and AccessDenied leaving the other sources alone."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from botocore.exceptions import ClientError

from sextant.aws import Clients
from sextant.settings import AccountSettings

KINDS = ("SERVICE/USAGE_TYPE", "LINKED_ACCOUNT/SERVICE", "TAG:team/SERVICE", "TAG:project/SERVICE")


def _ce_calls(calls: dict[str, int]) -> int:
    return sum(n for k, n in calls.items() if k.startswith("ce:"))


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}


def _ok(cycle) -> None:
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]


def test_every_grouping_sums_to_the_same_daily_total(collection, account):
    _ok(collection.run(["cost_explorer"]))
    today = datetime.now(UTC).date()
    totals = collection.query(
        "SELECT group_by_kind, sum(unblended_cost_usd) FROM aws_cost_daily WHERE date < ? GROUP BY 1", [today])
    assert {k for k, _ in totals} == set(KINDS)
    start = collection.query("SELECT min(date) FROM aws_cost_daily")[0][0]
    ce = account.client("ce")
    answer = ce.get_cost_and_usage(TimePeriod={"Start": start.isoformat(), "End": today.isoformat()},
                                   Granularity="MONTHLY", Metrics=["UnblendedCost"])
    total = sum(float(r["Total"]["UnblendedCost"]["Amount"]) for r in answer["ResultsByTime"])
    assert total > 0
    for kind, amount in totals:
        assert abs(amount - total) < 0.01, kind
    per_day = collection.query(
        "SELECT date, max(s) - min(s) FROM (SELECT date, group_by_kind, sum(unblended_cost_usd) AS s "
        "FROM aws_cost_daily GROUP BY ALL) GROUP BY date HAVING count(*) = ?", [len(KINDS)])
    assert per_day and all(spread < 0.01 for _, spread in per_day)


def test_history_window_is_collected_on_the_first_run(collection):
    _ok(collection.run(["cost_explorer"]))
    days = collection.settings.collect.cost_history_days
    first, last = collection.query("SELECT min(date), max(date) FROM aws_cost_daily")[0]
    today = datetime.now(UTC).date()
    assert last == today and (today - first).days <= days
    assert collection.query("SELECT bool_or(estimated) FROM aws_cost_daily WHERE date = ?", [today])[0][0]


def test_forecast_and_anomalies_are_collected(collection, account):
    _ok(collection.run(["cost_explorer"]))
    today = datetime.now(UTC).date()
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1)
    forecast = collection.query(
        "SELECT period_start, period_end, lower_usd, mean_usd, upper_usd FROM aws_cost_forecast")
    if month_end - today > timedelta(days=1):  # on the month's last day there is nothing to forecast
        assert len(forecast) == 1
        start, end, lower, mean, upper = forecast[0]
        assert (start, end) == (today, month_end) and lower <= mean <= upper and mean > 0
    start = today - timedelta(days=collection.settings.collect.cost_history_days)
    listed = account.client("ce").get_anomalies(
        DateInterval={"StartDate": start.isoformat(), "EndDate": (today + timedelta(days=1)).isoformat()})
    ids = {a["AnomalyId"] for a in listed["Anomalies"]}
    assert ids and {r[0] for r in collection.query("SELECT anomaly_id FROM aws_cost_anomaly")} == ids
    service, impact, causes = collection.query(
        "SELECT service, total_impact_usd, root_causes FROM aws_cost_anomaly ORDER BY total_impact_usd DESC")[0]
    assert service and impact > 0 and causes


def test_second_immediate_run_makes_no_cost_explorer_call(collection):
    _ok(collection.run(["cost_explorer"]))
    rows = collection.query("SELECT count(*) FROM aws_cost_daily")[0][0]
    before = collection.calls()
    _ok(collection.run(["cost_explorer"]))
    assert _ce_calls(_diff(collection.calls(), before)) == 0
    assert collection.query("SELECT count(*) FROM aws_cost_daily")[0][0] == rows


def test_later_run_refetches_only_the_days_that_can_change(collection):
    _ok(collection.run(["cost_explorer"]))
    first_calls = _ce_calls(collection.calls())
    collection.settings = replace(collection.settings, collect=replace(collection.settings.collect,
                                                                       cost_refresh_every_s=0))
    before = collection.calls()
    _ok(collection.run(["cost_explorer"]))
    calls = _diff(collection.calls(), before)
    # one request per grouping for the last days, one forecast, one anomalies page
    assert calls.get("ce:GetCostAndUsage") == len(KINDS)
    assert _ce_calls(calls) < first_calls
    keys = collection.query("SELECT count(*), count(DISTINCT (date, group_by_kind, key1, key2)) FROM aws_cost_daily")
    assert keys[0][0] == keys[0][1]


def test_request_budget_is_respected_and_the_cursor_continues(collection):
    budget = len(KINDS) + 2  # the smallest budget a refresh fits in: a grouping each, forecast, anomalies
    collection.settings = replace(collection.settings, collect=replace(collection.settings.collect,
                                                                       cost_requests_per_run=budget))
    for _ in range(12):
        before = collection.calls() if collection.clients else {}
        _ok(collection.run(["cost_explorer"]))
        calls = _ce_calls(_diff(collection.calls(), before))
        assert calls <= budget
        if calls == 0:
            break  # complete: the refresh interval now holds CE back
    else:
        raise AssertionError("backfill never completed within the per-run budget")
    totals = collection.query("SELECT group_by_kind, sum(unblended_cost_usd) FROM aws_cost_daily "
                              "WHERE date < current_date GROUP BY 1")
    assert len(totals) == len(KINDS) and max(t for _, t in totals) - min(t for _, t in totals) < 0.01
    assert collection.query("SELECT count(*) FROM aws_cost_forecast")[0][0] <= 1


def test_access_denied_on_cost_explorer_is_recorded_with_a_hint(collection):
    clients = collection.clients.setdefault("default", Clients(AccountSettings()))

    def deny(model, **_):
        if model.service_model.endpoint_prefix == "ce":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, model.name)

    # registered after the call counter's own hook, so the counter names the service of the failed call
    clients.client("ce", "us-east-1").meta.events.register("before-call.*.*", deny)
    cycle = collection.run(["sagemaker_training", "cost_explorer"])
    status = {r.source: r for r in cycle.results}
    assert status["sagemaker_training"].status == "succeeded"
    assert status["cost_explorer"].status == "failed"
    error, hint = collection.query("SELECT error, hint FROM sextant_collection_run WHERE source = 'cost_explorer'")[0]
    assert "AccessDenied" in error and "ce:GetCostAndUsage" in hint
    assert collection.query("SELECT count(*) FROM aws_sagemaker_training_job")[0][0] > 0
    assert collection.query("SELECT count(*) FROM aws_cost_daily")[0][0] == 0
