"""Microsoft Teams and e-mail channels (issue 15, point 3): Teams against a local HTTP receiver, SES against the
emulated account (the sent message is read back from the account), SMTP against an in-process SMTP server; a failing
one is retried and recorded; a planted secret (the Teams URL's token, the SMTP password) is in no log, store row or
error text; a wrong channel is refused with a clear message and changes nothing."""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import socketserver
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

import alerts
from demo import ses_fill
from tests.alerts.conftest import T0, traffic
from tests.alerts.test_channels import Receiver

TEAMS_TOKEN = "IncomingWebhook/0f9e8d7c/planted-teams-token-4b3a"
PASSWORD = "pl4nted-smtp-pässword-77"  # planted, to be looked for
BASE = "https://sextant.example.com"
EXPECTED_TEXT = ("FIRING (critical)", "Resource: 123456789012/us-east-1/ep-a", "Value: 12.00 % (threshold > 5.00 %)",
                 "Rule: endpoint_5xx_rate", "Window: the last hour", f"Open in Sextant: {BASE}/endpoints?endpoint=ep-a")


def _text_columns_holding(store, needle: str) -> list[tuple[str, str]]:
    columns = store.rows("SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = "
                         "current_database() AND schema_name = 'main' AND data_type IN ('VARCHAR', 'JSON')")
    return [(t, c) for t, c in columns
            if store.rows(f'SELECT count(*) FROM "{t}" WHERE contains("{c}"::VARCHAR, ?)', [needle]) != [(0,)]]


def _fire_and_resolve(store, endpoint: str = "ep-a") -> None:
    """The 5xx rule fires on ``endpoint`` at T0 and resolves at T0 + 3 min; delivery runs at each cycle."""
    store.put("aws_cloudwatch_endpoint_traffic", [traffic(endpoint, 1000, 120)])
    store.evaluate(T0)
    alerts.deliver(store.writer, store.settings, T0)
    for minute in (1, 2):
        store.evaluate(T0 + timedelta(minutes=minute))
        alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=minute))
    store.put("aws_cloudwatch_endpoint_traffic", [traffic(endpoint, 1000, 0)])
    store.evaluate(T0 + timedelta(minutes=3))
    alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=3))


# ---------------------------------------------------------------------------------------------------- Teams

def test_teams_gets_a_fired_and_a_resolved_card_and_a_failing_workflow_is_retried_and_recorded(
        store, monkeypatch, caplog):
    ok, broken = Receiver(202), Receiver(500)  # a Teams workflow answers 202 Accepted
    try:
        monkeypatch.setenv("SEXTANT_TEST_TEAMS", ok.url(f"workflows/{TEAMS_TOKEN}"))
        monkeypatch.setenv("SEXTANT_TEST_TEAMS_BROKEN", broken.url(f"workflows/{TEAMS_TOKEN}"))
        store.configure(base_url=BASE, channels={
            "teams": {"type": "teams", "target_env": "SEXTANT_TEST_TEAMS"},
            "teams-broken": {"type": "teams", "target_env": "SEXTANT_TEST_TEAMS_BROKEN"}})
        caplog.set_level(logging.DEBUG)
        _fire_and_resolve(store)

        cards = [p["attachments"][0]["content"] for p in ok.received]
        assert [{f["title"]: f["value"] for f in c["body"][2]["facts"]}["Status"] for c in cards] == [
            "FIRING", "RESOLVED"]
        fired = {f["title"]: f["value"].replace("\\", "") for f in cards[0]["body"][2]["facts"]}
        assert fired["Resource"] == "123456789012/us-east-1/ep-a" and fired["Rule"] == "endpoint_5xx_rate"
        assert fired["Value"] == "12.00 % (threshold > 5.00 %)" and fired["Window"] == "the last hour"
        assert cards[0]["actions"][0]["url"] == f"{BASE}/endpoints?endpoint=ep-a"
        resolved = {f["title"]: f["value"].replace("\\", "") for f in cards[1]["body"][2]["facts"]}
        assert resolved["Value"] == "0.00 % (was over > 5.00 %)"

        # the failing workflow: tried at 0 s, 60 s, 120 s (backing off), every attempt recorded; the other delivered
        tried = store.rows("SELECT attempt, status, error FROM sextant_alert_attempt WHERE channel = 'teams-broken' "
                           "AND kind = 'fired' ORDER BY attempt")
        assert [a for a, _, _ in tried] == [1, 2, 3] and len(broken.received) == 3
        assert {(s, e) for _, s, e in tried} == {("failed", "SendError: the Teams webhook answered HTTP 500")}
        assert store.rows("SELECT status FROM sextant_alert_delivery WHERE channel = 'teams' ORDER BY kind") == [
            ("sent",), ("sent",)]

        assert ("sextant_alert", "resource") in _text_columns_holding(store, "ep-a")  # the scan finds what is there
        for part in ("planted-teams-token", "0f9e8d7c", "IncomingWebhook"):
            assert _text_columns_holding(store, part) == [] and part not in caplog.text
        assert "teams-broken" in caplog.text  # the failures were logged, without the URL
    finally:
        ok.close()
        broken.close()


def test_teams_unreachable_is_recorded_without_its_url(store, monkeypatch):
    monkeypatch.setenv("SEXTANT_TEST_TEAMS", f"http://127.0.0.1:9/{TEAMS_TOKEN}")  # discard port: refused
    store.configure(channels={"teams": {"type": "teams", "target_env": "SEXTANT_TEST_TEAMS"}})
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    assert alerts.deliver(store.writer, store.settings, T0).failed == {"teams": 1}
    [(error,)] = store.rows("SELECT error FROM sextant_alert_attempt WHERE channel = 'teams'")
    assert error.startswith("SendError: the Teams webhook could not be reached: ") and "planted" not in error


# ------------------------------------------------------------------------------------------------------ SES

def test_ses_sends_the_fired_and_resolved_messages_which_the_account_records(account, store):
    to = [f"oncall-{uuid.uuid4().hex[:10]}@example.com", f"lead-{uuid.uuid4().hex[:10]}@example.com"]
    before = sum(p["DeliveryAttempts"] for p in account.client("ses").get_send_statistics()["SendDataPoints"])
    store.configure(base_url=BASE, channels={
        "mail": {"type": "email", "via": "ses", "from": ses_fill.SENDER, "to": to, "region": "us-east-1"}})
    _fire_and_resolve(store)

    mine = [m for m in ses_fill.sent(account.url) if m["destinations"].get("ToAddresses") == to]
    assert [m["subject"].split("]")[0] for m in mine] == ["[FIRING", "[RESOLVED"]
    assert {m["source"] for m in mine} == {ses_fill.SENDER}
    assert mine[0]["subject"] == "[FIRING] endpoint_5xx_rate: 123456789012/us-east-1/ep-a 12.00 %"
    for part in EXPECTED_TEXT:
        assert part in mine[0]["body"]
    assert mine[1]["body"].startswith("RESOLVED")
    after = sum(p["DeliveryAttempts"] for p in account.client("ses").get_send_statistics()["SendDataPoints"])
    assert after - before >= 4  # two messages to two recipients each (other tests may send too)
    assert store.rows("SELECT kind, status, attempts FROM sextant_alert_delivery ORDER BY kind") == [
        ("fired", "sent", 1), ("resolved", "sent", 1)]


def test_ses_refusing_an_unverified_sender_is_recorded_and_retried(account, store):
    to = [f"oncall-{uuid.uuid4().hex[:10]}@example.com"]
    store.configure(channels={"mail": {"type": "email", "via": "ses", "from": "alerts@unverified.example.org",
                                       "to": to}})
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    assert alerts.deliver(store.writer, store.settings, T0).failed == {"mail": 1}
    [(status, attempts, error)] = store.rows("SELECT status, attempts, error FROM sextant_alert_delivery")
    assert (status, attempts) == ("pending", 1)
    assert "MessageRejected" in error and "not verified" in error
    assert [m for m in ses_fill.sent(account.url) if m["destinations"].get("ToAddresses") == to] == []


# ----------------------------------------------------------------------------------------------------- SMTP

class SMTPReceiver:
    """A small SMTP server on 127.0.0.1 (RFC 5321's commands that smtplib sends, AUTH PLAIN and LOGIN): it accepts
    ``password`` for ``username``, refuses recipients at ``refused.example``, and keeps every message received."""

    def __init__(self, username: str, password: str) -> None:
        self.messages: list[dict[str, Any]] = []
        self.logins: list[bool] = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def readline_text(self) -> str:
                return self.rfile.readline().decode("utf-8", "replace").rstrip("\r\n")

            def check(self, user: str, secret: str) -> None:
                good = user == username and secret == password
                receiver.logins.append(good)
                self.reply("235 2.7.0 Authentication successful" if good
                           else "535 5.7.8 Authentication credentials invalid")

            def handle(self) -> None:
                self.reply("220 test.local ESMTP ready")
                sender, rcpts = "", []
                while line := self.readline_text():
                    verb, _, arg = line.partition(" ")
                    verb = verb.upper()
                    if verb == "EHLO":
                        self.wfile.write(b"250-test.local\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n"
                                         b"250 AUTH PLAIN LOGIN\r\n")
                    elif verb == "HELO":
                        self.reply("250 test.local")
                    elif verb == "AUTH":
                        mech, _, initial = arg.partition(" ")
                        if mech.upper() == "PLAIN":
                            if not initial:
                                self.reply("334 ")
                                initial = self.readline_text()
                            _, user, secret = base64.b64decode(initial).decode().split("\0")
                        else:
                            self.reply("334 VXNlcm5hbWU6")
                            user = base64.b64decode(self.readline_text()).decode()
                            self.reply("334 UGFzc3dvcmQ6")
                            secret = base64.b64decode(self.readline_text()).decode()
                        self.check(user, secret)
                    elif verb == "MAIL":
                        sender, rcpts = arg.split(":", 1)[1].split()[0].strip("<>"), []
                        self.reply("250 2.1.0 Ok")
                    elif verb == "RCPT":
                        rcpt = arg.split(":", 1)[1].split()[0].strip("<>")
                        if rcpt.endswith("@refused.example"):
                            self.reply("550 5.1.1 No such user")
                        else:
                            rcpts.append(rcpt)
                            self.reply("250 2.1.5 Ok")
                    elif verb == "DATA":
                        self.reply("354 End data with <CR><LF>.<CR><LF>")
                        data = []
                        while (raw := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(raw[1:] if raw.startswith(b"..") else raw)
                        receiver.messages.append({"from": sender, "to": rcpts, "data": b"".join(data)})
                        self.reply("250 2.0.0 Ok: queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 2.0.0 Ok")
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 Bye")
                        return
                    else:
                        self.reply("502 5.5.2 Command not recognized")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp_server() -> Iterator[SMTPReceiver]:
    server = SMTPReceiver("sextant", PASSWORD)
    yield server
    server.close()


def _smtp_channel(port: int, **extra: Any) -> dict[str, Any]:
    return {"type": "email", "via": "smtp", "host": "127.0.0.1", "port": port, "starttls": False,
            "username": "sextant", "password_env": "SEXTANT_TEST_SMTP_PASSWORD", "from": "sextant@example.com",
            "to": ["oncall@example.com", "lead@example.com"], **extra}


def test_smtp_delivers_the_fired_and_resolved_messages_as_plain_text(store, smtp_server, monkeypatch, caplog):
    monkeypatch.setenv("SEXTANT_TEST_SMTP_PASSWORD", PASSWORD)
    store.configure(base_url=BASE, channels={"mail": _smtp_channel(smtp_server.port)})
    caplog.set_level(logging.DEBUG)
    _fire_and_resolve(store)

    assert smtp_server.logins == [True, True]
    assert [(m["from"], m["to"]) for m in smtp_server.messages] == [
        ("sextant@example.com", ["oncall@example.com", "lead@example.com"])] * 2
    parsed = [email.message_from_bytes(m["data"], policy=email.policy.default) for m in smtp_server.messages]
    assert [str(p["Subject"]).split("]")[0] for p in parsed] == ["[FIRING", "[RESOLVED"]
    fired = parsed[0]
    assert fired["Subject"] == "[FIRING] endpoint_5xx_rate: 123456789012/us-east-1/ep-a 12.00 %"
    assert fired["To"] == "oncall@example.com, lead@example.com" and fired["From"] == "sextant@example.com"
    assert fired.get_content_type() == "text/plain" and not fired.is_multipart()
    body = fired.get_content()
    for part in EXPECTED_TEXT:
        assert part in body
    assert parsed[1].get_content().startswith("RESOLVED")
    assert store.rows("SELECT kind, status FROM sextant_alert_delivery ORDER BY kind") == [
        ("fired", "sent"), ("resolved", "sent")]
    assert _text_columns_holding(store, "pl4nted") == [] and "pl4nted" not in caplog.text


def test_a_wrong_smtp_password_is_refused_retried_and_recorded_without_the_password(
        store, smtp_server, monkeypatch, caplog):
    wrong = PASSWORD.replace("77", "78")
    monkeypatch.setenv("SEXTANT_TEST_SMTP_PASSWORD", wrong)
    store.configure(channels={"mail": _smtp_channel(smtp_server.port)})
    caplog.set_level(logging.DEBUG)
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    for seconds in (0, 31, 95, 215):
        alerts.deliver(store.writer, store.settings, T0 + timedelta(seconds=seconds))
    assert smtp_server.logins == [False] * 4 and smtp_server.messages == []
    tried = store.rows("SELECT attempt, status, error FROM sextant_alert_attempt ORDER BY attempt")
    assert [a for a, _, _ in tried] == [1, 2, 3, 4]
    assert {(s, e) for _, s, e in tried} == {("failed", "SendError: the SMTP server refused the login (code 535)")}
    assert store.rows("SELECT status, attempts FROM sextant_alert_delivery") == [("failed", 4)]
    assert "the SMTP server refused the login" in caplog.text
    for needle in (wrong, "pl4nted", "pässword"):
        assert _text_columns_holding(store, needle) == [] and needle not in caplog.text


def test_smtp_refused_recipients_and_an_unset_password_are_recorded(store, smtp_server, monkeypatch):
    monkeypatch.delenv("SEXTANT_TEST_SMTP_PASSWORD", raising=False)
    store.configure(channels={"mail": _smtp_channel(smtp_server.port, to=["nobody@refused.example"])})
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    alerts.deliver(store.writer, store.settings, T0)
    assert smtp_server.logins == []  # the variable is not set: nothing was sent
    monkeypatch.setenv("SEXTANT_TEST_SMTP_PASSWORD", PASSWORD)
    alerts.deliver(store.writer, store.settings, T0 + timedelta(seconds=31))
    assert smtp_server.logins == [True] and smtp_server.messages == []
    assert [e for (e,) in store.rows("SELECT error FROM sextant_alert_attempt ORDER BY attempt")] == [
        "AlertConfigError: channel mail: the SMTP password's environment variable (SEXTANT_TEST_SMTP_PASSWORD) "
        "is not set",
        "SendError: the SMTP server refused every recipient (code 550)"]


def test_an_smtp_server_that_cannot_be_reached_is_recorded(store, monkeypatch):
    monkeypatch.setenv("SEXTANT_TEST_SMTP_PASSWORD", PASSWORD)
    store.configure(channels={"mail": _smtp_channel(9)})  # the discard port: refused
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    assert alerts.deliver(store.writer, store.settings, T0).failed == {"mail": 1}
    [(error,)] = store.rows("SELECT error FROM sextant_alert_attempt")
    assert error == "SendError: could not connect to the SMTP server: ConnectionRefusedError"


# ------------------------------------------------------------------------------------------------ settings

MAIL = {"type": "email", "via": "ses", "from": "a@example.com", "to": ["b@example.com"]}
SMTP = {"type": "email", "via": "smtp", "host": "smtp.example.com", "from": "a@example.com", "to": ["b@example.com"]}


@pytest.mark.parametrize("table, message", [
    ({"type": "teams", "target": f"https://x.webhook.office.com/{TEAMS_TOKEN}"}, "never kept in the settings"),
    ({"type": "teams"}, "target_env is required"),
    ({"type": "teams", "target_env": "teams_url"}, "name an environment variable"),
    ({"type": "teams", "target_env": "T", "region": "us-east-1"}, "unknown key alerts.channels.x.region"),
    ({**MAIL, "via": "pigeon"}, 'must be "ses" (Amazon SES) or "smtp"'),
    ({k: v for k, v in MAIL.items() if k != "via"}, 'must be "ses" (Amazon SES) or "smtp"'),
    ({k: v for k, v in MAIL.items() if k != "from"}, "from is required"),
    ({k: v for k, v in MAIL.items() if k != "to"}, "to is required"),
    ({**MAIL, "from": "not an address"}, "expected an e-mail address"),
    ({**MAIL, "to": "b@example.com"}, "expected a list of strings"),
    ({**MAIL, "to": []}, "give between 1 and 50 addresses"),
    ({**MAIL, "to": ["b@example.com", "x\n@example.com"]}, "expected an e-mail address"),
    ({**MAIL, "to": [f"r{i}@example.com" for i in range(51)]}, "give between 1 and 50 addresses"),
    ({**MAIL, "host": "smtp.example.com"}, 'an SMTP setting, but via = "ses"'),
    ({**MAIL, "target_env": "X"}, "unknown key alerts.channels.x.target_env"),
    ({**SMTP, "host": ""}, "host is required"),
    ({**SMTP, "host": "smtp://smtp.example.com:25"}, "without scheme or port"),
    ({**SMTP, "port": "25"}, "between 1 and 65535"),
    ({**SMTP, "port": 0}, "between 1 and 65535"),
    ({**SMTP, "starttls": "yes"}, "must be true or false"),
    ({**SMTP, "region": "us-east-1"}, 'an AWS setting, but via = "smtp"'),
    ({**SMTP, "username": "u"}, "give both username and password_env"),
    ({**SMTP, "password_env": "SMTP_PW"}, "give both username and password_env"),
    ({**SMTP, "username": "u", "password_env": "smtp-pw"}, "name an environment variable"),
    ({**SMTP, "username": "u", "password": PASSWORD}, "no secret is kept in the settings"),
    ({**SMTP, "username": "u", "password_env": "SMTP_PW", "starttls": False}, "logging in needs STARTTLS"),
    ({**SMTP, "rate_per_minute": 0}, "between 1 and 10000"),
])
def test_a_wrong_teams_or_email_channel_gets_a_clear_message_and_changes_nothing(store, table, message):
    store.configure(channels={"x": table})
    with pytest.raises(alerts.AlertConfigError, match="alerts.channels.x") as err:
        store.evaluate(T0)
    assert message in str(err.value)
    assert PASSWORD not in str(err.value) and TEAMS_TOKEN not in str(err.value)
    assert store.rows("SELECT count(*) FROM sextant_alert_rule") == [(0,)]  # nothing evaluated


@pytest.mark.parametrize("table", [
    {"type": "teams", "target_env": "SEXTANT_TEAMS_WEBHOOK", "rate_per_minute": 5},
    MAIL,
    {**MAIL, "region": "eu-west-1"},
    SMTP,
    {**SMTP, "port": 465, "username": "u", "password_env": "SMTP_PW"},
    {**SMTP, "host": "localhost", "starttls": False, "username": "u", "password_env": "SMTP_PW"},
    {**SMTP, "host": "127.0.0.1", "starttls": False},
])
def test_a_right_teams_or_email_channel_is_accepted(table):
    from alerts.config import channel

    ch = channel("x", table)
    assert ch.type == table["type"] and ch.rate_per_minute == table.get("rate_per_minute", 20)
    if ch.type == "email":
        assert (ch.via, ch.sender, ch.to) == (table["via"], table["from"], tuple(table["to"]))
        assert ch.host == table.get("host", "") and ch.password_env == table.get("password_env", "")


def test_the_smtp_password_and_the_teams_url_are_stripped_from_any_error_text(monkeypatch):
    from alerts import delivery
    from alerts.config import config
    from sextant.settings import AlertSettings

    monkeypatch.setenv("SEXTANT_TEST_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SEXTANT_TEST_TEAMS", f"https://x.webhook.office.com/{TEAMS_TOKEN}")
    cfg = config(AlertSettings(channels={"mail": _smtp_channel(25, host="smtp.example.com", starttls=True),
                                         "teams": {"type": "teams", "target_env": "SEXTANT_TEST_TEAMS"}}))
    text = delivery.scrub(f"535 bad login {PASSWORD!s} for https://x.webhook.office.com/{TEAMS_TOKEN}",
                          delivery._targets(cfg))
    assert PASSWORD not in text and TEAMS_TOKEN not in text and "pl4nted" not in text
    assert text == "535 bad login [secret] for [secret]"


def test_smtp_with_starttls_never_logs_in_to_a_server_without_it(store, smtp_server, monkeypatch):
    monkeypatch.setenv("SEXTANT_TEST_SMTP_PASSWORD", PASSWORD)
    store.configure(channels={"mail": _smtp_channel(smtp_server.port, starttls=True)})  # the receiver has no TLS
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    assert alerts.deliver(store.writer, store.settings, T0).failed == {"mail": 1}
    assert smtp_server.logins == [] and smtp_server.messages == []  # no password sent in clear, no message
    assert store.rows("SELECT error FROM sextant_alert_attempt") == [
        ("SendError: could not start TLS with the SMTP server: it does not offer that (STARTTLS or AUTH)",)]
