"""Senders: one function per channel type. Each sends one queued message or raises; none logs its target.

- ``sns``: ``sns.publish`` (Subject: the one-line summary, Message: the plain text).
- ``eventbridge``: ``events.put_events``, Source ``sextant.alerts``, DetailType ``Sextant Alert``, Detail: the JSON of
  docs/ALERTS.md; a failed entry raises.
- ``webhook``: an HTTP POST of a Slack-format JSON payload with ``urllib.request`` (no new dependency: one POST is
  all a Slack, Mattermost or generic webhook needs), a timeout, 2xx expected.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from alerts import messages
from alerts.config import Channel
from sextant.aws import Clients
from sextant.settings import AccountSettings

TIMEOUT_S = 5.0  # a hung receiver holds the sender this long at most
_SNS_REGION = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):")


class SendError(RuntimeError):
    """A channel refused or failed a message; the text names no secret."""


Sender = Callable[[Channel, str, dict[str, Any]], None]


class Senders:
    """The senders of one delivery run, with one AWS client factory (the first configured account's credentials,
    or the standard AWS environment) for SNS and EventBridge."""

    def __init__(self, account: AccountSettings | None = None) -> None:
        self.clients = Clients(account or AccountSettings())

    def send(self, channel: Channel, target: str, row: dict[str, Any]) -> None:
        {"sns": self.sns, "eventbridge": self.eventbridge, "webhook": webhook}[channel.type](channel, target, row)

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


def webhook(channel: Channel, url: str, row: dict[str, Any]) -> None:
    if not url.startswith(("https://", "http://")):
        raise SendError(f"channel {channel.name}: the URL in {channel.target_env} must start with https://")
    body = json.dumps(messages.slack(json.loads(row["detail"]))).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json", "User-Agent": "sextant-alerts"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise SendError(f"the webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendError(f"the webhook could not be reached: {type(reason).__name__}") from None
    if not 200 <= status < 300:
        raise SendError(f"the webhook answered HTTP {status}")
