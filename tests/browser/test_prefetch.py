"""The chart library is warmed in the background: a tab that opened a page without a Plotly chart has Streamlit's
Plotly chunk loaded once the page has settled, so the next page's charts need not wait for it."""

from __future__ import annotations

import os

import pytest

from dashboard import prefetch
from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SETTLED, dashboard

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                                      reason="Debian chromium missing: run make browser-deps")]

_LOADED = """(chunk) => performance.getEntriesByType('resource').filter((e) => e.name.endsWith('/' + chunk)).length"""


def test_a_page_without_charts_warms_the_plotly_chunk_after_it_settles_and_a_chart_page_reuses_it(demo_store):
    from playwright.sync_api import sync_playwright

    chunk = prefetch.plotly_chunk()
    assert chunk is not None, "this Streamlit has no PlotlyChart chunk: dashboard/prefetch.py needs a look"
    with dashboard({"SEXTANT_STORE": str(demo_store.settings.store)}) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/audit", wait_until="domcontentloaded")
        page.wait_for_selector("h1", timeout=60000)
        page.wait_for_function(SETTLED, timeout=60000)
        assert not page.locator('[data-testid="stPlotlyChart"]').count()  # the audit log draws no Plotly chart
        page.wait_for_function(_LOADED, arg=chunk, timeout=30000)  # fetched in the background, after settling
        page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Logs", exact=True).click()
        page.wait_for_selector('[data-testid="stPlotlyChart"]', timeout=60000)
        page.wait_for_function(SETTLED, timeout=60000)
        assert page.evaluate(_LOADED, chunk) == 1  # the page's chart used the module already there: one fetch
        browser.close()
