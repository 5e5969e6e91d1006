"""Figure 4: every page's time to settled in Chromium, and the dashboard server's peak resident memory.

``streamlit run dashboard/app.py`` runs headless on a free port against the reference store; Playwright
drives Debian's Chromium (``/usr/bin/chromium``; Playwright's own browser download is never used)
through every page of ``dashboard.nav.PAGES`` plus an endpoint's detail view, ``rounds`` times. Each visit
is a fresh page load (a new tab) waited on until the script finished and no skeleton is left (``SETTLED``); its
time to settled is recorded, and p50/p95 per page are taken over the rounds.

The rounds are a *returning viewer*: one browser profile that has opened Sextant before, so the app's static files
(Streamlit's JavaScript, hashed names, cached by the browser) come from its cache, as for a team member who uses
the console daily; the data is what is cold. ``new_browser_rounds`` more rounds open each page in a new browser
profile (nothing cached: the first visit ever), reported apart.

Every visit meets a cold query cache, as the first viewer after each collection does: the query cache is
keyed by the snapshot's name, so before each visit the bench publishes the reference snapshot under a new
name in a view of the store (``<workdir>/rss-view``: ``snapshots/<name>.duckdb`` hard links to the reference
snapshot, no copy; the reference store itself is not touched) and the server switches to it, as it does when a
collector publishes. The operating system's file cache stays warm, as on a dashboard host.

Peak RSS: the server process's VmHWM from ``/proc/<pid>/status`` after the first round (one walk over every page,
the figure reported since the first bench) and after all rounds (cache entries of the earlier snapshots stay
until the cache's bound evicts them); its RSS right after start is reported too.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SETTLED, dashboard

TARGET_P95_S = 2.0  # each page settles in at most this long (p95 of its visits, cold cache)


@dataclass
class RssResult:
    start_mb: float
    peak_mb: float  # VmHWM after the first round: one visit of every page
    pages: int
    seconds: float
    page_seconds: dict[str, float]  # the slowest visit of each page
    errors: list[str]
    rounds: int = 1
    peak_all_mb: float = 0.0  # VmHWM after every round
    visits: dict[str, list[float]] = field(default_factory=dict)  # every visit's time to settled, in order
    p50: dict[str, float] = field(default_factory=dict)
    p95: dict[str, float] = field(default_factory=dict)
    new_browser_visits: dict[str, list[float]] = field(default_factory=dict)  # visits from a new browser profile
    nav_visits: dict[str, list[float]] = field(default_factory=dict)  # in-app navigation (a sidebar link, same tab)

    @property
    def met(self) -> bool:
        return bool(self.p95) and max(self.p95.values()) <= TARGET_P95_S


def _status_kb(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


class SnapshotView:
    """A store directory whose snapshots are hard links (a symbolic link where the filesystem refuses one) to the
    reference store's published snapshot; ``publish()`` gives it a new name, so readers switch and their query
    cache, keyed by the name, starts cold. Removed on close (the reference is untouched)."""

    def __init__(self, reference: Path, location: Path) -> None:
        self.source = reference / "snapshots" / (reference / "CURRENT").read_text().strip()
        self.location = location
        shutil.rmtree(location, ignore_errors=True)
        (location / "snapshots").mkdir(parents=True)
        self._names: list[str] = []
        self.publish()

    def publish(self) -> str:
        name = f"{time.time_ns()}.duckdb"
        target = self.location / "snapshots" / name
        try:
            os.link(self.source, target)
        except OSError:
            target.symlink_to(self.source)
        tmp = self.location / f".CURRENT.{name}"
        tmp.write_text(name)
        os.replace(tmp, self.location / "CURRENT")
        self._names.append(name)
        for old in self._names[:-2]:  # a reader may still hold the previous one (POSIX keeps it open)
            (self.location / "snapshots" / old).unlink(missing_ok=True)
        self._names = self._names[-2:]
        return name

    def close(self) -> None:
        shutil.rmtree(self.location, ignore_errors=True)


def _visit(page, url: str, path: str) -> float:
    t = time.monotonic()
    page.goto(f"{url}/{path}", wait_until="domcontentloaded")
    page.wait_for_selector("h1", timeout=120_000)
    page.wait_for_function(SETTLED, timeout=180_000)
    return time.monotonic() - t


# set before a click: records that the app's script started running (the new page's run), so settling is waited on
# for that run and not met by the page still on screen
_WATCH_RUN = """() => {
  window.__ran = false;
  const app = document.querySelector('[data-testid="stApp"]');
  new MutationObserver(() => {
    if (app.getAttribute('data-test-script-state') === 'running') window.__ran = true;
  }).observe(app, {attributes: true, attributeFilter: ['data-test-script-state']});
}"""


def _navigate(page, title: str) -> float:
    """Click the sidebar's link to the page titled ``title`` in an open tab (its st.title is the same text); seconds
    until its run has settled."""
    page.evaluate(_WATCH_RUN)
    link = page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title, exact=True)
    t = time.monotonic()
    link.click()
    # the new page's run has started once it ran (the state seen as running) or drew its title: a fast run can go
    # from running to done between two of React's commits, the attribute never showing it
    page.wait_for_function(f"""(title) => (window.__ran || [...document.querySelectorAll('h1')].some(
        (h) => h.innerText.trim() === title)) && ({SETTLED})()""", arg=title, timeout=180_000)
    return time.monotonic() - t


def run(store: Path, endpoint: str, rounds: int = 5, workdir: Path | None = None,
        log: Callable[[str], object] = print, new_browser_rounds: int = 2) -> RssResult:
    from playwright.sync_api import sync_playwright

    from dashboard.nav import PAGES

    errors: list[str] = []
    visits: dict[str, list[float]] = {}
    fresh: dict[str, list[float]] = {}
    nav: dict[str, list[float]] = {}
    t0 = time.monotonic()
    view = SnapshotView(store, (workdir or store.parent) / "rss-view")
    try:
        with dashboard({"SEXTANT_STORE": str(view.location)}) as (url, proc):
            start_kb = _status_kb(proc.pid, "VmRSS")
            paths = [("overview", "")] + [(p.url_path, p.url_path) for p in PAGES[1:]] + \
                    [("endpoint detail", f"endpoints?endpoint={endpoint}")]
            n = 0
            first_round_kb = 0
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                viewport = {"width": 1440, "height": 1000}
                try:
                    returning = browser.new_context(viewport=viewport)
                    first = returning.new_page()  # the viewer has opened Sextant before (not timed)
                    _visit(first, url, "")
                    first.close()
                    for r in range(rounds):
                        for name, path in paths:
                            view.publish()  # a new snapshot name: this visit's queries miss the cache
                            page = returning.new_page()
                            visits.setdefault(name, []).append(_visit(page, url, path))
                            errors += [f"{name}: {e[:160]}" for e in
                                       page.locator('[data-testid="stException"]').all_inner_texts()]
                            page.close()
                            n += 1
                        if r == 0:
                            first_round_kb = _status_kb(proc.pid, "VmHWM")
                        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in visits.items()))
                    # in-app navigation: one tab, every page reached by its sidebar link (the overview last, so
                    # each click changes page), each after a new snapshot name (cold query cache)
                    tab = returning.new_page()
                    _visit(tab, url, "")
                    for r in range(rounds):
                        for spec in [*PAGES[1:], PAGES[0]]:
                            view.publish()
                            nav.setdefault(spec.url_path, []).append(_navigate(tab, spec.title))
                            n += 1
                        log(f"  in-app {r + 1}/{rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in nav.items()))
                    errors += [f"in-app: {e[:160]}" for e in
                               tab.locator('[data-testid="stException"]').all_inner_texts()]
                    tab.close()
                    for r in range(new_browser_rounds):
                        for name, path in paths:
                            view.publish()
                            page = browser.new_page(viewport=viewport)  # a new profile: nothing cached
                            fresh.setdefault(name, []).append(_visit(page, url, path))
                            page.close()
                            n += 1
                        log(f"  new browser {r + 1}/{new_browser_rounds}: "
                            + ", ".join(f"{k} {v[-1]:.1f}" for k, v in fresh.items()))
                finally:
                    browser.close()
            peak_kb = _status_kb(proc.pid, "VmHWM")
    finally:
        view.close()
    return RssResult(start_kb / 1024, (first_round_kb or peak_kb) / 1024, n, time.monotonic() - t0,
                     {k: max(v) for k, v in visits.items()}, sorted(set(errors)), rounds, peak_kb / 1024, visits,
                     {k: statistics.median(v) for k, v in visits.items()},
                     {k: float(np.percentile(v, 95)) for k, v in visits.items()}, fresh, nav)
