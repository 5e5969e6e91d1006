"""Links keep context in the browser: a click on an endpoint's name on Overview opens its detail in the same tab with
the sidebar's range, and a click on a name on the Endpoints list opens that endpoint's detail."""

from __future__ import annotations

import os
import time

import pytest

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SETTLED, dashboard
from tests.browser.test_walk_pages import READ_GRID

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                                      reason="Debian chromium missing: run make browser-deps")]

ROW = 35  # Streamlit's grid row (and header) height in pixels


def _click_name(page, key: str, title: str, name: str) -> None:
    """Click the cell of ``name`` in the column titled ``title`` of the grid of key ``key`` (drawn on a canvas)."""
    grid = page.locator(f".st-key-{key}").first
    grid.wait_for(timeout=60000)
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    data = grid.evaluate(READ_GRID)
    assert data, f"the {key} grid was not drawn"
    col = data["titles"].index(title)
    row = next(r for r, cells in enumerate(data["rows"]) if cells[col] == name)
    box = grid.locator('canvas[data-testid="data-grid-canvas"]').bounding_box()
    placed = next(p for p in data["placed"] if p["title"] == title)
    page.mouse.click((placed["left"] + placed["right"]) / 2, box["y"] + ROW * (row + 1) + ROW / 2)


def _arrive(page, *parts: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(p in page.url for p in parts):
        assert time.monotonic() < deadline, f"still at {page.url}, expected {parts}"
        page.wait_for_timeout(250)
    page.wait_for_function(SETTLED, timeout=60000)


def test_endpoint_names_open_the_detail_in_the_same_tab_with_the_filters(demo_store):
    from playwright.sync_api import sync_playwright

    endpoint = "fraud-txn-scorer-prod"
    with dashboard({"SEXTANT_STORE": str(demo_store.settings.store)}) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        page = context.new_page()
        page.goto(f"{url}/?range=7d", wait_until="domcontentloaded")
        page.wait_for_selector("h1", timeout=60000)
        page.wait_for_function(SETTLED, timeout=60000)

        _click_name(page, "ov_health", "Endpoint", endpoint)
        _arrive(page, "/endpoints", f"endpoint={endpoint}", "range=7d")
        page.get_by_role("heading", name=endpoint).first.wait_for(timeout=60000)
        assert len(context.pages) == 1, "the endpoint opened in another tab"
        picker = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first
        shown = picker.inner_text() + " ".join(i.input_value() for i in picker.locator("input").all())
        assert "Last 7 days" in shown, shown  # the range came along

        page.goto(f"{url}/endpoints?range=7d", wait_until="domcontentloaded")
        page.wait_for_selector("h1", timeout=60000)
        page.wait_for_function(SETTLED, timeout=60000)
        other = "search-ranker-prod"
        _click_name(page, "endpoints", "Endpoint", other)
        _arrive(page, f"endpoint={other}", "range=7d")
        page.get_by_role("heading", name=other).first.wait_for(timeout=60000)
        assert len(context.pages) == 1
        browser.close()
