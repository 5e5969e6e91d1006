"""A DuckLake store's maintenance (sextant/lake.py maintain, run by the collector when [store] maintain_every is due):
old snapshots expire, inlined rows and small files are merged, the data stays the same, every run is recorded and
shown on the Collection page's query; the settings are checked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from sextant import lake
from sextant.schema import table
from sextant.settings import Settings, SettingsError, load
from sextant.store import open_writer

pytestmark = pytest.mark.slow  # a DuckLake catalog: make test only

T = table("fake_valued", "A row rewritten by every commit.", [("k", "VARCHAR", "Key."), ("v", "VARCHAR", "Value.")],
          ["k"])


def test_maintenance_expires_snapshots_merges_files_and_keeps_the_data(tmp_path, monkeypatch):
    settings = replace(Settings(store=tmp_path / "store"), store_backend="ducklake")
    writer = open_writer(settings)
    assert isinstance(writer, lake.LakeWriter)
    try:
        writer.migrate([T])
        for i in range(30):  # a collector's small commits: one snapshot each
            with writer.transaction():
                writer.upsert(T, [{"account_id": "1", "region": "r", "k": f"k{i % 5}", "v": str(i)}])
        before = sorted(writer.con.execute("SELECT k, v FROM fake_valued").fetchall())
        now = datetime.now(UTC)
        assert lake.maintenance_due(writer, 3600, now)

        done = lake.maintain(writer, keep_snapshots_s=0)  # (settings refuse less than a minute; here: every one)
        assert done.status == "succeeded" and done.error is None
        assert done.snapshots_before > 30 and done.snapshots_after < 5
        assert done.files_after >= 1 and done.files_tracked_after >= done.files_after
        assert sorted(writer.con.execute("SELECT k, v FROM fake_valued").fetchall()) == before
        assert not lake.maintenance_due(writer, 3600, now + timedelta(minutes=5))
        assert lake.maintenance_due(writer, 3600, now + timedelta(hours=2))
        [(status, snaps)] = writer.con.execute(
            "SELECT status, snapshots_after FROM sextant_maintenance_run").fetchall()
        assert (status, snaps) == ("succeeded", done.snapshots_after)
    finally:
        writer.close()

    import os

    from dashboard.queries import collection
    os.environ["SEXTANT_STORE_BACKEND"] = "ducklake"
    try:
        os.environ["SEXTANT_STORE"] = str(tmp_path / "store")
        shown = collection.maintenance_runs()
    finally:
        os.environ.pop("SEXTANT_STORE_BACKEND")
        os.environ.pop("SEXTANT_STORE")
    assert list(shown.status) == ["succeeded"] and int(shown.snapshots_after.iloc[0]) == done.snapshots_after


def test_the_collector_maintains_when_due_and_says_so(tmp_path, capsys):
    from collectors.__main__ import _maintain
    settings = replace(Settings(store=tmp_path / "store"), store_backend="ducklake")
    writer = open_writer(settings)
    try:
        writer.migrate([T])
        _maintain(settings, writer)
        assert "store maintenance succeeded in" in capsys.readouterr().out
        _maintain(settings, writer)  # not due again for maintain_every
        assert capsys.readouterr().out == ""
    finally:
        writer.close()


@pytest.mark.parametrize(("text", "says"), [('maintain_every = "30s"', "store.maintain_every = '30s': at least 1m"),
                                            ('keep_snapshots = "soon"', "store.keep_snapshots: invalid duration")])
def test_wrong_maintenance_settings_are_refused(tmp_path, text, says):
    path = tmp_path / "s.toml"
    path.write_text(f"[store]\n{text}\n")
    with pytest.raises(SettingsError, match=says.replace("(", r"\(")):
        load(path)
    path.write_text('[store]\nmaintain_every = "2h"\nkeep_snapshots = "3d"\n')
    assert (load(path).maintain_every_s, load(path).keep_snapshots_s) == (7200, 3 * 86400)
