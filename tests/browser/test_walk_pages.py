"""A real browser (Playwright driving Debian's Chromium) walks every page of a running dashboard."""

from __future__ import annotations

import os

import pytest

from dashboard.nav import PAGES
from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, ROOT, SETTLED, dashboard

ARTIFACTS = ROOT / "test-artifacts" / "pages"

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                                      reason="Debian chromium missing: run make browser-deps")]


@pytest.fixture(scope="module")
def dashboard_url(demo_store):
    with dashboard({"SEXTANT_STORE": str(demo_store.settings.store)}) as (url, _):
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("page_spec", PAGES, ids=[p.url_path for p in PAGES])
def test_page_renders_without_errors(browser, dashboard_url, page_spec):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    console_errors: list[str] = []
    page.on("pageerror", lambda exc: console_errors.append(str(exc)))
    path = "" if page_spec == PAGES[0] else page_spec.url_path  # the default page lives at /
    page.goto(f"{dashboard_url}/{path}", wait_until="networkidle")
    page.wait_for_selector("h1", timeout=30000)
    page.wait_for_function(SETTLED, timeout=60000)
    page.wait_for_timeout(1000)  # let Plotly finish drawing before the screenshot
    page.screenshot(path=str(ARTIFACTS / f"{page_spec.url_path}.png"), full_page=True)
    exceptions = page.locator('[data-testid="stException"]').all_inner_texts()
    errors = page.locator('[data-testid="stAlertContentError"]').all_inner_texts()
    page.close()
    assert not exceptions, exceptions
    assert not errors, errors
    assert not console_errors, console_errors
