"""dashboard.sandbox's plumbing on a small DuckDB file: a child process answers, its result is cut at the byte cap,
it is killed at the timeout, its private directory goes whatever happened, one query per owner at a time, the child
sees no credentials, and the SQL box's audience setting. The heavy queries are in tests/reliability/test_sql_box.py."""

from __future__ import annotations

import threading
import time

import duckdb
import pytest

from dashboard import sandbox

pytestmark = pytest.mark.slow  # each query runs in a child process: in make test, not make test-fast

SLOW = "SELECT levenshtein(repeat('a', 20000 + i), repeat('b', 20000)) AS d FROM range(1000) t(i)"


@pytest.fixture
def snapshot(tmp_path):
    path = tmp_path / "snap.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT i, 'row ' || i AS s FROM range(100) r(i)")
    con.close()
    return path


@pytest.fixture
def root(tmp_path):
    path = tmp_path / "sql-temp"
    path.mkdir()
    return path


def test_a_query_answers_from_the_snapshot_in_a_child(snapshot, root):
    r = sandbox.run(snapshot, "SELECT i, s FROM t WHERE i < 3 ORDER BY i", temp_root=root)
    assert r.table.to_pydict() == {"i": [0, 1, 2], "s": ["row 0", "row 1", "row 2"]}
    assert not r.cut and r.stats["rows"] == 3
    assert list(root.iterdir()) == []  # the private directory is gone


def test_the_snapshot_is_read_only_and_files_are_off(snapshot, root):
    with pytest.raises(sandbox.SandboxError, match="disabled"):
        sandbox.run(snapshot, "SELECT * FROM read_csv('/etc/passwd')", temp_root=root)
    with pytest.raises(sandbox.SandboxError):
        sandbox.run(snapshot, "SELECT * FROM t; DROP TABLE t", temp_root=root)
    assert duckdb.connect(str(snapshot), read_only=True).execute("SELECT count(*) FROM t").fetchone() == (100,)
    assert list(root.iterdir()) == []


def test_the_result_is_cut_at_the_byte_cap(snapshot, root):
    limits = sandbox.Limits(result_bytes=1 * sandbox.MiB, batch_rows=256)
    r = sandbox.run(snapshot, "SELECT repeat('x', 1000) AS s FROM range(10000)", limits, temp_root=root)
    assert r.cut and 0 < r.table.num_rows < 10000
    assert r.table.nbytes <= 1 * sandbox.MiB


def test_a_query_is_killed_at_the_timeout_and_its_directory_removed(snapshot, root):
    started = time.monotonic()
    with pytest.raises(sandbox.SandboxError, match="longer than 1 s"):
        sandbox.run(snapshot, SLOW, sandbox.Limits(timeout_s=1), temp_root=root)
    assert time.monotonic() - started < 3
    assert list(root.iterdir()) == [] and sandbox.running() == 0


def test_a_query_over_its_address_space_is_stopped_with_a_message(snapshot, root):
    limits = sandbox.Limits(address_space_bytes=900 * sandbox.MiB, duckdb_memory_bytes=2048 * sandbox.MiB)
    with pytest.raises(sandbox.SandboxError, match="more memory"):
        sandbox.run(snapshot, "SELECT list(repeat('x', 1000)) FROM range(2000000)", limits, temp_root=root)


def test_one_query_per_owner_at_a_time(snapshot, root):
    errors: list[Exception] = []

    def slow() -> None:
        try:
            sandbox.run(snapshot, SLOW, sandbox.Limits(timeout_s=2), owner="session-a", temp_root=root)
        except sandbox.SandboxError as exc:
            errors.append(exc)

    t = threading.Thread(target=slow)
    t.start()
    deadline = time.monotonic() + 2
    while sandbox.running() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(sandbox.Busy, match="previous query is still running"):
        sandbox.run(snapshot, "SELECT 1", owner="session-a", temp_root=root)
    assert sandbox.run(snapshot, "SELECT 1 AS one", owner="session-b", temp_root=root).table.num_rows == 1
    t.join()
    assert errors and "longer than" in str(errors[0])
    assert sandbox.run(snapshot, "SELECT 1 AS one", owner="session-a", temp_root=root).table.num_rows == 1


def test_the_box_refuses_beyond_its_concurrency(snapshot, root, monkeypatch):
    monkeypatch.setattr(sandbox, "MAX_CONCURRENT", 1)
    t = threading.Thread(target=lambda: pytest.raises(sandbox.SandboxError, sandbox.run, snapshot, SLOW,
                                                      sandbox.Limits(timeout_s=1), owner="a", temp_root=root))
    t.start()
    deadline = time.monotonic() + 2
    while sandbox.running() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(sandbox.Busy, match="running 1 queries already"):
        sandbox.run(snapshot, "SELECT 1", owner="b", temp_root=root)
    t.join()


def test_directories_left_by_a_killed_dashboard_are_swept(snapshot, root):
    import os

    stale, fresh = root / "sextant-sql-stale", root / "sextant-sql-fresh"
    for d in (stale, fresh):
        (d / "spill").mkdir(parents=True)
        (d / "spill" / "block").write_bytes(b"x" * 4096)
    os.utime(stale, (time.time() - sandbox.STALE_S - 60,) * 2)
    sandbox.run(snapshot, "SELECT 1", temp_root=root)
    assert sorted(p.name for p in root.iterdir()) == ["sextant-sql-fresh"]


def test_the_child_gets_no_credentials(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted")
    monkeypatch.setenv("SEXTANT_PROXY_SECRET", "planted")
    env = sandbox._child_env(tmp_path)
    assert "planted" not in env.values() and env["TMPDIR"] == str(tmp_path)


@pytest.mark.parametrize(("audience", "name", "role", "allowed"), [
    ("everyone", "anonymous", "viewer", True),
    ("signed-in", "anonymous", "viewer", False),
    ("signed-in", "ana@corp.example", "viewer", True),
    ("operators", "ana@corp.example", "viewer", False),
    ("operators", "ana@corp.example", "operator", True),
    ("operators", "boss@corp.example", "admin", True),
])
def test_the_audience_setting(audience, name, role, allowed):
    why = sandbox.refusal(audience, name, role)
    assert (why is None) == allowed
    if not allowed:
        assert "only" in why
