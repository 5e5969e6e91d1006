"""The page frame says so on every page while the store's DuckLake catalog (PostgreSQL) is unreachable, keeps the
pages a dashboard had read, answers an unread one in words (no traceback), and drops the banner once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import collectors
from dashboard import data
from sextant.lake import LakeReader
from sextant.settings import Settings
from sextant.store import open_writer
from tests.conftest import APP
from tests.dashboard.test_replicas import pg_ctl
from tests.lake_fixtures import PostgresCluster, start_postgres, stop_postgres

BANNER = "The store's catalog"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    c = start_postgres()
    try:
        yield c
    finally:
        stop_postgres(c)


def _banners(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if w.value.startswith(BANNER)]


def test_every_page_says_the_catalog_is_unreachable_and_keeps_what_it_read(cluster, tmp_path: Path, monkeypatch):
    db = cluster.create_database("banner")
    settings = Settings(store=tmp_path / "store", store_backend="ducklake", catalog=f"postgres:{cluster.dsn(db)}",
                        data_path=str(tmp_path / "data"))
    monkeypatch.delenv("SEXTANT_CONFIG", raising=False)
    monkeypatch.setenv("SEXTANT_STORE", str(settings.store))
    monkeypatch.setenv("SEXTANT_STORE_BACKEND", "ducklake")
    monkeypatch.setenv("SEXTANT_CATALOG", settings.catalog)
    monkeypatch.setenv("SEXTANT_DATA_PATH", settings.data_path)
    monkeypatch.setattr(LakeReader, "RETRY_CATALOG_S", 0.5)
    writer = open_writer(settings)
    collectors.migrate(writer)  # type: ignore[arg-type]  # every table, no rows: pages show their empty states
    writer.close()

    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception and not _banners(at)
    at.switch_page("../pages/data.py").run()  # the data dictionary: read once, then kept
    assert not at.exception and not _banners(at)
    read = [d.value for d in at.dataframe]
    assert read
    pg_ctl(cluster, "stop")
    try:
        at.run()  # the page read before: from the cache, under the banner
        assert not at.exception, at.exception
        [banner] = _banners(at)
        outage = data.outage()
        assert outage is not None and outage.snapshot_seen_at is not None
        assert (f"is unreachable since {outage.since:%H:%M} UTC: showing the snapshot of "
                f"{outage.snapshot_seen_at:%H:%M} UTC") in banner
        assert f"{cluster.root}:5432/{db}" in banner.replace("\\", "")  # host, port and database only
        assert "user" not in banner and "password" not in banner
        assert outage.since <= datetime.now(UTC)
        assert not any("not available" in i.value for i in at.info)
        for shown, before in zip([d.value for d in at.dataframe], read, strict=True):
            assert shown.equals(before)

        at.switch_page("../pages/models.py").run()  # never read: said in words, no traceback
        assert not at.exception, at.exception
        assert _banners(at)
        assert any("not available while the store's catalog is unreachable" in i.value for i in at.info)
    finally:
        pg_ctl(cluster, "start")

    deadline = time.monotonic() + 20
    while (data.snapshot() is None or data.outage() is not None) and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()
    assert not at.exception and not _banners(at)
    assert not any("not available" in i.value for i in at.info)


def test_a_catalog_unreachable_from_the_start_is_one_clear_error_block(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("SEXTANT_CONFIG", raising=False)
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SEXTANT_STORE_BACKEND", "ducklake")
    monkeypatch.setenv("SEXTANT_CATALOG", f"postgres:host={tmp_path} port=5999 dbname=nowhere user=sextant_reader")
    monkeypatch.setenv("SEXTANT_DATA_PATH", str(tmp_path / "data"))
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    [error] = [e.value for e in at.error]
    assert "cannot be reached, and this dashboard has read nothing from it yet" in error
    assert f"{tmp_path}:5999/nowhere" in error.replace("\\", "")
    assert "user" not in error and "sextant\\_reader" not in error
    at.run()  # again at once, inside the reader's 1 s between attach tries: the same block, not an empty store
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == [error]
