"""``python -m collectors migrate --to FILE`` (collectors/copy_store.py): an embedded store copied into the shared
backend (DuckLake, catalog in PostgreSQL, data on S3), verified table by table; again is the same (no duplicate); bad
input changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import collectors
from collectors.__main__ import main
from sextant.settings import Settings
from sextant.store import Writer, open_reader
from tests.lake_fixtures import StoreCase

pytestmark = pytest.mark.emulated  # the shared backend needs the private PostgreSQL server

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
A = "111111111111"
TABLES = {t.name: t for t in collectors.all_tables()}


def _embedded(location: Path, jobs: int = 50) -> None:
    writer = Writer(location)
    try:
        collectors.migrate(writer)
        with writer.transaction():
            writer.upsert(TABLES["aws_sagemaker_training_job"], [
                {"account_id": A, "region": "us-east-1", "training_job_name": f"job-{i}", "status": "Completed",
                 "training_end_time": NOW - timedelta(hours=i), "team": "nlp", "billable_seconds": i * 60}
                for i in range(jobs)])
            writer.upsert(TABLES["aws_sagemaker_endpoint"], [
                {"account_id": A, "region": "us-east-1", "endpoint_name": "fraud", "status": "InService",
                 "creation_time": NOW - timedelta(days=3), "tags": '{"team": "fraud"}'}])
            writer.set_watermarks(A, "us-east-1", "sagemaker_training", {"since": NOW.isoformat()})
            writer.record_run(run_id="r1", source="sagemaker_training", account_id=A, region="us-east-1",
                              started_at=NOW, ended_at=NOW, status="succeeded", rows=jobs)
        writer.publish()
    finally:
        writer.close()


def _target_file(tmp_path: Path, case: StoreCase) -> Path:
    s = case.settings
    path = tmp_path / "shared.toml"
    path.write_text(f'[store]\nlocation = "{s.store}"\nbackend = "ducklake"\ncatalog = "{s.catalog}"\n'
                    f'data_path = "{s.data_path}"\n')
    return path


def _rows(settings, table: str) -> list[tuple]:
    reader = open_reader(settings)
    try:
        return sorted(reader.cursor().execute(f'SELECT * FROM "{table}"').fetchall(), key=repr)
    finally:
        reader.close()


def test_migrate_copies_every_table_verifies_it_and_again_is_the_same(tmp_path, shared_store, capsys):
    source = tmp_path / "embedded"
    _embedded(source)
    target = _target_file(tmp_path, shared_store)

    assert main(["migrate", "--store", str(source), "--to", str(target)]) == 0
    out = capsys.readouterr().out
    assert "ok  aws_sagemaker_training_job: 50 rows" in out and "ERR" not in out
    assert "tables copied and verified (" in out
    embedded = Settings(store=source)
    for table in ("aws_sagemaker_training_job", "aws_sagemaker_endpoint", "sextant_watermark",
                  "sextant_collection_run"):
        assert _rows(shared_store.settings, table) == _rows(embedded, table), table

    assert main(["migrate", "--store", str(source), "--to", str(target)]) == 0  # again: replaced, not appended
    assert len(_rows(shared_store.settings, "aws_sagemaker_training_job")) == 50


def test_a_target_that_is_not_shared_or_a_source_never_published_is_refused(tmp_path, capsys):
    source = tmp_path / "embedded"
    embedded_target = tmp_path / "embedded.toml"
    embedded_target.write_text(f'[store]\nlocation = "{tmp_path / "other"}"\n')
    _embedded(source)
    assert main(["migrate", "--store", str(source), "--to", str(embedded_target)]) == 2
    assert 'set [store] backend = "ducklake"' in capsys.readouterr().err
    assert not (tmp_path / "other").exists()

    empty = tmp_path / "empty"
    Writer(empty).close()
    lake = tmp_path / "lake.toml"
    lake.write_text(f'[store]\nlocation = "{tmp_path / "lake"}"\nbackend = "ducklake"\n')
    assert main(["migrate", "--store", str(empty), "--to", str(lake)]) == 2
    assert "nothing published" in capsys.readouterr().err
    assert not (tmp_path / "lake").exists()


def test_a_store_written_before_a_column_was_added_migrates_with_that_column_blank(tmp_path, shared_store, capsys):
    import duckdb

    source = tmp_path / "embedded"
    _embedded(source, jobs=5)
    snap = source / "snapshots" / (source / "CURRENT").read_text().strip()
    con = duckdb.connect(str(snap))  # as an older collector left it: no shard column on its runs
    con.execute("ALTER TABLE sextant_collection_run DROP COLUMN shard")
    con.close()
    target = _target_file(tmp_path, shared_store)

    assert main(["migrate", "--store", str(source), "--to", str(target)]) == 0
    out = capsys.readouterr().out
    assert "ok  sextant_collection_run: 1 rows" in out and "ERR" not in out
    runs = open_reader(shared_store.settings)
    try:
        assert runs.cursor().execute("SELECT source, status, shard FROM sextant_collection_run").fetchall() == [
            ("sagemaker_training", "succeeded", None)]
    finally:
        runs.close()
