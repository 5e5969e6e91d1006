"""The store's contract, on every backend: the DuckDB file (the default), DuckLake on a local catalog, and DuckLake
with its catalog in PostgreSQL and its data on S3 (the ``store`` fixture, tests/lake_fixtures.py)."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import collectors
from sextant.schema import SCHEMA_VERSION, table
from sextant.store import StoreVersionError, UniqueKeys
from tests.lake_fixtures import StoreCase

THING = table("aws_thing", "A test table.", [("name", "VARCHAR", "Name."), ("n", "INTEGER", "A count.")], ["name"])
EVENT = table("aws_event", "A test table without an index, appended in time order.", [
    ("name", "VARCHAR", "Name."), ("ts", "TIMESTAMPTZ", "When."), ("n", "INTEGER", "A value.")],
    ["name", "ts"], indexed=False, time_column="ts")


def _writer(store: StoreCase, *tables):
    w = store.writer()
    w.migrate(list(tables) or [THING])
    return w


def _thing(name: str, n: int) -> dict:
    return {"account_id": "1", "region": "r", "name": name, "n": n}


def test_upsert_replaces_on_primary_key(store):
    w = _writer(store)
    with w.transaction():
        w.upsert(THING, [_thing("a", 1), _thing("b", 2)])
        w.upsert(THING, [_thing("a", 5)])
    assert w.con.execute("SELECT name, n FROM aws_thing ORDER BY name").fetchall() == [("a", 5), ("b", 2)]
    with w.transaction():  # and in a later transaction, over committed rows
        w.upsert(THING, [_thing("b", 7), _thing("b", 8), _thing("c", 1)])  # the batch's last row of a key wins
    assert w.con.execute("SELECT name, n FROM aws_thing ORDER BY name").fetchall() == [("a", 5), ("b", 8), ("c", 1)]
    w.close()


def _events(hours: range, n: int) -> pd.DataFrame:
    t0 = pd.Timestamp("2026-11-24", tz="UTC")
    return pd.DataFrame([{"account_id": "1", "region": "r", "name": name, "ts": t0 + pd.Timedelta(hours=h), "n": n}
                         for name in ("a", "b") for h in hours])


def _stored_events(w) -> list[tuple]:
    return w.con.execute("SELECT name, epoch(ts), n FROM aws_event ORDER BY ALL").fetchall()


def _last_wins(*batches: pd.DataFrame) -> list[tuple]:
    rows = {(r.name, r.ts.timestamp()): r.n for df in batches for r in df.itertuples()}
    return sorted((name, ts, n) for (name, ts), n in rows.items())


@pytest.mark.parametrize("wrap", [lambda df: df, UniqueKeys], ids=["dataframe", "unique_keys"])
def test_unindexed_upsert_replaces_the_overlap_of_time_ranges(store, wrap):
    w = _writer(store, EVENT)
    first, second = _events(range(0, 6), 1), _events(range(3, 9), 2)  # hours 3-5 overlap, with new values
    with w.transaction():
        w.upsert(EVENT, wrap(first))
        w.upsert(EVENT, wrap(second))
    assert _stored_events(w) == _last_wins(first, second)
    third = _events(range(8, 10), 3)  # a later commit re-reads the newest hour
    with w.transaction():
        w.upsert(EVENT, wrap(third))
    assert _stored_events(w) == _last_wins(first, second, third)
    w.close()


def test_unindexed_upsert_of_a_batch_with_duplicate_keys_keeps_the_last(store):
    w = _writer(store, EVENT)
    first, again = _events(range(0, 6), 1), _events(range(4, 8), 2)
    again = pd.concat([again, _events(range(4, 8), 3), _events(range(5, 6), 4)], ignore_index=True)
    with w.transaction():
        w.upsert(EVENT, first)
        w.upsert(EVENT, again)
    assert _stored_events(w) == _last_wins(first, again)
    w.close()


def test_a_failed_transaction_leaves_neither_rows_nor_watermark_nor_run(store):
    w = _writer(store)
    with w.transaction():
        w.upsert(THING, [_thing("kept", 1)])
        w.set_watermarks("1", "r", "thing", {"cursor": "before"})
    with pytest.raises(RuntimeError), w.transaction():
        w.upsert(THING, [_thing("a", 1), _thing("kept", 9)])
        w.set_watermarks("1", "r", "thing", {"cursor": "x"})
        w.record_run(account_id="1", region="r", run_id="r1", source="thing", status="succeeded")
        raise RuntimeError("crash mid-batch")
    assert w.con.execute("SELECT name, n FROM aws_thing").fetchall() == [("kept", 1)]
    assert w.watermarks("1", "r", "thing") == {"cursor": "before"}
    assert w.con.execute("SELECT count(*) FROM sextant_collection_run").fetchone() == (0,)
    w.close()
    if store.lake:  # and nothing of it reached another process's view either
        r = store.reader()
        assert r.thread_cursor().execute("SELECT name, n FROM aws_thing").fetchall() == [("kept", 1)]
        r.close()


def test_watermarks_and_runs_replace_by_key(store):
    w = _writer(store)
    with w.transaction():
        w.set_watermarks("1", "r", "thing", {"a": "1", "b": "2"})
        w.record_run(account_id="1", region="r", run_id="r1", source="thing", status="failed", error="boom")
    with w.transaction():
        w.set_watermarks("1", "r", "thing", {"a": "3"})
        w.record_run(account_id="1", region="r", run_id="r1", source="thing", status="succeeded", rows=4,
                     api_calls_by_operation={"sagemaker:ListEndpoints": 2})
    assert w.watermarks("1", "r", "thing") == {"a": "3", "b": "2"}
    assert w.watermark("1", "r", "thing", "a") == "3"
    assert w.con.execute("SELECT status, rows, error, api_calls_by_operation::VARCHAR FROM sextant_collection_run"
                         ).fetchall() == [("succeeded", 4, None, '{"sagemaker:ListEndpoints": 2}')]
    w.close()


def test_a_reader_sees_a_commit_on_its_next_query_under_a_new_snapshot_name(store):
    w = _writer(store)
    reader = store.reader()
    assert reader.current() is None or reader.thread_cursor().execute(
        "SELECT count(*) FROM aws_thing").fetchone() == (0,)
    with w.transaction():
        w.upsert(THING, [_thing("a", 1)])
    w.publish()
    first = reader.current()
    cur = reader.thread_cursor()  # kept by the dashboard's thread between queries
    assert first is not None and cur.execute("SELECT count(*) FROM aws_thing").fetchone() == (1,)
    with w.transaction():
        w.upsert(THING, [_thing("b", 1)])
    w.publish()
    second = reader.current()
    assert second is not None and second != first
    assert reader.thread_cursor().execute("SELECT count(*) FROM aws_thing").fetchone() == (2,)
    assert cur.execute("SELECT count(*) FROM aws_thing").fetchone() == (2,) or not store.lake
    reader.close()
    w.close()


def test_a_reader_cannot_write(store):
    w = _writer(store)
    with w.transaction():
        w.upsert(THING, [_thing("a", 1)])
    w.publish()
    reader = store.reader()
    for cur in (reader.thread_cursor(), reader.cursor(), reader.connection()):
        with pytest.raises(duckdb.Error):
            cur.execute("DELETE FROM aws_thing")
        with pytest.raises(duckdb.Error):
            cur.execute("INSERT INTO aws_thing (account_id, region, name, n) VALUES ('1', 'r', 'z', 1)")
    assert reader.thread_cursor().execute("SELECT name FROM aws_thing").fetchall() == [("a",)]
    reader.close()
    w.close()


@pytest.mark.parametrize(("version", "says"), [(SCHEMA_VERSION + 1, "newer Sextant"),
                                               (SCHEMA_VERSION - 1, "run `sextant collect`")])
def test_a_store_at_another_schema_version_is_refused_with_what_to_do(store, version, says):
    w = _writer(store)
    with w.transaction():
        w.con.execute("UPDATE sextant_schema SET version = ?", [version])
    w.publish()
    reader = store.reader()
    with pytest.raises(StoreVersionError, match=f"schema version {version}") as refused:
        reader.connection()
    assert says in str(refused.value)
    with pytest.raises(StoreVersionError):  # and again on the next query: never read at the wrong version
        reader.thread_cursor()
    if version < SCHEMA_VERSION:  # a collector of this version migrates an older store
        w.migrate([THING])
        w.publish()
        assert reader.connection() is not None
    reader.close()
    w.close()


def test_every_column_of_every_table_is_described_and_documented(store):
    w = store.writer()
    collectors.migrate(w)
    undocumented = w.con.execute(
        "SELECT c.table_name, c.column_name FROM duckdb_columns() c LEFT JOIN sextant_column_doc d "
        "ON d.table_name = c.table_name AND d.column_name = c.column_name "
        "WHERE c.table_name LIKE 'aws_%' AND coalesce(d.description, '') = ''").fetchall()
    assert undocumented == []
    assert {t.name for t in collectors.all_tables()} <= {r[0] for r in w.con.execute(
        "SELECT table_name FROM sextant_table_doc").fetchall()}
    w.close()


def test_migrate_adds_a_new_column_to_a_stored_table_and_keeps_its_rows(store):
    w = _writer(store)
    with w.transaction():
        w.upsert(THING, [_thing("a", 1)])
    wider = table("aws_thing", "A test table.", [("name", "VARCHAR", "Name."), ("n", "INTEGER", "A count."),
                                                 ("note", "VARCHAR", "A note.")], ["name"])
    w.migrate([wider])
    with w.transaction():
        w.upsert(wider, [{**_thing("b", 2), "note": "new"}])
    assert w.con.execute("SELECT name, n, note FROM aws_thing ORDER BY name").fetchall() == [
        ("a", 1, None), ("b", 2, "new")]
    w.close()
