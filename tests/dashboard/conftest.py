"""A store collected once from the emulated account, shared by the page tests (read-only)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.collectors.conftest import Collection

APP = "dashboard/app.py"


@pytest.fixture(scope="session")
def demo_store(account, tmp_path_factory):
    """The whole account collected into one store; pages read it through SEXTANT_STORE."""
    c = Collection(tmp_path_factory.mktemp("store") / "store")
    cycle = c.run()
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]
    return c


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
            at.switch_page(page).run()
        assert not at.exception, at.exception
        return at

    return open_page
