"""The append-only audit log of actions: one row per attempt, in SQLite beside the store.

SQLite, not the DuckDB store, because the store is written only by the collector process while
actions are taken by dashboard processes; SQLite serialises writers across processes with its own
locking. Append-only is enforced by the database itself: triggers abort any UPDATE or DELETE, and
the product has no code path that tries. (On a shared deployment this table moves to PostgreSQL
with INSERT-only grants: docs/ARCHITECTURE.md.)
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

SCHEMA = """
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
    token TEXT
);
CREATE INDEX IF NOT EXISTS audit_token ON audit(token);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""
INSERT = ("INSERT INTO audit (at, actor, role, action, target, account_id, region, parameters, state_before, "
          "state_after, result, dry_run, aws_request_id, error, token) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


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
    result: str  # succeeded | failed | refused | invalid | dry_run | duplicate
    dry_run: bool
    aws_request_id: str | None = None
    error: str | None = None
    token: str | None = None


class AuditLog:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as con:
            con.executescript(SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            yield con
        finally:
            con.close()

    def append(self, row: AuditRow) -> int:
        values = [datetime.now(UTC).isoformat(timespec="milliseconds"), row.actor, row.role, row.action, row.target,
                  row.account_id, row.region, json.dumps(row.parameters, default=str, sort_keys=True),
                  json.dumps(row.state_before, default=str) if row.state_before is not None else None,
                  json.dumps(row.state_after, default=str) if row.state_after is not None else None,
                  row.result, int(row.dry_run), row.aws_request_id, row.error, row.token]
        with self._lock, self._connect() as con:
            row_id = con.execute(INSERT, values).lastrowid
        if row_id is None:
            raise RuntimeError("the audit row was not written")
        return row_id

    def done(self, token: str) -> dict[str, Any] | None:
        """The completed attempt (succeeded or dry run) that used this idempotency token, if any."""
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            row = con.execute("SELECT * FROM audit WHERE token = ? AND result IN ('succeeded', 'dry_run') "
                              "ORDER BY id LIMIT 1", [token]).fetchone()
            return dict(row) if row else None

    def frame(self, limit: int = 5000) -> pd.DataFrame:
        with self._connect() as con:
            return pd.read_sql_query("SELECT * FROM audit ORDER BY id DESC LIMIT ?", con, params=[limit])

    def count(self) -> int:
        with self._connect() as con:
            (n,) = con.execute("SELECT count(*) FROM audit").fetchone()
            return int(n)
