"""Amazon SES in the emulated account: a verified sender, and a way to read what was sent.

moto's SES sends (``ses:SendEmail``, ``sesv2:SendEmail``) only from a verified identity, as SES does, and records
each sent message in its backend; AWS has no API that returns a sent message's content. This fill:

- seeds the verified domain identity ``SENDER_DOMAIN`` in the demo's region of every account of the world, so an alert
  channel with ``via = "ses"`` and ``from = "alerts@sextant.example.com"`` sends (any other sender is refused with
  ``MessageRejected``, as SES refuses an unverified one);
- reads what was sent as a client can: :func:`sent` asks the running account's moto API (``/moto-api/data.json``)
  for the recorded messages (source, destinations, subject, body). ``ses:GetSendStatistics`` counts them through
  the AWS API.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from demo import world as world_mod
from demo.world import World

SENDER_DOMAIN = "sextant.example.com"
SENDER = f"alerts@{SENDER_DOMAIN}"
REGIONS = (world_mod.REGION,)  # the demo's region (demo/sextant.toml)


def install(world: World) -> None:
    """Nothing to patch: moto's SES sends and records."""


def seed(world: World) -> None:
    from moto.ses.models import ses_backends

    accounts = {world_mod.MAIN_ACCOUNT} | {e.account for e in world.endpoints}
    for account in sorted(accounts):
        for region in REGIONS:
            ses_backends[account][region].verify_domain(SENDER_DOMAIN)


def sent(url: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Every message the account at ``url`` sent with SES's SendEmail: ``{"id", "source", "destinations",
    "subject", "body"}`` (destinations: ``{"ToAddresses": [...], ...}``), oldest first."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/moto-api/data.json", timeout=timeout) as answer:
        data = json.loads(answer.read())
    return [{k: m.get(k) for k in ("id", "source", "destinations", "subject", "body")}
            for m in data.get("ses", {}).get("Message", [])]
