"""No channel secret in logs, store, audit rows or pages (issue 15, acceptance's last line).

A webhook URL carrying a token is planted in the environment, as an operator sets it (``target_env``), for channels
that deliver, answer 500, cannot be reached, hold a malformed URL and are not set at all. Alerts fire and resolve,
every channel is tried and retried, a person acknowledges and silences (audited, and refused for a viewer), the cron
command runs, and the Alerts page renders for a viewer and for an operator. Then every log record, every printed
line, every text column of every store table and of every audit table, and every element the page sends to the
browser are searched for the secret and each of its parts; each search is shown to find what is there."""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import alerts
from actions import alert_actions as aa
from actions.audit import AuditLog
from actions.roles import Actor
from dashboard import action_ui, auth
from sextant.store import Reader, Writer
from tests.alerts.conftest import T0, traffic
from tests.alerts.test_channels import Receiver
from tests.conftest import APP, ROOT

# pages rendered through AppTest and a `python -m alerts` child process (11 s): make test, not make test-fast
pytestmark = pytest.mark.slow

TOKEN = "xoxb-9Q7ZK2-planted-token"
PARTS = ("T0PLANTED", "B0PLANTED", TOKEN)  # each part of the URL's path that is the secret
RESOURCE = "123456789012/us-east-1/ep-a"
OPERATOR = Actor("olu@corp.example", "operator")
VIEWER = Actor("ana@corp.example", "viewer")
CONFIG = """
[alerts]
base_url = "https://sextant.example.com"
disabled_rules = ["source_stale", "source_failing"]

[alerts.channels.slack]
type = "webhook"
target_env = "SEXTANT_TEST_SLACK"

[alerts.channels.broken]
type = "webhook"
target_env = "SEXTANT_TEST_BROKEN"

[alerts.channels.down]
type = "webhook"
target_env = "SEXTANT_TEST_DOWN"

[alerts.channels.mangled]
type = "webhook"
target_env = "SEXTANT_TEST_MANGLED"

[alerts.channels.unset]
type = "webhook"
target_env = "SEXTANT_TEST_UNSET"
"""


def _closed_port() -> int:
    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _found(text: str) -> list[str]:
    return [p for p in PARTS if p in text]


def _store_hits(con, needle: str) -> list[tuple[str, str]]:
    """(table, column) of every text column of the store holding ``needle``."""
    columns = con.execute("SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = "
                          "current_database() AND schema_name = 'main' AND data_type IN ('VARCHAR', 'JSON')").fetchall()
    return [(t, c) for t, c in columns
            if con.execute(f'SELECT count(*) FROM "{t}" WHERE contains("{c}"::VARCHAR, ?)', [needle]).fetchall()
            != [(0,)]]


def _audit_hits(path: Path, needle: str) -> list[tuple[str, str]]:
    """(table, column) of every column of every table of the audit database holding ``needle``."""
    with closing(sqlite3.connect(path)) as con:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return [(t, c) for t in tables for (_, c, *_rest) in con.execute(f'PRAGMA table_info("{t}")').fetchall()
                if con.execute(f'SELECT count(*) FROM "{t}" WHERE instr(CAST("{c}" AS TEXT), ?) > 0',
                               [needle]).fetchone() != (0,)]


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def _page_bytes(at: AppTest) -> bytes:
    """Everything the page's elements carry to the browser: each element's message as sent (dataframes' Arrow
    bytes, Markdown, labels, help, options, links...)."""
    return b"".join(node.proto.SerializeToString() for node in _walk(at._tree)
                    if getattr(node, "proto", None) is not None)


def test_a_planted_webhook_secret_is_in_no_log_store_table_audit_row_or_page(store, monkeypatch, caplog, tmp_path):
    ok, broken = Receiver(200), Receiver(500)
    secret_path = f"services/T0PLANTED/B0PLANTED/{TOKEN}"
    planted = {"SEXTANT_TEST_SLACK": ok.url(secret_path), "SEXTANT_TEST_BROKEN": broken.url(secret_path),
               "SEXTANT_TEST_DOWN": f"http://127.0.0.1:{_closed_port()}/{secret_path}?token={TOKEN}",
               "SEXTANT_TEST_MANGLED": f"hooks.slack.com/{secret_path}"}
    for k, v in planted.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("SEXTANT_TEST_UNSET", raising=False)
    (tmp_path / "sextant.toml").write_text(CONFIG)
    from sextant.settings import load

    store.settings = load(tmp_path / "sextant.toml", store=str(store.settings.store))
    caplog.set_level(logging.DEBUG)
    location = Path(store.settings.store)
    try:
        store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
        store.evaluate(T0)
        first = alerts.deliver(store.writer, store.settings, T0)
        assert first.sent == {"slack": 1}
        assert first.failed == {"broken": 1, "down": 1, "mangled": 1, "unset": 1}
        for seconds in (31, 95, 215):  # the retries, backing off
            alerts.deliver(store.writer, store.settings, T0 + timedelta(seconds=seconds))
        store.writer.publish()

        # people act on the alert: an acknowledgement, a silence (ended), a viewer refused; every attempt audited
        audit = AuditLog(location / "audit.sqlite")
        reader = Reader(location)
        try:
            answers = aa.store_alerts(reader)
            ack = aa.acknowledge(aa.Acknowledge("endpoint_5xx_rate", RESOURCE, 1, "looking"), OPERATOR, audit,
                                 answers)
            assert ack.status == "succeeded", ack.message
            silence = aa.create_silence(aa.CreateSilence(resource=RESOURCE, reason="deploying the fix",
                                                         expires_at=datetime.now(UTC) + timedelta(hours=2)),
                                        OPERATOR, store.settings, audit, answers)
            assert silence.status == "succeeded", silence.message
            assert aa.end_silence(audit, silence.result["silence_id"], OPERATOR).status == "succeeded"
            assert aa.acknowledge(aa.Acknowledge("endpoint_5xx_rate", RESOURCE, 1), VIEWER, audit,
                                  answers).status == "refused"
        finally:
            reader.close()

        store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 0)])
        store.evaluate(T0 + timedelta(minutes=5))
        alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=5))
        assert [p["text"].split("]")[0] for p in ok.received] == ["[FIRING", "[RESOLVED"]
        assert len(broken.received) == 5  # fired: 4 attempts, backing off; resolved: its first (the URL used each time)
        store.writer.publish()
        store.writer.close()

        # the cron command over the same store: what it prints (the retries still due are tried and fail again)
        cron = subprocess.run([sys.executable, "-m", "alerts", "evaluate", "--store", str(location), "--config",
                               str(tmp_path / "sextant.toml")], cwd=ROOT, capture_output=True, text=True, timeout=120,
                              env={**os.environ, **planted})
        assert cron.returncode == 0, cron.stderr
        assert "alerts failed on down: 1" in cron.stdout and "alerts failed on mangled: 1" in cron.stdout
    finally:
        ok.close()
        broken.close()
        store.writer = Writer(location)  # reopened for the scan (and closed by the fixture)

    # logs and printed lines: the failures are there, named by channel, with no URL
    logged = caplog.text
    assert "alert channel down failed" in logged and "alert channel mangled failed" in logged
    assert "SEXTANT_TEST_MANGLED" in logged and "SEXTANT_TEST_UNSET" in logged  # the variable is named, not its value
    assert _found(logged) == [] and _found(cron.stdout + cron.stderr) == []
    assert "127.0.0.1" not in logged  # nor any part of the reachable receivers' URLs

    # the store: every text column of every table (the scan finds what is there: the resource, the errors)
    con = store.writer.con
    assert ("sextant_alert", "resource") in _store_hits(con, "ep-a")
    assert ("sextant_alert_attempt", "error") in _store_hits(con, "HTTP 500")
    assert {p: _store_hits(con, p) for p in PARTS} == {p: [] for p in PARTS}

    # the audit database: every column of every table (the scan finds the acknowledgement's note and the reason)
    db = location / "audit.sqlite"
    assert _audit_hits(db, "looking") and _audit_hits(db, "deploying the fix")
    assert {p: _audit_hits(db, p) for p in PARTS} == {p: [] for p in PARTS}

    # the Alerts page, for a viewer and for an operator (who also gets the controls)
    monkeypatch.setenv("SEXTANT_STORE", str(location))
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "sextant.toml"))
    store.writer.close()
    for actor in (VIEWER, OPERATOR):
        monkeypatch.setattr(auth, "current_actor", lambda settings=None, actor=actor: actor)
        monkeypatch.setattr(action_ui, "current_actor", lambda settings=None, actor=actor: actor)
        at = AppTest.from_file(APP, default_timeout=60)
        at.run()
        at.switch_page("../pages/alerts.py").run()
        assert not at.exception, at.exception
        sent = _page_bytes(at)
        for shown in (b"ep-a", b"broken", b"mangled", b"HTTP 500", b"SEXTANT_TEST_UNSET"):  # the page shows them
            assert shown in sent, (actor.role, shown)
        assert [p for p in PARTS if p.encode() in sent] == [], actor.role
    store.writer = Writer(location)
