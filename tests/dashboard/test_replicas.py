"""Dashboard replicas on one DuckLake catalog: each sees a commit on its next query (its cache keyed by the snapshot
id), and a replica whose catalog goes away keeps serving what it has read, says so, and recovers by itself.

The catalog is a PostgreSQL cluster of this module's own (stopped and started here: the session's ``postgres``
fixture serves other tests), the data local Parquet (the catalog is what these tests take away).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dashboard import data
from sextant.lake import LakeReader
from sextant.schema import table
from sextant.settings import Settings
from sextant.store import StoreWriter, open_writer
from tests.lake_fixtures import PG_BIN, PG_PORT, PostgresCluster, _as_postgres, start_postgres, stop_postgres

pytestmark = pytest.mark.slow  # a PostgreSQL cluster and DuckLake catalogs: in make test, not make test-fast

ROOT = Path(__file__).resolve().parents[2]
THING = table("aws_thing", "A test table.", [("name", "VARCHAR", "Name."), ("n", "INTEGER", "A count.")], ["name"])
ALL = "SELECT name, n FROM aws_thing ORDER BY name"
COUNT = "SELECT count(*) AS rows FROM aws_thing"


def pg_ctl(cluster: PostgresCluster, action: str) -> None:
    """Stop (at once, as a crash would) or start the cluster again on the same data directory and socket."""
    args = [str(PG_BIN / "pg_ctl"), "-D", str(cluster.root / "data"), "-w", "-t", "60", "-l", str(cluster.root / "log")]
    if action == "stop":
        args += ["-m", "immediate", "stop"]
    else:
        args += ["-o", f"-p {PG_PORT} -k {cluster.root} -c listen_addresses='' -c fsync=off -c max_connections=200",
                 "start"]
    subprocess.run(_as_postgres(args), check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    c = start_postgres()
    try:
        yield c
    finally:
        stop_postgres(c)


@pytest.fixture
def lake(cluster: PostgresCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A DuckLake store on a new database of the cluster, named to the dashboard through the environment."""
    settings = Settings(store=tmp_path / "store", store_backend="ducklake",
                        catalog=f"postgres:{cluster.dsn(cluster.create_database('replica'))}",
                        data_path=str(tmp_path / "data"))
    for name in ("SEXTANT_CONFIG",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEXTANT_STORE", str(settings.store))
    monkeypatch.setenv("SEXTANT_STORE_BACKEND", "ducklake")
    monkeypatch.setenv("SEXTANT_CATALOG", settings.catalog)
    monkeypatch.setenv("SEXTANT_DATA_PATH", settings.data_path)
    monkeypatch.setattr(LakeReader, "RETRY_CATALOG_S", 0.5)  # the product tries every 5 s
    return settings


def put(writer: StoreWriter, *names: str) -> None:
    with writer.transaction():
        writer.upsert(THING, [{"account_id": "1", "region": "r", "name": name, "n": i} for i, name in enumerate(names)])


def wait_until(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


def test_a_replica_keeps_serving_what_it_read_while_postgres_is_down_and_recovers(lake, cluster):
    writer = open_writer(lake)
    writer.migrate([THING])
    put(writer, "a")
    assert list(data.query(ALL).name) == ["a"]
    assert list(data.query(COUNT).rows) == [1]  # read under this snapshot only
    put(writer, "a", "b")  # a new snapshot: ALL is read again under it, COUNT is not
    assert list(data.query(ALL).name) == ["a", "b"]
    kept = data.snapshot()
    assert kept is not None and data.outage() is None
    before = datetime.now(UTC)

    pg_ctl(cluster, "stop")
    try:
        started = time.monotonic()
        assert list(data.query(ALL).name) == ["a", "b"]  # the last snapshot's result, from the cache
        assert list(data.query(COUNT).rows) == [1]  # the newest result this dashboard has of that query
        with pytest.raises(data.CatalogUnreachable, match="not available while the store's catalog is unreachable"):
            data.query("SELECT max(n) FROM aws_thing")  # never read: a clear refusal, not a DuckDB error
        outage = data.outage()
        assert outage is not None and outage.snapshot == kept == data.snapshot()
        assert before - timedelta(seconds=1) <= outage.since <= datetime.now(UTC)
        assert outage.snapshot_seen_at is not None and outage.snapshot_seen_at <= outage.since
        assert outage.catalog == f"postgres {cluster.root}:{PG_PORT}/{lake.catalog.split('dbname=')[1].split()[0]}"
        assert "user" not in outage.catalog and "Unable to connect" in outage.reason
        for _ in range(50):  # each served without a round trip to the catalog: no wait, whatever the retries do
            data.query(ALL)
        assert time.monotonic() - started < 5
    finally:
        pg_ctl(cluster, "start")

    wait_until(lambda: data.snapshot() and data.outage() is None, 20, "the reader recovers once PostgreSQL is back")
    put(writer, "a", "b", "c")  # the writer's connection reconnects too
    assert list(data.query(ALL).name) == ["a", "b", "c"]
    assert int(data.snapshot() or 0) > int(kept)
    writer.close()


def _local_lake(store: Path, monkeypatch) -> None:
    """A DuckLake store on a local SQLite catalog at ``store`` holding one row "a", which the dashboard has read."""
    for name in ("SEXTANT_CONFIG", "SEXTANT_CATALOG", "SEXTANT_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEXTANT_STORE", str(store))
    monkeypatch.setenv("SEXTANT_STORE_BACKEND", "ducklake")
    monkeypatch.setattr(LakeReader, "RETRY_CATALOG_S", 0.5)
    writer = open_writer(Settings(store=store, store_backend="ducklake"))
    writer.migrate([THING])
    put(writer, "a")
    writer.close()
    assert list(data.query(ALL).name) == ["a"]


def test_a_local_sqlite_catalog_that_goes_away_is_an_outage_too(tmp_path, monkeypatch):
    store = tmp_path / "store"
    _local_lake(store, monkeypatch)
    (store / "lake").rename(tmp_path / "elsewhere")  # the catalog file (and the data) gone from where it was
    try:
        assert list(data.query(ALL).name) == ["a"]
        outage = data.outage()
        assert outage is not None and outage.catalog == f"sqlite:{store / 'lake' / 'catalog.sqlite'}"
    finally:
        (tmp_path / "elsewhere").rename(store / "lake")
    wait_until(lambda: data.snapshot() and data.outage() is None, 20, "the reader recovers once the file is back")


LOCK = """
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA locking_mode=EXCLUSIVE")
con.execute("BEGIN EXCLUSIVE")
con.execute("SELECT count(*) FROM ducklake_snapshot").fetchall()
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_local_sqlite_catalog_locked_by_another_process_is_an_outage_until_released(tmp_path, monkeypatch):
    store = tmp_path / "store"
    _local_lake(store, monkeypatch)
    holder = subprocess.Popen([sys.executable, "-c", LOCK, str(store / "lake" / "catalog.sqlite")], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        assert list(data.query(ALL).name) == ["a"]  # SQLite's busy wait (5 s), once; then served from the cache
        assert data.outage() is not None
        assert list(data.query(ALL).name) == ["a"]
        assert time.monotonic() - started < 9
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(30)
    wait_until(lambda: data.snapshot() and data.outage() is None, 20, "the reader recovers once the lock is released")


def test_a_query_that_fails_on_its_own_is_not_an_outage(lake):
    writer = open_writer(lake)
    writer.migrate([THING])
    put(writer, "a")
    with pytest.raises(Exception, match="no_such_column"):
        data.query("SELECT no_such_column FROM aws_thing")
    assert data.outage() is None
    writer.close()


REPLICA = """
import json, sys
from dashboard import data
for line in sys.stdin:
    if line.strip() == "read":
        rows = data.query("SELECT count(*) AS rows FROM aws_thing")
        print(json.dumps({"snapshot": data.snapshot(), "rows": int(rows.rows[0]), "keys": len(data._KEPT)}), flush=True)
"""


def test_two_replica_processes_see_each_commit_on_their_next_query(lake):
    writer = open_writer(lake)
    writer.migrate([THING])
    put(writer, "a")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    replicas = [subprocess.Popen([sys.executable, "-c", REPLICA], cwd=ROOT, env=env, text=True, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for _ in range(2)]

    def read_all() -> list[dict]:
        for r in replicas:
            assert r.stdin is not None
            r.stdin.write("read\n")
            r.stdin.flush()
        return [json.loads(r.stdout.readline()) for r in replicas if r.stdout is not None]

    try:
        first = read_all()
        assert [r["rows"] for r in first] == [1, 1]
        assert {r["snapshot"] for r in first} == {writer.publish()}  # the cache key: DuckLake's snapshot id
        assert [r["rows"] for r in read_all()] == [1, 1]  # no commit: the same snapshot, answered from the cache
        put(writer, "a", "b")
        second = read_all()
        assert [r["rows"] for r in second] == [2, 2]  # the commit, on each replica's next query
        assert {r["snapshot"] for r in second} == {writer.publish()} and second[0]["snapshot"] != first[0]["snapshot"]
    finally:
        for r in replicas:
            if r.stdin is not None:
                r.stdin.close()
            r.wait(30)
        writer.close()


def test_the_query_cache_is_keyed_by_the_snapshot_id(lake, monkeypatch):
    writer = open_writer(lake)
    writer.migrate([THING])
    put(writer, "a")
    runs: list[str] = []
    real = data.frame
    monkeypatch.setattr(data, "frame", lambda cur: runs.append("run") or real(cur))
    sql = "SELECT count(*) AS rows FROM aws_thing WHERE n >= ?"
    assert list(data.query(sql, [0]).rows) == [1]
    assert list(data.query(sql, [0]).rows) == [1]
    assert len(runs) == 1  # the second answer came from the cache
    put(writer, "a", "b")
    assert list(data.query(sql, [0]).rows) == [2]
    assert len(runs) == 2  # a commit is a new snapshot id, so a new key
    writer.close()
