"""The on-call story, in a real browser: a GPU alarm fires in the emulated account; from the Overview the operator
reaches the endpoint in at most 2 clicks, sees its GPU series no more than 2 minutes old, scales it up, sees the
change pending, and within 3 minutes sees GPU utilization fall on the chart.

The set-up is ``make demo`` made private: an emulated account with a traffic surge on a GPU endpoint (under way
for 15 minutes when it starts, so its ``<endpoint>-gpu-hot`` alarm is in ALARM from the first evaluation, at any
hour; API-started work 60x faster, so the update takes a second), a collector every 15 s with a 1-minute hot
cadence, and the dashboard as the single local admin. Simulated time is wall time (DEMO_SPEEDUP shortens only
API-started work), so "3 simulated minutes" is 3 minutes of the test's clock. The browser reads the GPU chart's own
data (Plotly's graph div). Screenshots of every step go to test-artifacts/oncall/.

Without the alarm's promotion the GPU series is polled on the cold cadence (hourly): its points after the scale
would not reach the chart within the test's deadline, so the last step fails.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SETTLED, dashboard
from tests.conftest import ROOT, Account, start_account, stop_account, stop_process, wait_until

if TYPE_CHECKING:
    from playwright.sync_api import Page

ENDPOINT = "vision-defect-detector-prod"  # AllTraffic: 2 x ml.g5.2xlarge, 700 invocations a minute each at 100%
ALARM = f"{ENDPOINT}-gpu-hot"  # GPUUtilization Average > 55 % in 2 of 3 five-minute periods
SURGE_RPM = 1100  # about 0.79 of 2 instances' capacity (GPU ~73 %), 0.39 of 4 (GPU ~37 %)
TARGET = 4
SOURCES = ["sagemaker_endpoints", "application_autoscaling", "cloudwatch_metrics", "cloudwatch_alarms", "cost_explorer"]
ARTIFACTS = ROOT / "test-artifacts" / "oncall"
PENDING = "pending until the next collection"
FRESH_S = 120  # the GPU series' newest point at most this old when the operator looks
FALL_S = 180  # the fall shows on the chart within this long after the scale

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("oncall_story"),
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium missing: make browser-deps")]

# The GPU trace of the "GPU utilization" chart: [[time, %], ...] (Plotly decodes typed arrays into _fullData).
GPU = """() => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const title = gd.layout && gd.layout.title && (gd.layout.title.text || gd.layout.title);
    if (!String(title).includes('GPU utilization')) continue;
    const tr = (gd._fullData || gd.data).find(t => String(t.name).startsWith('GPU'));
    if (!tr) return null;
    return Array.from(tr.x).map((x, i) => [String(x), Number(tr.y[i])]);
  }
  return null;
}"""


SHADED = """(alarm) => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const title = gd.layout && gd.layout.title && (gd.layout.title.text || gd.layout.title);
    if (!String(title).includes('GPU utilization')) continue;
    const rects = (gd.layout.shapes || []).filter(s => s.type === 'rect').length;
    const legend = (gd._fullData || gd.data).some(t => String(t.name) === alarm + ' in ALARM');
    return {rects, legend};
  }
  return null;
}"""  # the GPU chart's shaded ALARM periods (rectangles) and their legend entry


GPU_INDEX = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).findIndex(gd => {
  const title = gd.layout && gd.layout.title && (gd.layout.title.text || gd.layout.title);
  return String(title).includes('GPU utilization');
})"""


@pytest.fixture(scope="module")
def oncall(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Account, subprocess.Popen[bytes]]]:
    """(dashboard URL, store directory, the account, the collector process) with a collector every 15 s."""
    tmp = tmp_path_factory.mktemp("oncall_story")
    acc = start_account(tmp, env={"DEMO_SPEEDUP": "60"}, args=["--surge", f"{ENDPOINT}={SURGE_RPM}"])
    try:
        yield from _serve(acc, tmp)
    finally:
        stop_account(acc)


def _serve(acc: Account, tmp: Path) -> Iterator[tuple[str, Path, Account, subprocess.Popen[bytes]]]:
    store = tmp / "store"
    config = tmp / "sextant.toml"
    config.write_text(f'[store]\nlocation = "{store}"\n\n[collect]\nhot_every = "1m"\nbackfill_days = 1\n'
                      "monthly_api_budget_usd = 100\n\n[auth]\nlocal_admin = true\n")
    env = {**acc.env, "SEXTANT_CONFIG": str(config), "SEXTANT_STORE": str(store)}
    sources = sum((["--source", s] for s in SOURCES), [])
    first = subprocess.run([sys.executable, "-m", "collectors", "run", "--once", "--quiet", *sources],
                           cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr[-3000:]
    collector = subprocess.Popen([sys.executable, "-m", "collectors", "run", "--every", "15s", "--quiet", *sources],
                                 cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    try:
        with dashboard(env) as (url, _):
            yield url, store, acc, collector
    finally:
        os.kill(collector.pid, signal.SIGCONT)  # in case a failure left it held
        stop_process(collector, 15)


def _settle(page: Page) -> None:
    page.wait_for_selector("h1", timeout=60000)
    page.wait_for_function(SETTLED, timeout=120000)


def _when(x: str) -> datetime:
    t = datetime.fromisoformat(x.strip().replace(" ", "T"))
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def _gpu(page: Page) -> list[tuple[datetime, float]]:
    """The GPU series on the endpoint page (its Utilization tab opened), oldest first."""
    page.get_by_role("tab", name="Utilization").click()
    page.wait_for_function(f"() => ({GPU})() !== null", timeout=60000)
    return sorted((_when(x), y) for x, y in page.evaluate(GPU) or [])


def _reload(page: Page) -> list[tuple[datetime, float]]:
    page.reload(wait_until="domcontentloaded")
    _settle(page)
    return _gpu(page)


def _shot(page: Page, name: str, chart: bool = False) -> None:
    """A screenshot of the page (with ``chart``, scrolled to the GPU chart, which is below the first screen)."""
    if chart:
        i = page.evaluate(GPU_INDEX)
        if i >= 0:
            page.locator(".js-plotly-plot").nth(i).scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=not chart)


def _alarm_state(acc: Account) -> str:
    return str(acc.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"][0]["StateValue"])


def _in_service_with(acc: Account, count: int) -> datetime | None:
    """When the endpoint is InService again with ``count`` instances (None while it is not)."""
    d = acc.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)
    v = d["ProductionVariants"][0]
    if d["EndpointStatus"] == "InService" and v.get("CurrentInstanceCount") == count:
        return datetime.now(UTC)
    return None


def test_oncall_reaches_the_gpu_alarm_scales_and_sees_gpu_fall(
        oncall: tuple[str, Path, Account, subprocess.Popen[bytes]]) -> None:
    from playwright.sync_api import sync_playwright

    url, _, acc, collector = oncall
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert _alarm_state(acc) == "ALARM", "the surge did not put the GPU alarm in ALARM in the emulated account"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1100})
        page = context.new_page()

        # 1. Overview: the alarm is listed; one click on it (same tab, or a new tab) opens the endpoint.
        page.goto(url + "/", wait_until="domcontentloaded")
        _settle(page)
        link = page.locator("a", has_text=ALARM).first
        link.wait_for(timeout=60000)
        _shot(page, "1-overview")
        clicks = 0
        pages_before = len(context.pages)
        link.click()
        clicks += 1

        # Playwright's sync API updates page.url while it is called, so the wait polls through page.wait_for_timeout
        deadline = time.monotonic() + 60
        arrived = None
        while arrived is None and time.monotonic() < deadline:
            page.wait_for_timeout(250)
            arrived = next((c for c in [page, *context.pages[pages_before:]] if f"endpoint={ENDPOINT}" in c.url),
                           None)
        assert arrived is not None, f"one click on {ALARM} did not open the endpoint: {[c.url for c in context.pages]}"
        page = arrived
        _settle(page)
        page.get_by_role("heading", name=ENDPOINT).wait_for(timeout=60000)
        assert clicks <= 2
        # On the endpoint, the operator narrows the charts to the last hour (the sidebar's range; not navigation).
        page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').first.click()
        page.get_by_role("option", name="Last hour").click()
        page.wait_for_function("() => location.search.includes('range=1h')", timeout=60000)
        _settle(page)

        # 2. The GPU series is fresh: its newest minute at most 2 minutes old (a collection may be under way at
        #    the first look: re-read for up to 2 minutes).
        deadline = time.monotonic() + 120
        gpu = _gpu(page)
        ages = []
        while True:
            age = (datetime.now(UTC) - gpu[-1][0]).total_seconds() if gpu else float("inf")
            ages.append(round(age))
            if age <= FRESH_S or time.monotonic() > deadline:
                break
            page.wait_for_timeout(5000)
            gpu = _reload(page)
        _shot(page, "2-endpoint-gpu", chart=True)
        assert gpu, "the endpoint page draws no GPU utilization series"
        assert ages[-1] <= FRESH_S, f"the GPU series' newest point is {ages[-1]} s old (reads: {ages} s)"
        assert gpu[-1][1] > 55, f"GPU utilization is not above the alarm's 55 %: {gpu[-3:]}"
        shaded = page.evaluate(SHADED, ALARM)  # the alarm is in ALARM: its period is shaded on the chart it watches
        assert shaded and shaded["rects"] >= 1 and shaded["legend"], f"the GPU chart shades no ALARM period: {shaded}"

        # 3. Scale to TARGET instances. The collector here runs every 15 s, so the pending state would last
        #    seconds: it is held (SIGSTOP) from the confirmation until the page has been read, as a collector on
        #    a minute's cadence would be, then resumes and must confirm the change.
        page.get_by_text("Scale this endpoint").click()
        box = page.locator(".st-key-ep_scale_AllTraffic_n input")
        box.fill(str(TARGET))
        box.press("Enter")
        page.wait_for_function(SETTLED, timeout=60000)
        page.locator(".st-key-ep_scale_AllTraffic_scale button").click()
        dialog = page.get_by_role("dialog")
        try:
            dialog.get_by_text("Cost impact").wait_for(timeout=60000)
        finally:
            _shot(page, "3-confirm")
        plan = dialog.inner_text()
        assert f"from 2 to {TARGET}" in plan, plan
        os.kill(collector.pid, signal.SIGSTOP)
        try:
            clicked = datetime.now(UTC)
            dialog.locator(".st-key-ep_scale_AllTraffic_scale_confirm button").click()
            dialog.wait_for(state="hidden", timeout=60000)
            notice = page.get_by_text(PENDING).first
            notice.wait_for(timeout=60000)
            _shot(page, "4-pending")
            assert f"to {TARGET} instances" in notice.inner_text(), notice.inner_text()
        finally:
            os.kill(collector.pid, signal.SIGCONT)
        changed = wait_until(lambda: _in_service_with(acc, TARGET), 60, f"the endpoint to serve on {TARGET}")
        effective = changed.replace(second=0, microsecond=0) + timedelta(minutes=1)  # the first whole minute

        # 4. Within 3 minutes the chart shows GPU utilization fall; then 3 minutes after the scale are on it.
        before_minute = clicked.replace(second=0, microsecond=0)
        seen_at: datetime | None = None
        after: list[float] = []
        baseline: list[float] = []
        deadline = time.monotonic() + FALL_S + 240
        while time.monotonic() < deadline:
            page.wait_for_timeout(5000)
            gpu = _reload(page)
            baseline = [y for t, y in gpu if before_minute - timedelta(minutes=5) <= t < before_minute]
            after = [y for t, y in gpu if t >= effective]
            if seen_at is None and after and baseline and after[0] < 0.8 * statistics.median(baseline):
                seen_at = datetime.now(UTC)
                _shot(page, "5-fall-seen", chart=True)
            if len(after) >= 3:
                break
        _shot(page, "6-after", chart=True)
        text = page.locator('[data-testid="stMain"]').inner_text()
        browser.close()

    print(f"\nGPU freshness reads {ages} s; 5 min before the scale {[round(y, 1) for y in baseline]} %; after "
          f"{effective:%H:%M} {[round(y, 1) for y in after]} %; fall seen "
          f"{(seen_at - clicked).total_seconds() if seen_at else float('nan'):.0f} s after the click "
          f"(update took {(changed - clicked).total_seconds():.0f} s)")
    assert len(baseline) == 5, f"the chart lacks minutes before the scale: {baseline}"
    assert seen_at is not None, f"GPU utilization did not fall on the chart: before {baseline}, after {after}"
    assert (seen_at - clicked).total_seconds() <= FALL_S, \
        f"the fall showed {(seen_at - clicked).total_seconds():.0f} s after the scale"
    assert len(after) >= 3, f"fewer than 3 minutes after the scale reached the chart: {after}"
    assert statistics.median(after[-3:]) < 0.8 * statistics.median(baseline), (baseline, after)
    assert PENDING not in text, "the change is still shown pending after collections saw it"
