"""The audit log on the shared backend: PostgreSQL tables that every dashboard replica appends to, one trail.

Chosen by :func:`actions.audit.open_audit` when the settings name a PostgreSQL database for it (``[actions] audit_dsn``,
by default the DuckLake catalog's when ``[store] catalog`` is ``postgres:...``). Same interface as the SQLite
:class:`actions.audit.AuditLog` (it is one, so every caller typed for it takes this too); the public methods return
what they return there: rows as dicts in the same columns, times as ISO strings in UTC, ``dry_run`` as 0/1.

**Append-only, with no UPDATE at all.** The SQLite log records an outcome by updating its ``requested`` row once,
under a trigger. Here nothing is ever updated: an intent's outcome is a row of its own in ``audit_result``, keyed by
the audit row's id (its primary key: one outcome per intent, whoever writes it first; a second completion, by this
replica or another, is refused by the key), and reads join the two in the view ``audit_trail``. A trigger on each
table refuses UPDATE, DELETE and TRUNCATE with a message that says the log is append-only (the owner included, unless
the owner drops the trigger, which the database logs as DDL); another refuses an outcome for a row that is not a
``requested`` intent. A dashboard's role needs only ``INSERT`` and ``SELECT`` (:func:`schema_sql` with ``grant_to``
prints the statements; ``python -m actions.audit_pg sql --grant ROLE``).

**Driver.** psycopg 3 (``psycopg[binary]``), not DuckDB's postgres extension: parameters are bound by the server,
errors keep PostgreSQL's SQLSTATE (a unique key or a trigger's refusal is told apart from a lost connection), a role
is simply the DSN's ``user``, and a dashboard loads no DuckDB extension to write one row (docs/ARCHITECTURE.md
measured three extensions at 0.6-1.3 s per process).
A connection per call (a few ms on a Unix socket): a replica that loses the server fails that call with a clear
message and recovers on the next, and no connection is shared between Streamlit's threads.

**Secrets.** The DSN carries no password (settings refuse one: libpq's ``PGPASSWORD`` or ``~/.pgpass`` give it);
still, every error text is raised without its cause, with the DSN replaced and any ``password=`` scrubbed.

The other tables of the audit database (restore schedule, refresh queue, silences, acknowledgements) are not here
yet: they stay in the local SQLite file ``path`` names, as do the lock files beside it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from actions.audit import ORPHAN_AFTER, OUTCOMES, AuditLog, AuditRow, LockBusy, _json, _now
from sextant.redact import redact

SCHEMA = "sextant_audit"
# The trail's columns, in the SQLite table's order (what get, done and frame return).
COLUMNS = ("id", "at", "actor", "role", "action", "target", "account_id", "region", "parameters", "state_before",
           "state_after", "result", "dry_run", "aws_request_id", "error", "token", "aws_role", "aws_session",
           "completed_at")
_TIMES = ("at", "completed_at")
# The trigger's refusal of an outcome for a row that is not a requested intent, and the key's refusal of a second one.
_NOT_AN_INTENT = "23514"
_SECOND_OUTCOME = "23505"
_NO_SUCH_ROW = "23503"

DDL = """
CREATE SCHEMA IF NOT EXISTS sextant_audit;
CREATE TABLE IF NOT EXISTS sextant_audit.audit (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor text NOT NULL,
    role text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    account_id text,
    region text,
    parameters text NOT NULL,
    state_before text,
    state_after text,
    result text NOT NULL,
    dry_run boolean NOT NULL,
    aws_request_id text,
    error text,
    token text,
    aws_role text,
    aws_session text
);
CREATE INDEX IF NOT EXISTS audit_token ON sextant_audit.audit (token);
CREATE INDEX IF NOT EXISTS audit_requested ON sextant_audit.audit (at) WHERE result = 'requested';
CREATE TABLE IF NOT EXISTS sextant_audit.audit_result (
    audit_id bigint PRIMARY KEY REFERENCES sextant_audit.audit (id),
    result text NOT NULL CHECK (result IN ('succeeded', 'failed', 'unknown')),
    state_after text,
    aws_request_id text,
    error text,
    completed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE OR REPLACE VIEW sextant_audit.audit_trail AS
SELECT a.id, a.at, a.actor, a.role, a.action, a.target, a.account_id, a.region, a.parameters, a.state_before,
       CASE WHEN r.audit_id IS NULL THEN a.state_after ELSE r.state_after END AS state_after,
       coalesce(r.result, a.result) AS result,
       a.dry_run,
       CASE WHEN r.audit_id IS NULL THEN a.aws_request_id ELSE r.aws_request_id END AS aws_request_id,
       CASE WHEN r.audit_id IS NULL THEN a.error ELSE r.error END AS error,
       a.token, a.aws_role, a.aws_session, r.completed_at
FROM sextant_audit.audit a LEFT JOIN sextant_audit.audit_result r ON r.audit_id = a.id;
CREATE OR REPLACE FUNCTION sextant_audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on %.% is refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'an outcome is a new row of sextant_audit.audit_result; nothing is ever updated or deleted';
END $$;
CREATE OR REPLACE FUNCTION sextant_audit.only_an_intent_completes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sextant_audit.audit WHERE id = NEW.audit_id AND result = 'requested') THEN
        RAISE EXCEPTION 'the audit log is append-only: only a requested row''s outcome can be recorded, once '
                        '(row %)', NEW.audit_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS audit_append_only ON sextant_audit.audit;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON sextant_audit.audit
    FOR EACH ROW EXECUTE FUNCTION sextant_audit.refuse_change();
DROP TRIGGER IF EXISTS audit_no_truncate ON sextant_audit.audit;
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON sextant_audit.audit
    FOR EACH STATEMENT EXECUTE FUNCTION sextant_audit.refuse_change();
DROP TRIGGER IF EXISTS audit_result_append_only ON sextant_audit.audit_result;
CREATE TRIGGER audit_result_append_only BEFORE UPDATE OR DELETE ON sextant_audit.audit_result
    FOR EACH ROW EXECUTE FUNCTION sextant_audit.refuse_change();
DROP TRIGGER IF EXISTS audit_result_no_truncate ON sextant_audit.audit_result;
CREATE TRIGGER audit_result_no_truncate BEFORE TRUNCATE ON sextant_audit.audit_result
    FOR EACH STATEMENT EXECUTE FUNCTION sextant_audit.refuse_change();
DROP TRIGGER IF EXISTS audit_result_of_an_intent ON sextant_audit.audit_result;
CREATE TRIGGER audit_result_of_an_intent BEFORE INSERT ON sextant_audit.audit_result
    FOR EACH ROW EXECUTE FUNCTION sextant_audit.only_an_intent_completes();
REVOKE ALL ON ALL TABLES IN SCHEMA sextant_audit FROM PUBLIC;
"""
# What a dashboard's role is given: the schema, and INSERT + SELECT on the two tables (SELECT on the view). No
# UPDATE, DELETE, TRUNCATE, REFERENCES or TRIGGER; the identity column needs no sequence grant.
GRANT = ("GRANT USAGE ON SCHEMA sextant_audit TO {role};\n"
         "GRANT SELECT, INSERT ON sextant_audit.audit, sextant_audit.audit_result TO {role};\n"
         "GRANT SELECT ON sextant_audit.audit_trail TO {role};\n")

INSERT = ("INSERT INTO sextant_audit.audit (at, actor, role, action, target, account_id, region, parameters, "
          "state_before, state_after, result, dry_run, aws_request_id, error, token, aws_role, aws_session) "
          "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id")
COMPLETE = ("INSERT INTO sextant_audit.audit_result (audit_id, result, state_after, aws_request_id, error, "
            "completed_at) VALUES (%s, %s, %s, %s, %s, %s)")
SETTLE = ("INSERT INTO sextant_audit.audit_result (audit_id, result, error, completed_at) "
          "SELECT a.id, 'unknown', %s, %s FROM sextant_audit.audit a "
          "WHERE a.result = 'requested' AND a.at < %s "
          "AND NOT EXISTS (SELECT 1 FROM sextant_audit.audit_result r WHERE r.audit_id = a.id) "
          "ORDER BY a.id ON CONFLICT (audit_id) DO NOTHING RETURNING audit_id")
SELECT = f"SELECT {', '.join(COLUMNS)} FROM {SCHEMA}.audit_trail"  # noqa: S608 - constant names


class AuditDatabaseError(RuntimeError):
    """The PostgreSQL audit log refused or failed; the text has no DSN and no password. ``sqlstate``: PostgreSQL's."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


_URL_PASSWORD = re.compile(r"(://[^/@\s:]*:)[^/@\s]*@")


def scrub(text: object, dsn: str) -> str:
    """``text`` without the DSN (replaced by a name for it) and without anything that looks like a password."""
    s = str(text)
    if dsn:
        s = s.replace(dsn, "[the audit DSN]")
    return redact(_URL_PASSWORD.sub(r"\1[redacted]@", s))


def schema_sql(grant_to: Sequence[str] = ()) -> str:
    """The DDL the owner runs once (tables, view, triggers), then a GRANT per dashboard role, role names quoted."""
    grants = "".join(GRANT.format(role=_quoted(role)) for role in grant_to)
    return DDL + grants


def _quoted(role: str) -> str:
    if not role or "\x00" in role:
        raise ValueError("a role name is needed")
    return '"' + role.replace('"', '""') + '"'


class PostgresAuditLog(AuditLog):
    """The audit log in PostgreSQL (``dsn``: a libpq connection string without a password). ``path``: the local SQLite
    file that keeps the audit database's other tables and the lock files beside it. Opening creates the schema when
    it is missing and the role may (the database's owner); a dashboard's INSERT + SELECT role only checks it is
    there, and is told what to run otherwise."""

    def __init__(self, dsn: str, path: Path, timeout: float = 30.0, *, grant_to: Sequence[str] = ()) -> None:
        self.dsn = dsn
        self.path = Path(path)
        self.timeout = timeout
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # the DSN's own options (if any), then a lock timeout: no call waits on a lock longer than ``timeout``
            given = str(conninfo_to_dict(dsn).get("options") or "")
        except psycopg.Error as exc:
            raise AuditDatabaseError(f"{self.where}: the DSN is not a libpq connection string "
                                     f"({scrub(exc, dsn)})") from None
        self._options = f"{given} -c lock_timeout={int(timeout * 1000)}".strip()
        self._ensure_schema(grant_to)

    def __repr__(self) -> str:
        return f"PostgresAuditLog(schema={SCHEMA}, local={self.path})"

    @property
    def where(self) -> str:
        return f"the PostgreSQL audit log (schema {SCHEMA})"

    @contextmanager
    def _pg(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection for one call, in one transaction (committed when the block ends); psycopg's errors leave as
        :class:`AuditDatabaseError` with a scrubbed text and no chained cause."""
        failure: AuditDatabaseError | None = None
        try:
            with psycopg.connect(self.dsn, connect_timeout=max(1, int(self.timeout)), application_name="sextant-audit",
                                 options=self._options) as con:
                yield con
        except psycopg.Error as exc:
            diag = getattr(exc, "diag", None)
            failure = AuditDatabaseError(f"{self.where}: {scrub(exc, self.dsn)}",
                                         getattr(diag, "sqlstate", None) if diag is not None else None)
        if failure is not None:
            raise failure

    def _ensure_schema(self, grant_to: Sequence[str]) -> None:
        with self._pg() as con:
            present = con.execute("SELECT to_regclass(%s) IS NOT NULL AND to_regclass(%s) IS NOT NULL",
                                  [f"{SCHEMA}.audit_trail", f"{SCHEMA}.audit_result"]).fetchone()
        if present and present[0] and not grant_to:
            return
        try:
            with self._pg() as con:
                # Replicas started together: one creates the schema, the others wait and find it made.
                con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [SCHEMA])
                con.execute(schema_sql(grant_to))  # constant text; role names quoted by schema_sql
        except AuditDatabaseError as exc:
            if present and present[0]:
                raise
            raise AuditDatabaseError(
                f"{self.where} is not set up and this role cannot create it ({exc}): the database's owner runs "
                "`python -m actions.audit_pg setup --grant <dashboard role>` once (or gives the SQL of "
                "`python -m actions.audit_pg sql --grant <role>` to the DBA)", exc.sqlstate) from None

    def append(self, row: AuditRow) -> int:
        values = [_now(), row.actor, row.role, row.action, row.target, row.account_id, row.region,
                  _params(row.parameters), _json(row.state_before), _json(row.state_after), row.result,
                  bool(row.dry_run), row.aws_request_id, row.error, row.token, row.aws_role, row.aws_session]
        with self._pg() as con:
            got = con.execute(INSERT, values).fetchone()
        if got is None:
            raise RuntimeError("the audit row was not written")
        return int(got[0])

    def complete(self, row_id: int, result: str, aws_request_id: str | None = None, error: str | None = None,
                 state_after: dict[str, Any] | None = None) -> None:
        """Append the outcome of the intent ``row_id`` (a ``requested`` row), once; raises if it cannot."""
        if result not in OUTCOMES:
            raise ValueError(f"an intent completes as one of {OUTCOMES}, not {result!r}")
        try:
            with self._pg() as con:
                con.execute(COMPLETE, [row_id, result, _json(state_after), aws_request_id, error, _now()])
        except AuditDatabaseError as exc:
            if exc.sqlstate in (_NOT_AN_INTENT, _SECOND_OUTCOME, _NO_SUCH_ROW):
                raise RuntimeError(f"audit row #{row_id} is not a requested row") from None
            raise

    def settle_orphans(self, older_than: timedelta = ORPHAN_AFTER, now: datetime | None = None) -> list[int]:
        """Append an ``unknown`` outcome to every ``requested`` row older than ``older_than`` that has none (see
        :meth:`AuditLog.settle_orphans`). Replicas settling at once settle each row once (the key); returns the ids
        this call settled."""
        cutoff = (now or datetime.now(UTC)) - older_than
        error = (f"no outcome was recorded within {int(older_than.total_seconds() // 60)} minutes: the process "
                 "acting ended after calling AWS or before it; check the resource's state")
        with self._pg() as con:
            ids = [int(r[0]) for r in con.execute(SETTLE, [error, _now(), cutoff]).fetchall()]
        return sorted(ids)

    def _rows(self, where: str, params: Sequence[Any]) -> list[dict[str, Any]]:
        with self._pg() as con, con.cursor(row_factory=dict_row) as cur:
            return [_plain(r) for r in cur.execute(f"{SELECT} {where}", params).fetchall()]

    def done(self, token: str) -> dict[str, Any] | None:
        rows = self._rows("WHERE token = %s AND result IN ('requested', 'succeeded', 'unknown') ORDER BY id LIMIT 1",
                          [token])
        return rows[0] if rows else None

    def get(self, row_id: int) -> dict[str, Any] | None:
        rows = self._rows("WHERE id = %s", [row_id])
        return rows[0] if rows else None

    def frame(self, limit: int = 5000) -> pd.DataFrame:
        return pd.DataFrame(self._rows("ORDER BY id DESC LIMIT %s", [limit]), columns=list(COLUMNS))

    def count(self) -> int:
        with self._pg() as con:
            got = con.execute(f"SELECT count(*) FROM {SCHEMA}.audit").fetchone()  # noqa: S608 - constant name
        return int(got[0]) if got else 0

    def succeeded_changes(self, actions: Sequence[str], account_id: str, region: str, endpoint: str,
                          since: datetime) -> list[dict[str, Any]]:
        rows = self._rows("WHERE result = 'succeeded' AND NOT dry_run AND action = ANY(%s) AND account_id = %s "
                          "AND region = %s AND parameters::jsonb ->> 'endpoint' = %s AND completed_at >= %s "
                          "ORDER BY id", [list(actions), account_id, region, endpoint, since])
        keep = ("id", "action", "actor", "parameters", "state_before", "state_after", "completed_at")
        return [{k: r[k] for k in keep} for r in rows]

    @contextmanager
    def exclusive(self, name: str, wait_s: float) -> Iterator[None]:
        """A PostgreSQL session advisory lock on ``name`` (in the audit schema's key space), held on a connection of
        its own for the block: one holder among every replica on every machine; released when the block ends, or by
        the server when the holder's connection dies. Waited for up to ``wait_s``, then :class:`LockBusy`."""
        key = [SCHEMA, name]
        with self._pg() as con:
            con.autocommit = True
            deadline = time.monotonic() + wait_s
            while not _first(con.execute("SELECT pg_try_advisory_lock(hashtext(%s), hashtext(%s))", key)):
                if time.monotonic() > deadline:
                    raise LockBusy(f"{name} is held by another process")
                time.sleep(0.05)
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(hashtext(%s), hashtext(%s))", key)


def _first(cur: psycopg.Cursor[Any]) -> Any:
    got = cur.fetchone()
    return got[0] if got else None


def _params(parameters: dict[str, Any]) -> str:
    return json.dumps(parameters, default=str, sort_keys=True)


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A trail row as the SQLite log returns it: ISO times in UTC (milliseconds), ``dry_run`` 0/1."""
    out = dict(row)
    for key in _TIMES:
        if isinstance(out.get(key), datetime):
            out[key] = out[key].astimezone(UTC).isoformat(timespec="milliseconds")
    out["dry_run"] = int(bool(out["dry_run"]))
    out["id"] = int(out["id"])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m actions.audit_pg sql --grant ROLE`` prints the DDL and grants for a DBA; ``setup --grant ROLE`` runs
    them as the settings' audit DSN's role (the schema's owner)."""
    from actions.audit import audit_dsn
    from sextant.settings import load

    parser = argparse.ArgumentParser(prog="python -m actions.audit_pg", description=main.__doc__)
    parser.add_argument("command", choices=("sql", "setup"))
    parser.add_argument("--grant", action="append", default=[], metavar="ROLE",
                        help="a dashboard role to give INSERT and SELECT (repeat for several)")
    parser.add_argument("--config", help="the settings file (default sextant.toml or $SEXTANT_CONFIG)")
    args = parser.parse_args(argv)
    if args.command == "sql":
        print(schema_sql(args.grant), end="")
        return 0
    settings = load(args.config)
    dsn = audit_dsn(settings)
    if dsn is None:
        print("the settings keep the audit log in a local SQLite file: set [actions] audit_dsn, or a postgres: "
              "[store] catalog", file=sys.stderr)
        return 2
    try:
        PostgresAuditLog(dsn, Path(settings.store) / "audit.sqlite", grant_to=args.grant)
    except (AuditDatabaseError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"the audit schema {SCHEMA} is ready" + (f"; INSERT and SELECT granted to {', '.join(args.grant)}"
                                                   if args.grant else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
