"""A real browser (Playwright driving Debian's Chromium) walks every page of a running dashboard."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard.nav import PAGES

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "pages"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"]

# The script finished (Streamlit marks stApp) and no placeholder skeleton is left on the page.
SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app && app.getAttribute('data-test-script-state');
  return state && state !== 'initial' && state !== 'running'
      && !document.querySelector('[data-testid="stSkeleton"]');
}"""

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                                      reason="Debian chromium missing: run make browser-deps")]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def dashboard_url(demo_store):
    port = _free_port()
    env = {**os.environ, "SEXTANT_STORE": str(demo_store.settings.store)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("dashboard did not start") from None
            time.sleep(0.3)
    yield url
    proc.terminate()
    proc.wait(10)


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
