"""Page tests open pages of the real shell against the session's collected store."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "dashboard" / "app.py")  # AppTest resolves a relative path against the calling file


@pytest.fixture
def app(demo_store, monkeypatch):
    """Open a page of the real shell: app("pages/cost.py") -> a rendered AppTest."""
    monkeypatch.setenv("SEXTANT_STORE", str(demo_store.settings.store))

    def open_page(page: str | None = None, **query) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        for k, v in query.items():
            at.query_params[k] = v
        at.run()
        if page:
            at.switch_page(f"../{page}").run()  # page paths are relative to the main script's folder
        assert not at.exception, at.exception
        return at

    return open_page
