"""Figure 4: peak resident memory of the dashboard server while a browser walks every page.

``streamlit run dashboard/app.py`` runs headless on a free port against the reference store; Playwright
drives Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser download is never used)
through every page of ``dashboard.nav.PAGES`` plus an endpoint's detail view, ``rounds`` times, each
page waited on until the script finished. The server process's peak RSS is read from
``/proc/<pid>/status`` (VmHWM) after the walk; its RSS right after start is reported too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SETTLED, dashboard


@dataclass
class RssResult:
    start_mb: float
    peak_mb: float
    pages: int
    seconds: float
    page_seconds: dict[str, float]
    errors: list[str]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def run(store: Path, endpoint: str, rounds: int = 2) -> RssResult:
    from playwright.sync_api import sync_playwright

    from dashboard.nav import PAGES

    errors: list[str] = []
    times: dict[str, float] = {}
    t0 = time.monotonic()
    with dashboard({"SEXTANT_STORE": str(store)}) as (url, proc):
        start_kb = _status_kb(proc.pid, "VmRSS")
        paths = [("overview", "")] + [(p.url_path, p.url_path) for p in PAGES[1:]] + \
                [("endpoint detail", f"endpoints?endpoint={endpoint}")]
        n = 0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for _ in range(rounds):
                    for name, path in paths:
                        page = browser.new_page(viewport={"width": 1440, "height": 1000})
                        t = time.monotonic()
                        page.goto(f"{url}/{path}", wait_until="domcontentloaded")
                        page.wait_for_selector("h1", timeout=120_000)
                        page.wait_for_function(SETTLED, timeout=180_000)
                        times[name] = max(times.get(name, 0.0), time.monotonic() - t)
                        errors += [f"{name}: {e[:160]}" for e in
                                   page.locator('[data-testid="stException"]').all_inner_texts()]
                        page.close()
                        n += 1
            finally:
                browser.close()
        peak_kb = _status_kb(proc.pid, "VmHWM")
    return RssResult(start_kb / 1024, peak_kb / 1024, n, time.monotonic() - t0, times, errors)
