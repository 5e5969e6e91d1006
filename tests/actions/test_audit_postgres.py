"""The audit log on the shared backend (actions/audit_pg.py), on a private PostgreSQL: the SQLite log's behaviour with
no UPDATE at all (an outcome is a row of its own), one trail for every replica, UPDATE / DELETE / TRUNCATE refused by
triggers, a dashboard role that may only INSERT and SELECT, and no DSN or password in any error text."""

from __future__ import annotations

import threading
import traceback
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from actions.audit import ORPHAN_AFTER, AuditLog, AuditRow, audit_dsn, open_audit
from actions.audit_pg import COLUMNS, AuditDatabaseError, PostgresAuditLog, schema_sql
from sextant.settings import ActionSettings, Settings, SettingsError, load
from tests.lake_fixtures import PostgresCluster, postgres  # noqa: F401 - fixture

pytestmark = pytest.mark.emulated  # a PostgreSQL server (as the shared store's tests): not in make test-fast

MAIN = "123456789012"
DASHBOARD = "sextant_dashboard"


def _row(result: str = "requested", token: str | None = "t" * 32, **kw) -> AuditRow:
    return AuditRow("jane@example.com", "operator", "scale_endpoint", "ep/AllTraffic", MAIN, "us-east-1",
                    {"desired_count": 2}, {"instance_count": 1}, None, result, result == "dry_run", token=token, **kw)


@pytest.fixture
def dsn(postgres: PostgresCluster) -> str:  # noqa: F811 - the fixture
    return postgres.dsn(postgres.create_database("audit"))


@pytest.fixture
def log(dsn, tmp_path) -> PostgresAuditLog:
    return PostgresAuditLog(dsn, tmp_path / "audit.sqlite")


@pytest.fixture
def dashboard_dsn(postgres: PostgresCluster, dsn, tmp_path) -> str:  # noqa: F811 - the fixture
    """The schema made by its owner with INSERT and SELECT granted to the dashboard's role; that role's DSN."""
    postgres.sql("postgres", f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DASHBOARD}') "
                             f"THEN CREATE ROLE {DASHBOARD} LOGIN; END IF; END $$")
    PostgresAuditLog(dsn, tmp_path / "owner.sqlite", grant_to=[DASHBOARD])
    return dsn.replace("user=postgres", f"user={DASHBOARD}")


def _sql(dsn: str, statement: str, params: list | None = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(statement, params)


def test_a_requested_row_gets_its_outcome_once(log):
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
    with pytest.raises(RuntimeError, match="not a requested row"):
        log.complete(log.append(_row("dry_run", token=None)), "succeeded")  # a final row has no outcome to add
    with pytest.raises(RuntimeError, match="not a requested row"):
        log.complete(10_000, "succeeded")  # no such row
    assert log.get(rid)["result"] == "succeeded" and log.get(10_000) is None


def test_done_names_the_attempt_that_used_a_token(log):
    assert log.done("t" * 32) is None
    log.append(_row("dry_run", token="t" * 32))  # a dry run acted on nothing
    failed = log.append(_row())
    log.complete(failed, "failed", None, "AWS refused")  # nor did a failure
    assert log.done("t" * 32) is None
    acted = log.append(_row())
    assert log.done("t" * 32)["id"] == acted
    log.complete(acted, "unknown", None, "no answer")
    assert log.done("t" * 32)["result"] == "unknown"


def test_rows_read_as_the_sqlite_log_returns_them(log, tmp_path):
    local = AuditLog(tmp_path / "local.sqlite")
    for audit in (log, local):
        audit.append(_row("dry_run", token=None))
        audit.complete(audit.append(_row(token="u" * 32)), "succeeded", "req-2", None, {"instance_count": 3})
        audit.append(_row("refused", error="viewers cannot act", token="v" * 32))
    assert log.count() == local.count() == 3
    changing = {"at", "completed_at"}
    for rid in (1, 2, 3):
        pg, lite = log.get(rid), local.get(rid)
        assert list(pg) == list(lite) == list(COLUMNS)
        assert {k: v for k, v in pg.items() if k not in changing} == {k: v for k, v in lite.items()
                                                                      if k not in changing}
        assert (pg["completed_at"] is None) == (lite["completed_at"] is None)
        assert datetime.fromisoformat(pg["at"]).tzinfo is not None and pg["at"].endswith("+00:00")
    pg_frame, lite_frame = log.frame(), local.frame()
    assert list(pg_frame.columns) == list(lite_frame.columns)
    assert list(pg_frame.id) == [3, 2, 1] and list(pg_frame.result) == list(lite_frame.result)
    assert list(pg_frame.dry_run) == list(lite_frame.dry_run) == [0, 0, 1]
    assert len(log.frame(limit=2)) == 2


@pytest.mark.parametrize("statement", [
    "UPDATE sextant_audit.audit SET actor = 'someone else'",
    "UPDATE sextant_audit.audit SET result = 'succeeded'",
    "DELETE FROM sextant_audit.audit",
    "TRUNCATE sextant_audit.audit CASCADE",
    "UPDATE sextant_audit.audit_result SET result = 'failed'",
    "DELETE FROM sextant_audit.audit_result",
    "TRUNCATE sextant_audit.audit_result",
])
def test_the_triggers_refuse_update_delete_and_truncate_even_to_the_owner(log, dsn, statement):
    log.complete(log.append(_row()), "succeeded")
    with pytest.raises(psycopg.Error, match="append-only") as refused:
        _sql(dsn, statement)  # as postgres, the superuser
    assert refused.value.diag.sqlstate == "42501"
    assert log.get(1)["result"] == "succeeded" and log.get(1)["actor"] == "jane@example.com" and log.count() == 1


def test_an_outcome_by_sql_needs_a_requested_row_without_one(log, dsn):
    done = log.append(_row("succeeded"))
    intent = log.append(_row())
    log.complete(intent, "failed")
    for rid in (done, intent):
        with pytest.raises(psycopg.Error, match="append-only|duplicate key"):
            _sql(dsn, "INSERT INTO sextant_audit.audit_result (audit_id, result) VALUES (%s, 'succeeded')", [rid])
    assert (log.get(done)["result"], log.get(intent)["result"]) == ("succeeded", "failed")


def test_an_intent_left_without_an_outcome_is_settled_as_unknown_after_a_while(log, dsn):
    now = datetime.now(UTC)
    old = now - ORPHAN_AFTER - timedelta(minutes=1)
    # The orphan was written 16 minutes ago by a process killed after calling AWS (inserted as it was then: the
    # trail has no way to change a row's time).
    _sql(dsn, "INSERT INTO sextant_audit.audit (at, actor, role, action, target, parameters, result, dry_run, token) "
              "VALUES (%s, 'jane@example.com', 'operator', 'scale_endpoint', 'ep', '{}', 'requested', false, %s)",
         [old, "t" * 32])
    orphan = 1
    young = log.append(_row(token="v" * 32))  # its process may still be waiting for AWS
    done = log.append(_row(token="u" * 32))
    log.complete(done, "succeeded")
    assert log.settle_orphans(now=now) == [orphan]
    row = log.get(orphan)
    assert row["result"] == "unknown" and "no outcome was recorded" in row["error"] and row["completed_at"]
    assert log.get(young)["result"] == "requested" and log.get(done)["result"] == "succeeded"
    assert log.settle_orphans(now=now) == []  # settled once
    assert log.done("t" * 32)["result"] == "unknown"  # the token still counts as used: a retry is a duplicate
    assert log.settle_orphans(now=now + ORPHAN_AFTER + timedelta(minutes=1)) == [young]


def test_two_replicas_write_one_trail(dsn, tmp_path):
    a = PostgresAuditLog(dsn, tmp_path / "a" / "audit.sqlite")
    b = PostgresAuditLog(dsn, tmp_path / "b" / "audit.sqlite")
    intent = a.append(_row())
    assert b.done("t" * 32)["id"] == intent, "the other replica sees the intent"
    b.complete(intent, "succeeded", "req-9")  # e.g. a request served by another replica
    with pytest.raises(RuntimeError, match="not a requested row"):
        a.complete(intent, "failed")
    assert a.get(intent)["result"] == "succeeded" and a.get(intent)["aws_request_id"] == "req-9"

    ids: list[int] = []
    errors: list[BaseException] = []

    def write(audit: PostgresAuditLog, n: int) -> None:
        try:
            for i in range(n):
                rid = audit.append(_row(token=f"{id(audit)}-{i}"))
                ids.append(rid)
                if i % 2:
                    audit.complete(rid, "succeeded")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(audit, 20)) for audit in (a, b, a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(ids)) == 80 and a.count() == b.count() == 81
    assert list(a.frame().id) == list(b.frame().id) == sorted([intent, *ids], reverse=True)

    # Both replicas settle at once: every orphan gets one outcome, from one of them.
    settled: list[list[int]] = []
    later = datetime.now(UTC) + ORPHAN_AFTER + timedelta(minutes=1)
    racers = [threading.Thread(target=lambda audit=audit: settled.append(audit.settle_orphans(now=later)))
              for audit in (a, b)]
    for t in racers:
        t.start()
    for t in racers:
        t.join()
    together = sorted(settled[0] + settled[1])
    assert len(together) == 40 and len(set(together)) == 40
    assert set(a.frame().result) == {"succeeded", "unknown"}


def test_the_dashboard_role_may_insert_and_select_only(dashboard_dsn, tmp_path):
    log = PostgresAuditLog(dashboard_dsn, tmp_path / "audit.sqlite")
    rid = log.append(_row())
    log.complete(rid, "succeeded", "req-1")
    orphan = log.append(_row(token="o" * 32))
    assert log.settle_orphans(now=datetime.now(UTC) + ORPHAN_AFTER + timedelta(minutes=1)) == [orphan]
    assert log.get(rid)["result"] == "succeeded" and log.done("t" * 32)["id"] == rid and len(log.frame()) == 2
    for statement in ("UPDATE sextant_audit.audit SET actor = 'x'", "DELETE FROM sextant_audit.audit",
                      "TRUNCATE sextant_audit.audit CASCADE", "UPDATE sextant_audit.audit_result SET error = 'x'",
                      "DELETE FROM sextant_audit.audit_result", "TRUNCATE sextant_audit.audit_result",
                      "DROP TRIGGER audit_append_only ON sextant_audit.audit",
                      "ALTER TABLE sextant_audit.audit DISABLE TRIGGER ALL",
                      "DROP TABLE sextant_audit.audit_result"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _sql(dashboard_dsn, statement)
    assert log.count() == 2 and log.get(rid)["actor"] == "jane@example.com"


def test_the_grants_are_insert_and_select(dashboard_dsn, dsn):
    with psycopg.connect(dsn) as con:
        grants = con.execute("SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                             "WHERE grantee = %s AND table_schema = 'sextant_audit' ORDER BY 1, 2",
                             [DASHBOARD]).fetchall()
    assert grants == [("audit", "INSERT"), ("audit", "SELECT"), ("audit_result", "INSERT"),
                      ("audit_result", "SELECT"), ("audit_trail", "SELECT")]
    assert 'GRANT SELECT, INSERT ON sextant_audit.audit, sextant_audit.audit_result TO "a ""b"""' in schema_sql(
        ['a "b"'])


def test_a_role_that_cannot_create_the_schema_is_told_what_to_run(postgres, dsn, tmp_path):  # noqa: F811
    postgres.sql("postgres", "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sextant_viewer') "
                             "THEN CREATE ROLE sextant_viewer LOGIN; END IF; END $$")
    # PostgreSQL 15 gives PUBLIC no CREATE on the database (nor on schema public): this role cannot make the schema.
    role_dsn = dsn.replace("user=postgres", "user=sextant_viewer")
    with pytest.raises(AuditDatabaseError, match="python -m actions.audit_pg setup") as refused:
        PostgresAuditLog(role_dsn, tmp_path / "audit.sqlite")
    assert role_dsn not in str(refused.value) and str(postgres.socket_dir) not in str(refused.value)


@pytest.mark.parametrize("extra", ["password=hunter2-never-shown", "password='hunter2 never shown'"])
def test_no_dsn_or_password_in_any_error_text(postgres, tmp_path, extra):  # noqa: F811
    bad = f"host={postgres.socket_dir} port=5432 dbname=no_such_db user=postgres {extra}"
    with pytest.raises(AuditDatabaseError) as failed:
        PostgresAuditLog(bad, tmp_path / "audit.sqlite", timeout=2)
    shown = "".join(traceback.format_exception(failed.value))
    assert "no_such_db" in shown, "the reason is kept"
    assert "hunter2" not in shown and bad not in shown and failed.value.__cause__ is None
    assert failed.value.__context__ is None


def test_a_lost_server_fails_the_call_clearly_and_the_next_call_works(log, postgres, dsn):  # noqa: F811
    dbname = dsn.split("dbname=")[1].split()[0]
    log.append(_row())
    postgres.sql("postgres", f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS false")
    try:
        with pytest.raises(AuditDatabaseError, match="PostgreSQL audit log") as failed:
            log.append(_row())
        assert dsn not in str(failed.value)
    finally:
        postgres.sql("postgres", f"ALTER DATABASE {dbname} ALLOW_CONNECTIONS true")
    log.append(_row())
    assert log.count() == 2, "the refused call wrote nothing; the next one did"


def test_the_settings_choose_the_backend(dsn, tmp_path, monkeypatch):
    base = Settings(store=tmp_path / "store")
    assert audit_dsn(base) is None and type(open_audit(base)) is AuditLog
    shared = replace(base, store_backend="ducklake", catalog=f"postgres:{dsn}")
    assert audit_dsn(shared) == dsn
    opened = open_audit(shared)
    assert isinstance(opened, PostgresAuditLog) and opened.path == tmp_path / "store" / "audit.sqlite"
    assert audit_dsn(replace(shared, actions=ActionSettings(audit_dsn="local"))) is None
    other = replace(base, actions=ActionSettings(audit_dsn=f"postgres:{dsn} application_name=x"))
    assert audit_dsn(other) == f"{dsn} application_name=x"
    assert audit_dsn(replace(base, store_backend="ducklake")) is None, "a local catalog keeps a local audit log"
    assert dsn not in repr(opened)

    config = tmp_path / "sextant.toml"
    config.write_text('[actions]\naudit_dsn = "postgres:host=db dbname=s user=u password=hunter2"\n')
    with pytest.raises(SettingsError, match="password") as refused:
        load(config)
    assert "hunter2" not in str(refused.value)
    config.write_text('[actions]\naudit_dsn = "mysql:whatever"\n')
    with pytest.raises(SettingsError, match="postgres:"):
        load(config)
    config.write_text('[actions]\naudit_dsn = "postgres:host=db dbname=s user=sextant_dashboard"\n')
    assert audit_dsn(load(config)) == "host=db dbname=s user=sextant_dashboard"


def _change(log: AuditLog, endpoint: str, result: str = "succeeded", action: str = "scale_endpoint",
            region: str = "us-east-1", dry: bool = False) -> int:
    rid = log.append(AuditRow("jane@example.com", "operator", action, f"{endpoint}/AllTraffic", MAIN, region,
                              {"endpoint": endpoint, "variant": "AllTraffic", "desired_count": 2},
                              {"instance_count": 1}, None, "dry_run" if dry else "requested", dry))
    if not dry:
        log.complete(rid, result, "req", None, {"instance_count": 2})
    return rid


def test_succeeded_changes_read_as_on_sqlite(log, tmp_path):
    """What the pending-changes notice reads (actions.pending.recent_changes): the same rows from both logs."""
    local = AuditLog(tmp_path / "local.sqlite")
    since = datetime.now(UTC) - timedelta(minutes=1)
    for audit in (log, local):
        _change(audit, "ep")
        _change(audit, "ep", result="failed")
        _change(audit, "ep", dry=True)
        _change(audit, "other")
        _change(audit, "ep", region="eu-west-1")
        _change(audit, "ep", action="stop_training_job")
        _change(audit, "ep", action="restore_scalable_target")
    actions = ("scale_endpoint", "restore_scalable_target")
    pg = log.succeeded_changes(actions, MAIN, "us-east-1", "ep", since)
    lite = local.succeeded_changes(actions, MAIN, "us-east-1", "ep", since)
    assert [r["id"] for r in pg] == [r["id"] for r in lite] == [1, 7]
    assert [{k: v for k, v in r.items() if k != "completed_at"} for r in pg] == [
        {k: v for k, v in r.items() if k != "completed_at"} for r in lite]
    assert all(datetime.fromisoformat(r["completed_at"]) >= since for r in pg)
    assert log.succeeded_changes(actions, MAIN, "us-east-1", "ep", datetime.now(UTC) + timedelta(minutes=1)) == []


def test_an_exclusive_lock_is_held_by_one_replica_at_a_time(dsn, tmp_path):
    a = PostgresAuditLog(dsn, tmp_path / "a" / "audit.sqlite")
    b = PostgresAuditLog(dsn, tmp_path / "b" / "audit.sqlite")  # another machine: no file in common
    with a.exclusive("123456789012.training_jobs", wait_s=5):
        with pytest.raises(TimeoutError, match="held by another"):
            with b.exclusive("123456789012.training_jobs", wait_s=0.3):
                pass
        with b.exclusive("123456789012.instances", wait_s=0.3):  # another guardrail is free
            pass
    with b.exclusive("123456789012.training_jobs", wait_s=0.3):  # released
        pass

    order: list[str] = []
    held = threading.Event()

    def first() -> None:
        with a.exclusive("k", wait_s=5):
            held.set()
            order.append("a in")
            threading.Event().wait(0.3)
            order.append("a out")

    t = threading.Thread(target=first)
    t.start()
    held.wait(5)
    with b.exclusive("k", wait_s=5):  # waits for a
        order.append("b in")
    t.join()
    assert order == ["a in", "a out", "b in"]


def test_an_action_is_audited_on_postgresql_as_on_sqlite(dsn, tmp_path):
    """The action path itself (actions.run_action) against an emulated account, with the PostgreSQL log: the intent
    is in the trail when the AWS write leaves, its outcome is appended after, and the same confirmation token cannot
    act twice."""
    import actions as a
    from sextant.aws import Clients
    from sextant.settings import AccountSettings
    from tests.conftest import make_endpoint, start_account, stop_account

    with pytest.MonkeyPatch.context() as mp:
        (tmp_path / "account").mkdir()
        acc = start_account(tmp_path / "account")
        try:
            for k, v in acc.env.items():
                mp.setenv(k, v)
            name = "audited-on-postgres"
            make_endpoint(acc, name, MAIN)
            env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), Settings())
            audit = PostgresAuditLog(dsn, tmp_path / "audit.sqlite")
            seen: list[list[str]] = []
            env.clients.client("sagemaker", "us-east-1").meta.events.register(
                "before-call.sagemaker.UpdateEndpointWeightsAndCapacities",
                lambda **_: seen.append(list(audit.frame().result)))
            token = a.new_token()
            operator = a.Actor("oncall@example.com", "operator")
            out = a.run_action(a.ScaleEndpoint(MAIN, name, "AllTraffic", 2), operator, env, audit, token)
            assert out.status == "succeeded", out.message
            assert seen == [["requested"]], "at the moment of the write, its intent was in the trail"
            row = audit.get(out.audit_id)
            assert (row["result"], row["aws_request_id"], row["actor"]) == ("succeeded", out.request_id,
                                                                             "oncall@example.com")
            assert row["completed_at"] >= row["at"]
            again = a.run_action(a.ScaleEndpoint(MAIN, name, "AllTraffic", 2), operator, env, audit, token)
            assert again.status == "duplicate" and len(seen) == 1, "the token acted once"
            viewer = a.run_action(a.ScaleEndpoint(MAIN, name, "AllTraffic", 3), a.Actor("v@example.com", "viewer"),
                                  env, audit, a.new_token())
            assert viewer.status == "refused" and audit.get(viewer.audit_id)["result"] == "refused"
            assert list(audit.frame().result) == ["refused", "duplicate", "succeeded"]
        finally:
            stop_account(acc)


def test_the_setup_command_creates_the_schema_and_grants(postgres, dsn, tmp_path, capsys):  # noqa: F811
    from actions import audit_pg

    assert audit_pg.main(["sql", "--grant", DASHBOARD]) == 0
    printed = capsys.readouterr().out
    assert "CREATE TABLE IF NOT EXISTS sextant_audit.audit_result" in printed
    assert f'GRANT SELECT, INSERT ON sextant_audit.audit, sextant_audit.audit_result TO "{DASHBOARD}";' in printed
    postgres.sql("postgres", f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{DASHBOARD}') "
                             f"THEN CREATE ROLE {DASHBOARD} LOGIN; END IF; END $$")
    config = tmp_path / "team.toml"
    config.write_text(f'[store]\nlocation = "{tmp_path / "store"}"\nbackend = "ducklake"\n'
                      f'catalog = "postgres:{dsn}"\n')
    assert audit_pg.main(["setup", "--grant", DASHBOARD, "--config", str(config)]) == 0
    assert "INSERT and SELECT granted to sextant_dashboard" in capsys.readouterr().out
    log = PostgresAuditLog(dsn.replace("user=postgres", f"user={DASHBOARD}"), tmp_path / "audit.sqlite")
    assert log.append(_row()) == 1
    config.write_text(f'[store]\nlocation = "{tmp_path / "store"}"\n')
    assert audit_pg.main(["setup", "--config", str(config)]) == 2, "no PostgreSQL named: nothing to set up"


def test_the_dsn_keeps_its_own_options_and_gets_a_lock_timeout(dsn, tmp_path):
    log = PostgresAuditLog(f"{dsn} options='-c statement_timeout=12345'", tmp_path / "audit.sqlite", timeout=7)
    with log._pg() as con:
        assert con.execute("SHOW statement_timeout").fetchone()[0] == "12345ms"
        assert con.execute("SHOW lock_timeout").fetchone()[0] == "7s"


def test_a_malformed_dsn_is_refused_without_repeating_it(tmp_path):
    bad = "host=/nowhere password=hunter2-never-shown dbname"
    with pytest.raises(AuditDatabaseError, match="not a libpq connection string") as refused:
        PostgresAuditLog(bad, tmp_path / "audit.sqlite")
    assert "hunter2" not in "".join(traceback.format_exception(refused.value)) and refused.value.__suppress_context__
