"""The audit log: append-only but for one transition (a requested row gets its outcome, once, and nothing else
changes); an audit file from before the intent rows is migrated in place."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from actions.audit import ORPHAN_AFTER, AuditLog, AuditRow

MAIN = "123456789012"


def _row(result: str = "requested", token: str = "t" * 32, **kw) -> AuditRow:
    return AuditRow("jane@example.com", "operator", "scale_endpoint", "ep/AllTraffic", MAIN, "us-east-1",
                    {"desired_count": 2}, {"instance_count": 1}, None, result, False, token=token, **kw)


def test_a_requested_row_gets_its_outcome_once(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    rid = log.append(_row(aws_role="arn:aws:iam::123456789012:role/op", aws_session="jane@example.com"))
    assert log.done("t" * 32)["result"] == "requested", "an intent uses the token"
    log.complete(rid, "succeeded", "req-1", None, {"instance_count": 2})
    row = log.get(rid)
    assert (row["result"], row["aws_request_id"], row["state_after"]) == ("succeeded", "req-1",
                                                                          '{"instance_count": 2}')
    assert row["completed_at"] and row["aws_session"] == "jane@example.com"
    with pytest.raises(RuntimeError, match="not a requested row"):
        log.complete(rid, "failed")
    with pytest.raises(ValueError):
        log.complete(log.append(_row()), "refused")


@pytest.mark.parametrize("sql", [
    "UPDATE audit SET result = 'succeeded', completed_at = 'x', actor = 'someone else'",
    "UPDATE audit SET result = 'succeeded', completed_at = 'x', parameters = '{}'",
    "UPDATE audit SET result = 'succeeded', completed_at = 'x', aws_session = 'someone-else'",
    "UPDATE audit SET result = 'succeeded', completed_at = 'x', at = '2020-01-01'",
    "UPDATE audit SET result = 'dry_run', completed_at = 'x'",
    "UPDATE audit SET result = 'succeeded'",  # without a completion time
    "DELETE FROM audit",
])
def test_nothing_else_can_change_a_row(tmp_path, sql):
    log = AuditLog(tmp_path / "audit.sqlite")
    log.append(_row())
    con = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute(sql)
    assert log.get(1)["result"] == "requested"


def test_a_completed_or_final_row_cannot_be_completed_again_by_sql(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    done = log.append(_row("succeeded"))
    con = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET result = 'failed', completed_at = 'x' WHERE id = ?", [done])


OLD_SCHEMA = """
CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
    action TEXT NOT NULL, target TEXT NOT NULL, account_id TEXT, region TEXT, parameters TEXT NOT NULL,
    state_before TEXT, state_after TEXT, result TEXT NOT NULL, dry_run INTEGER NOT NULL, aws_request_id TEXT,
    error TEXT, token TEXT);
CREATE INDEX audit_token ON audit(token);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
INSERT INTO audit (at, actor, role, action, target, parameters, result, dry_run, token)
VALUES ('2026-11-30T10:00:00', 'old@example.com', 'admin', 'scale_endpoint', 'ep', '{}', 'dry_run', 1, 'tok');
"""


def test_an_audit_file_from_before_intent_rows_is_migrated_in_place(tmp_path):
    path = tmp_path / "audit.sqlite"
    con = sqlite3.connect(path)
    con.executescript(OLD_SCHEMA)
    con.close()
    log = AuditLog(path)
    assert log.count() == 1 and log.get(1)["actor"] == "old@example.com" and log.get(1)["aws_role"] is None
    assert log.done("tok") is None, "a dry run used no token"
    rid = log.append(_row())
    log.complete(rid, "failed", None, "AWS refused: ThrottlingException")
    assert log.get(rid)["result"] == "failed"
    cols = [r[1] for r in sqlite3.connect(path).execute("PRAGMA table_info(audit)")]
    assert cols[11] == "result" and cols[-3:] == ["aws_role", "aws_session", "completed_at"]
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        sqlite3.connect(path).execute("UPDATE audit SET actor = 'x'")
    AuditLog(path)  # opening again changes nothing
    assert log.count() == 2


def test_an_intent_left_without_an_outcome_is_settled_as_unknown_after_a_while(tmp_path):
    log = AuditLog(tmp_path / "audit.sqlite")
    now = datetime.now(UTC)
    orphan = log.append(_row())  # its process was killed after calling AWS
    young = log.append(_row(token="v" * 32))  # its process may still be waiting for AWS
    done = log.append(_row(token="u" * 32))
    log.complete(done, "succeeded")
    with sqlite3.connect(tmp_path / "audit.sqlite") as con:  # the orphan was written 16 minutes ago
        con.execute("DROP TRIGGER audit_only_completes")
        con.execute("UPDATE audit SET at = ? WHERE id = ?",
                    [(now - ORPHAN_AFTER - timedelta(minutes=1)).isoformat(timespec="milliseconds"), orphan])
    AuditLog(tmp_path / "audit.sqlite")  # reopening puts the guard back
    assert log.settle_orphans(now=now) == [orphan]
    row = log.get(orphan)
    assert row["result"] == "unknown" and "no outcome was recorded" in row["error"] and row["completed_at"]
    assert log.get(young)["result"] == "requested" and log.get(done)["result"] == "succeeded"
    assert log.settle_orphans(now=now) == []  # settled once
    assert log.done("t" * 32)["result"] == "unknown"  # the token still counts as used: a retry is a duplicate
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        with sqlite3.connect(tmp_path / "audit.sqlite") as con:
            con.execute("UPDATE audit SET at = '2020-01-01' WHERE id = ?", [young])


def test_an_exclusive_lock_is_held_by_one_process_at_a_time(tmp_path):
    a, b = AuditLog(tmp_path / "audit.sqlite"), AuditLog(tmp_path / "audit.sqlite")  # two processes' logs
    with a.exclusive("123456789012.training_jobs", wait_s=5):
        with pytest.raises(TimeoutError, match="held by another"):
            with b.exclusive("123456789012.training_jobs", wait_s=0.2):
                pass
        with b.exclusive("123456789012.instances", wait_s=0.2):
            pass
    with b.exclusive("123456789012.training_jobs", wait_s=0.2):
        pass
    assert (tmp_path / "audit.sqlite.123456789012.training_jobs.lock").exists()
