"""The shell: auto-refresh follows the URL, so a shared link keeps it."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

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
