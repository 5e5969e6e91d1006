"""A collector every N seconds, a dashboard-like process running page queries, and actions scaling an endpoint
up and down, at the same time on one store and one account. Shared by ``test_concurrency.py`` and
``bench/soak.py``; returns what happened, the callers assert."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import actions as a
from actions.audit import AuditLog
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings, parse_duration
from sextant.store import Writer
from tests.conftest import ROOT, Account, wait_until
from tests.reliability.conftest import aws_env, cli_env

MAIN = "123456789012"
OPERATOR = a.Actor("oncall@example.com", "operator")
ENDPOINT, VARIANT = "nlp-summarizer-prod", "AllTraffic"




def run(acc: Account, workdir: Path, *, queries: int = 1000, actions: int = 4, every: str = "10s",
        min_cycles: int = 3, threads: int = 4,
        sources: tuple[str, ...] = ("sagemaker_endpoints", "application_autoscaling", "cloudwatch_alarms"),
        ) -> dict[str, Any]:
    store = workdir / "store"
    out_path, err_path = workdir / "collector.out", workdir / "collector.err"
    args = [sys.executable, "-m", "collectors", "run", "--every", every, "--store", str(store)]
    for s in sources:
        args += ["--source", s]
    t0 = time.monotonic()
    with out_path.open("w") as out, err_path.open("w") as err:
        collector = subprocess.Popen(args, cwd=ROOT, env=cli_env(acc), stdout=out, stderr=err)
    reader = None
    outcomes: list[tuple[int, str, str]] = []
    stats: dict[str, Any] = {}
    try:
        wait_until(lambda: (store / "CURRENT").exists() or collector.poll() is not None, 600, "the first snapshot")
        if collector.poll() is not None:
            raise AssertionError(f"collector exited: {err_path.read_text()[-3000:]}")
        spread = parse_duration(every) * (min_cycles + 1)  # the queries span the cycles that follow
        reader = subprocess.Popen([sys.executable, "-m", "tests.reliability.dashreader", str(store), str(queries),
                                   str(threads), str(spread)], cwd=ROOT, env=cli_env(acc), stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        env = a.Env(Clients(AccountSettings(regions=("us-east-1",))),
                    Settings(store=store, actions=ActionSettings(max_instances_per_variant=12)))
        audit = AuditLog(workdir / "audit.sqlite")
        sm = acc.client("sagemaker")

        def in_service():
            return sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService"

        start = sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]["DesiredInstanceCount"]
        with aws_env(acc):
            for i in range(actions):
                desired = start if i % 2 else start + 1 + (i // 2) % 3  # up, back, further up, back, ...
                wait_until(in_service, 180, f"{ENDPOINT} InService")
                o = a.run_action(a.ScaleEndpoint(MAIN, ENDPOINT, VARIANT, desired), OPERATOR, env, audit,
                                 a.new_token())
                outcomes.append((desired, o.status, o.message))
        q_out, q_err = reader.communicate(timeout=max(900, queries))
        stats = json.loads(q_out.strip().splitlines()[-1]) if q_out.strip() else {"reader_stderr": q_err[-3000:]}
        stats["reader_returncode"] = reader.returncode
        wait_until(lambda: out_path.read_text().count("collected ") >= min_cycles or collector.poll() is not None, 900,
              f"{min_cycles} collection cycles")
    finally:
        collector.send_signal(signal.SIGTERM)
        try:
            collector.wait(300)
        except subprocess.TimeoutExpired:
            collector.kill()
        if reader is not None and reader.poll() is None:
            reader.kill()
    log, errlog = out_path.read_text(), err_path.read_text()
    cycles = [line for line in log.splitlines() if line.startswith("collected ")]
    Writer(store).close()  # the store opens for the next collector: nothing locked or half-written
    return {
        "interrupted_message": "interrupted: the source in progress was rolled back" in errlog,
        "seconds": round(time.monotonic() - t0, 1),
        "cycles": len(cycles),
        "failed_cycles": [c for c in cycles if not c.endswith("0 source(s) failed")],
        "collector_returncode": collector.returncode,
        "collector_errors": [line for line in log.splitlines() if " ERR " in line]
        + [line for line in errlog.splitlines() if "Traceback" in line or "lock" in line.lower()],
        "queries": stats.get("queries", 0),
        "query_errors": stats.get("errors"),
        "query_last_errors": stats.get("last_errors"),
        "snapshots_seen": stats.get("snapshots_seen", 0),
        "query_functions": stats.get("functions"),
        "reader_returncode": stats.get("reader_returncode"),
        "actions": [s for _, s, _ in outcomes],
        "action_messages": [m for _, s, m in outcomes if s != "succeeded"],
        "audit_results": list(audit.frame().result) if (workdir / "audit.sqlite").exists() else [],
    }


def errors(r: dict[str, Any], queries: int, actions: int, min_cycles: int) -> list[str]:
    """Everything that went wrong (empty: zero errors)."""
    out = []
    if r["query_errors"] != 0 or r["reader_returncode"] != 0:
        out.append(f"query errors: {r['query_errors']} {r['query_last_errors']}")
    if r["queries"] != queries:
        out.append(f"{r['queries']} of {queries} queries ran")
    if r["snapshots_seen"] < 2:
        out.append("the reader never switched to a newer snapshot")
    if r["actions"] != ["succeeded"] * actions or r["audit_results"] != ["succeeded"] * actions:
        out.append(f"actions: {r['actions']} {r['action_messages']}; audit {r['audit_results']}")
    # 130: stopped in the middle of a cycle, whose source in progress was rolled back (by design)
    if (r["collector_returncode"] not in (0, 130) or r["failed_cycles"] or r["collector_errors"]
            or r["cycles"] < min_cycles or (r["collector_returncode"] == 130 and not r["interrupted_message"])):
        out.append(f"collector: rc {r['collector_returncode']}, {r['cycles']} cycles, failed {r['failed_cycles']}, "
                   f"errors {r['collector_errors'][:5]}")
    return out
