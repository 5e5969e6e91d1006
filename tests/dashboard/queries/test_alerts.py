"""Alerts read queries on tiny stores: what is in scope, in what order, and each channel's health."""

from __future__ import annotations

from datetime import timedelta

from dashboard.queries import alerts as aq
from tests.dashboard.queries.conftest import END, f

A, B = "111111111111", "222222222222"


def _alert(rule, resource, state, *, account=A, team="vision", severity="warning", minutes=60, **kw):
    t = END - timedelta(minutes=minutes)
    return {"rule": rule, "resource": resource, "episode": 1, "state": state, "severity": severity, "value": 0.2,
            "threshold": 0.05, "comparison": ">", "account_id": account, "region": "us-east-1" if account else None,
            "team": team, "endpoint_name": resource if account else None, "name": resource, "started_at": t,
            "fired_at": t if state != "pending" else None,
            "resolved_at": t + timedelta(minutes=30) if state == "resolved" else None, "last_evaluated_at": END,
            **kw}


def test_alerts_are_firing_first_by_severity_then_pending_then_lately_resolved(tiny_store):
    tiny_store(sextant_alert=[
        _alert("endpoint_5xx_rate", "a", "resolved", minutes=60),
        _alert("endpoint_5xx_rate", "old", "resolved", minutes=60 * 24 * 9),  # resolved 9 days ago
        _alert("endpoint_5xx_rate", "b", "pending"),
        _alert("endpoint_p99_over_baseline", "c", "firing", severity="warning"),
        _alert("endpoint_zero_invocations", "d", "firing", severity="critical"),
        _alert("endpoint_5xx_rate", "e", "inactive")])
    df = aq.alerts(f(), END - timedelta(days=7))
    assert df.name.tolist() == ["d", "c", "b", "a"]
    assert df.state.tolist() == ["firing", "firing", "pending", "resolved"]
    assert str(df.fired_at.dt.tz) == "UTC"


def test_alerts_follow_the_scope_and_alerts_about_sextant_itself_always_show(tiny_store):
    tiny_store(sextant_alert=[
        _alert("endpoint_5xx_rate", "a", "firing", account=A, team="vision"),
        _alert("endpoint_5xx_rate", "b", "firing", account=B, team="ads"),
        _alert("source_failing", "cost_explorer", "firing", account=None, team=None)])
    assert set(aq.alerts(f(accounts=[B]), END).name) == {"b", "cost_explorer"}
    assert set(aq.alerts(f(teams=["vision"]), END).name) == {"a", "cost_explorer"}
    assert set(aq.alerts(f(), END).name) == {"a", "b", "cost_explorer"}


def _delivery(channel, resource, status, attempts=1):
    return {"channel": channel, "rule": "endpoint_5xx_rate", "resource": resource, "episode": 1, "kind": "fired",
            "status": status, "attempts": attempts, "created_at": END, "subject": "s", "text": "t"}


def _attempt(channel, resource, n, status, minutes, error=None):
    return {"channel": channel, "rule": "endpoint_5xx_rate", "resource": resource, "episode": 1, "kind": "fired",
            "attempt": n, "attempted_at": END + timedelta(minutes=minutes), "status": status, "error": error,
            "duration_ms": 12.0}


def test_channels_count_their_messages_and_show_their_last_attempt(tiny_store):
    tiny_store(sextant_alert_delivery=[_delivery("slack", "a", "failed", 4), _delivery("slack", "b", "sent"),
                                       _delivery("sns", "a", "sent"), _delivery("sns", "b", "pending")],
               sextant_alert_attempt=[_attempt("slack", "a", 1, "failed", 1, "HTTP 500"),
                                      _attempt("slack", "a", 4, "failed", 9, "HTTP 503"),
                                      _attempt("slack", "b", 1, "sent", 2), _attempt("sns", "a", 1, "sent", 1)])
    ch = aq.channels().set_index("channel")
    assert ch.index.tolist() == ["slack", "sns"]  # the failing channel first
    assert (ch.sent["slack"], ch.failed["slack"], ch.pending["sns"], ch.sent["sns"]) == (1, 1, 1, 1)
    assert ch.last_error["slack"] == "HTTP 503" and ch.last_status["sns"] == "sent"
    log = aq.attempts(limit=2)
    assert log.error.tolist()[0] == "HTTP 503" and len(log) == 2


def test_messages_held_back_by_a_silence_are_counted_and_listed(tiny_store):
    held = {**_delivery("slack", "a", "suppressed"), "error": "suppressed by silence #4 (by olu, until ...): deploy"}
    tiny_store(sextant_alert_delivery=[held, _delivery("slack", "b", "sent")])
    ch = aq.channels().set_index("channel")
    assert (ch.sent["slack"], ch.suppressed["slack"], ch.pending["slack"]) == (1, 1, 0)
    shown = aq.suppressed(END - timedelta(days=7))
    assert shown.columns.tolist() == aq.SUPPRESSED_COLUMNS
    assert len(shown) == 1 and "silence #4" in shown.error.iloc[0]
    assert aq.suppressed(END + timedelta(days=1)).empty
