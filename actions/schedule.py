"""Scheduled restores: the min/max an autoscaled variant had before a scale pinned it, put back at a set time.

A scale of an autoscaled variant moves its scalable target's bounds (``ScaleEndpoint``); with
``restore_after_s`` it also schedules the previous bounds back (``ScaleEndpoint.follow_up``). The schedule is
one small table, ``restore_schedule``, in the audit database (SQLite, beside the ``audit`` table): the
dashboard that scaled writes it, and whoever next runs due work (the collector's cycle, through
:func:`actions.restore.run_due_restores`) carries it out. Every step also leaves an audit row: the schedule
(``schedule_restore``), a cancellation (``cancel_restore``), and the restore itself
(``restore_scalable_target``, through ``run_action``).

**Once, whatever runs it.** A restore is *claimed* before it acts: one UPDATE from ``scheduled`` to
``running`` that only one process can win (SQLite serialises writers), so two collectors running at once
restore once. A claimed restore is never claimed again, even if its process dies before it records the
outcome (its audit row then says ``requested``): a restore acts at most once.

**Transitions, enforced by the database.** ``scheduled`` → ``running`` | ``cancelled``; ``running`` →
``done`` | ``failed``; nothing else, no DELETE, and what was scheduled (by whom, for what, which bounds, when)
never changes.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from actions.audit import AuditLog, AuditRow, AuditTable

TABLE = """
CREATE TABLE IF NOT EXISTS restore_schedule (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    scale_audit_id INTEGER NOT NULL UNIQUE,
    scheduled_at TEXT NOT NULL,
    due_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    variant TEXT NOT NULL,
    min_capacity INTEGER NOT NULL,
    max_capacity INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    restore_audit_id INTEGER,
    cancelled_by TEXT,
    message TEXT
);
CREATE INDEX IF NOT EXISTS restore_schedule_due ON restore_schedule(status, due_at);
CREATE INDEX IF NOT EXISTS restore_schedule_variant ON restore_schedule(account_id, region, endpoint, variant);
"""
_FIXED = ("id", "scale_audit_id", "scheduled_at", "due_at", "actor", "role", "account_id", "region", "endpoint",
          "variant", "min_capacity", "max_capacity")
_SAME = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _FIXED)
TRIGGERS = f"""
CREATE TRIGGER IF NOT EXISTS restore_schedule_transitions BEFORE UPDATE ON restore_schedule
WHEN NOT ({_SAME} AND (
      (OLD.status = 'scheduled' AND NEW.status IN ('running', 'cancelled'))
   OR (OLD.status = 'running' AND NEW.status IN ('done', 'failed'))))
BEGIN SELECT RAISE(ABORT, 'a scheduled restore moves only scheduled -> running | cancelled, running -> done | failed');
END;
CREATE TRIGGER IF NOT EXISTS restore_schedule_no_delete BEFORE DELETE ON restore_schedule
BEGIN SELECT RAISE(ABORT, 'scheduled restores are kept'); END;
"""
STATUSES = ("scheduled", "running", "done", "failed", "cancelled")


def now_utc() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("a schedule time must carry its zone")
    return t.astimezone(UTC).isoformat(timespec="seconds")


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


@dataclass(frozen=True)
class ScheduledRestore:
    """One scheduled restore of a variant's scalable-target bounds."""

    id: int
    scale_audit_id: int  # the scale (its audit row) whose previous bounds this puts back
    scheduled_at: datetime
    due_at: datetime
    actor: str  # who chose the restore; it runs as them (their operator role session)
    role: str  # their role when they chose it
    account_id: str
    region: str
    endpoint: str
    variant: str
    min_capacity: int
    max_capacity: int
    status: str  # scheduled | running | done | failed | cancelled
    started_at: datetime | None = None
    finished_at: datetime | None = None
    restore_audit_id: int | None = None
    cancelled_by: str | None = None
    message: str | None = None

    @property
    def target(self) -> str:
        return f"{self.endpoint}/{self.variant}"

    @classmethod
    def of(cls, row: sqlite3.Row) -> ScheduledRestore:
        d: dict[str, Any] = dict(row)
        for k in ("scheduled_at", "due_at", "started_at", "finished_at"):
            d[k] = _time(d[k])
        return cls(**d)


class RestoreSchedule(AuditTable):
    """The ``restore_schedule`` table in the audit database of ``audit``."""

    SCHEMA = TABLE + TRIGGERS

    def add(self, *, scale_audit_id: int, due_at: datetime, actor: str, role: str, account_id: str, region: str,
            endpoint: str, variant: str, min_capacity: int, max_capacity: int,
            now: datetime | None = None) -> ScheduledRestore:
        """Schedule a restore (``scheduled``); a second one for the same scale is refused by the table (UNIQUE)."""
        if not 0 <= min_capacity <= max_capacity:
            raise ValueError(f"cannot restore min {min_capacity} / max {max_capacity}: min must be <= max")
        with self._connect() as con:
            row_id = con.execute(
                "INSERT INTO restore_schedule (scale_audit_id, scheduled_at, due_at, actor, role, account_id, "
                "region, endpoint, variant, min_capacity, max_capacity, status) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'scheduled')",
                [scale_audit_id, _iso(now or now_utc()), _iso(due_at), actor, role, account_id, region, endpoint,
                 variant, min_capacity, max_capacity]).lastrowid
        found = self.get(int(row_id or 0))
        if found is None:
            raise RuntimeError("the scheduled restore was not written")
        return found

    def get(self, schedule_id: int) -> ScheduledRestore | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM restore_schedule WHERE id = ?", [schedule_id]).fetchone()
        return ScheduledRestore.of(row) if row else None

    def due(self, now: datetime | None = None, limit: int = 100) -> list[ScheduledRestore]:
        """Scheduled restores whose time has come, oldest due first."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM restore_schedule WHERE status = 'scheduled' AND due_at <= ? "
                               "ORDER BY due_at, id LIMIT ?", [_iso(now or now_utc()), limit]).fetchall()
        return [ScheduledRestore.of(r) for r in rows]

    def for_variant(self, account_id: str, region: str, endpoint: str, variant: str | None = None,
                    since: datetime | None = None) -> list[ScheduledRestore]:
        """The restores of an endpoint (or one variant) scheduled since ``since`` (all when None), oldest first."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT * FROM restore_schedule WHERE account_id = ? AND region = ? AND endpoint = ? "
                "AND (? IS NULL OR variant = ?) AND (? IS NULL OR scheduled_at >= ? OR status = 'scheduled') "
                "ORDER BY id", [account_id, region, endpoint, variant, variant,
                                since and _iso(since), since and _iso(since)]).fetchall()
        return [ScheduledRestore.of(r) for r in rows]

    def claim(self, schedule_id: int, now: datetime | None = None) -> bool:
        """Take a scheduled restore to carry it out; False when another runner (or a cancellation) came first."""
        with self._connect() as con:
            n = con.execute("UPDATE restore_schedule SET status = 'running', started_at = ? "
                            "WHERE id = ? AND status = 'scheduled'", [_iso(now or now_utc()), schedule_id]).rowcount
        return n == 1

    def finish(self, schedule_id: int, ok: bool, restore_audit_id: int | None, message: str | None) -> None:
        """Record how a claimed restore ended (``done`` or ``failed``), once."""
        with self._connect() as con:
            n = con.execute("UPDATE restore_schedule SET status = ?, finished_at = ?, restore_audit_id = ?, "
                            "message = ? WHERE id = ? AND status = 'running'",
                            ["done" if ok else "failed", _iso(now_utc()), restore_audit_id,
                             None if message is None else message[:1000], schedule_id]).rowcount
        if n != 1:
            raise RuntimeError(f"scheduled restore #{schedule_id} is not running")

    def cancel(self, schedule_id: int, by: str, message: str | None = None) -> bool:
        """Cancel a restore that has not started; False when it already ran, runs, or was cancelled."""
        with self._connect() as con:
            n = con.execute("UPDATE restore_schedule SET status = 'cancelled', finished_at = ?, cancelled_by = ?, "
                            "message = ? WHERE id = ? AND status = 'scheduled'",
                            [_iso(now_utc()), by[:320], message, schedule_id]).rowcount
        return n == 1


def schedule_after_scale(audit: AuditLog, *, scale_audit_id: int, delay_s: int, actor: str, role: str,
                         account_id: str, region: str, endpoint: str, variant: str, min_capacity: int,
                         max_capacity: int, now: datetime | None = None) -> ScheduledRestore:
    """Schedule the bounds a scale replaced (``min_capacity``/``max_capacity``) back in ``delay_s`` seconds, with
    its audit row (``schedule_restore``).

    A restore still scheduled for the same variant (an earlier scale's) is superseded: the new restore puts back
    *its* bounds (those before the first pin, not the pin this scale replaced), and the earlier one is cancelled
    with its own audit row, so a variant pinned twice goes back to where it was before either."""
    schedule = RestoreSchedule(audit)
    now = now or now_utc()
    earlier = [r for r in schedule.for_variant(account_id, region, endpoint, variant) if r.status == "scheduled"]
    if earlier:
        min_capacity, max_capacity = earlier[0].min_capacity, earlier[0].max_capacity
    restore = schedule.add(scale_audit_id=scale_audit_id, due_at=now + timedelta(seconds=delay_s), actor=actor,
                           role=role, account_id=account_id, region=region, endpoint=endpoint, variant=variant,
                           min_capacity=min_capacity, max_capacity=max_capacity, now=now)
    target = f"{endpoint}/{variant}"
    audit.append(AuditRow(actor, role, "schedule_restore", target, account_id, region,
                          {"schedule_id": restore.id, "scale_audit_id": scale_audit_id, "restore_after_s": delay_s},
                          None, {"min_capacity": min_capacity, "max_capacity": max_capacity,
                                 "due_at": _iso(restore.due_at)}, "succeeded", False))
    for old in earlier:
        why = f"superseded by restore #{restore.id} (scale audit #{scale_audit_id}), which restores the same bounds"
        if schedule.cancel(old.id, actor, why):
            audit.append(AuditRow(actor, role, "cancel_restore", target, account_id, region,
                                  {"schedule_id": old.id, "reason": why}, None, None, "succeeded", False))
    return restore
