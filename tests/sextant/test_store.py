"""The store: schema, upserts, watermarks, snapshots and the data dictionary."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import collectors
from collectors import datadoc
from sextant.schema import table
from sextant.store import KEEP_SNAPSHOTS, Reader, UniqueKeys, Writer

THING = table("aws_thing", "A test table.", [("name", "VARCHAR", "Name."), ("n", "INTEGER", "A count.")], ["name"])
EVENT = table("aws_event", "A test table without an index, appended in time order.", [
    ("name", "VARCHAR", "Name."), ("ts", "TIMESTAMPTZ", "When."), ("n", "INTEGER", "A value.")],
    ["name", "ts"], indexed=False, time_column="ts")


def _writer(tmp_path: Path) -> Writer:
    w = Writer(tmp_path / "store")
    w.migrate([THING])
    return w


def test_upsert_replaces_on_primary_key(tmp_path):
    w = _writer(tmp_path)
    rows = [{"account_id": "1", "region": "r", "name": "a", "n": 1}, {"account_id": "1", "region": "r", "name": "b",
                                                                        "n": 2}]
    with w.transaction():
        w.upsert(THING, rows)
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 5}])
    assert w.con.execute("SELECT name, n FROM aws_thing ORDER BY name").fetchall() == [("a", 5), ("b", 2)]


def _events(hours: range, n: int) -> pd.DataFrame:
    t0 = pd.Timestamp("2026-11-24", tz="UTC")
    return pd.DataFrame([{"account_id": "1", "region": "r", "name": name, "ts": t0 + pd.Timedelta(hours=h), "n": n}
                         for name in ("a", "b") for h in hours])


def _stored_events(w: Writer) -> list[tuple]:
    return w.con.execute("SELECT name, epoch(ts), n FROM aws_event ORDER BY ALL").fetchall()


def _last_wins(*batches: pd.DataFrame) -> list[tuple]:
    rows = {(r.name, r.ts.timestamp()): r.n for df in batches for r in df.itertuples()}
    return sorted((name, ts, n) for (name, ts), n in rows.items())


@pytest.mark.parametrize("wrap", [lambda df: df, UniqueKeys], ids=["dataframe", "unique_keys"])
def test_unindexed_upsert_replaces_the_overlap_of_time_ranges(tmp_path, wrap):
    w = Writer(tmp_path / "store")
    w.migrate([EVENT])
    first, second = _events(range(0, 6), 1), _events(range(3, 9), 2)  # hours 3-5 overlap, with new values
    with w.transaction():
        w.upsert(EVENT, wrap(first))
        w.upsert(EVENT, wrap(second))
    assert _stored_events(w) == _last_wins(first, second)


def test_unindexed_upsert_of_a_batch_with_duplicate_keys_keeps_the_last(tmp_path):
    w = Writer(tmp_path / "store")
    w.migrate([EVENT])
    first, again = _events(range(0, 6), 1), _events(range(4, 8), 2)
    again = pd.concat([again, _events(range(4, 8), 3), _events(range(5, 6), 4)], ignore_index=True)
    with w.transaction():
        w.upsert(EVENT, first)
        w.upsert(EVENT, again)
    assert _stored_events(w) == _last_wins(first, again)


def test_a_failed_batch_leaves_neither_rows_nor_watermark(tmp_path):
    w = _writer(tmp_path)
    with pytest.raises(RuntimeError), w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 1}])
        w.set_watermarks("1", "r", "thing", {"cursor": "x"})
        raise RuntimeError("crash mid-batch")
    assert w.con.execute("SELECT count(*) FROM aws_thing").fetchone() == (0,)
    assert w.watermarks("1", "r", "thing") == {}


def test_readers_see_published_snapshots_while_the_writer_holds_the_file(tmp_path):
    w = _writer(tmp_path)
    reader = Reader(tmp_path / "store")
    assert reader.connection() is None  # nothing published yet
    with w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 1}])
    w.publish()
    assert reader.connection().execute("SELECT count(*) FROM aws_thing").fetchone() == (1,)
    with w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "b", "n": 1}])
    assert reader.connection().execute("SELECT count(*) FROM aws_thing").fetchone() == (1,)  # unpublished
    w.publish()
    assert reader.connection().execute("SELECT count(*) FROM aws_thing").fetchone() == (2,)
    with pytest.raises(duckdb.Error):  # snapshots are read-only
        reader.connection().execute("DELETE FROM aws_thing")


def test_a_second_writer_gets_a_clear_message(tmp_path):
    w = _writer(tmp_path)
    try:
        code = ("from sextant.store import Writer, StoreBusy\nfrom pathlib import Path\n"
                f"try:\n    Writer(Path({str(tmp_path / 'store')!r}))\nexcept StoreBusy as e:\n    print(e)\n")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
        assert "another collector" in out
    finally:
        w.close()


def test_every_column_of_every_table_is_described_and_documented(tmp_path):
    w = Writer(tmp_path / "store")
    collectors.migrate(w)
    undocumented = w.con.execute(
        "SELECT c.table_name, c.column_name FROM duckdb_columns() c LEFT JOIN sextant_column_doc d "
        "ON d.table_name = c.table_name AND d.column_name = c.column_name "
        "WHERE c.table_name LIKE 'aws_%' AND coalesce(d.description, '') = ''").fetchall()
    assert undocumented == []
    assert {t.name for t in collectors.all_tables()} <= {r[0] for r in w.con.execute(
        "SELECT table_name FROM sextant_table_doc").fetchall()}


def test_docs_data_model_is_up_to_date():
    committed = (Path(__file__).resolve().parents[2] / "docs" / "DATA_MODEL.md").read_text()
    assert committed.strip() == datadoc.markdown().strip(), "run: python -m collectors.datadoc > docs/DATA_MODEL.md"


def test_a_writer_removes_what_a_publish_killed_mid_copy_left(tmp_path):
    w = _writer(tmp_path)
    w.publish()
    w.close()
    store = tmp_path / "store"
    kept = sorted(p.name for p in (store / "snapshots").iterdir())
    leftovers = [store / "snapshots" / ".1764662400000000000.duckdb.3f2a.tmp", store / ".CURRENT.9b1c"]
    for path in leftovers:
        path.write_bytes(b"x" * 1000)
    w = Writer(store)
    try:
        assert not any(p.exists() for p in leftovers)
        assert sorted(w.removed_at_start) == sorted(leftovers)
        assert sorted(p.name for p in (store / "snapshots").iterdir()) == kept  # published snapshots stay
        assert w.published() == (store / "CURRENT").read_text()
    finally:
        w.close()


@pytest.mark.parametrize("cut_at", [0, 100, 4096, 12287])
def test_a_writer_file_cut_off_while_being_created_is_set_aside_and_made_anew(tmp_path, cut_at):
    full = tmp_path / "full.duckdb"
    duckdb.connect(str(full)).close()
    store = tmp_path / "store"
    store.mkdir()
    (store / "writer.duckdb").write_bytes(full.read_bytes()[:cut_at])  # a kill inside the first connect
    w = _writer(tmp_path)
    try:
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 1}])
        assert w.con.execute("SELECT name, n FROM aws_thing").fetchall() == [("a", 1)]
        assert w.set_aside is not None and w.set_aside.read_bytes() == full.read_bytes()[:cut_at]
    finally:
        w.close()


def test_a_damaged_writer_file_with_a_whole_header_is_refused_and_kept(tmp_path):
    w = _writer(tmp_path)
    w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 1}])
    w.close()
    path = tmp_path / "store" / "writer.duckdb"
    data = bytearray(path.read_bytes())
    data[:4096] = bytes(4096)  # not a DuckDB header: it may hold data, so nothing may replace it
    path.write_bytes(bytes(data))
    with pytest.raises(duckdb.Error):
        Writer(tmp_path / "store")
    assert path.read_bytes() == bytes(data)
    assert not list(path.parent.glob("writer.duckdb.unborn-*"))


def test_publishing_keeps_the_newest_snapshots_only(tmp_path):
    w = _writer(tmp_path)
    try:
        assert w.published() is None
        names = [w.publish().name for _ in range(KEEP_SNAPSHOTS + 3)]
        left = sorted(p.name for p in (tmp_path / "store" / "snapshots").iterdir())
        assert left == names[-KEEP_SNAPSHOTS:] and w.published() == names[-1]
    finally:
        w.close()
