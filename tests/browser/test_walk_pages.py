"""A real browser (Playwright driving Debian's Chromium) walks every page of a running dashboard."""

from __future__ import annotations

import os
import re

import pytest

from dashboard import ui
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


# ------------------------------------------------------------------ readable tables
# Streamlit draws st.dataframe on a canvas (Glide Data Grid); its accessible <table role="grid"> holds only the
# cells in view and their raw values. The grid's React props hold what is drawn: the columns (titles and widths,
# as laid out) and getCellContent, whose cells carry the displayed text; a missing value is drawn as the
# element's placeholder ("None" when the page sets none).
READ_GRID = """df => {
  const canvas = df.querySelector('canvas[data-testid="data-grid-canvas"]');
  if (!canvas) return null;
  const fiber = Object.keys(canvas).find(k => k.startsWith('__reactFiber$'));
  let inner = null, editor = null, element = null;
  for (let f = canvas[fiber]; f; f = f.return) {
    const p = f.memoizedProps;
    if (!p || typeof p !== 'object') continue;
    if (!inner && p.getCellContent && p.columns && 'translateX' in p) inner = p;
    if (!editor && p.getCellContent && p.columns && 'rowMarkers' in p) editor = p;
    if (!element && p.element && 'elementHash' in p) element = p.element;
  }
  if (!inner || !editor || !element) return null;
  const placeholder = element.placeholder != null ? element.placeholder : 'None';
  const text = (cell, kind) => {
    if (cell.isMissingValue && !['checkbox', 'line_chart', 'bar_chart', 'area_chart', 'progress'].includes(kind))
      return placeholder;
    if (typeof cell.displayData === 'string') return cell.displayData;
    const d = cell.data;
    if (d && typeof d === 'object') return String(d.displayDate ?? d.displayValue ?? d.label ?? '');
    return d == null ? '' : String(d);
  };
  const rect = canvas.getBoundingClientRect();
  let x = rect.left - (inner.translateX || 0);
  const placed = inner.columns.map(c => {
    const r = {title: c.title, left: x, right: x + c.width};
    x += c.width;
    return r;
  });
  const rows = [];
  for (let r = 0; r < Math.min(editor.rows, 300); r++)
    rows.push(editor.columns.map((c, i) => text(editor.getCellContent([i, r]), c.kind)));
  const titles = editor.columns.map(c => c.title);
  return {left: rect.left, right: rect.right, height: rect.height, titles, placed, rows};
}"""

SNAKE = re.compile(r"[a-z0-9]+_[a-z0-9_]+")
MISSING = {"None", "nan", "NaN", "NaT", "<NA>", "null"}
VIEWPORT = {"width": 1440, "height": 900}
DETAIL = "endpoints?endpoint=fraud-txn-scorer-prod"  # autoscaled, with alarms, scaling and deploys in the demo
VIEWS = [p.url_path for p in PAGES] + [DETAIL]
# Per view, the headers a user opens it for: each must be wholly inside its grid and the 1,440-pixel viewport
# before any horizontal scrolling.
KEY_COLUMNS = {
    "overview": ["Endpoint", "Health", "Why", "p99 now", "5xx, 24 h"],
    "endpoints": ["Endpoint", "Status", "p99 now (ms)", "5xx rate, 24 h", "$ / 1k inferences", "Cost / day"],
    "training": ["Job", "Status", "Duration (min)", "Cost"],
    "pipelines": ["Pipeline", "Status", "Duration (min)"],
    "models": ["Endpoint", "Version", "Approval"],
    "cost": ["$ / 1k inferences", "Saving / month"],
    "logs": ["Time (UTC)", "Level", "Message"],
    "incident": ["Endpoint", "ALARM from (UTC)", "Minutes"],
    "collection": ["Source", "Status", "Last success (UTC)"],
    "data": ["Table", "Description"],
    DETAIL: ["Alarm", "State", "Metric", "Variant"],
}


OPEN_PANEL_DRAWN = """() => {
  const open = [...document.querySelectorAll('[role="tabpanel"]')].filter(p => p.offsetParent !== null);
  return open.length > 0 && open.every(p => p.querySelector('[data-testid="stElementContainer"]') !== null);
}"""


def read_tables(page) -> list[dict]:
    """Every grid the view shows, with its expanders open, scrolled into view one by one and opening each of its
    tabs in turn (a grid in a closed expander, a hidden tab or below the fold is not drawn)."""
    grids: dict[tuple, dict] = {}

    def collect() -> None:
        for el in page.locator('[data-testid="stDataFrame"]').element_handles():
            box = el.bounding_box()
            if not box or not box["width"]:
                continue  # in a tab not shown
            el.scroll_into_view_if_needed()  # a grid below the fold is drawn (and readable) once in view
            g = page.wait_for_function(f"el => ({READ_GRID})(el)", arg=el, timeout=30000).json_value()
            grids.setdefault((tuple(g["titles"]), len(g["rows"])), g)

    for summary in page.locator('[data-testid="stExpander"] details:not([open]) > summary').all():
        summary.click()  # open every expander: its tables are part of the page
    page.wait_for_timeout(300)
    collect()
    tabs = page.locator('[data-testid="stTab"]')
    for i in range(tabs.count()):
        tabs.nth(i).click()
        # a lazy tab (bound to the URL) is drawn by the rerun the click starts: wait until its panel has content
        page.wait_for_function(OPEN_PANEL_DRAWN, timeout=60000)
        page.wait_for_function(SETTLED, timeout=60000)
        page.wait_for_timeout(500)
        collect()
    return list(grids.values())


def table_problems(view: str, grids: list[dict]) -> list[str]:
    """What a user would stumble on in ``view``'s tables: snake_case headers, literal None/nan/NaT cells, key
    columns missing or not wholly in the first viewport."""
    problems = []
    for g in grids:
        name = " | ".join(t for t in g["titles"][:3] if t)
        snake = [t for t in g["titles"] if SNAKE.fullmatch(t)]
        if snake:
            problems.append(f"[{name}] snake_case headers: {snake}")
        fitted = ui.fit_height(len(g["rows"]))
        if g["height"] > fitted + 2:
            problems.append(f"[{name}] {g['height']:.0f} px tall for {len(g['rows'])} rows (fits in {fitted})")
        missing = sorted({c for row in g["rows"] for c in row if c.strip() in MISSING})
        if missing:
            problems.append(f"[{name}] cells reading {missing}")
    headers = sorted({c["title"] for g in grids for c in g["placed"] if c["title"]})
    for title in KEY_COLUMNS.get(view, []):
        if title not in headers:
            problems.append(f"key column {title!r} is in no table (headers: {headers})")
        for g in grids:  # wherever it is shown
            for c in (c for c in g["placed"] if c["title"] == title):
                edge = min(g["right"], VIEWPORT["width"])
                if c["left"] < g["left"] - 1 or c["right"] > edge + 1:
                    problems.append(f"key column {title!r} spans x {c['left']:.0f}–{c['right']:.0f}, outside its "
                                    f"grid's first screen ({g['left']:.0f}–{edge:.0f})")
    return problems


@pytest.mark.parametrize("view", VIEWS, ids=VIEWS)
def test_tables_are_readable_in_the_first_viewport(browser, dashboard_url, view):
    """Every page at 1,440 × 900: human headers, blanks for missing values, the key columns on the first screen."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport=VIEWPORT)
    path = "" if view == PAGES[0].url_path else view
    page.goto(f"{dashboard_url}/{path}", wait_until="networkidle")
    page.wait_for_selector("h1", timeout=30000)
    page.wait_for_function(SETTLED, timeout=60000)
    page.wait_for_timeout(1000)
    page.screenshot(path=str(ARTIFACTS / f"tables-{re.sub(r'[^A-Za-z0-9]+', '-', view)}.png"))
    grids = read_tables(page)
    page.close()
    problems = table_problems(view, grids)
    assert not problems, "\n".join(problems)
