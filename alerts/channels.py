"""Senders: one function per channel type. Each sends one queued message or raises; none logs its target.

- ``sns``: ``sns.publish`` (Subject: the one-line summary, Message: the plain text).
- ``eventbridge``: ``events.put_events``, Source ``sextant.alerts``, DetailType ``Sextant Alert``, Detail: the JSON of
  docs/ALERTS.md; a failed entry raises.
- ``webhook``: an HTTP POST of a Slack-format JSON payload with ``urllib.request`` (no new dependency: one POST is
  all a Slack, Mattermost or generic webhook needs), a timeout, 2xx expected.
- ``teams``: the same POST of a Microsoft Teams message holding an Adaptive Card (what a Teams Workflows "when a
  webhook request is received" flow, and the older incoming webhooks, accept).
- ``email``: Subject = the one-line summary, body = the plain text (with its link), one message to every address of
  ``to``: ``via = "ses"`` with ``sesv2.send_email`` (Simple content, Text only, UTF-8); ``via = "smtp"`` with
  ``smtplib`` and an ``email.message.EmailMessage`` (STARTTLS with the system's certificate checks unless turned off,
  then a login with the password read from ``password_env``). An SMTP error says the step and the server's code only.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from alerts import messages
from alerts.config import Channel
from sextant.aws import Clients
from sextant.settings import AccountSettings

log = logging.getLogger("sextant.alerts")
TIMEOUT_S = 5.0  # a hung receiver holds the sender this long at most
_SNS_REGION = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):")


class SendError(RuntimeError):
    """A channel refused or failed a message; the text names no secret."""


Sender = Callable[[Channel, str, dict[str, Any]], None]


class Senders:
    """The senders of one delivery run, with one AWS client factory (the first configured account's credentials,
    or the standard AWS environment) for SNS, EventBridge and SES."""

    def __init__(self, account: AccountSettings | None = None) -> None:
        self.clients = Clients(account or AccountSettings())

    def send(self, channel: Channel, target: str, row: dict[str, Any]) -> None:
        {"sns": self.sns, "eventbridge": self.eventbridge, "webhook": webhook, "teams": teams,
         "email": self.email}[channel.type](channel, target, row)

    def sns(self, channel: Channel, target: str, row: dict[str, Any]) -> None:
        m = _SNS_REGION.match(target)
        client = self.clients.client("sns", channel.region or (m.group(1) if m else None))
        client.publish(TopicArn=target, Subject=row["subject"], Message=row["text"],
                       MessageAttributes={"rule": {"DataType": "String", "StringValue": row["rule"]},
                                          "kind": {"DataType": "String", "StringValue": row["kind"]}})

    def eventbridge(self, channel: Channel, target: str, row: dict[str, Any]) -> None:
        client = self.clients.client("events", channel.region or None)
        detail = json.loads(row["detail"])
        entry: dict[str, Any] = {"Source": messages.EVENT_SOURCE, "DetailType": messages.DETAIL_TYPE,
                                 "Detail": row["detail"], "EventBusName": target}
        if str(detail.get("resource", "")).startswith("arn:"):
            entry["Resources"] = [detail["resource"]]
        answer = client.put_events(Entries=[entry])
        if answer.get("FailedEntryCount"):
            failed = answer["Entries"][0]
            raise SendError(f"EventBridge refused the event: {failed.get('ErrorCode')} {failed.get('ErrorMessage')}")

    def email(self, channel: Channel, _target: str, row: dict[str, Any]) -> None:
        if channel.via == "ses":
            self.ses(channel, row)
        else:
            smtp(channel, row)

    def ses(self, channel: Channel, row: dict[str, Any]) -> None:
        client = self.clients.client("sesv2", channel.region or None)
        client.send_email(FromEmailAddress=channel.sender, Destination={"ToAddresses": list(channel.to)},
                          Content={"Simple": {"Subject": {"Data": row["subject"], "Charset": "UTF-8"},
                                              "Body": {"Text": {"Data": row["text"], "Charset": "UTF-8"}}}})


def email_message(channel: Channel, row: dict[str, Any]) -> EmailMessage:
    """The e-mail of one message: plain text only (UTF-8), the summary as subject."""
    msg = EmailMessage()
    msg["Subject"] = row["subject"]
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = make_msgid(domain=channel.sender.rsplit("@", 1)[1])
    msg.set_content(row["text"], subtype="plain", charset="utf-8")
    return msg


def smtp(channel: Channel, row: dict[str, Any]) -> None:
    password = channel.password()  # read first: an unset variable fails before any connection
    msg = email_message(channel, row)
    step = "connect to"
    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=TIMEOUT_S) as server:
            if channel.starttls:
                step = "start TLS with"
                server.starttls(context=ssl.create_default_context())
            if channel.username:
                step = "log in to"
                _login(server, channel.username, password)
            step = "send the message through"
            refused = server.send_message(msg, from_addr=channel.sender, to_addrs=list(channel.to))
    except smtplib.SMTPAuthenticationError as exc:
        raise SendError(f"the SMTP server refused the login (code {exc.smtp_code})") from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise SendError(f"the SMTP server refused every recipient (code {', '.join(map(str, codes))})") from None
    except smtplib.SMTPResponseException as exc:
        raise SendError(f"could not {step} the SMTP server: it answered code {exc.smtp_code}") from None
    except smtplib.SMTPNotSupportedError:
        raise SendError(f"could not {step} the SMTP server: it does not offer that (STARTTLS or AUTH)") from None
    except ssl.SSLError as exc:
        raise SendError(f"could not {step} the SMTP server: TLS failed ({type(exc).__name__})") from None
    except (smtplib.SMTPException, OSError, ValueError) as exc:
        raise SendError(f"could not {step} the SMTP server: {type(exc).__name__}") from None
    if refused:  # sent to the others: a retry would send it to them again, so it is not failed, only logged
        log.warning("alert channel %s: the SMTP server refused %d of %d recipients", channel.name, len(refused),
                    len(channel.to))


def _login(server: smtplib.SMTP, username: str, password: str) -> None:
    """``server.login``, and AUTH PLAIN in UTF-8 (RFC 4616) for a user name or password outside ASCII, which
    smtplib's login cannot encode."""
    if (username + password).isascii():
        server.login(username, password)
        return
    server.ehlo_or_helo_if_needed()
    if "PLAIN" not in server.esmtp_features.get("auth", "").upper().split():
        raise SendError("the SMTP server does not offer AUTH PLAIN, needed for non-ASCII credentials")
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode()
    code, answer = server.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def teams(channel: Channel, url: str, row: dict[str, Any]) -> None:
    _post(channel, url, messages.teams(json.loads(row["detail"])), "the Teams webhook")


def webhook(channel: Channel, url: str, row: dict[str, Any]) -> None:
    _post(channel, url, messages.slack(json.loads(row["detail"])), "the webhook")


def _post(channel: Channel, url: str, payload: dict[str, Any], what: str) -> None:
    if not url.startswith(("https://", "http://")):
        raise SendError(f"channel {channel.name}: the URL in {channel.target_env} must start with https://")
    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "sextant-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise SendError(f"{what} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError(f"{what} could not be reached: {type(reason).__name__}") from None
    if not 200 <= status < 300:
        raise SendError(f"{what} answered HTTP {status}")
