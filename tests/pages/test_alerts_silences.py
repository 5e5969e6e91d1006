"""The Alerts page's silences and acknowledgements on a tiny store, through the real shell: a viewer sees the silences
and who acknowledged, and no control; an operator silences, ends a silence and acknowledges from the page, each
written and audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from actions import alert_actions as aa
from actions.audit import AuditLog
from actions.roles import Actor
from dashboard import action_ui, auth
from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
OPERATOR = Actor("olu@corp.example", "operator")
VIEWER = Actor("ana@corp.example", "viewer")
RULE = "endpoint_5xx_rate"
FRAUD = "111111111111/us-east-1/fraud-prod"
SEARCH = "111111111111/us-east-1/search-prod"


def _alert(resource: str, state: str, episode: int = 1) -> dict:
    t = NOW - timedelta(minutes=20)
    name = resource.rsplit("/", 1)[1]
    return {"rule": RULE, "resource": resource, "episode": episode, "state": state, "severity": "critical",
            "value": 0.31, "threshold": 0.05, "comparison": ">", "account_id": "111111111111",
            "region": "us-east-1", "team": "vision", "endpoint_name": name, "name": name, "started_at": t,
            "fired_at": t if state == "firing" else None, "last_evaluated_at": NOW}


def _open(tiny_store, tmp_path, monkeypatch, actor: Actor) -> tuple[AppTest, AuditLog]:  # noqa: F811
    store = tiny_store(
        sextant_alert=[_alert(FRAUD, "firing"), _alert(SEARCH, "firing", episode=2)],
        sextant_alert_rule=[{"rule": RULE, "description": "5xx share", "builtin": True, "severity": "critical",
                             "threshold": 0.05, "comparison": ">", "for_s": 300, "window": "last hour",
                             "last_evaluated_at": NOW, "status": "ok", "rows": 2, "breaching": 2}],
        sextant_alert_delivery=[{"channel": "hook", "rule": RULE, "resource": FRAUD, "episode": 1, "kind": "fired",
                                 "status": "suppressed", "attempts": 0, "created_at": NOW, "subject": "s",
                                 "text": "t", "error": "suppressed by silence #1 (by olu, until ...): deploy"}])
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setattr(auth, "current_actor", lambda settings=None: actor)
    monkeypatch.setattr(action_ui, "current_actor", lambda settings=None: actor)
    audit = AuditLog(Path(store) / "audit.sqlite")
    # made before the page opens: a silence of fraud-prod by someone else, and an acknowledgement of search-prod's
    # previous episode (it does not carry over to episode 2)
    aa.Silences(audit).add(actor="sam@corp.example", role="operator", rule=None, resource=FRAUD, team=None,
                           account_id=None, reason="deploying the fix", expires_at=NOW + timedelta(hours=4),
                           audit_id=900, now=NOW - timedelta(minutes=5))
    aa.Acks(audit).add(rule=RULE, resource=SEARCH, episode=1, actor="sam@corp.example", role="operator", note=None,
                       audit_id=901, now=NOW - timedelta(hours=3))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("../pages/alerts.py").run()
    assert not at.exception, at.exception
    return at, audit


def _text(element) -> str:
    """What the user reads: the element's Markdown source with its escapes undone."""
    return re.sub(r"\\(.)", r"\1", element.value)


def _live(at: AppTest):
    return at.dataframe[0].value


def _controls(at: AppTest) -> set[str]:
    keys = {"alert_ack_submit", "alert_ack_pick", "silence_submit", "silence_reason", "silence_end"}
    return {w.key for w in [*at.button, *at.selectbox, *at.text_area] if w.key in keys}


def test_a_viewer_sees_silences_and_acknowledgements_but_no_control(tiny_store, tmp_path, monkeypatch):  # noqa: F811
    at, audit = _open(tiny_store, tmp_path, monkeypatch, VIEWER)
    live = _live(at).set_index("name")
    assert live.silenced_by["fraud-prod"].startswith("#1 until") and live.silenced_by.isna()["search-prod"]
    assert live.acknowledged_by.isna().all()  # search-prod's acknowledgement was of episode 1
    silences = next(d.value for d in at.dataframe if "matches" in d.value.columns)
    assert silences.reason.tolist() == ["deploying the fix"] and silences.state.tolist() == ["active"]
    assert _controls(at) == set()
    assert not [e for e in at.expander if "New silence" in e.label]
    assert audit.count() == 0


@pytest.mark.parametrize("actor", [OPERATOR])
def test_an_operator_silences_acknowledges_and_ends_a_silence(tiny_store, tmp_path, monkeypatch, actor):  # noqa: F811
    at, audit = _open(tiny_store, tmp_path, monkeypatch, actor)
    assert _controls(at) == {"alert_ack_submit", "alert_ack_pick", "silence_submit", "silence_reason", "silence_end"}

    # a silence without a reason: a clear message, nothing written, one audit row
    at.selectbox(key="silence_resource").set_value(SEARCH)
    at.button(key="silence_submit").click().run()
    assert not at.exception, at.exception
    assert any("a reason is required" in _text(e) for e in at.error), [_text(e) for e in at.error]
    assert [x.id for x in aa.Silences(audit).listed()] == [1]

    at.text_area(key="silence_reason").input("noisy during the load test")
    at.selectbox(key="silence_for").set_value("4 hours")
    at.button(key="silence_submit").click().run()
    assert not at.exception, at.exception
    made = aa.Silences(audit).get(2)
    assert (made.resource, made.rule, made.reason, made.actor) == (SEARCH, None, "noisy during the load test",
                                                                  OPERATOR.name)
    assert timedelta(hours=3, minutes=58) < made.expires_at - made.created_at <= timedelta(hours=4)
    assert any(_text(s).startswith(f"silence #2 on resource={SEARCH} until") for s in at.success), \
        [_text(s) for s in at.success]
    assert _live(at).set_index("name").silenced_by["search-prod"].startswith("#2 until")

    at.selectbox(key="alert_ack_pick").set_value(1)  # search-prod
    at.text_input(key="alert_ack_note").input("on it")
    at.button(key="alert_ack_submit").click().run()
    assert not at.exception, at.exception
    ack = aa.Acks(audit).of_episode(RULE, SEARCH, 2)
    assert (ack.actor, ack.note) == (OPERATOR.name, "on it")
    assert _live(at).set_index("name").acknowledged_by["search-prod"].startswith(f"{OPERATOR.name} at ")

    at.selectbox(key="silence_end_pick").set_value(1)
    at.button(key="silence_end").click().run()
    assert not at.exception, at.exception
    assert aa.Silences(audit).get(1).ended_by == OPERATOR.name
    audited = audit.frame().sort_values("id")
    assert list(zip(audited.action, audited.result, strict=True)) == [
        ("silence_alerts", "invalid"), ("silence_alerts", "succeeded"), ("acknowledge_alert", "succeeded"),
        ("end_silence", "succeeded")]
    assert set(audited.actor) == {OPERATOR.name}
