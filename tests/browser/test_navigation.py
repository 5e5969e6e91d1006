"""Links keep working: the default page answers at its own name as well as at the root."""

from __future__ import annotations

import os

import pytest

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SETTLED, dashboard

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                                      reason="Debian chromium missing: run make browser-deps")]


def test_overview_by_name_opens_the_overview_with_the_links_filters(demo_store):
    from playwright.sync_api import sync_playwright

    with dashboard({"SEXTANT_STORE": str(demo_store.settings.store)}) as (url, _), sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{url}/overview?range=7d", wait_until="networkidle")
        page.wait_for_selector("h1", timeout=30000)
        page.wait_for_function(SETTLED, timeout=60000)
        assert page.locator("h1").first.inner_text().strip() == "Overview"
        assert not page.get_by_text("Page not found").count()
        assert "range=7d" in page.url  # the link's filters came along
        browser.close()
