"""``python -m bench`` (``make bench``): every figure at reference scale, each against its baseline.

Steps: the reference store (generated, or reused from ``var/bench/`` when the generator version and
day match); figure 5's API counting against the emulated account runs in a child process meanwhile
(it measures calls, not time); then, one at a time so they do not disturb each other: 1 ingest,
2 page query sets vs pandas, 6 the alert rules' evaluation per cycle (bench/alerts_eval.py), 3 AppTest renders
(child process), 4 every page's time to settled in Chromium (p50/p95 over ``--browser-rounds`` cold-cache visits) and
the dashboard server's peak RSS (the server in a child process). The results table is written between the markers
in docs/PERFORMANCE.md and printed; the raw numbers go to var/bench/results.json. ``--only rss`` runs figure 4 alone
on the cached reference store.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.reference import Scale

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "PERFORMANCE.md"
START, END = "<!-- bench:results:start -->", "<!-- bench:results:end -->"


def machine() -> str:
    import duckdb
    import streamlit
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))) / 2**20
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, load average at start {load[0]:.1f} / "
            f"{load[1]:.1f} / {load[2]:.1f} (shared with other work); Python {platform.python_version()}, "
            f"DuckDB {duckdb.__version__}, Streamlit {streamlit.__version__}")


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def figure_queries(store: Path, sql_runs: int, pandas_runs: int) -> dict[str, Any]:
    """Figure 2, in this process: the product's query sets (cache cleared each run) vs pandas."""
    os.environ["SEXTANT_STORE"] = str(store)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from bench import pagesets as ps
    from dashboard.data import reader
    ctx = ps.make_ctx()
    out: dict[str, dict[str, Any]] = {}
    for page, fn in ps.SQL_SETS.items():
        ps.timed(lambda fn=fn: fn(ctx), 1, ps.clear_cache)  # the first run pays the page's imports
        ms = ps.timed(lambda fn=fn: fn(ctx), sql_runs, ps.clear_cache)
        out[page] = {"sql_p50": ps.pct(ms, 50), "sql_p95": ps.pct(ms, 95), "sql_runs": sql_runs}
        log(f"  {page}: p50 {out[page]['sql_p50']:.0f} ms, p95 {out[page]['sql_p95']:.0f} ms")
    t = time.perf_counter()
    frames = ps.load_frames(reader().cursor(), ctx.now)
    load_s = time.perf_counter() - t
    rows = sum(len(f) for f in frames.values())
    log(f"  pandas: {rows:,} rows loaded in {load_s:.1f} s")
    for page, fn in ps.PANDAS_SETS.items():
        ms = ps.timed(lambda fn=fn, fr=frames: fn(fr, ctx), pandas_runs)
        out[page].update({"pd_p50": ps.pct(ms, 50), "pd_p95": ps.pct(ms, 95), "pd_runs": pandas_runs})
        log(f"  {page} (pandas): p50 {out[page]['pd_p50']:.0f} ms")
    del frames
    gc.collect()
    return {"pages": out, "pandas_load_s": load_s, "pandas_rows": rows, "endpoint": ctx.endpoint,
            "bench_maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _fmt_ms(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f}"


def table(r: dict[str, Any]) -> str:
    """The results as Markdown: one table per figure, targets and whether they are met."""
    L = []
    ref = r["reference"]
    how = f"generated in {ref['seconds']:.0f} s" if r["generated"] else "reused from var/bench/ (generated today)"
    L += [f"Measured {r['finished']} by `make bench` in {r['total_s'] / 60:.1f} min (reference store {how}).",
          "", f"Machine: {r['machine']}.", "",
          f"Reference store: {ref['points']:,} metric points, {ref['hourly']:,} hourly rollup rows, "
          f"{ref['jobs']:,} training jobs, {ref['cost']:,} daily cost rows, {ref['logs']:,} log lines; "
          f"snapshot {ref['gib']:.2f} GiB.", ""]
    i = r["ingest"]
    path, base = statistics.median(i["path_pts_s"]), statistics.median(i["baseline_pts_s"])
    up = statistics.median(i["upsert_pts_s"])
    L += ["### 1. Ingest (metric points per second)", "",
          "| path | points/s (median) | vs row-by-row |", "|---|---:|---:|",
          f"| collector write path: `Writer.upsert` + hourly and daily `_rollup`, {i['batches']} batches of "
          f"{i['batch_points']:,} | {path:,.0f} | {path / base:,.0f}× |",
          f"| `Writer.upsert` alone | {up:,.0f} | {up / base:,.0f}× |",
          f"| baseline: `executemany` of single-row INSERTs ({i['baseline_rows']:,}-row sample, per-row rate "
          f"extrapolated) | {base:,.0f} | 1× |", "",
          f"Target ≥ 1,000,000 points/s: **{'met' if path >= 1e6 else 'missed'}**; ≥ 50× the baseline: "
          f"**{'met' if path >= 50 * base else 'missed'}**"
          f" ({path / 1e6:.2f} M/s, {path / base:,.0f}×). After the batches the table holds {i['rows_after']:,} rows "
          f"= {i['distinct_keys']:,} distinct keys (the overlapping minutes were replaced, not duplicated).", ""]
    q = r["queries"]
    L += ["### 2. Page query sets: p50 / p95 (ms), cold query cache, against pandas", "",
          "| page | SQL p50 | SQL p95 | pandas p50 | pandas p95 | pandas ÷ SQL (p50) |",
          "|---|---:|---:|---:|---:|---:|"]
    for page, v in q["pages"].items():
        ratio = f"{v['pd_p50'] / v['sql_p50']:.1f}×" if v.get("pd_p50") else "n/a"
        L.append(f"| {page} | {_fmt_ms(v['sql_p50'])} | {_fmt_ms(v['sql_p95'])} | {_fmt_ms(v.get('pd_p50'))} | "
                 f"{_fmt_ms(v.get('pd_p95'))} | {ratio} |")
    slow_page, slow = max(q["pages"].items(), key=lambda kv: kv[1]["sql_p95"])
    ratios = [v["pd_p50"] / v["sql_p50"] for v in q["pages"].values() if v.get("pd_p50")]
    over = [p for p, v in q["pages"].items() if v["sql_p95"] > 200]
    slow_ratio = slow["pd_p95"] / slow["sql_p95"] if slow.get("pd_p95") else None
    L += ["", f"SQL: {q['pages'][slow_page]['sql_runs']} runs per page, pandas: "
          f"{next(iter(q['pages'].values())).get('pd_runs')} runs; pandas load (once, not in the page times): "
          f"{q['pandas_load_s']:.1f} s for {q['pandas_rows']:,} rows (a subset: the last 48 h of points, not the "
          f"{ref['points']:,}), and the benchmark process with those frames peaked at {q['bench_maxrss_mb']:,.0f} MB "
          f"RSS, against the dashboard's {r['rss']['peak_mb']:,.0f} MB in figure 4.",
          f"Target: slowest p95 ≤ 200 ms and ≥ 10× faster than pandas: slowest is **{slow_page}**, p95 "
          f"{slow['sql_p95']:,.0f} ms: **{'met' if slow['sql_p95'] <= 200 else 'missed'}**"
          + (f" (over 200 ms: {', '.join(over)})" if len(over) > 1 else "")
          + (f"; against its pandas p95 {slow_ratio:.1f}×: **{'met' if slow_ratio >= 10 else 'missed'}**"
             if slow_ratio is not None else "")
          + f"; pages ≥ 10× faster than pandas: {sum(x >= 10 for x in ratios)} of {len(ratios)} (median ratio "
          f"{statistics.median(ratios):.1f}×).", ""]
    rd = r["render"]
    L += ["### 3. AppTest render (s), reference scale", "",
          "| page | cold (cache cleared) | warm (rerun) | tables / charts / metrics | errors |",
          "|---|---:|---:|---|---|"]
    for page, v in rd["pages"].items():
        L.append(f"| {page} | {v['cold_s']:.2f} | {v['warm_s']:.2f} | {v['tables']} / {v['charts']} / "
                 f"{v['metrics']} | {'; '.join(v['errors']) or 'none'} |")
    worst = max(rd["pages"].items(), key=lambda kv: kv[1]["cold_s"])
    L += ["", f"Median of {next(iter(rd['pages'].values()))['runs']} runs each, in a fresh child process; "
          f"the first page of the process (with imports) took {rd['first_render_s']:.2f} s.",
          f"Target every page ≤ 1 s: slowest cold render **{worst[0]}** {worst[1]['cold_s']:.2f} s: "
          f"**{'met' if worst[1]['cold_s'] <= 1 else 'missed'}**.", ""]
    L += rss_section(r["rss"])
    a = r["api"]
    c, mn, rf = a["counted"], a["minimum"], a["reference"]
    L += ["### 5. AWS API calls and spend", "",
          "Counted on the emulated account (full cycle: every metric query and the Cost Explorer refresh due):", "",
          "| operation | calls | theoretical minimum |", "|---|---:|---:|"]
    for op, mins in mn.items():
        L.append(f"| {op} | {c['full_cycle'].get(op, 0)} | {mins} |")
    other = sum(v for k, v in c["full_cycle"].items() if k not in mn)
    made = sum(c["full_cycle"].get(op, 0) for op in mn)
    L += [f"| all other operations (list/describe, not claimed minimal) | {other} | – |", "",
          f"Billed/packed calls made ÷ minimum: **{made / max(1, sum(mn.values())):.2f}×** "
          f"(GetMetricData: {c['gmd_queries']} queries in {c['gmd_requests']} request(s), {c['gmd_pages']} page(s)).",
          "",
          f"Reference account (200 variants, {rf['pairs']:,} metric queries of which {rf['hot_pairs']} hot), by "
          f"formula from the collector's own `fit_budget` under the default `CollectSettings`: a full cycle makes "
          f"{rf['calls_full_cycle']} billed/list calls against a minimum of {rf['calls_min_full_cycle']} "
          f"(**{rf['calls_full_cycle'] / rf['calls_min_full_cycle']:.2f}×**); cadences fitted to the budget: hot every "
          f"{rf['hot_every_s'] // 60} min, cold every {rf['cold_every_s'] // 3600} h.", "",
          "| monthly API spend | USD |", "|---|---:|",
          f"| Sextant: GetMetricData at the fitted cadences | {rf['gmd_monthly_usd']:.2f} |",
          f"| Sextant: Cost Explorer ({rf['ce_requests_per_refresh']} requests per refresh, every 8 h) | "
          f"{rf['ce_monthly_usd']:.2f} |",
          f"| **Sextant total** (cap `monthly_api_budget_usd` = {rf['budget_usd']:.2f}) | "
          f"**{rf['gmd_monthly_usd'] + rf['ce_monthly_usd']:.2f}** |"]
    for v, usd in rf["live"].items():
        L.append(f"| live-query dashboard, {v} viewer(s) ({rf['live_per_refresh_metrics']} metrics + "
                 f"{rf['live_per_refresh_ce']} CE requests per refresh) | {usd:,.2f} |")
    total = rf["gmd_monthly_usd"] + rf["ce_monthly_usd"]
    calls_ok = rf["calls_full_cycle"] <= 1.05 * rf["calls_min_full_cycle"] and made <= 1.05 * sum(mn.values())
    L += ["", f"Targets: calls ≤ 1.05× minimum: **{'met' if calls_ok else 'missed'}**; "
          f"spend ≤ live-query from 2 viewers: **{'met' if total <= rf['live']['2'] else 'missed'}**; "
          f"never above the cap: **{'met' if total <= rf['budget_usd'] + 1e-9 else 'missed'}**.",
          f"(Counting took {c['seconds']:.0f} s, in parallel with the store step.)"]
    L += ["", *alerts_section(r["alerts"])]
    return "\n".join(L)


def alerts_section(e: dict[str, Any]) -> list[str]:
    """Figure 6 as Markdown lines: what evaluating the alert rules adds to a cycle."""
    from bench.alerts_eval import TARGET_S
    slow = ", ".join(f"{k} {v:.0f} ms" for k, v in e["slowest_rules_ms"].items())
    states = ", ".join(f"{n} {s}" for s, n in sorted(e["alerts"].items())) or "none"
    worst = max(e["first_s"], e["steady_s"])
    return ["### 6. Alert rules per collection cycle (s), reference scale", "",
            "| evaluation | seconds | ÷ the cycle's publish (copy of the snapshot) |", "|---|---:|---:|",
            f"| first (every alert starts: {e['first_transitions']} transitions) | {e['first_s']:.2f} | "
            f"{e['first_s'] / e['publish_copy_s']:.3f}× |",
            f"| steady (median of {e['runs']}: {e['steady_transitions']} transitions) | {e['steady_s']:.2f} | "
            f"{e['steady_s'] / e['publish_copy_s']:.3f}× |",
            f"| baseline: the publish's copy of the snapshot | {e['publish_copy_s']:.2f} | 1× |", "",
            f"{e['rules']} rules (the built-ins under the default settings), {len(e['errors'])} failed; alerts after: "
            f"{states}; slowest rules: {slow}.",
            f"Target: evaluation adds ≤ {TARGET_S:g} s to a cycle: **{'met' if worst <= TARGET_S else 'missed'}** "
            f"({worst:.2f} s)."]


def rss_section(m: dict[str, Any]) -> list[str]:
    """Figure 4 as Markdown lines: each page's time to settled in Chromium (p50/p95 over cold-cache visits) and the
    dashboard server's peak RSS."""
    import numpy as np

    from bench.rss import TARGET_P95_S
    rounds = m.get("rounds", 1)
    L = ["### 4. Pages in the browser: time to settled (s), cold query cache; dashboard memory", "",
         f"`streamlit run dashboard/app.py` (headless) on the reference store; Playwright on /usr/bin/chromium "
         f"opened {m['pages']} page views: every page and an endpoint's detail, {rounds} round(s)"
         + (", each visit a fresh page load in a new tab after the snapshot was published under a new name (so its "
            "queries miss the cache, as the first viewer after a collection does), timed from navigation until the "
            "script finished and no skeleton is left. The rounds are a returning viewer (a browser profile that has "
            "opened Sextant before: Streamlit's static files cached, the data cold)"
            + (f"; {len(next(iter(m['new_browser_visits'].values())))} more round(s) from a new browser profile "
               "(nothing cached) are reported apart" if m.get("new_browser_visits") else "") + "."
            if m.get("p95") else "."), ""]
    p95 = m.get("p95") or {}
    if p95:
        L += ["| page | p50 | p95 | slowest | visits |", "|---|---:|---:|---:|---:|"]
        for page, visits in m["visits"].items():
            L.append(f"| {page} | {m['p50'][page]:.2f} | {p95[page]:.2f} | {max(visits):.2f} | {len(visits)} |")
        slow_page, slow = max(p95.items(), key=lambda kv: kv[1])
        over = [p for p, v in p95.items() if v > TARGET_P95_S]
        L += ["", f"Target each page settles in ≤ {TARGET_P95_S:g} s (p95, returning viewer): slowest p95 "
              f"**{slow_page}** {slow:.2f} s: **{'met' if not over else 'missed'}**"
              + (f" (over {TARGET_P95_S:g} s: {', '.join(over)})" if over else "") + "."]
        nav = m.get("nav_visits") or {}
        if nav:
            nav_p95 = {k: float(np.percentile(v, 95)) for k, v in nav.items()}
            slow_nav, slow_nav_s = max(nav_p95.items(), key=lambda kv: kv[1])
            over_nav = [k for k, v in nav_p95.items() if v > TARGET_P95_S]
            L += ["", "In-app navigation (one tab: each page reached by its sidebar link, as a viewer moves between "
                  "pages; the query cache cold each time, Streamlit's JavaScript already running in the tab), "
                  "p50 / p95 / slowest (s): " + ", ".join(
                      f"{k} {statistics.median(v):.2f} / {nav_p95[k]:.2f} / {max(v):.2f}" for k, v in nav.items())
                  + f". Slowest p95 **{slow_nav}** {slow_nav_s:.2f} s: ≤ {TARGET_P95_S:g} s "
                  f"**{'met' if not over_nav else 'missed'}**"
                  + (f" (over: {', '.join(over_nav)})" if over_nav else "") + "."]
        fresh = m.get("new_browser_visits") or {}
        if fresh:
            L += ["", "First visit from a new browser profile (Streamlit's JavaScript fetched and compiled too), "
                  "median / slowest: " + ", ".join(f"{page} {statistics.median(v):.2f} / {max(v):.2f}"
                                                    for page, v in fresh.items()) + " s."]
    else:  # results from before the per-visit times
        L += [f"Slowest page in the browser: {max(m['page_seconds'].items(), key=lambda kv: kv[1])[0]} "
              f"{max(m['page_seconds'].values()):.1f} s."]
    peak_all = m.get("peak_all_mb") or m["peak_mb"]
    L += ["", f"Memory: RSS after start {m['start_mb']:.0f} MB; **peak RSS (VmHWM) after one walk over every page "
          f"{m['peak_mb']:.0f} MB**; target ≤ 1 GB: **{'met' if m['peak_mb'] <= 1024 else 'missed'}**"
          + (f"; after all {rounds} rounds {peak_all:.0f} MB (cached results of the earlier snapshots included)"
             if rounds > 1 else "") + ". "
          + (f"Errors: {'; '.join(m['errors'])}" if m["errors"] else ""), ""]
    return L


def write_doc(md: str) -> None:
    text = DOC.read_text() if DOC.exists() else f"# Performance\n\n{START}\n{END}\n"
    if START not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    DOC.write_text(f"{head}{START}\n{md}\n{END}{tail}")


def only_rss(work: Path, scale: Scale, rounds: int, info: str) -> None:
    """Figure 4 alone on the cached reference store: refuses (exit 2) when there is none of this generator
    version, rather than generating one."""
    from bench import reference, rss
    location = work / f"reference-{scale.key()}"
    facts_file = location / "reference.json"
    if not facts_file.exists() or not (location / "CURRENT").exists():
        sys.exit(f"no cached reference store at {location}: run `make bench` (or python -m bench) once to generate it")
    facts = json.loads(facts_file.read_text())
    age = datetime.now(UTC) - datetime.fromisoformat(facts["now"])
    if age.total_seconds() > 12 * 3600:
        log(f"note: the reference store was generated {age.total_seconds() / 3600:.0f} h ago; pages read relative "
            "to now, so its recent windows are emptier than a fresh one's")
    t0 = time.monotonic()
    os.environ["SEXTANT_STORE"] = str(location)
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from bench import pagesets as ps
    endpoint = ps.make_ctx().endpoint
    log(f"figure 4 alone on {location} (generator v{reference.GENERATOR_VERSION}): every page's time to settled "
        f"in Chromium ({rounds} rounds, cold cache) and the dashboard's peak RSS")
    mem = asdict(rss.run(location, endpoint, rounds=rounds, workdir=work, log=log))
    total_s, finished = time.monotonic() - t0, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    results = {"machine": info, "rss": mem, "total_s": total_s, "finished": finished}
    (work / "results-rss.json").write_text(json.dumps(results, indent=1, default=str))
    print("\n".join([f"Measured {finished} by `python -m bench --only rss` in {total_s / 60:.1f} min. "
                     f"Machine: {info}.", "", *rss_section(mem)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--workdir", default=str(ROOT / "var" / "bench"))
    ap.add_argument("--sql-runs", type=int, default=21,
                    help="figure 2: runs per page set (21: its p95 is the second slowest, not one outlier)")
    ap.add_argument("--pandas-runs", type=int, default=3)
    ap.add_argument("--render-runs", type=int, default=2)
    ap.add_argument("--browser-rounds", type=int, default=5,
                    help="figure 4: visits of every page (each with a cold query cache) for its p50/p95")
    ap.add_argument("--no-doc", action="store_true", help="print the table only")
    ap.add_argument("--only", choices=["rss"],
                    help="run one figure alone on the cached reference store (never generated here), print its "
                         "section and write var/bench/results-<figure>.json; docs/PERFORMANCE.md is left alone")
    args = ap.parse_args()
    t0 = time.monotonic()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    from bench import ingest, reference, rss
    info = machine()
    log(info)
    if args.only == "rss":
        only_rss(work, reference.Scale.of(args.scale), args.browser_rounds, info)
        return
    log("figure 5 (API calls) starts in a child process")
    api_out = work / "api.json"
    api_proc = subprocess.Popen([sys.executable, "-m", "bench.api", str(work / "api"), str(api_out)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=open(work / "api.log", "w"))
    scale = reference.Scale.of(args.scale)
    store, facts, generated = reference.ensure(work, scale, log=lambda m: log(m))
    log(f"reference store: {store} ({'generated' if generated else 'reused'})")
    import duckdb

    from sextant.schema import ident
    snap = store / "snapshots" / (store / "CURRENT").read_text().strip()
    con = duckdb.connect(str(snap), read_only=True)
    def count(t: str) -> int:
        return int(con.execute(f"SELECT count(*) FROM {ident(t)}").fetchone()[0])  # noqa: S608 - registry names
    ref = {**facts, "hourly": count("aws_cloudwatch_metric_hourly"), "jobs": count("aws_sagemaker_training_job"),
           "cost": count("aws_cost_daily"), "logs": count("aws_logs_event"), "gib": snap.stat().st_size / 2**30}
    con.close()
    api_proc.wait()
    api = json.loads(api_out.read_text())
    log("figure 1: ingest")
    ing = asdict(ingest.run(work / "ingest", log=log))
    log("figure 2: page query sets vs pandas")
    queries = figure_queries(store, args.sql_runs, args.pandas_runs)
    log("figure 6: alert rule evaluation per cycle")
    from bench import alerts_eval
    alert_eval = alerts_eval.run(store)
    log(f"  first {alert_eval['first_s']:.2f} s, steady {alert_eval['steady_s']:.2f} s")
    log("figure 3: AppTest renders (child process)")
    out = subprocess.run([sys.executable, "-m", "bench.render", str(store), str(args.render_runs)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    render = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"figure 4: every page's time to settled in Chromium ({args.browser_rounds} rounds, cold cache) and the "
        "dashboard's peak RSS")
    mem = asdict(rss.run(store, queries["endpoint"], rounds=args.browser_rounds, workdir=work, log=log))
    results = {"machine": info, "reference": ref, "generated": generated, "ingest": ing, "queries": queries,
               "render": render, "rss": mem, "api": api, "alerts": alert_eval, "total_s": time.monotonic() - t0,
               "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")}
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    md = table(results)
    if not args.no_doc:
        write_doc(md)
    print(md)


if __name__ == "__main__":
    main()
