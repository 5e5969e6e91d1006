"""Figure 5: AWS API calls per collection cycle, and the monthly API spend, against their baselines.

**Counted.** The emulated demo account (``python -m demo``, reached through ``AWS_ENDPOINT_URL`` like
any account) is collected with the real runner and the client factory's ``CallCounter``: a first
cycle (discovery and backfill), then a *full* cycle in which every metric query and the Cost
Explorer refresh are due (their cursors are moved back by a cold cadence / a refresh interval:
the same calls an hour / eight hours later would make). Calls are read by operation from the
counter; the GetMetricData queries and requests from the collector's own ``aws_cloudwatch_metric_poll``
record of that cycle.

**Minimum.** GetMetricData: ceil(queries / 500) per cycle (500 metrics per call is the API limit);
ListMetrics: ceil(series / 500) per namespace (500 per page); GetCostAndUsage: one request per
grouping and chunk. The per-resource Describe / ListTags calls are listed, not claimed minimal.

**Reference account, by formula.** 200 variants, each with the statistics ``stats_for`` gives its 10
series; hot pairs (Invocations Sum, 5XX Sum, ModelLatency p99) of the variants with traffic. The
collector's own ``fit_budget`` gives the cadences and GetMetricData spend under the default
``CollectSettings``; Cost Explorer: requests per refresh (counted) x refreshes per month.

**Live-query dashboard** (Grafana's CloudWatch and Cost Explorer sources: every panel queries AWS on
every refresh) showing the same panels: the Endpoints table and Overview health (invocations, 4XX,
5XX and p99 per variant for the last 24 h: 4 metrics x 200 variants), the endpoint detail charts for
one endpoint (12 metrics x 2 variants), and the Cost page (daily cost by service, by team, the
forecast and anomalies: 4 Cost Explorer requests); viewers refresh every 5 minutes, 8 hours a day,
22 working days a month.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from bench.reference import VARIANT_SERIES
from collectors import cloudwatch_metrics as cwm
from tests.conftest import start_account, stop_process

GMD_USD_PER_METRIC = 0.01 / 1000
CE_USD_PER_REQUEST = 0.01
REFRESHES_PER_MONTH = 8 * 12 * 22  # every 5 minutes, 8 hours a day, 22 working days


@dataclass
class Counted:
    first_cycle: dict[str, int]
    full_cycle: dict[str, int]
    gmd_queries: int
    gmd_requests: int
    gmd_pages: int
    series: int
    series_by_namespace: dict[str, int]
    ce_groupings: int
    seconds: float


@dataclass
class Reference:
    variants: int
    pairs: int
    hot_pairs: int
    hot_every_s: int
    cold_every_s: int
    gmd_monthly_usd: float
    ce_requests_per_refresh: int
    ce_monthly_usd: float
    calls_full_cycle: int
    calls_min_full_cycle: int
    budget_usd: float
    live: dict[int, float] = field(default_factory=dict)
    live_per_refresh_metrics: int = 0
    live_per_refresh_ce: int = 0


def count(workdir: Path) -> Counted:
    """Collect the demo account twice (first, then full) and count the calls."""
    import collectors
    from collectors import runner
    from sextant.aws import Clients
    from sextant.settings import AccountSettings, CollectSettings, Settings
    from sextant.store import Writer

    shutil.rmtree(workdir, ignore_errors=True)  # a first cycle must start from an empty store
    workdir.mkdir(parents=True)
    t0 = time.monotonic()
    acc = start_account(workdir, live=False, timeout=180)
    saved = {k: os.environ.get(k) for k in acc.env}
    os.environ.update(acc.env)
    try:
        # a one-day backfill keeps the first cycle short; the full cycle's calls do not depend on it
        settings = Settings(store=workdir / "store", accounts=(AccountSettings(),),
                            collect=CollectSettings(backfill_days=1))
        cycles = []
        for k in range(2):
            clients = Clients(AccountSettings())
            w = Writer(settings.store)
            try:
                collectors.migrate(w)
                if k == 1:  # everything due: metric cursors one cold cadence back, Cost Explorer refresh due
                    back = timedelta(seconds=settings.collect.cold_every_s)
                    rows = w.con.execute("SELECT account_id, region, key, value FROM sextant_watermark "
                                         "WHERE source = ? AND key LIKE ?", ["cloudwatch_metrics", "%|%"]).fetchall()
                    for account, region, key, value in rows:
                        w.con.execute("UPDATE sextant_watermark SET value = ? WHERE account_id = ? AND region = ? "
                                      "AND source = ? AND key = ?",
                                      [(datetime.fromisoformat(value) - back).isoformat(), account, region,
                                       "cloudwatch_metrics", key])
                    w.con.execute("DELETE FROM sextant_watermark WHERE source = ? AND key = ?",
                                  ["cost_explorer", "last_fetch_at"])
                runner.run_cycle(settings, w, clients_for=lambda a, c=clients: c)
                cycles.append(clients.counter.snapshot())
                if k == 1:
                    poll = w.con.execute("SELECT queries, requests, pages FROM aws_cloudwatch_metric_poll "
                                         "ORDER BY polled_at DESC LIMIT 1").fetchone()
                    ns = dict(w.con.execute("SELECT namespace, count(*) FROM aws_cloudwatch_metric_series "
                                            "GROUP BY ALL").fetchall())
            finally:
                w.close()
    finally:
        stop_process(acc.process, 15)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    from collectors.cost_explorer import kinds
    return Counted(cycles[0], cycles[1], poll[0], poll[1], poll[2], sum(ns.values()), ns,
                   len(kinds(CollectSettings().tag_keys)), time.monotonic() - t0)


def minimum(c: Counted) -> dict[str, int]:
    """The theoretical minimum of the counted full cycle, per operation where it is defined.

    ListMetrics only counts when the cycle re-discovered (every cold cadence, or when resources change)."""
    out = {"cloudwatch:GetMetricData": math.ceil(c.gmd_queries / cwm.MAX_QUERIES),
           "ce:GetCostAndUsage": c.ce_groupings, "ce:GetCostForecast": 1, "ce:GetAnomalies": 1}
    if c.full_cycle.get("cloudwatch:ListMetrics"):
        out["cloudwatch:ListMetrics"] = sum(math.ceil(n / 500) for n in c.series_by_namespace.values())
    return out


def reference(c: Counted, variants: int = 200, idle_share: float = 1 / 12) -> Reference:
    """The reference account's cycle and month, by formula from the collector's own rules and the counts."""
    from sextant.settings import CollectSettings
    cfg = CollectSettings()
    pairs = variants * sum(len(cwm.stats_for(ns, m)) for ns, m, _ in VARIANT_SERIES)
    hot = round(variants * (1 - idle_share)) * len(cwm.HOT)
    hot_s, cold_s, gmd_usd = cwm.fit_budget(hot, pairs - hot, cfg.hot_every_s, cfg.cold_every_s,
                                            cwm.metrics_budget_usd(cfg))
    ce_per_refresh = c.full_cycle.get("ce:GetCostAndUsage", 0) + c.full_cycle.get("ce:GetCostForecast", 0) + \
        c.full_cycle.get("ce:GetAnomalies", 0)
    refreshes = 30 * 86400 / cfg.cost_refresh_every_s
    ce_usd = ce_per_refresh * refreshes * CE_USD_PER_REQUEST
    # calls of a full cycle at reference scale: GetMetricData at 500 queries per call (the collector packs
    # per period; a full cycle is all 1-minute), ListMetrics pages, Cost Explorer as counted
    gmd_calls = math.ceil(pairs / cwm.MAX_QUERIES)
    list_calls = sum(math.ceil(variants * n / 500) for n in (5, 5))  # 5 series per namespace per variant
    calls = gmd_calls + list_calls + ce_per_refresh
    calls_min = gmd_calls + list_calls + c.ce_groupings + 2  # + forecast + anomalies
    if "cloudwatch:ListMetrics" not in c.full_cycle:  # not a re-discovery cycle
        calls, calls_min = calls - list_calls, calls_min - list_calls
    live_metrics = 4 * variants + 12 * 2
    live_ce = 4
    per_refresh = live_metrics * GMD_USD_PER_METRIC + live_ce * CE_USD_PER_REQUEST
    live = {v: per_refresh * REFRESHES_PER_MONTH * v for v in (1, 2, 5, 20)}
    return Reference(variants, pairs, hot, hot_s, cold_s, gmd_usd, ce_per_refresh, ce_usd, calls, calls_min,
                     cfg.monthly_api_budget_usd, live, live_metrics, live_ce)


if __name__ == "__main__":
    counted = count(Path(sys.argv[1] if len(sys.argv) > 1 else "var/bench/api"))
    text = json.dumps({"counted": counted.__dict__, "minimum": minimum(counted),
                       "reference": reference(counted).__dict__}, default=str, indent=1)
    if len(sys.argv) > 2:
        Path(sys.argv[2]).write_text(text)
    print(text)
