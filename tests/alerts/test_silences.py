"""Silences on tiny stores (fast tier): a silenced alert still changes state, its messages are recorded as suppressed
(naming the silence) and never sent; after the expiry (or an early end) messages flow again. Explicit times, no
sleeps. Also: the alerts' reading of ``alert_silence`` and the dashboard's writing of it are one table and one
matching rule."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from typing import Any

import pytest

import alerts
from actions import alert_actions as aa
from actions.audit import AuditLog
from alerts import silences as sil
from tests.alerts.conftest import T0, traffic

HOOK = {"hook": {"type": "webhook", "target_env": "SEXTANT_TEST_HOOK"}}
RULE = "endpoint_5xx_rate"
RESOURCE = "123456789012/us-east-1/ep-a"
_audit_ids = itertools.count(1000)


def silence(store, *, minutes: int = 30, created=T0 - timedelta(minutes=1), **match: Any) -> aa.Silence:
    """A silence written as the dashboard writes it (``actions.alert_actions.Silences``), into the audit database
    beside the tiny store."""
    audit = AuditLog(store.settings.store / "audit.sqlite")
    fields = {"rule": None, "resource": None, "team": None, "account_id": None, **match}
    return aa.Silences(audit).add(actor="olu@corp.example", role="operator", reason="maintenance window",
                                  expires_at=created + timedelta(minutes=minutes), audit_id=next(_audit_ids),
                                  now=created, **fields)


def deliveries(store) -> list[tuple[Any, ...]]:
    return store.rows("SELECT episode, kind, status, error FROM sextant_alert_delivery ORDER BY episode, kind")


def breach(store, errors: float = 120) -> None:
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, errors)])


class Recorder:
    """A stand-in for the channels' senders: what would have been sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def send(self, channel, target, row) -> None:
        self.sent.append(row)


@pytest.fixture
def hooked(store, monkeypatch):
    monkeypatch.setenv("SEXTANT_TEST_HOOK", "https://hooks.example.invalid/T000/B000/not-a-secret")
    store.configure(channels=HOOK)
    return store


# --------------------------------------------------------------------------- matching


CASES = [
    ({"rule": RULE}, {"rule": RULE, "resource": RESOURCE, "team": "vision", "account_id": "123456789012"}, True),
    ({"rule": "other"}, {"rule": RULE, "resource": RESOURCE}, False),
    ({"resource": RESOURCE}, {"rule": "any_rule", "resource": RESOURCE}, True),
    ({"rule": RULE, "resource": RESOURCE}, {"rule": RULE, "resource": "123456789012/us-east-1/ep-b"}, False),
    ({"rule": RULE, "team": "vision"}, {"rule": RULE, "resource": RESOURCE, "team": "search"}, False),
    ({"rule": RULE, "team": "vision"}, {"rule": RULE, "resource": RESOURCE, "team": None}, False),
    ({"rule": RULE, "account_id": "123456789012"}, {"rule": RULE, "resource": RESOURCE,
                                                    "account_id": "123456789012"}, True),
    ({"rule": RULE, "account_id": "999999999999"}, {"rule": RULE, "resource": RESOURCE,
                                                    "account_id": "123456789012"}, False),
]


@pytest.mark.parametrize("match, alert, expected", CASES)
def test_a_silence_matches_by_every_field_it_names_and_both_sides_agree(match, alert, expected):
    fields = {"rule": None, "resource": None, "team": None, "account_id": None, **match}
    read = sil.Silence(id=1, reason="r", actor="a", created_at=T0, expires_at=T0 + timedelta(hours=1), **fields)
    written = aa.CreateSilence(**fields, reason="r", expires_at=T0 + timedelta(hours=1))
    assert sil.matches(read, alert) is expected
    assert aa.matches(written, alert) is expected


def test_what_the_dashboard_writes_the_evaluation_reads_active_only_between_creation_and_expiry_or_end(store):
    s = silence(store, rule=RULE, minutes=30)
    ended = silence(store, resource=RESOURCE, minutes=60)
    assert aa.Silences(AuditLog(store.settings.store / "audit.sqlite")).end(ended.id, "olu@corp.example",
                                                                            now=T0 + timedelta(minutes=5))
    assert [x.id for x in sil.active(store.settings, T0)] == [s.id, ended.id]
    assert [x.id for x in sil.active(store.settings, T0 + timedelta(minutes=5))] == [s.id]
    assert sil.active(store.settings, T0 + timedelta(minutes=28, seconds=59)) != []
    assert sil.active(store.settings, T0 + timedelta(minutes=29)) == []  # created T0-1 min, 30 min long
    assert sil.active(store.settings, T0 - timedelta(minutes=2)) == []  # not yet made
    [read] = sil.active(store.settings, T0 + timedelta(minutes=10))
    assert (read.rule, read.resource, read.reason, read.actor) == (RULE, None, "maintenance window",
                                                                   "olu@corp.example")


def test_without_an_audit_database_nothing_is_silenced(store):
    assert sil.active(store.settings, T0) == []


# --------------------------------------------------------------------------- the lifecycle


def test_a_silence_suppresses_and_then_expires(hooked):
    store = hooked
    s = silence(store, rule=RULE, minutes=30)  # T0 - 1 min .. T0 + 29 min
    breach(store)
    first = store.evaluate(T0)
    # the transitions happen and are recorded ...
    assert [t[3] for t in first.transitions] == ["pending", "firing"]
    assert store.alert(RULE)["state"] == "firing"
    [(events,)] = store.rows("SELECT count(*) FROM sextant_alert_event")
    assert events == 2
    # ... but the message is suppressed, naming the silence, and nothing is sent
    [(episode, kind, status, error)] = deliveries(store)
    assert (episode, kind, status) == (1, "fired", "suppressed")
    assert f"silence #{s.id}" in error and "maintenance window" in error
    assert first.queued == 0 and first.suppressed == [(RULE, RESOURCE, "fired", s.id)]
    assert any(f"suppressed by silence #{s.id}" in line for line in first.lines())
    sender = Recorder()
    assert alerts.deliver(store.writer, store.settings, T0, senders=sender).attempts == 0 and sender.sent == []

    assert store.evaluate(T0 + timedelta(minutes=20)).released == []  # still silenced: nothing changes
    assert [d[2] for d in deliveries(store)] == ["suppressed"]

    # the silence expires while the alert still fires: its fired message is released, once, and sent
    after = store.evaluate(T0 + timedelta(minutes=30))
    assert after.released == [(RULE, RESOURCE, "fired", "hook")] and after.transitions == []
    [(_, _, status, error)] = deliveries(store)
    assert (status, error) == ("pending", None)
    [(text, detail)] = store.rows("SELECT text, detail FROM sextant_alert_delivery")
    assert json.loads(detail)["held_by_silence"] == s.id and f"silence #{s.id}" in text
    assert store.evaluate(T0 + timedelta(minutes=31)).released == []
    alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=31), senders=sender)
    assert [(r["kind"], r["episode"]) for r in sender.sent] == [("fired", 1)]

    # messages flow again: the resolution is sent as usual
    breach(store, errors=1)
    store.evaluate(T0 + timedelta(minutes=40))
    assert [d[1:3] for d in deliveries(store)] == [("fired", "sent"), ("resolved", "pending")]


def test_an_episode_that_fires_and_resolves_while_silenced_sends_nothing_and_the_next_episode_sends(hooked):
    store = hooked
    s = silence(store, resource=RESOURCE, minutes=30)
    breach(store)
    store.evaluate(T0)
    breach(store, errors=1)
    resolved = store.evaluate(T0 + timedelta(minutes=10))
    assert [t[3] for t in resolved.transitions] == ["resolved"]
    assert deliveries(store) == [(1, "fired", "suppressed", deliveries(store)[0][3]),
                                 (1, "resolved", "suppressed", deliveries(store)[1][3])]
    assert all(f"silence #{s.id}" in d[3] for d in deliveries(store))
    assert store.evaluate(T0 + timedelta(minutes=31)).released == []  # old news stays held after the expiry

    breach(store)
    store.evaluate(T0 + timedelta(minutes=40))
    assert store.alert(RULE)["episode"] == 2
    assert deliveries(store)[-1][:3] == (2, "fired", "pending")


def test_a_resolution_after_the_expiry_of_a_silenced_firing_is_not_sent_alone(hooked):
    """The fired message was suppressed and the alert resolves in the evaluation after the expiry: the receivers never
    heard it fire, so its resolution is suppressed too (saying why)."""
    store = hooked
    silence(store, rule=RULE, minutes=30)
    breach(store)
    store.evaluate(T0)
    breach(store, errors=1)
    store.evaluate(T0 + timedelta(minutes=30))
    [fired, resolved] = deliveries(store)
    assert fired[2] == resolved[2] == "suppressed"
    assert "its fired message was suppressed" in resolved[3]


def test_a_silence_made_while_an_alert_fires_holds_its_resolution_until_it_ends(hooked):
    store = hooked
    breach(store)
    store.evaluate(T0)
    sender = Recorder()
    alerts.deliver(store.writer, store.settings, T0, senders=sender)
    s = silence(store, rule=RULE, created=T0 + timedelta(minutes=1), minutes=60)
    breach(store, errors=1)
    store.evaluate(T0 + timedelta(minutes=5))
    assert [d[1:3] for d in deliveries(store)] == [("fired", "sent"), ("resolved", "suppressed")]
    audit = AuditLog(store.settings.store / "audit.sqlite")
    assert aa.Silences(audit).end(s.id, "olu@corp.example", now=T0 + timedelta(minutes=10))  # ended early
    released = store.evaluate(T0 + timedelta(minutes=11))
    assert released.released == [(RULE, RESOURCE, "resolved", "hook")]  # the receivers heard it fire: closure
    alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=11), senders=sender)
    assert [r["kind"] for r in sender.sent] == ["fired", "resolved"]


def test_a_silence_of_another_resource_or_team_holds_nothing_back(hooked):
    store = hooked
    silence(store, resource="123456789012/us-east-1/ep-b")
    silence(store, rule=RULE, team="someone-else")
    breach(store)
    result = store.evaluate(T0)
    assert result.suppressed == [] and [d[2] for d in deliveries(store)] == ["pending"]


def test_silences_that_cannot_be_read_hold_nothing_back_and_the_evaluation_says_so(hooked):
    store = hooked
    (store.settings.store / "audit.sqlite").write_bytes(b"this is not a database" * 100)
    breach(store)
    result = store.evaluate(T0)
    assert [d[2] for d in deliveries(store)] == ["pending"]
    assert result.silence_error and any("nothing held back" in line for line in result.lines())
