"""The DuckLake backend's own behaviour: chosen by settings, bad settings refused clearly, credentials never shown,
extensions from the wheels, a dashboard in another process reading the collector's commits."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

from sextant import lake
from sextant.lake import LakeConfig, LakeError, LakeReader, LakeUnavailable, LakeWriter, scrub
from sextant.schema import table
from sextant.settings import Settings, SettingsError, load
from sextant.store import Reader, Writer, open_reader, open_writer
from tests.lake_fixtures import S3_SECRET_KEY

pytestmark = pytest.mark.slow  # a DuckLake catalog per test: in make test, not make test-fast

THING = table("aws_thing", "A test table.", [("name", "VARCHAR", "Name."), ("n", "INTEGER", "A count.")], ["name"])
PASSWORD = "hunter2-Very-Secret"


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sextant.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _no_store_env(monkeypatch):
    for name in ("SEXTANT_STORE", "SEXTANT_STORE_BACKEND", "SEXTANT_CATALOG", "SEXTANT_DATA_PATH", "SEXTANT_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_the_default_backend_is_the_duckdb_file(tmp_path):
    s = load(_toml(tmp_path, ""), store=tmp_path / "store")
    assert s.store_backend == "duckdb"
    w = open_writer(s)
    try:
        assert isinstance(w, Writer) and (tmp_path / "store" / "writer.duckdb").exists()
    finally:
        w.close()
    assert type(open_reader(s)) is Reader


def test_settings_choose_ducklake_from_the_file_or_the_environment(tmp_path, monkeypatch):
    s = load(_toml(tmp_path, f'[store]\nlocation = "{tmp_path / "store"}"\nbackend = "ducklake"\n'
                             f'catalog = "sqlite:{tmp_path / "cat.sqlite"}"\ndata_path = "{tmp_path / "data"}"\n'))
    assert (s.store_backend, s.catalog, s.data_path) == ("ducklake", f"sqlite:{tmp_path / 'cat.sqlite'}",
                                                         str(tmp_path / "data"))
    w = open_writer(s)
    try:
        assert isinstance(w, LakeWriter)
        w.migrate([THING])
        assert (tmp_path / "cat.sqlite").exists() and (tmp_path / "data").is_dir()
    finally:
        w.close()
    assert isinstance(open_reader(s), LakeReader)
    monkeypatch.setenv("SEXTANT_STORE_BACKEND", "duckdb")  # the environment wins over the file
    assert load(tmp_path / "sextant.toml").store_backend == "duckdb"
    monkeypatch.setenv("SEXTANT_STORE_BACKEND", "ducklake")
    monkeypatch.setenv("SEXTANT_DATA_PATH", "s3://bucket/prefix/")
    assert load(tmp_path / "sextant.toml").data_path == "s3://bucket/prefix/"


def test_a_ducklake_store_defaults_to_a_local_catalog_beside_the_store(tmp_path):
    config = LakeConfig.from_settings(Settings(store=tmp_path / "store", store_backend="ducklake"))
    assert config.catalog == f"sqlite:{tmp_path / 'store' / 'lake' / 'catalog.sqlite'}"
    assert config.data_path == f"{tmp_path / 'store' / 'lake' / 'data'}/"


@pytest.mark.parametrize(("text", "says"), [
    ('backend = "lake"', "must be one of 'duckdb', 'ducklake'"),
    ('catalog = "host=db dbname=sextant"', "must start with one of postgres:, sqlite:, duckdb:"),
    ('catalog = "sqlite:"', "must start with one of"),
    ('data_path = "s3:///prefix"', "name the bucket"),
    ('data_path = "gs://bucket/x"', "use a local directory or s3://bucket/prefix/"),
    ("backend = 3", "expected a quoted string"),
    ('bakend = "ducklake"', "unknown key store.bakend"),
])
def test_bad_store_settings_are_refused_with_the_fix(tmp_path, text, says):
    with pytest.raises(SettingsError, match="store") as refused:
        load(_toml(tmp_path, f"[store]\n{text}\n"))
    assert says in str(refused.value)


@pytest.mark.parametrize("catalog", [f"postgres:host=db dbname=sextant user=me password={PASSWORD}",
                                     f"postgres:host=db password = '{PASSWORD}' dbname=x",
                                     f"postgres:postgresql://me:{PASSWORD}@db:5432/sextant"])
def test_a_catalog_with_a_password_is_refused_and_the_password_never_repeated(tmp_path, monkeypatch, catalog):
    with pytest.raises(SettingsError) as refused:
        load(_toml(tmp_path, f'[store]\nbackend = "ducklake"\ncatalog = "{catalog}"\n'))
    assert "PGPASSWORD" in str(refused.value) and PASSWORD not in str(refused.value)
    monkeypatch.setenv("SEXTANT_CATALOG", catalog)
    with pytest.raises(SettingsError) as refused:
        load(_toml(tmp_path, ""))
    assert "SEXTANT_CATALOG" in str(refused.value) and PASSWORD not in str(refused.value)


def test_scrub_removes_passwords_from_dsns():
    for text in (f"password={PASSWORD} host=x", f"PASSWORD = '{PASSWORD}'", f"postgresql://me:{PASSWORD}@db/x"):
        assert PASSWORD not in scrub(f"failed at {text!r}: refused")
    assert scrub("host=db dbname=x user=me") == "host=db dbname=x user=me"


def test_a_catalog_that_cannot_be_reached_says_so_without_the_password(tmp_path, caplog):
    # the settings refuse a password; a DSN that carries one anyway (built by hand) is still never shown
    config = LakeConfig(f"postgres:host={tmp_path} port=1 dbname=none user=postgres password={PASSWORD}",
                        f"{tmp_path / 'data'}/", tmp_path / "store")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(LakeError) as refused:
        LakeWriter(config)
    assert "cannot open the DuckLake catalog postgres:" in str(refused.value)
    assert PASSWORD not in str(refused.value) and PASSWORD not in caplog.text
    with pytest.raises(LakeError) as refused:
        LakeReader(config).current()
    assert PASSWORD not in str(refused.value)


@pytest.mark.emulated
def test_s3_credentials_stay_out_of_what_duckdb_shows_and_of_errors(shared_store, postgres, monkeypatch):
    w = shared_store.writer()
    w.migrate([THING])
    with w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 1}])
    shown = w.con.execute("SELECT secret_string FROM duckdb_secrets()").fetchall()
    paths = w.con.execute("SELECT path FROM duckdb_databases()").fetchall()
    assert shown and S3_SECRET_KEY not in str(shown) and S3_SECRET_KEY not in str(paths)
    w.close()
    lost = replace(shared_store.settings, catalog=f"postgres:{postgres.dsn(postgres.create_database())}",
                   data_path="s3://no-such-bucket-here/x/")
    with pytest.raises((duckdb.Error, LakeError)) as failed:
        bad = open_writer(lost)
        bad.migrate([THING])
    assert "no-such-bucket-here" in str(failed.value) and S3_SECRET_KEY not in str(failed.value)


@pytest.mark.emulated
def test_s3_data_is_parquet_in_the_bucket_and_the_endpoint_from_the_standard_setting(shared_store, s3_endpoint):
    import boto3

    w = shared_store.writer()
    w.migrate([THING])
    with w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": f"n{i}", "n": i} for i in range(50)])
    w.close()
    bucket = shared_store.settings.data_path.split("/")[2]
    keys = [o["Key"] for o in boto3.client("s3", endpoint_url=s3_endpoint).list_objects_v2(
        Bucket=bucket).get("Contents", [])]
    assert any(k.startswith("sextant/") and k.endswith(".parquet") for k in keys)


def test_a_missing_extension_wheel_is_named(monkeypatch, tmp_path):
    real = lake.importlib.util.find_spec
    monkeypatch.setattr(lake.importlib.util, "find_spec",
                        lambda name, *a: None if name == "duckdb_extension_ducklake" else real(name, *a))
    with pytest.raises(LakeUnavailable, match=rf"pip install 'duckdb-extension-ducklake=={duckdb.__version__}'"):
        LakeWriter.open(Settings(store=tmp_path / "store", store_backend="ducklake"))


def test_extensions_load_from_the_wheels_with_automatic_installation_off(tmp_path):
    w = LakeWriter.open(Settings(store=tmp_path / "store", store_backend="ducklake"))
    try:
        assert w.con.execute("SELECT current_setting('autoinstall_known_extensions')").fetchall() == [(False,)]
        loaded = dict(w.con.execute("SELECT extension_name, install_path FROM duckdb_extensions() WHERE loaded")
                      .fetchall())
        assert {"ducklake", "sqlite_scanner"} <= set(loaded)
    finally:
        w.close()


def test_a_local_catalog_is_in_wal_mode_so_readers_never_block_the_writer(tmp_path):
    w = LakeWriter.open(Settings(store=tmp_path / "store", store_backend="ducklake"))
    w.close()
    con = sqlite3.connect(tmp_path / "store" / "lake" / "catalog.sqlite")
    assert con.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
    con.close()


def test_a_reader_before_anything_is_collected_has_nothing_to_read(tmp_path):
    r = LakeReader.open(Settings(store=tmp_path / "store", store_backend="ducklake"))
    assert r.current() is None and r.connection() is None and r.thread_cursor() is None
    assert not (tmp_path / "store" / "lake").exists()  # a reader creates nothing


def test_a_dashboard_process_reads_the_collectors_commits_as_they_land(tmp_path):
    settings = Settings(store=tmp_path / "store", store_backend="ducklake")
    w = LakeWriter.open(settings)
    w.migrate([THING])
    code = (
        "import sys, time\nfrom pathlib import Path\nfrom sextant.settings import Settings\n"
        "from sextant.lake import LakeReader\n"
        f"r = LakeReader.open(Settings(store=Path({str(tmp_path / 'store')!r}), store_backend='ducklake'))\n"
        "seen = []\n"
        "for line in sys.stdin:\n"
        "    n = r.thread_cursor().execute('SELECT count(*) FROM aws_thing').fetchall()[0][0]\n"
        "    print(r.current(), n, flush=True)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        answers = []
        for i in range(3):
            with w.transaction():
                w.upsert(THING, [{"account_id": "1", "region": "r", "name": f"n{i}", "n": i}])
            proc.stdin.write("next\n")
            proc.stdin.flush()
            answers.append(proc.stdout.readline().split())
        assert [int(n) for _, n in answers] == [1, 2, 3]
        assert len({name for name, _ in answers}) == 3  # a new snapshot name for each commit
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        w.close()


@pytest.mark.emulated
def test_a_long_running_reader_picks_up_rotated_s3_credentials(shared_store, monkeypatch):
    w = shared_store.writer()
    w.migrate([THING])
    with w.transaction():
        w.upsert(THING, [{"account_id": "1", "region": "r", "name": "a", "n": 1}])
    w.close()
    r = shared_store.reader()
    assert r.thread_cursor().execute("SELECT count(*) FROM aws_thing").fetchall() == [(1,)]

    def key_ids() -> str:
        return str(r.connection().cursor().execute("SELECT secret_string FROM duckdb_secrets() WHERE type = 's3'")
                   .fetchall())

    assert "AKIAIOSFODNN7LAKETEST" in key_ids()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7ROTATED1")  # the role's next credentials
    monkeypatch.setattr(lake, "S3_REFRESH_S", 0)
    assert r.thread_cursor().execute("SELECT count(*) FROM aws_thing").fetchall() == [(1,)]
    assert "AKIAIOSFODNN7ROTATED1" in key_ids() and S3_SECRET_KEY not in key_ids()
    r.close()


def test_a_duckdb_file_catalog_held_by_a_collector_is_refused_with_what_to_use_instead(tmp_path):
    settings = Settings(store=tmp_path / "store", store_backend="ducklake", catalog=f"duckdb:{tmp_path / 'c.ducklake'}")
    w = LakeWriter.open(settings)
    w.migrate([THING])
    try:
        with pytest.raises(LakeError, match="admits one process .* use a sqlite: .* or postgres: catalog"):
            LakeReader.open(settings).current()
    finally:
        w.close()


_OPEN_AT = """
import sys, time
from dataclasses import replace
from pathlib import Path
from sextant.settings import Settings
from sextant.store import open_writer
settings = replace(Settings(store=Path(sys.argv[1])), store_backend="ducklake", catalog=sys.argv[2],
                   data_path=sys.argv[3])
time.sleep(max(0.0, float(sys.argv[4]) - time.time()))
open_writer(settings).close()
"""


def test_two_collectors_starting_together_on_a_new_postgres_catalog_both_open_it(postgres, tmp_path):
    # without the creation lock one of them failed: "duplicate key value violates unique constraint
    # pg_type_typname_nsp_index" (both created DuckLake's tables)
    catalog = f"postgres:{postgres.dsn(postgres.create_database())}"
    at = str(time.time() + 4)
    procs = [subprocess.Popen([sys.executable, "-c", _OPEN_AT, str(tmp_path / f"store{i}"), catalog,
                               str(tmp_path / "data"), at], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(err for _, err in outs)
