"""Figure 4: peak resident memory of the dashboard server while a browser walks every page.

``streamlit run dashboard/app.py`` runs headless on a free port against the reference store; Playwright
drives Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser download is never used)
through every page of ``dashboard.nav.PAGES`` plus an endpoint's detail view, ``rounds`` times, each
page waited on until the script finished. The server process's peak RSS is read from
``/proc/<pid>/status`` (VmHWM) after the walk; its RSS right after start is reported too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"]
SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app && app.getAttribute('data-test-script-state');
  return state && state !== 'initial' && state !== 'running'
      && !document.querySelector('[data-testid="stSkeleton"]');
}"""


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(store: Path, endpoint: str, rounds: int = 2) -> RssResult:
    from playwright.sync_api import sync_playwright

    from dashboard.nav import PAGES
    port = _free_port()
    env = {**os.environ, "SEXTANT_STORE": str(store)}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    times: dict[str, float] = {}
    t0 = time.monotonic()
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("dashboard did not start") from None
                time.sleep(0.3)
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
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    return RssResult(start_kb / 1024, peak_kb / 1024, n, time.monotonic() - t0, times, errors)
