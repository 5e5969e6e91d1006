"""Silences and acknowledgements as actions (fast tier, no AWS): a viewer is refused at function level with one audit
row and nothing written; bad input (no reason, an expiry in the past or too far, an unknown rule or alert) gets a
clear message, one audit row and nothing written; an operator's silence and acknowledgement are written with an
intent completed as succeeded; the tables refuse what the module's docstring forbids."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import collectors
from actions import alert_actions as aa
from actions.audit import AuditLog
from actions.roles import Actor
from alerts.tables import ALERT, RULE
from sextant.settings import ActionSettings, Settings
from sextant.store import Reader, Writer

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OPERATOR = Actor("olu@corp.example", "operator")
ADMIN = Actor("ada@corp.example", "admin")
VIEWER = Actor("ana@corp.example", "viewer")
SETTINGS = Settings()
RULE_NAME = "endpoint_5xx_rate"
RESOURCE = "111111111111/us-east-1/fraud-prod"


def fake_store(state: str = "firing", episode: int = 1) -> aa.StoreAlerts:
    alerts = {(RULE_NAME, RESOURCE): aa.StoreAlert(RULE_NAME, RESOURCE, episode, state, "vision", "111111111111")}
    return aa.StoreAlerts(lambda rule, resource: alerts.get((rule, resource)), lambda: {RULE_NAME, "source_failing"},
                          lambda resource, rule: any(k[1] == resource and rule in (None, k[0]) for k in alerts))


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit.sqlite")


def rows(audit: AuditLog) -> list[dict]:
    return audit.frame().sort_values("id").to_dict("records")


def silence_request(**kw) -> aa.CreateSilence:
    return aa.CreateSilence(**{"rule": RULE_NAME, "reason": "deploying the fix", "expires_at": T0 + timedelta(hours=2),
                               **kw})


def count(audit: AuditLog, table: str) -> int:
    with sqlite3.connect(audit.path) as con:
        try:
            return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
        except sqlite3.OperationalError:  # never created: nothing was written
            return 0


# --------------------------------------------------------------------------- viewers


def test_a_viewer_cannot_silence_end_a_silence_or_acknowledge_and_each_attempt_is_audited(audit):
    made = aa.create_silence(silence_request(), OPERATOR, SETTINGS, audit, fake_store(), now=T0)
    assert made.status == "succeeded"
    before = len(rows(audit))

    outs = [aa.create_silence(silence_request(), VIEWER, SETTINGS, audit, fake_store(), now=T0),
            aa.end_silence(audit, made.result["silence_id"], VIEWER, now=T0),
            aa.acknowledge(aa.Acknowledge(RULE_NAME, RESOURCE, 1), VIEWER, audit, fake_store(), now=T0)]
    assert [o.status for o in outs] == ["refused"] * 3
    assert all("ana@corp.example is a viewer: only operators and admins can" in o.message for o in outs)
    refused = rows(audit)[before:]
    assert [(r["action"], r["result"], r["actor"], r["role"]) for r in refused] == [
        ("silence_alerts", "refused", VIEWER.name, "viewer"), ("end_silence", "refused", VIEWER.name, "viewer"),
        ("acknowledge_alert", "refused", VIEWER.name, "viewer")]
    assert [o.audit_id for o in outs] == [r["id"] for r in refused]
    assert count(audit, "alert_silence") == 1 and count(audit, "alert_ack") == 0
    assert aa.Silences(audit).get(made.result["silence_id"]).ended_at is None  # not ended by the viewer


# --------------------------------------------------------------------------- silences


def test_an_operator_silences_with_an_intent_completed_and_the_silence_written(audit):
    out = aa.create_silence(silence_request(resource=f" {RESOURCE} ", team="vision"), OPERATOR, SETTINGS, audit,
                            fake_store(), now=T0)
    assert out.status == "succeeded" and out.message.startswith(f"silence #{out.result['silence_id']} on rule=")
    [row] = rows(audit)
    assert (row["action"], row["result"], row["actor"], row["role"]) == ("silence_alerts", "succeeded",
                                                                         OPERATOR.name, "operator")
    assert "deploying the fix" in row["parameters"] and row["completed_at"]
    s = aa.Silences(audit).get(out.result["silence_id"])
    assert (s.rule, s.resource, s.team, s.reason, s.actor, s.audit_id) == (
        RULE_NAME, RESOURCE, "vision", "deploying the fix", OPERATOR.name, row["id"])
    assert (s.created_at, s.expires_at) == (T0, T0 + timedelta(hours=2))
    assert [x.id for x in aa.Silences(audit).active(T0 + timedelta(hours=1))] == [s.id]
    assert aa.Silences(audit).active(T0 + timedelta(hours=2)) == []
    assert [x.id for x in aa.Silences(audit).listed(T0 + timedelta(days=3))] == [s.id]  # recently expired
    assert aa.Silences(audit).listed(T0 + timedelta(days=8)) == []


@pytest.mark.parametrize("change, says", [
    ({"reason": ""}, "a reason is required"),
    ({"reason": "   "}, "a reason is required"),
    ({"expires_at": None}, "an expiry (a time with its zone) is required"),
    ({"expires_at": T0 - timedelta(minutes=5)}, "is in the past"),
    ({"expires_at": T0 + timedelta(days=31)}, "more than 30 days away"),
    ({"expires_at": datetime(2026, 11, 20, 14, 0)}, "an expiry (a time with its zone) is required"),
    ({"rule": None, "resource": None}, "a silence names a rule, a resource, or both"),
    ({"rule": "no_such_rule"}, "there is no rule 'no_such_rule'"),
    ({"resource": "111111111111/us-east-1/typo-prod"}, "there is no alert of rule endpoint_5xx_rate on resource"),
    ({"account_id": "12345"}, "is not a 12-digit AWS account id"),
    ({"reason": "x" * 501}, "at most 500"),
    ({"rule": "endpoint_5xx_rate\nx"}, "the rule must be one line"),
    ({"reason": "why\u202e"}, "control or invisible characters"),
])
def test_bad_silence_input_gets_a_clear_message_one_audit_row_and_writes_nothing(audit, change, says):
    out = aa.create_silence(silence_request(**change), OPERATOR, SETTINGS, audit, fake_store(), now=T0)
    assert out.status == "invalid" and says in out.message, out.message
    [row] = rows(audit)
    assert (row["action"], row["result"]) == ("silence_alerts", "invalid") and says in row["error"]
    assert count(audit, "alert_silence") == 0


def test_a_dry_run_silences_nothing(audit):
    out = aa.create_silence(silence_request(), OPERATOR, SETTINGS, audit, fake_store(), dry_run=True, now=T0)
    assert out.status == "dry_run" and out.message.startswith("dry run: would silence rule=endpoint_5xx_rate")
    settings = replace(SETTINGS, actions=ActionSettings(dry_run=True))
    assert aa.create_silence(silence_request(), ADMIN, settings, audit, fake_store(), now=T0).status == "dry_run"
    assert [(r["result"], r["dry_run"]) for r in rows(audit)] == [("dry_run", 1), ("dry_run", 1)]
    assert count(audit, "alert_silence") == 0


def test_a_silence_ends_early_once(audit):
    made = aa.create_silence(silence_request(), OPERATOR, SETTINGS, audit, fake_store(), now=T0)
    sid = made.result["silence_id"]
    out = aa.end_silence(audit, sid, ADMIN, now=T0 + timedelta(minutes=10))
    assert out.status == "succeeded" and "messages flow again" in out.message
    s = aa.Silences(audit).get(sid)
    assert (s.ended_at, s.ended_by, s.until) == (T0 + timedelta(minutes=10), ADMIN.name, T0 + timedelta(minutes=10))
    again = aa.end_silence(audit, sid, OPERATOR, now=T0 + timedelta(minutes=11))
    assert again.status == "invalid" and "has already ended" in again.message
    assert aa.end_silence(audit, 999, OPERATOR).status == "invalid"
    assert [(r["action"], r["result"]) for r in rows(audit)] == [
        ("silence_alerts", "succeeded"), ("end_silence", "succeeded"), ("end_silence", "invalid"),
        ("end_silence", "invalid")]


def test_the_silence_table_keeps_what_was_decided(audit):
    made = aa.create_silence(silence_request(), OPERATOR, SETTINGS, audit, fake_store(), now=T0)
    sid = made.result["silence_id"]
    with sqlite3.connect(audit.path) as con:
        for sql in ("UPDATE alert_silence SET expires_at = '2099-01-01T00:00:00+00:00' WHERE id = ?",
                    "UPDATE alert_silence SET reason = 'other' WHERE id = ?",
                    "DELETE FROM alert_silence WHERE id = ?"):
            with pytest.raises(sqlite3.IntegrityError):
                con.execute(sql, [sid])
        with pytest.raises(sqlite3.IntegrityError):  # no reason, no rule nor resource: refused by the table too
            con.execute("INSERT INTO alert_silence (created_at, actor, role, reason, expires_at, audit_id) "
                        "VALUES ('2026-11-20T12:00:00+00:00', 'x', 'operator', 'why', '2026-11-21T12:00:00+00:00', 77)")
    assert aa.Silences(audit).end(sid, "olu", now=T0 + timedelta(minutes=1))
    with sqlite3.connect(audit.path) as con, pytest.raises(sqlite3.IntegrityError):
        con.execute("UPDATE alert_silence SET ended_at = NULL, ended_by = NULL WHERE id = ?", [sid])


# --------------------------------------------------------------------------- acknowledgements


def test_an_operator_acknowledges_a_firing_episode_once(audit):
    out = aa.acknowledge(aa.Acknowledge(RULE_NAME, RESOURCE, 1, "looking at it"), OPERATOR, audit, fake_store(),
                         now=T0)
    assert out.status == "succeeded" and "acknowledged endpoint_5xx_rate" in out.message
    ack = aa.Acks(audit).of_episode(RULE_NAME, RESOURCE, 1)
    assert (ack.actor, ack.acked_at, ack.note, ack.audit_id) == (OPERATOR.name, T0, "looking at it", out.audit_id)
    again = aa.acknowledge(aa.Acknowledge(RULE_NAME, RESOURCE, 1), ADMIN, audit, fake_store(), now=T0)
    assert again.status == "duplicate" and "already acknowledged by olu@corp.example" in again.message
    assert [(r["action"], r["result"]) for r in rows(audit)] == [("acknowledge_alert", "succeeded"),
                                                                  ("acknowledge_alert", "duplicate")]
    assert count(audit, "alert_ack") == 1
    with sqlite3.connect(audit.path) as con:
        for sql in ("UPDATE alert_ack SET note = 'x'", "DELETE FROM alert_ack"):
            with pytest.raises(sqlite3.IntegrityError):
                con.execute(sql)


def test_an_acknowledgement_does_not_carry_over_to_the_next_episode(audit):
    aa.acknowledge(aa.Acknowledge(RULE_NAME, RESOURCE, 1), OPERATOR, audit, fake_store(episode=1), now=T0)
    assert aa.Acks(audit).of_episode(RULE_NAME, RESOURCE, 2) is None
    out = aa.acknowledge(aa.Acknowledge(RULE_NAME, RESOURCE, 2), OPERATOR, audit, fake_store(episode=2), now=T0)
    assert out.status == "succeeded"
    assert [(a.episode, a.actor) for a in aa.Acks(audit).since(T0)] == [(1, OPERATOR.name), (2, OPERATOR.name)]


@pytest.mark.parametrize("request_, store, says", [
    (aa.Acknowledge(RULE_NAME, "111111111111/us-east-1/nope", 1), fake_store(), "there is no alert of rule"),
    (aa.Acknowledge("no_such_rule", RESOURCE, 1), fake_store(), "there is no alert of rule no_such_rule"),
    (aa.Acknowledge(RULE_NAME, RESOURCE, 1), fake_store("resolved"), "is resolved (episode 1): only a firing"),
    (aa.Acknowledge(RULE_NAME, RESOURCE, 1), fake_store("pending"), "is pending (episode 1)"),
    (aa.Acknowledge(RULE_NAME, RESOURCE, 1), fake_store(episode=2), "(episode 2): only a firing alert"),
    (aa.Acknowledge(RULE_NAME, RESOURCE, 0), fake_store(), "the episode must be a whole number from 1"),
    (aa.Acknowledge(RULE_NAME, RESOURCE, True), fake_store(), "the episode must be a whole number from 1"),
    (aa.Acknowledge(RULE_NAME, "", 1), fake_store(), "names the alert's rule and resource"),
    (aa.Acknowledge(RULE_NAME, RESOURCE, 1, "n" * 501), fake_store(), "at most 500"),
])
def test_an_unknown_or_not_firing_alert_cannot_be_acknowledged(audit, request_, store, says):
    out = aa.acknowledge(request_, OPERATOR, audit, store, now=T0)
    assert out.status == "invalid" and says in out.message, out.message
    [row] = rows(audit)
    assert (row["action"], row["result"]) == ("acknowledge_alert", "invalid")
    assert count(audit, "alert_ack") == 0


# --------------------------------------------------------------------------- what the store says


def test_the_store_answers_from_the_published_snapshot(tmp_path, audit):
    w = Writer(tmp_path / "store")
    try:
        w.migrate(list(collectors.all_tables()))
        with w.transaction():
            w.upsert(ALERT, [{"rule": RULE_NAME, "resource": RESOURCE, "episode": 3, "state": "firing",
                              "team": "vision", "account_id": "111111111111"}])
            w.upsert(RULE, [{"rule": "source_failing"}])
        w.publish()
    finally:
        w.close()
    reader = Reader(tmp_path / "store")
    try:
        store = aa.store_alerts(reader)
        assert store.alert(RULE_NAME, RESOURCE) == aa.StoreAlert(RULE_NAME, RESOURCE, 3, "firing", "vision",
                                                                 "111111111111")
        assert store.alert(RULE_NAME, "other") is None
        assert store.rules() == {RULE_NAME, "source_failing"}
        assert store.has_resource(RESOURCE, None) and store.has_resource(RESOURCE, RULE_NAME)
        assert not store.has_resource(RESOURCE, "source_failing")
        out = aa.acknowledge(aa.Acknowledge(RULE_NAME, RESOURCE, 3), OPERATOR, audit, store, now=T0)
        assert out.status == "succeeded"
    finally:
        reader.close()
    empty = Reader(tmp_path / "empty")
    out = aa.create_silence(silence_request(), OPERATOR, SETTINGS, audit, aa.store_alerts(empty), now=T0)
    assert out.status == "invalid" and "the store has nothing published yet" in out.message
