"""Reliability soak: the longer runs of ``tests/reliability`` (faults, SIGKILLs, side-by-side load).

``python -m bench.soak`` runs a short pass (about what ``make test`` does); ``python -m bench.soak --long``
(``make soak``) runs:

- faults: 5 collections of every deterministic source (SageMaker endpoints, training, registry, CloudWatch
  alarms, ECR/CloudFormation/EventBridge) of a frozen emulated account with 30% of attempts
  failing (throttling, LimitExceeded, HTTP 500/503, connection resets, read timeouts), each compared
  table by table with a clean collection;
- crashes: 60 SIGKILLs of ``python -m collectors run --once`` at random points, the store checked after
  each (opens, no partial batch), then a rerun compared with the clean store;
- side by side: a collector every 10 s, 10,000 dashboard page queries from 4 threads and 20 scaling
  actions on a live emulated account, at the same time.

Prints one line per phase and a JSON summary; exits 1 if anything failed. Every figure is reproducible:
the RNG seeds are fixed (``--seed``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import start_account, stop_account
from tests.reliability import side_by_side, storecmp
from tests.reliability.conftest import (
    DETERMINISTIC_SOURCES,
    FAST_SOURCES,
    cli_env,
    collect,
    run_cli,
)
from tests.reliability.crash import kill_loop
from tests.reliability.faults import FaultPlan, Injector

ROOT = Path(__file__).resolve().parent.parent



def faults_phase(acc, tmp: Path, sources: list[str], clean: dict, rounds: int, rate: float, seed: int) -> dict:
    out = {"rounds": rounds, "rate_target": rate, "attempts": 0, "injected": 0, "api_calls": 0, "by_kind": {},
           "failed_sources": [], "store_differences": {}}
    for i in range(rounds):
        inj = Injector(FaultPlan(rate=rate, seed=seed + i))
        cycle = collect(tmp / f"faults-{i}", acc, sources, inj)
        s = inj.summary()
        out["attempts"] += s["attempts"]
        out["injected"] += s["injected_total"]
        out["api_calls"] += sum(r.api_calls for r in cycle.results) + 1
        for k, n in s["injected"].items():
            out["by_kind"][k] = out["by_kind"].get(k, 0) + n
        out["failed_sources"] += [f"round {i}: {r.source}: {r.error}" for r in cycle.failed]
        diff = storecmp.differences(clean, storecmp.dump_file(tmp / f"faults-{i}" / "writer.duckdb", sources))
        if diff:
            out["store_differences"][f"round {i}"] = diff
    out["rate"] = round(out["injected"] / out["attempts"], 3) if out["attempts"] else 0.0
    out["retries"] = out["attempts"] - out["api_calls"]
    out["ok"] = not out["failed_sources"] and not out["store_differences"] and out["retries"] == out["injected"]
    return out


def crash_phase(acc, tmp: Path, sources: list[str], clean: dict, clean_s: float, kills: int, seed: int) -> dict:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "collectors", "run", "--help"], cwd=ROOT, capture_output=True, check=True)
    horizon = (time.monotonic() - t0) + clean_s * 1.2 + 1.0
    store = tmp / "crash"
    out = {"kills_target": kills, "horizon_s": round(horizon, 1)}
    try:
        report = kill_loop(store, cli_env(acc), sources, clean, kills=kills, horizon_s=horizon, seed=seed, cwd=ROOT)
        out.update(kills=report.kills, completed_before_kill=report.completed_before_kill,
                   kills_on_empty_store=report.kills_on_empty_store,
                   committed_sources_at_kill_on_empty_store=dict(sorted(report.committed_at_kill.items())),
                   snapshots_checked=report.snapshots_checked, seconds=round(report.seconds, 1), violations=[])
    except AssertionError as exc:
        out.update(violations=[str(exc)[:2000]])
        out["ok"] = False
        return out
    args = ["run", "--once", "--store", str(store)] + sum((["--source", s] for s in sources), [])
    final = run_cli(args, acc, timeout=3600)
    diff = storecmp.differences(clean, storecmp.dump_file(store / "writer.duckdb", sources))
    out.update(rerun_returncode=final.returncode, rerun_differences=diff)
    out["ok"] = final.returncode == 0 and not diff and report.kills >= kills
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long", action="store_true", help="the full soak (make soak)")
    parser.add_argument("--kills", type=int, help="SIGKILLs (default 12; --long 60)")
    parser.add_argument("--fault-rounds", type=int, help="faulted collections (default 1; --long 5)")
    parser.add_argument("--rate", type=float, default=0.3, help="share of attempts that fail (default 0.3)")
    parser.add_argument("--queries", type=int, help="dashboard page queries (default 1000; --long 10000)")
    parser.add_argument("--actions", type=int, help="scaling actions during the queries (default 4; --long 20)")
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--only", choices=["faults", "crash", "concurrency"], action="append",
                        help="run only these phases")
    args = parser.parse_args(argv)
    kills = args.kills or (60 if args.long else 12)
    rounds = args.fault_rounds or (5 if args.long else 1)
    queries = args.queries or (10_000 if args.long else 1000)
    actions = args.actions or (20 if args.long else 4)
    sources = DETERMINISTIC_SOURCES if args.long else FAST_SOURCES
    phases = args.only or ["faults", "crash", "concurrency"]
    tmp = Path(tempfile.mkdtemp(prefix="sextant-soak-"))
    summary: dict = {"long": args.long, "sources": sources, "seed": args.seed, "workdir": str(tmp)}

    if {"faults", "crash"} & set(phases):
        frozen = start_account(tmp, live=False)
        try:
            t0 = time.monotonic()
            cycle = collect(tmp / "clean", frozen, sources)
            clean_s = time.monotonic() - t0
            if cycle.failed:
                print("clean collection failed:", [(r.source, r.error) for r in cycle.failed])
                return 1
            clean = storecmp.dump_file(tmp / "clean" / "writer.duckdb", sources)
            summary["clean"] = {"seconds": round(clean_s, 1), "rows": sum(len(v) for v in clean.values()),
                                "api_calls": sum(r.api_calls for r in cycle.results) + 1}
            print(f"clean: {summary['clean']['rows']} rows, {summary['clean']['api_calls']} calls in {clean_s:.1f} s",
                  flush=True)
            if "faults" in phases:
                f = summary["faults"] = faults_phase(frozen, tmp, sources, clean, rounds, args.rate, args.seed)
                print(f"faults: {f['injected']} of {f['attempts']} attempts failed ({f['rate']:.1%}) over "
                      f"{f['api_calls']} calls in {rounds} collection(s); {f['retries']} retries; "
                      f"{len(f['failed_sources'])} failed sources; store differences {len(f['store_differences'])}; "
                      f"by kind {f['by_kind']}", flush=True)
            if "crash" in phases:
                c = summary["crash"] = crash_phase(frozen, tmp, sources, clean, clean_s, kills, args.seed)
                print(f"crash: {c.get('kills')} SIGKILLs (+{c.get('completed_before_kill')} runs finished first), "
                      f"{c.get('kills_on_empty_store')} during a first collection, by sources committed "
                      f"{c.get('committed_sources_at_kill_on_empty_store')}, violations "
                      f"{len(c.get('violations', []))}, rerun rc {c.get('rerun_returncode')}, rerun differences "
                      f"{len(c.get('rerun_differences') or {})}", flush=True)
        finally:
            stop_account(frozen)

    if "concurrency" in phases:
        live = start_account(tmp, env={"DEMO_SPEEDUP": "240"})
        try:
            work = tmp / "side-by-side"
            work.mkdir()
            r = side_by_side.run(live, work, queries=queries, actions=actions, every="10s", min_cycles=3)
            r["errors"] = side_by_side.errors(r, queries, actions, 3)
            r["ok"] = not r["errors"]
            summary["concurrency"] = r
            print(f"side by side: {r['cycles']} collector cycles, {r['queries']} page queries "
                  f"({r['query_errors']} errors, {r['snapshots_seen']} snapshots), {len(r['actions'])} actions "
                  f"{'all succeeded' if set(r['actions']) == {'succeeded'} else r['actions']} in {r['seconds']} s; "
                  f"errors: {r['errors'] or 'none'}", flush=True)
        finally:
            stop_account(live)

    ok = all(summary[p]["ok"] for p in ("faults", "crash", "concurrency") if p in summary)
    print(json.dumps(summary, default=str))
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
