"""The dashboard's data door on a DuckLake store: the backend comes from the settings, and a commit is a new cache key,
so the next query shows it (no TTL, nothing stale)."""

from __future__ import annotations

import pytest

from dashboard import data
from sextant.lake import LakeReader
from sextant.schema import table
from sextant.settings import load
from sextant.store import open_writer

pytestmark = pytest.mark.slow  # a DuckLake catalog and a dashboard per test: in make test, not make test-fast

THING = table("aws_thing", "A test table.", [("name", "VARCHAR", "Name."), ("n", "INTEGER", "A count.")], ["name"])


@pytest.fixture
def lake_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no sextant.toml here: the environment names the store
    for name in ("SEXTANT_CONFIG", "SEXTANT_CATALOG", "SEXTANT_DATA_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SEXTANT_STORE_BACKEND", "ducklake")
    return tmp_path / "store"


def test_the_dashboard_reads_a_lake_and_sees_each_commit_on_its_next_query(lake_env):
    assert data.query("SELECT 1") is not None and data.snapshot() is None  # nothing collected yet: empty pages
    assert isinstance(data.reader(), LakeReader)
    w = open_writer(load())
    w.migrate([THING])
    with w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 1}])
    sql = "SELECT name, n FROM aws_thing ORDER BY name"
    first = data.snapshot()
    assert data.query(sql).to_dict("records") == [{"name": "a", "n": 1}]
    with w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 2},
                         {"account_id": "1", "region": "r", "name": "b", "n": 3}])
    assert data.snapshot() != first
    assert data.query(sql).to_dict("records") == [{"name": "a", "n": 2}, {"name": "b", "n": 3}]
    assert data.per_snapshot("names", lambda cur: cur.execute(sql).fetchall()) == [("a", 2), ("b", 3)]
    w.close()
