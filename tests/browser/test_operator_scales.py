"""On call, in a real browser: an operator scales the incident endpoint up from its page, the latency chart
shows the drop within 2 simulated minutes, and the audit page shows the attempt.

The set-up is what ``make demo`` runs, made private: an emulated account (a traffic surge on the endpoint,
under way for 15 minutes when it starts, so capacity matters at any hour and the baseline minutes carry the
load; API-started work 60× faster), a collector every 15 s, and the dashboard as the single local admin.
The browser reads the latency chart's own data (Plotly's graph div).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from actions.audit import AuditLog
from tests.browser.harness import CHROMIUM, CHROMIUM_ARGS, SETTLED, dashboard
from tests.browser.test_walk_pages import ARTIFACTS
from tests.conftest import ROOT, start_account, stop_account, stop_process, wait_until

ENDPOINT = "fraud-txn-scorer-prod"
SURGE_RPM = 4800  # invocations a minute: about 0.5 of 3 instances' capacity, 0.2 of 8
TARGET = 8
SOURCES = ["sagemaker_endpoints", "application_autoscaling", "cloudwatch_metrics", "cloudwatch_alarms", "cost_explorer"]

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("operator_scales"),
              pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium missing: make browser-deps")]

# The p99 trace of the "ModelLatency percentiles" chart: [[iso time, ms], ...] (Plotly decodes typed arrays
# into _fullData).
P99 = """() => {
  for (const gd of document.querySelectorAll('.js-plotly-plot')) {
    const title = gd.layout && gd.layout.title && (gd.layout.title.text || gd.layout.title);
    if (!String(title).includes('ModelLatency percentiles')) continue;
    const tr = (gd._fullData || gd.data).find(t => String(t.name).startsWith('p99'));
    if (!tr) return null;
    return Array.from(tr.x).map((x, i) => [String(x), Number(tr.y[i])]);
  }
  return null;
}"""


@pytest.fixture(scope="module")
def oncall(tmp_path_factory):
    """(dashboard URL, store directory, the account) with a collector running every 15 s."""
    tmp = tmp_path_factory.mktemp("oncall")
    acc = start_account(tmp, env={"DEMO_SPEEDUP": "60"}, args=["--surge", f"{ENDPOINT}={SURGE_RPM}"])
    try:
        yield from _serve(acc, tmp)
    finally:
        stop_account(acc)


def _serve(acc, tmp: Path):
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
            yield url, store, acc
    finally:
        stop_process(collector, 15)


def _activity_end(acc, after: datetime) -> datetime:
    """When the autoscaler finished moving the variant (its newest successful activity since ``after``)."""
    aas = acc.client("application-autoscaling")

    def finished() -> list[datetime]:
        acts = aas.describe_scaling_activities(ServiceNamespace="sagemaker",
                                               ResourceId=f"endpoint/{ENDPOINT}/variant/AllTraffic")
        return [a["EndTime"] for a in acts["ScalingActivities"]
                if a["StatusCode"] == "Successful" and a["EndTime"] >= after - timedelta(seconds=5)]

    return max(wait_until(finished, 60, "the scaling activity to finish")).astimezone(UTC)


def _open(page, url: str) -> None:
    page.goto(url, wait_until="networkidle")
    page.wait_for_selector("h1", timeout=30000)
    page.wait_for_function(SETTLED, timeout=90000)


def _p99(page) -> list[tuple[datetime, float]]:
    points = page.evaluate(P99) or []
    return [(datetime.fromisoformat(x.replace(" ", "T")).replace(tzinfo=UTC), y) for x, y in points]


def test_an_operator_scales_the_incident_endpoint_and_sees_latency_drop(oncall):
    from playwright.sync_api import sync_playwright

    url, store, acc = oncall
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    detail = f"{url}/endpoints?endpoint={ENDPOINT}&range=1h"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 1100})
        _open(page, detail)
        before = _p99(page)
        page.screenshot(path=str(ARTIFACTS / "oncall-before.png"), full_page=True)
        assert len(before) >= 10, f"the latency chart has too few p99 points before the change: {before[-3:]}"

        page.get_by_text("Scale this endpoint").click()
        box = page.locator(".st-key-ep_scale_AllTraffic_n input")
        box.fill(str(TARGET))
        box.press("Enter")
        page.wait_for_function(SETTLED, timeout=30000)
        page.locator(".st-key-ep_scale_AllTraffic_scale button").click()
        dialog = page.get_by_role("dialog")
        try:
            dialog.get_by_text("Cost impact").wait_for(timeout=30000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "oncall-confirm.png"), full_page=True)
        plan_text = dialog.inner_text()
        assert f"min {TARGET} / max {TARGET}" in plan_text, plan_text  # autoscaled: the target moves, not the count
        assert "/ day" in plan_text
        page.screenshot(path=str(ARTIFACTS / "oncall-confirm.png"), full_page=True)
        dialog.locator(".st-key-ep_scale_AllTraffic_scale_confirm button").click()
        # On success the dialog closes; the outcome stays under the button, and the change shows as pending
        page.get_by_role("dialog").wait_for(state="hidden", timeout=60000)
        done = page.locator('[data-testid="stAlertContentSuccess"]').filter(has_text="audit #")
        done.first.wait_for(state="attached", timeout=60000)  # under the Scale button, in its expander
        clicked = datetime.now(UTC)
        assert done.count() == 1, page.inner_text("body")
        page.get_by_text("pending until the next collection").first.wait_for(timeout=60000)  # on the page itself
        page.screenshot(path=str(ARTIFACTS / "oncall-pending.png"), full_page=True)

        # When the instances changed (the autoscaler's activity ends), then the first full minute after it, as
        # the next collections bring it to the page.
        changed = _activity_end(acc, clicked)
        effective = changed.replace(second=0, microsecond=0) + (timedelta(minutes=1) if changed.second or
                                                                 changed.microsecond else timedelta(0))
        deadline = time.monotonic() + 240
        after: list[tuple[datetime, float]] = []
        while time.monotonic() < deadline:
            page.wait_for_timeout(10000)
            _open(page, detail)
            after = [(t, y) for t, y in _p99(page) if t >= effective]
            if len(after) >= 1:
                break
        page.screenshot(path=str(ARTIFACTS / "oncall-after.png"), full_page=True)
        assert after, f"no p99 point after {effective:%H:%M} UTC reached the page in 4 minutes"
        baseline = [y for t, y in before if t >= clicked - timedelta(minutes=6)][-5:]
        shown_at = after[0][0] + timedelta(minutes=1)  # a minute's point exists once the minute is over
        waited = (shown_at - clicked).total_seconds()
        print(f"\np99 before (last 5 min): {[round(y, 1) for y in baseline]} ms; after: "
              f"{[round(y, 1) for _, y in after]} ms; first lower point covers {after[0][0]:%H:%M}, "
              f"{waited:.0f} simulated s after the click")
        assert after[0][1] < 0.85 * (sum(baseline) / len(baseline)), (baseline, after)
        update_s = (changed - clicked).total_seconds()
        assert waited <= 120 + max(update_s, 0), \
            f"the drop shows first in the minute ending {waited:.0f} s after the click (update took {update_s:.0f} s)"

        audit = AuditLog(Path(store) / "audit.sqlite").frame()
        row = audit.iloc[0]
        assert (row.action, row.target, row.result, row.role) == (
            "scale_endpoint", f"{ENDPOINT}/AllTraffic", "succeeded", "admin")
        assert row.aws_request_id
        _open(page, f"{url}/audit")
        latest = page.locator('[data-testid="stMarkdownContainer"]', has_text="Latest:").inner_text()
        page.screenshot(path=str(ARTIFACTS / "oncall-audit.png"), full_page=True)
        assert f"#{row.id}" in latest and "scale_endpoint" in latest and f"{ENDPOINT}/AllTraffic" in latest
        assert "succeeded" in latest and f"{str(row['at'])[:16].replace('T', ' ')}" in latest
        browser.close()
    target = acc.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{ENDPOINT}/variant/AllTraffic"])["ScalableTargets"][0]
    assert (target["MinCapacity"], target["MaxCapacity"]) == (TARGET, TARGET)
