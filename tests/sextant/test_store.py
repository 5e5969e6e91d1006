"""The DuckDB-file store: published snapshots, the writer's file, the data dictionary. What every backend does
(upserts, transactions, readers, versions) is in test_store_contract.py, run on each backend."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from collectors import datadoc
from sextant.schema import table
from sextant.store import KEEP_SNAPSHOTS, Reader, Writer

THING = table("aws_thing", "A test table.", [("name", "VARCHAR", "Name."), ("n", "INTEGER", "A count.")], ["name"])


def _writer(tmp_path: Path) -> Writer:
    w = Writer(tmp_path / "store")
    w.migrate([THING])
    return w


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
