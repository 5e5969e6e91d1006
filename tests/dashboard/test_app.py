"""The shell: auto-refresh follows the URL, so a shared link keeps it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from streamlit.testing.v1 import AppTest

from sextant import progress
from tests.conftest import APP


def test_auto_refresh_toggle_is_on_when_the_link_says_so(app):
    at = app("pages/endpoints.py", refresh="1")
    assert at.toggle(key="f_refresh").value is True
    assert at.query_params["refresh"] == "1"


def test_auto_refresh_is_off_by_default(app):
    at = app("pages/endpoints.py")
    assert at.toggle(key="f_refresh").value is False


@pytest.mark.parametrize(("text", "names"), [
    ("[collect\nhot_every = '5m'\n", ["is not valid TOML"]),
    ("[store]\nlocation = 5\n", ["store.location = 5", "expected a quoted string"]),
    ("[actions]\nmax_instances_per_variant = -1\n", ["actions.max_instances_per_variant = -1", "between 1 and 1000"]),
    ("[auth]\nsql_box = 'all'\n", ["auth.sql_box = 'all'", "one of 'everyone'"]),
    ("[budget]\nmonthly_usd = 10\ncurrency = 'EUR'\n", ["unknown key budget.currency"]),
])
def test_a_wrong_settings_file_is_one_clear_error_block_naming_file_and_key(tmp_path, monkeypatch, text, names):
    config = tmp_path / "sextant.toml"
    config.write_text(text)
    monkeypatch.setenv("SEXTANT_CONFIG", str(config))
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    assert len(at.error) == 1
    message = at.error[0].value
    assert str(config) in message and all(n in message for n in names), message


def test_a_first_collection_in_progress_is_shown_instead_of_an_empty_store(tmp_path, monkeypatch):
    store = tmp_path / "store"
    now = datetime.now(UTC)
    progress.write(store, progress.FirstCollection(now - timedelta(seconds=40), now, 3, 14, "sagemaker_endpoints"))
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SEXTANT_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    shown = " ".join(str(e.proto) for e in at.get("progress"))
    assert "First collection in progress: 3 of about 14" in shown and "sagemaker_endpoints" in shown, shown
    assert not any("Nothing collected yet" in i.value for i in at.info)  # not the empty-store message


def test_an_empty_store_without_a_collection_running_says_what_to_run(tmp_path, monkeypatch):
    store = tmp_path / "store"
    now = datetime.now(UTC)
    progress.write(store, progress.FirstCollection(now - timedelta(hours=1), now - progress.STALE_AFTER * 2, 3, 14,
                                                   "ecr"))  # its collector was killed: stale, ignored
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SEXTANT_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, at.exception
    assert not at.get("progress")
    assert any("Nothing collected yet" in i.value for i in at.info)


def _store_with_runs(tmp_path, runs):
    import collectors
    from sextant.store import Writer
    w = Writer(tmp_path / "store")
    collectors.migrate(w)
    with w.transaction():
        for source, status, ended in runs:
            w.con.execute("INSERT INTO sextant_collection_run (run_id, source, account_id, region, started_at, "
                          "ended_at, status, rows, api_calls, estimated_cost_usd) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, 0)",
                          ["r", source, "111122223333", "us-east-1", ended, ended, status])
    w.publish()
    w.close()
    return tmp_path / "store"


@pytest.mark.parametrize(("page_path", "banner"), [("pages/cost.py", True), ("pages/training.py", False)])
def test_a_page_whose_data_is_stale_says_so_in_a_banner(tmp_path, monkeypatch, page_path, banner):
    now = datetime.now(UTC)
    store = _store_with_runs(tmp_path, [("cost_explorer", "succeeded", now - timedelta(days=3)),
                                        ("sagemaker_training", "succeeded", now - timedelta(seconds=30))])
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SEXTANT_STORE", str(store))
    at = AppTest.from_file(APP, default_timeout=30).run()
    at.switch_page(f"../{page_path}").run()
    assert not at.exception, at.exception
    warned = [w.value for w in at.warning if "not fresh" in w.value]
    if banner:
        assert len(warned) == 1 and "cost\\_explorer" in warned[0] and "3.0 d ago" in warned[0], warned
    else:
        assert not warned, warned  # the training page's source is fresh; the cost source is not its concern
