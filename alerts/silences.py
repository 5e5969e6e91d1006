"""Silences, as the evaluation reads them: which alerts' messages are held back now, and by which silence.

People make and end silences in the dashboard (``actions.alert_actions``, audited): one table, ``alert_silence``, in
the audit database beside the store (``[actions] audit_path``, default ``<store>/audit.sqlite``). This module only
reads it, by its column names (the alerts import no actions: the house's layers), read-only. A store without that
database or table has no silence.

A silence matches an alert when every field it names (rule, resource, team, account) equals the alert's; it is
active from its creation until its expiry or its early end, whichever comes first. :func:`alerts.evaluate` records
the messages of a matched alert as ``suppressed`` (naming the silence) instead of queueing them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sextant.settings import Settings

TABLE = "alert_silence"
COLUMNS = ("id", "rule", "resource", "team", "account_id", "reason", "actor", "created_at", "expires_at", "ended_at")


class SilenceReadError(RuntimeError):
    """The silences could not be read (the database is locked or damaged)."""


@dataclass(frozen=True)
class Silence:
    id: int
    rule: str | None
    resource: str | None
    team: str | None
    account_id: str | None
    reason: str
    actor: str
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None

    @property
    def until(self) -> datetime:
        return min(self.expires_at, self.ended_at) if self.ended_at else self.expires_at

    def active(self, now: datetime) -> bool:
        return self.created_at <= now < self.until

    def note(self) -> str:
        """What the outbox records for a message it held back."""
        return (f"suppressed by silence #{self.id} (by {self.actor}, until {self.until:%Y-%m-%d %H:%M} UTC): "
                f"{self.reason}")[:500]


def matches(silence: Silence, alert: Mapping[str, Any]) -> bool:
    """Whether ``silence`` covers ``alert`` (rule, resource, team, account_id): every field the silence names equals
    the alert's; a field it leaves empty matches anything."""
    return all(want is None or alert.get(k) == want
               for k, want in (("rule", silence.rule), ("resource", silence.resource), ("team", silence.team),
                               ("account_id", silence.account_id)))


def matching(silences: list[Silence], alert: Mapping[str, Any]) -> Silence | None:
    """The first (oldest) of ``silences`` that covers ``alert``, or None."""
    return next((s for s in sorted(silences, key=lambda s: s.id) if matches(s, alert)), None)


def audit_path(settings: Settings) -> Path:
    """Where the dashboard's audit database is (the same rule as ``actions.restore.audit_for``)."""
    return Path(settings.actions.audit_path or str(Path(settings.store) / "audit.sqlite"))


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    t = datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def active(settings: Settings, now: datetime) -> list[Silence]:
    """The silences active at ``now``; none when the audit database or its table does not exist. Raises
    SilenceReadError when they exist but cannot be read."""
    path = audit_path(settings)
    if not path.exists():
        return []
    stamp = now.astimezone(UTC).isoformat(timespec="seconds")
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5.0)) as con:
            if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [TABLE]).fetchone() \
                    is None:
                return []
            rows = con.execute(f"SELECT {', '.join(COLUMNS)} FROM {TABLE} "  # noqa: S608 - fixed names
                               "WHERE created_at <= ? AND expires_at > ? AND (ended_at IS NULL OR ended_at > ?) "
                               "ORDER BY id", [stamp, stamp, stamp]).fetchall()
    except sqlite3.Error as exc:
        raise SilenceReadError(f"the silences could not be read from {path.name}: {exc}") from exc
    out = []
    for r in rows:
        d = dict(zip(COLUMNS, r, strict=True))
        created, expires, ended = _time(d.pop("created_at")), _time(d.pop("expires_at")), _time(d.pop("ended_at"))
        if created is None or expires is None:
            continue
        s = Silence(**d, created_at=created, expires_at=expires, ended_at=ended)
        if s.active(now):
            out.append(s)
    return out
