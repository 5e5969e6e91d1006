"""Sending the outbox after the store commits.

Evaluation queues a message per channel in ``sextant_alert_delivery`` inside its transaction; :func:`deliver` runs
after that transaction commits (after the cycle's publish), sends what is due and records every attempt
(``sextant_alert_attempt``) and the message's new status, each message in its own small transaction. So a message
is never sent for a transition that rolled back, and a crash between a send and its record sends it again at the
next run (at least once: the EventBridge detail's ``id`` and the SNS attributes let a receiver drop a repeat).

A failure is retried with backoff (``BACKOFF_S`` doubling, capped) at later runs, up to ``[alerts] max_attempts``,
then the message is ``failed``. A channel that fails stops being tried for the rest of this run (its other messages
wait), so a dead receiver costs one timeout per run and never blocks the other channels. A channel sends at most
``rate_per_minute`` messages in any minute (counted from the attempts recorded, so it holds across runs and
processes): the rest stay pending, oldest first, for the next run.

Only ``pending`` messages are sent: a message the evaluation recorded as ``suppressed`` (an active silence matched
its alert, :mod:`alerts.silences`) is never sent unless the evaluation releases it (``pending`` again) after the
silence ends.

Secrets: a webhook's or Teams workflow's URL and an SMTP password are read from their environment variables when
sending and never written or logged; every error text is redacted and stripped of each channel's resolved target and
password before it is stored or logged.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from alerts.channels import Senders
from alerts.config import AlertConfig, Channel, config
from alerts.tables import ATTEMPT, DELIVERY
from sextant.redact import redact
from sextant.settings import Settings
from sextant.store import StoreWriter

log = logging.getLogger("sextant.alerts")
BACKOFF_S = 30.0  # after the first failure; doubles with each further failure
BACKOFF_MAX_S = 900.0
SECRET = "[secret]"


@dataclass
class Delivery:
    """What one run did: sent and failed attempts by channel, messages held back by a rate limit."""

    sent: dict[str, int] = field(default_factory=dict)
    failed: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return sum(self.sent.values()) + sum(self.failed.values())

    def lines(self) -> list[str]:
        out = [f"alerts sent to {c}: {n}" for c, n in self.sent.items()]
        out += [f"alerts failed on {c}: {n} (retried later)" for c, n in self.failed.items()]
        out += [f"alerts held by {c}'s rate limit: {n}" for c, n in self.held.items()]
        return out


def backoff_s(attempts: int) -> float:
    return float(min(BACKOFF_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S))


def scrub(text: object, secrets: list[str]) -> str:
    """``text`` with credentials (sextant.redact) and every channel target's value removed."""
    s = str(text)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= 4:
            s = s.replace(secret, SECRET)
    return redact(s)


def _targets(cfg: AlertConfig) -> list[str]:
    """Every configured channel's secret values that are set (resolved targets, SMTP passwords), to strip from error
    texts."""
    out = [secret for ch in cfg.channels.values() for secret in ch.secrets()]
    out += [ch.target for ch in cfg.channels.values() if ch.target]
    return out


def _due(writer: StoreWriter, now: datetime) -> list[dict[str, Any]]:
    """Pending messages due at ``now``, oldest first; a resolved message waits while its fired one is pending."""
    cur = writer.con.execute(
        "SELECT * FROM sextant_alert_delivery d WHERE status = 'pending' AND next_attempt_at <= ? "
        "AND NOT (kind = 'resolved' AND EXISTS (SELECT 1 FROM sextant_alert_delivery f WHERE f.channel = d.channel "
        "AND f.rule = d.rule AND f.resource = d.resource AND f.episode = d.episode AND f.kind = 'fired' "
        "AND f.status = 'pending')) ORDER BY created_at, kind = 'resolved', rule, resource", [now])
    columns = [d[0] for d in cur.description or ()]
    return [dict(zip(columns, v, strict=True)) for v in cur.fetchall()]


def _sent_last_minute(writer: StoreWriter, channel: str, now: datetime) -> int:
    row = writer.con.execute("SELECT count(*) FROM sextant_alert_attempt WHERE channel = ? "
                             "AND attempted_at > ? AND attempted_at <= ?",
                             [channel, now - timedelta(minutes=1), now]).fetchone()
    return int(row[0]) if row else 0


def deliver(writer: StoreWriter, settings: Settings, now: datetime, senders: Senders | None = None) -> Delivery:
    """Send the due messages of the outbox and record each attempt (see the module's docstring)."""
    cfg = config(settings.alerts)
    secrets = _targets(cfg)
    result = Delivery()
    due = _due(writer, now)
    if not due:
        return result
    senders = senders or Senders(settings.accounts[0] if settings.accounts else None)
    by_channel: dict[str, list[dict[str, Any]]] = {}
    for row in due:
        by_channel.setdefault(row["channel"], []).append(row)
    for name, rows in by_channel.items():
        channel = cfg.channels.get(name)
        if channel is None:
            _record(writer, rows, now, None, f"channel {name} is no longer configured ([alerts.channels.{name}])",
                    final=True)
            result.failed[name] = result.failed.get(name, 0) + len(rows)
            continue
        _send_channel(writer, settings, channel, rows, now, senders, secrets, result)
    return result


def _send_channel(writer: StoreWriter, settings: Settings, channel: Channel, rows: list[dict[str, Any]],
                  now: datetime, senders: Senders, secrets: list[str], result: Delivery) -> None:
    budget = channel.rate_per_minute - _sent_last_minute(writer, channel.name, now)
    for i, row in enumerate(rows):
        if budget <= 0:
            result.held[channel.name] = len(rows) - i
            return
        budget -= 1
        started = time.monotonic()
        error = None
        try:
            senders.send(channel, channel.resolve(), row)
        except Exception as exc:  # a failing channel is recorded and never stops the others
            error = scrub(f"{type(exc).__name__}: {exc}", secrets)
        took = (time.monotonic() - started) * 1000
        attempts = row["attempts"] + 1
        final = error is not None and attempts >= settings.alerts.max_attempts
        _record(writer, [row], now, took, error, final=final)
        if error is None:
            result.sent[channel.name] = result.sent.get(channel.name, 0) + 1
            continue
        result.failed[channel.name] = result.failed.get(channel.name, 0) + 1
        log.warning("alert channel %s failed (attempt %d of %d): %s", channel.name, attempts,
                    settings.alerts.max_attempts, error)
        return  # the channel failed: its other messages wait for the next run


def _record(writer: StoreWriter, rows: list[dict[str, Any]], now: datetime, took_ms: float | None,
            error: str | None, *, final: bool) -> None:
    with writer.transaction():
        for row in rows:
            attempts = row["attempts"] + (1 if took_ms is not None else 0)
            status = "sent" if error is None else ("failed" if final else "pending")
            key = [row[k] for k in ("channel", "rule", "resource", "episode", "kind")]
            writer.con.execute(
                "UPDATE sextant_alert_delivery SET status = ?, attempts = ?, error = ?, sent_at = ?, "
                "next_attempt_at = ? WHERE channel = ? AND rule = ? AND resource = ? AND episode = ? AND kind = ?",
                [status, attempts, error, now if error is None else None,
                 now + timedelta(seconds=backoff_s(attempts)) if status == "pending" else row["next_attempt_at"],
                 *key])
            if took_ms is not None:
                writer.upsert(ATTEMPT, [dict(zip(("channel", "rule", "resource", "episode", "kind"), key, strict=True))
                                        | {"attempt": attempts, "attempted_at": now, "status": "sent" if error is None
                                           else "failed", "error": error, "duration_ms": took_ms}])


__all__ = ["DELIVERY", "Delivery", "backoff_s", "deliver", "scrub"]
