"""Against the emulated account: an operator's refresh of an endpoint whose series are cold (read ten minutes ago, due
only at the cold cadence) brings every one of its series to the last minutes in one served request, in one
GetMetricData call, counted and audited; `sextant collect` serves a queued request after its cycle.

"Ten minutes ago" is the store set back: every series cursor of the metrics source moved back and the points since
removed, as if the last poll had run that long ago; the collection and the refresh themselves are the real ones."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import actions as a
import sextant_cli
from actions.refresh import RefreshQueue, store_lookup
from collectors.__main__ import Refresher
from sextant.settings import CollectSettings
from sextant.store import Reader, Writer
from tests.collectors.conftest import Collection, ok

MAIN, REGION = "123456789012", "us-east-1"
OPERATOR = a.Actor("oncall@example.com", "operator")
SOURCES = ["sagemaker_endpoints", "cloudwatch_alarms", "cloudwatch_metrics"]
GAP = timedelta(minutes=10)  # past the hot cadence (5 min), well within the cold one (1 h): a cycle reads nothing cold
FRESH = timedelta(minutes=2)


@pytest.fixture(scope="module")
def collected(account, tmp_path_factory) -> Collection:
    c = Collection(tmp_path_factory.mktemp("refresh") / "store")
    c.settings = replace(c.settings, collect=CollectSettings(backfill_days=1))  # hot 5 min, cold 1 h
    ok(c.run(sources=SOURCES))
    ok(c.run(sources=SOURCES))  # the second cycle classifies the series with the traffic the first one read
    return c




def _coldest(c: Collection, skip: tuple[str, ...] = ()) -> str:
    """An endpoint of the account (not in ``skip``) whose series are all cold (no traffic-hot or alarm-promoted
    series), else the one with the most cold series."""
    [(endpoint,)] = c.query(
        "SELECT endpoint_name FROM aws_cloudwatch_metric_series WHERE endpoint_name IS NOT NULL AND account_id = ? "
        "AND NOT list_contains(?, endpoint_name) GROUP BY endpoint_name "
        "ORDER BY count(*) FILTER (WHERE poll_class <> 'cold'), count(*) FILTER (WHERE poll_class = 'cold') DESC, "
        "endpoint_name LIMIT 1", [MAIN, list(skip)])
    return endpoint


def _newest(c: Collection, endpoint: str) -> dict[str, tuple[str, datetime]]:
    """Per series of the endpoint (metric name and first statistic): its poll class and newest point."""
    rows = c.query(
        "SELECT s.metric_name || ' ' || s.namespace, s.poll_class, max(p.ts) FROM aws_cloudwatch_metric_series s "
        "JOIN aws_cloudwatch_metric_point p USING (account_id, region, series_id) "
        "WHERE s.account_id = ? AND s.endpoint_name = ? GROUP BY ALL", [MAIN, endpoint])
    return {name: (poll_class, newest) for name, poll_class, newest in rows}


def test_a_refresh_brings_every_series_of_a_cold_endpoint_to_the_last_minutes_in_one_request(collected):
    c = collected
    c.set_back(GAP)
    endpoint = _coldest(c)
    before = _newest(c, endpoint)
    cold = {name for name, (poll_class, _) in before.items() if poll_class == "cold"}
    assert cold, f"{endpoint} has no cold series"
    assert all(datetime.now(UTC) - newest > GAP for name, (_, newest) in before.items() if name in cold)

    audit = a.AuditLog(c.settings.store / "audit.sqlite")
    reader = Reader(c.settings.store)
    try:
        out = a.request_refresh(a.RefreshEndpoint(MAIN, endpoint, REGION), OPERATOR, c.settings, audit,
                                store_lookup(reader))
    finally:
        reader.close()
    assert out.status == "succeeded", out.message
    n = out.plan.before["metric_queries"]
    assert n > len(cold) and out.plan.cost_estimate == pytest.approx(n * 0.01 / 1000)

    writer = Writer(c.settings.store)
    try:
        [line] = a.serve_refreshes(c.settings, Refresher(c.settings, writer), audit)
    finally:
        writer.close()
    now = datetime.now(UTC)
    served = RefreshQueue(audit).get(out.result["request_id"])
    assert served.status == "done", served.message
    assert (served.queries, served.requests, served.api_calls) == (n, 1, 1), line  # one GetMetricData call
    assert served.datapoints > n and served.cost_usd == pytest.approx(n * 0.01 / 1000)

    after = _newest(c, endpoint)
    assert set(after) == set(before)
    for name, (poll_class, newest) in after.items():
        assert now - newest <= FRESH, (name, newest, now)
        assert poll_class == before[name][0], "a refresh promotes nothing"
    [(oldest_read,)] = c.query("SELECT min(last_polled_at) FROM aws_cloudwatch_metric_series "
                               "WHERE account_id = ? AND endpoint_name = ?", [MAIN, endpoint])
    assert oldest_read >= served.requested_at.replace(second=0, microsecond=0)

    rows = audit.frame()
    [row] = rows[rows.action == "refresh_endpoint_metrics"].to_dict("records")
    assert (row["result"], row["actor"], row["target"], row["region"]) == ("succeeded", OPERATOR.name, endpoint,
                                                                           REGION)
    state = json.loads(row["state_after"])
    assert (state["datapoints"], state["api_calls"], state["requests"]) == (served.datapoints, 1, 1)


def test_sextant_collect_serves_a_queued_refresh(collected, monkeypatch):
    c = collected
    c.set_back(GAP)
    audit = a.AuditLog(c.settings.store / "audit.sqlite")  # where sextant collect looks (the store's)
    endpoint = _coldest(c, skip=tuple(audit.frame().target))  # not one refreshed within the minute (it collapses)
    reader = Reader(c.settings.store)
    try:
        out = a.request_refresh(a.RefreshEndpoint(MAIN, endpoint, REGION), OPERATOR, c.settings, audit,
                                store_lookup(reader))
    finally:
        reader.close()
    assert out.status == "succeeded", out.message
    monkeypatch.chdir(c.settings.store.parent)  # no sextant.toml here: the environment's account
    status = sextant_cli.main(["collect", "--once", "--source", "cloudwatch_metrics", "--store",
                               str(c.settings.store), "--quiet"])
    assert status == 0
    served = RefreshQueue(audit).get(out.result["request_id"])
    assert served.status == "done" and served.datapoints, served.message
    now = datetime.now(UTC)
    assert all(now - newest <= FRESH for _, newest in _newest(c, endpoint).values())
