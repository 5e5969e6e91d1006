"""Refresh an endpoint's metrics now, without AWS: the request is authorized, validated against the store, priced,
audited (intent, then the collector's outcome) and queued once; duplicates collapse; each request is claimed once;
a dry run changes nothing (the collector's side is a small stand-in here; tests/actions/test_refresh_account.py runs
the real one against the emulated account)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

import actions as a
import collectors
from actions.refresh import MAX_WAIT, RefreshQueue, StoreEndpoint, estimate, store_lookup, usd
from collectors import cloudwatch_metrics as cwm
from collectors.sagemaker_endpoints import ENDPOINT
from sextant import prices
from sextant.settings import ActionSettings, Settings
from sextant.store import Reader, Writer

MAIN, REGION, NAME = "123456789012", "us-east-1", "fraud-scorer-prod"
T0 = datetime(2026, 12, 3, 14, 0, 5, tzinfo=UTC)
OPERATOR = a.Actor("oncall@example.com", "operator")
VIEWER = a.Actor("someone@example.com", "viewer")
SETTINGS = Settings()
FOUND = StoreEndpoint(MAIN, REGION, NAME, series=12, queries=30, polled_at=T0 - timedelta(minutes=47))


class Store:
    """The store's answer, counting how often it was asked."""

    def __init__(self, found: StoreEndpoint | None = FOUND) -> None:
        self.found, self.asked = found, 0

    def __call__(self, account_id: str, region: str, endpoint: str) -> StoreEndpoint | None:
        self.asked += 1
        f = self.found
        return f if f and (f.account_id, f.region, f.endpoint) == (account_id, region, endpoint) else None


@dataclass
class Read:
    status: str = "succeeded"
    series: int = 12
    queries: int = 30
    requests: int = 1
    datapoints: int = 1410
    api_calls: int = 1
    cost_usd: float = 30 * prices.PER_METRIC
    error: str | None = None


@dataclass
class Collector:
    """The collector's side: which accounts it serves, and the endpoints it was asked to read."""

    accounts: tuple[str, ...] = (MAIN,)
    result: Read | Exception = field(default_factory=Read)
    read_for: list[tuple[str, str, str]] = field(default_factory=list)

    def serves(self, account_id: str, region: str) -> bool:
        return account_id in self.accounts

    def read(self, account_id: str, region: str, endpoint: str) -> Read:
        self.read_for.append((account_id, region, endpoint))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def audit(tmp_path) -> a.AuditLog:
    return a.AuditLog(tmp_path / "audit.sqlite")


def _ask(audit, actor=OPERATOR, store=None, now=T0, endpoint=NAME, settings=SETTINGS, **kw) -> a.Outcome:
    return a.request_refresh(a.RefreshEndpoint(MAIN, endpoint, REGION), actor, settings, audit, store or Store(),
                             now=now, **kw)


def _requests(audit) -> list[a.RefreshRequest]:
    q = RefreshQueue(audit)  # the table, when nothing was ever queued
    with sqlite3.connect(audit.path) as con:
        ids = [r[0] for r in con.execute("SELECT id FROM refresh_request ORDER BY id")]
    return [r for i in ids if (r := q.get(i)) is not None]


def _rows(audit) -> list[dict]:
    return audit.frame().sort_values("id").to_dict("records")


def test_a_request_is_queued_with_its_intent_and_served_once_with_what_it_read(audit):
    out = _ask(audit)
    assert out.status == "succeeded", out.message
    assert out.message.startswith(f"refresh of {NAME} requested at 14:00:05 UTC (request #")
    [r] = _requests(audit)
    assert (r.status, r.actor, r.account_id, r.region, r.endpoint, r.queries_estimated) == (
        "queued", OPERATOR.name, MAIN, REGION, NAME, 30)
    [intent] = _rows(audit)
    assert (intent["id"], intent["action"], intent["result"], intent["actor"], intent["target"],
            intent["region"]) == (out.audit_id, "refresh_endpoint_metrics", "requested", OPERATOR.name, NAME, REGION)

    collector = Collector()
    [line] = a.serve_refreshes(SETTINGS, collector, audit, now=T0 + timedelta(seconds=4))
    assert "read 1410 datapoints of 12 series (30 metric queries, 1 GetMetricData request, 1 API calls" in line
    assert collector.read_for == [(MAIN, REGION, NAME)]
    done = RefreshQueue(audit).get(r.id)
    assert (done.status, done.datapoints, done.api_calls, done.requests) == ("done", 1410, 1, 1)
    assert done.cost_usd == pytest.approx(30 * prices.PER_METRIC)
    [row] = _rows(audit)  # the intent, completed: one row per attempt
    assert row["result"] == "succeeded" and row["completed_at"]
    after = json.loads(row["state_after"])
    assert (after["request_id"], after["datapoints"], after["api_calls"], after["queries"]) == (r.id, 1410, 1, 30)

    assert a.serve_refreshes(SETTINGS, collector, audit, now=T0 + timedelta(seconds=9)) == []
    assert len(collector.read_for) == 1, "a request is read once"


def test_a_request_is_claimed_once(audit):
    _ask(audit)
    [r] = _requests(audit)
    q = RefreshQueue(audit)
    assert q.claim(r.id) is True
    assert q.claim(r.id) is False, "a second collector must not take it"
    collector = Collector()
    assert a.serve_refreshes(SETTINGS, collector, audit, now=T0) == []
    assert collector.read_for == [], "a running request is another collector's"


def test_duplicates_within_a_minute_collapse_into_one_request(audit):
    first = _ask(audit)
    second = _ask(audit, actor=a.Actor("other@example.com", "admin"), now=T0 + timedelta(seconds=20))
    assert second.status == "duplicate", second.message
    assert second.result == {"request_id": first.result["request_id"]}
    assert "already requested at 14:00:05 UTC by oncall@example.com" in second.message
    assert len(_requests(audit)) == 1
    rows = _rows(audit)
    assert [r["result"] for r in rows] == ["requested", "duplicate"]
    assert json.loads(rows[1]["state_after"]) == {"collapsed_into": first.result["request_id"]}

    # served, then asked again within the minute: still the same; a minute after the first: a new request
    a.serve_refreshes(SETTINGS, Collector(), audit, now=T0 + timedelta(seconds=25))
    assert _ask(audit, now=T0 + timedelta(seconds=50)).status == "duplicate"
    again = _ask(audit, now=T0 + timedelta(seconds=70))
    assert again.status == "succeeded", again.message
    assert [r.status for r in _requests(audit)] == ["done", "queued"]


def test_a_request_still_waiting_serves_later_ones_whatever_its_age(audit):
    _ask(audit)
    assert _ask(audit, now=T0 + timedelta(minutes=5)).status == "duplicate"
    assert len(_requests(audit)) == 1


def test_the_table_holds_at_most_one_waiting_request_per_endpoint(audit):
    _ask(audit)
    with pytest.raises(sqlite3.IntegrityError):
        RefreshQueue(audit).add(actor="x", role="operator", account_id=MAIN, region=REGION, endpoint=NAME,
                                audit_id=999, queries_estimated=1, now=T0)


def test_a_failed_request_does_not_swallow_the_next_one(audit):
    _ask(audit)
    a.serve_refreshes(SETTINGS, Collector(result=Read(status="failed", datapoints=0, error="AccessDenied")), audit,
                      now=T0 + timedelta(seconds=5))
    assert _requests(audit)[0].status == "failed"
    assert _ask(audit, now=T0 + timedelta(seconds=10)).status == "succeeded"


def test_a_viewer_is_refused_with_one_audit_row_and_nothing_queued(audit):
    store = Store()
    out = _ask(audit, actor=VIEWER, store=store)
    assert out.status == "refused" and "only operators and admins" in out.message
    assert store.asked == 0
    assert _requests(audit) == []
    [row] = _rows(audit)
    assert (row["result"], row["actor"], row["role"]) == ("refused", VIEWER.name, "viewer")
    with pytest.raises(a.ActionError, match="only operators and admins"):
        a.plan_refresh(a.RefreshEndpoint(MAIN, NAME, REGION), VIEWER, SETTINGS, store)


def test_a_dry_run_says_what_would_be_read_and_its_cost_and_changes_nothing(audit):
    out = _ask(audit, dry_run=True)
    assert out.status == "dry_run"
    assert out.message == (f"dry run: would read the 12 metric series of {NAME} now (30 metric queries in 1 "
                           "GetMetricData request), whatever their cadence")
    assert out.plan.cost_estimate == pytest.approx(30 * prices.PER_METRIC)
    assert _requests(audit) == []
    [row] = _rows(audit)
    assert (row["result"], row["dry_run"]) == ("dry_run", 1)
    # [actions] dry_run makes every request a dry run
    forced = _ask(audit, settings=Settings(actions=ActionSettings(dry_run=True)))
    assert forced.status == "dry_run" and _requests(audit) == []


def test_the_estimate_is_the_metric_queries_at_getmetricdata_list_price():
    plan = estimate(FOUND)
    assert plan.cost_estimate == pytest.approx(30 * prices.PER_METRIC)
    assert plan.before == {"series": 12, "metric_queries": 30, "last_read": "13:13 UTC"}
    assert plan.notes[0].startswith("Estimated cost: $0.0003 — 30 metric queries × $0.00001")
    big = estimate(StoreEndpoint(MAIN, REGION, NAME, 400, 1200, None))
    assert "1200 metric queries in 3 GetMetricData requests" in big.summary
    assert big.before["last_read"] == "never"
    assert usd(0.0003) == "$0.0003" and usd(7e-05) == "$0.00007" and usd(0.25) == "$0.25" and usd(0) == "$0"
    assert usd(1e-9) == "under $0.000001"


@pytest.mark.parametrize(("account", "region", "endpoint", "message"), [
    ("12345", REGION, NAME, "is not a 12-digit AWS account id"),
    (MAIN, "us-east-1\n", NAME, "is not an AWS region"),
    (MAIN, "mars-north-1", NAME, "is not an AWS region"),
    (MAIN, REGION, "bad name!", "is not a valid AWS name"),
    (MAIN, REGION, "another-endpoint", "is not in the store for account 123456789012 in us-east-1"),
])
def test_bad_input_is_refused_with_a_clear_message_and_nothing_queued(audit, account, region, endpoint, message):
    out = a.request_refresh(a.RefreshEndpoint(account, endpoint, region), OPERATOR, SETTINGS, audit, Store(), now=T0)
    assert out.status == "invalid" and message in out.message, out.message
    assert _requests(audit) == []
    assert [r["result"] for r in _rows(audit)] == ["invalid"]


def test_an_account_outside_allowed_accounts_is_refused(audit):
    settings = Settings(actions=ActionSettings(allowed_accounts=("210987654321",)))
    out = _ask(audit, settings=settings)
    assert out.status == "invalid" and "allowed_accounts" in out.message
    assert _requests(audit) == []


@pytest.mark.parametrize("sql", [
    "UPDATE refresh_request SET status = 'done'",  # queued -> done skips the claim
    "UPDATE refresh_request SET endpoint = 'other'",
    "UPDATE refresh_request SET status = 'running', actor = 'someone-else'",
    "DELETE FROM refresh_request",
])
def test_the_queue_allows_only_its_transitions(audit, sql):
    _ask(audit)
    with sqlite3.connect(audit.path) as con, pytest.raises(sqlite3.IntegrityError):
        con.execute(sql)


def test_a_request_no_collector_took_in_time_expires_with_its_audit_row(audit):
    _ask(audit)
    collector = Collector()
    [line] = a.serve_refreshes(SETTINGS, collector, audit, now=T0 + MAX_WAIT + timedelta(seconds=1))
    assert "expired: no collector read it within 10 minutes" in line
    assert collector.read_for == []
    assert _requests(audit)[0].status == "expired"
    [row] = _rows(audit)
    assert row["result"] == "failed" and "expired" in row["error"]


def test_a_request_of_an_account_this_collector_does_not_collect_is_left_queued(audit):
    _ask(audit)
    collector = Collector(accounts=("210987654321",))
    assert a.serve_refreshes(SETTINGS, collector, audit, now=T0 + timedelta(seconds=5)) == []
    assert collector.read_for == [] and _requests(audit)[0].status == "queued"


def test_a_read_that_fails_ends_the_request_failed_with_the_reason(audit):
    _ask(audit)
    collector = Collector(result=RuntimeError("the store is busy"))
    [line] = a.serve_refreshes(SETTINGS, collector, audit, now=T0 + timedelta(seconds=5))
    assert "failed: RuntimeError: the store is busy" in line
    assert _requests(audit)[0].status == "failed"
    [row] = _rows(audit)
    assert row["result"] == "failed" and "the store is busy" in row["error"]


def test_the_store_lookup_counts_the_endpoints_series_and_metric_queries(tmp_path):
    w = Writer(tmp_path / "store")
    try:
        collectors.migrate(w)
        polled = datetime(2026, 12, 3, 13, 30, tzinfo=UTC)
        with w.transaction():
            w.upsert(ENDPOINT, [{"account_id": MAIN, "region": REGION, "endpoint_name": NAME},
                                {"account_id": MAIN, "region": REGION, "endpoint_name": "quiet"}])
            w.upsert(cwm.SERIES, [
                {"account_id": MAIN, "region": REGION, "series_id": cwm.series_id(ns, m, {"EndpointName": NAME}),
                 "namespace": ns, "metric_name": m, "endpoint_name": NAME, "stats": ",".join(cwm.stats_for(ns, m)),
                 "last_polled_at": polled}
                for ns, m in (("AWS/SageMaker", "Invocations"), ("AWS/SageMaker", "ModelLatency"),
                              ("/aws/sagemaker/Endpoints", "GPUUtilization"))])
        w.publish()
    finally:
        w.close()
    reader = Reader(tmp_path / "store")
    try:
        lookup = store_lookup(reader)
        assert lookup(MAIN, REGION, NAME) == StoreEndpoint(MAIN, REGION, NAME, 3, 1 + 4 + 2, polled)
        assert lookup(MAIN, REGION, "quiet") == StoreEndpoint(MAIN, REGION, "quiet", 0, 0, None)
        assert lookup(MAIN, "eu-west-1", NAME) is None
        assert lookup("210987654321", REGION, NAME) is None
    finally:
        reader.close()


def test_nothing_published_yet_is_a_clear_message(tmp_path, audit):
    reader = Reader(tmp_path / "empty")
    out = a.request_refresh(a.RefreshEndpoint(MAIN, NAME, REGION), OPERATOR, SETTINGS, audit, store_lookup(reader),
                            now=T0)
    assert out.status == "invalid" and "the store has nothing published yet" in out.message
