"""The append-only audit log of actions: one row per attempt, in SQLite beside the store.

SQLite, not the DuckDB store, because the store is written only by the collector process while
actions are taken by dashboard processes; SQLite serialises writers across processes with its own
locking. On the shared backend the trail is in PostgreSQL instead (:mod:`actions.audit_pg`, INSERT and SELECT
only, an outcome appended as a row of its own): :func:`open_audit` picks the one the settings name.

**Intent, then outcome, in one row.** An action that calls AWS first appends its intent (result
``requested``), and only then calls AWS; afterwards :meth:`AuditLog.complete` records the outcome in that
same row (``succeeded``, ``failed`` or ``unknown``, the AWS request id, the error, the state after). So a
crash, a kill or a locked database between the call and its record leaves a ``requested`` row: the
attempt is never missing. One row per attempt (not a second completion row) keeps the log readable as it
always was — one line, one attempt — and needs no join to answer "what happened".

**Append-only, enforced by the database.** Triggers abort every DELETE and every UPDATE except one: the
single transition of a ``requested`` row to its outcome, which may set only the outcome columns (result,
state_after, aws_request_id, error, completed_at) and never anything that says who, what, on what, when or
as whom. A completed row can never change again; the product has no other code path that writes.
"""

from __future__ import annotations

import fcntl
import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from sextant.settings import Settings

TABLE = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    account_id TEXT,
    region TEXT,
    parameters TEXT NOT NULL,
    state_before TEXT,
    state_after TEXT,
    result TEXT NOT NULL,
    dry_run INTEGER NOT NULL,
    aws_request_id TEXT,
    error TEXT,
    token TEXT,
    aws_role TEXT,
    aws_session TEXT,
    completed_at TEXT
);
CREATE INDEX IF NOT EXISTS audit_token ON audit(token);
"""
# Columns added after the first release, appended at the end (older files get them by ALTER TABLE).
ADDED_COLUMNS = {"aws_role": "TEXT", "aws_session": "TEXT", "completed_at": "TEXT"}
# What may never change, even in the one allowed transition.
_FIXED = ("id", "at", "actor", "role", "action", "target", "account_id", "region", "parameters", "state_before",
          "dry_run", "token", "aws_role", "aws_session")
OUTCOMES = ("succeeded", "failed", "unknown")
# An intent with no outcome this long after it was written was left by a process that ended between its AWS call
# and the record of it (an AWS call, with botocore's retries, takes a minute or two at most).
ORPHAN_AFTER = timedelta(minutes=15)
TRIGGERS = f"""
DROP TRIGGER IF EXISTS audit_no_update;
CREATE TRIGGER IF NOT EXISTS audit_only_completes BEFORE UPDATE ON audit
WHEN NOT (OLD.result = 'requested' AND OLD.completed_at IS NULL
          AND NEW.result IN ({", ".join(f"'{o}'" for o in OUTCOMES)}) AND NEW.completed_at IS NOT NULL
          AND {" AND ".join(f"NEW.{c} IS OLD.{c}" for c in _FIXED)})
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: only a requested row''s outcome can be recorded, once');
END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
INSERT = ("INSERT INTO audit (at, actor, role, action, target, account_id, region, parameters, state_before, "
          "state_after, result, dry_run, aws_request_id, error, token, aws_role, aws_session) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
COMPLETE = ("UPDATE audit SET result = ?, state_after = ?, aws_request_id = ?, error = ?, completed_at = ? "
            "WHERE id = ? AND result = 'requested'")


class LockBusy(TimeoutError):
    """:meth:`AuditLog.exclusive` waited its time and another process still holds the lock."""


@dataclass(frozen=True)
class AuditRow:
    actor: str
    role: str
    action: str
    target: str
    account_id: str | None
    region: str | None
    parameters: dict[str, Any]
    state_before: dict[str, Any] | None
    state_after: dict[str, Any] | None
    # requested (an intent, completed later) | succeeded | failed | unknown | refused | invalid | dry_run | duplicate
    result: str
    dry_run: bool
    aws_request_id: str | None = None
    error: str | None = None
    token: str | None = None
    aws_role: str | None = None  # the operator role the action assumed (None: the account's own credentials)
    aws_session: str | None = None  # its role session name (CloudTrail's name for the person)


def _json(value: dict[str, Any] | None) -> str | None:
    return json.dumps(value, default=str) if value is not None else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class AuditLog:
    def __init__(self, path: Path, timeout: float = 30.0) -> None:
        """``timeout``: how long a write waits for another writer's lock before it fails (seconds)."""
        self.path = Path(path)
        self.timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as con:
            con.executescript(TABLE)
            have = {r[1] for r in con.execute("PRAGMA table_info(audit)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in have:
                    con.execute(f"ALTER TABLE audit ADD COLUMN {column} {kind}")
            con.executescript(TRIGGERS)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            yield con
        finally:
            con.close()

    def append(self, row: AuditRow) -> int:
        values = [_now(), row.actor, row.role, row.action, row.target, row.account_id, row.region,
                  json.dumps(row.parameters, default=str, sort_keys=True), _json(row.state_before),
                  _json(row.state_after), row.result, int(row.dry_run), row.aws_request_id, row.error, row.token,
                  row.aws_role, row.aws_session]
        with self._lock, self._connect() as con:
            row_id = con.execute(INSERT, values).lastrowid
        if row_id is None:
            raise RuntimeError("the audit row was not written")
        return row_id

    def complete(self, row_id: int, result: str, aws_request_id: str | None = None, error: str | None = None,
                 state_after: dict[str, Any] | None = None) -> None:
        """Record the outcome of the intent ``row_id`` (a ``requested`` row), once; raises if it cannot."""
        if result not in OUTCOMES:
            raise ValueError(f"an intent completes as one of {OUTCOMES}, not {result!r}")
        with self._lock, self._connect() as con:
            n = con.execute(COMPLETE, [result, _json(state_after), aws_request_id, error, _now(), row_id]).rowcount
        if n != 1:
            raise RuntimeError(f"audit row #{row_id} is not a requested row")

    def settle_orphans(self, older_than: timedelta = ORPHAN_AFTER, now: datetime | None = None) -> list[int]:
        """Complete as ``unknown`` every ``requested`` row older than ``older_than``: its process ended between the
        AWS call and the record of its outcome, so whether it acted is not known (the reader is told to check the
        resource). The one transition the log allows; returns the ids settled."""
        cutoff = ((now or datetime.now(UTC)) - older_than).isoformat(timespec="milliseconds")
        with self._lock, self._connect() as con:
            ids = [r[0] for r in con.execute(
                "SELECT id FROM audit WHERE result = 'requested' AND completed_at IS NULL AND at < ? ORDER BY id",
                [cutoff])]
            for row_id in ids:
                con.execute(COMPLETE, ["unknown", None, None,
                                       f"no outcome was recorded within {int(older_than.total_seconds() // 60)} "
                                       "minutes: the process acting ended after calling AWS or before it; check "
                                       "the resource's state", _now(), row_id])
        return ids

    def done(self, token: str) -> dict[str, Any] | None:
        """The real attempt that used this idempotency token, if any: one that called AWS or may have
        (``requested``, ``succeeded``, ``unknown``). A dry run uses no token, and a failed attempt changed
        nothing, so the same confirmation may act after either."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM audit WHERE token = ? AND result IN ('requested', 'succeeded', "
                              "'unknown') ORDER BY id LIMIT 1", [token]).fetchone()
            return dict(row) if row else None

    def get(self, row_id: int) -> dict[str, Any] | None:
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM audit WHERE id = ?", [row_id]).fetchone()
            return dict(row) if row else None

    def frame(self, limit: int = 5000) -> pd.DataFrame:
        with self._connect() as con:
            return pd.read_sql_query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", con, params=[limit])

    def count(self) -> int:
        with self._connect() as con:
            (n,) = con.execute("SELECT count(*) FROM audit").fetchone()
            return int(n)

    def succeeded_changes(self, actions: Sequence[str], account_id: str, region: str, endpoint: str,
                          since: datetime) -> list[dict[str, Any]]:
        """The succeeded real (not dry-run) rows of ``actions`` on ``endpoint`` (the ``endpoint`` parameter) in this
        account and region completed at or after ``since``, oldest first: id, action, actor, parameters,
        state_before, state_after, completed_at (what :func:`actions.pending.recent_changes` reads)."""
        marks = ", ".join("?" for _ in actions)
        sql = ("SELECT id, action, actor, parameters, state_before, state_after, completed_at FROM audit "  # noqa: S608
               f"WHERE result = 'succeeded' AND dry_run = 0 AND action IN ({marks}) AND account_id = ? AND region = ? "
               "AND json_extract(parameters, '$.endpoint') = ? AND completed_at >= ? ORDER BY id")
        cutoff = since.astimezone(UTC).isoformat(timespec="milliseconds")
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute(sql, [*actions, account_id, region, endpoint, cutoff])]

    @contextmanager
    def exclusive(self, name: str, wait_s: float) -> Iterator[None]:
        """Held by one process at a time among all that use this audit log (``name``: what is guarded, e.g. an
        account's guardrail), waited for up to ``wait_s``; raises :class:`LockBusy` after that. Here a ``flock``
        on a file beside the audit file: every process on this machine; the PostgreSQL log's is an advisory lock that
        every replica on every machine sees."""
        with open(self.path.with_name(f"{self.path.name}.{name}.lock"), "a+b") as f:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockBusy(f"{name} is held by another process") from None
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(f.fileno(), fcntl.LOCK_UN)


class AuditTable:
    """A table of its own in the audit database (the restore schedule, the refresh queue): ``SCHEMA`` (its DDL and
    the triggers that guard it) is applied when it is opened; connections as the audit log's, rows by name."""

    SCHEMA = ""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit
        with self._connect() as con:
            con.executescript(self.SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.audit.path, timeout=self.audit.timeout, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.row_factory = sqlite3.Row
            yield con
        finally:
            con.close()


def audit_dsn(settings: Settings) -> str | None:
    """The libpq DSN of the PostgreSQL audit log the settings name, or None for the local SQLite file:
    ``[actions] audit_dsn`` = ``"postgres:<DSN>"``, ``"local"`` (the SQLite file even on the shared backend), or ``""``
    (the default): the DuckLake catalog's PostgreSQL when ``[store] catalog`` is ``postgres:...``, else local."""
    chosen = settings.actions.audit_dsn.strip()
    if chosen == "local":
        return None
    if chosen.startswith("postgres:"):
        return chosen[len("postgres:"):].strip()
    if settings.store_backend == "ducklake" and settings.catalog.startswith("postgres:"):
        return settings.catalog[len("postgres:"):].strip()
    return None


def local_audit_path(settings: Settings) -> Path:
    """The local SQLite audit file (``[actions] audit_path``, default ``<store>/audit.sqlite``): the whole log on the
    embedded default; on the shared backend, the audit database's tables that have not moved and the lock files."""
    return Path(settings.actions.audit_path or str(Path(settings.store) / "audit.sqlite"))


def open_audit(settings: Settings, timeout: float = 30.0) -> AuditLog:
    """The audit log the settings name: PostgreSQL on the shared backend (:class:`actions.audit_pg.PostgresAuditLog`,
    one trail for every replica), the SQLite file otherwise."""
    dsn = audit_dsn(settings)
    if dsn is None:
        return AuditLog(local_audit_path(settings), timeout)
    from actions.audit_pg import PostgresAuditLog

    return PostgresAuditLog(dsn, local_audit_path(settings), timeout)
