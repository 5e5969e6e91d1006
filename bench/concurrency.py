"""A collector process and a dashboard-like reader process on one store, side by side.

``python -m bench.concurrency [--minutes 10] [--every 1m]`` starts the emulated account, runs
``python -m collectors run --every`` in one process and, in another, queries the store through
the dashboard's read path (``sextant.store.Reader``) as fast as it can. Prints cycles,
queries, lock or other errors, and how stale the reader's snapshot ever was compared with the
newest one published (staleness beyond one cycle would mean reads that stay stale).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
READER = r"""
import json, sys, time
from pathlib import Path
from sextant.store import Reader
store, until = Path(sys.argv[1]), float(sys.argv[2])
r = Reader(store)
queries = errors = 0
switches, seen, max_lag, last_err = 0, None, 0.0, None
sqls = ["SELECT count(*) FROM aws_sagemaker_endpoint",
        "SELECT endpoint_name, sum(current_instance_count) FROM aws_sagemaker_endpoint_variant GROUP BY ALL",
        "SELECT source, max(ended_at) FROM sextant_collection_run GROUP BY ALL"]
while time.time() < until:
    try:
        con = r.connection()
        if con is None:
            time.sleep(0.05); continue
        if r._name != seen:
            switches += 1; seen = r._name
        con.cursor().execute(sqls[queries % len(sqls)]).fetchall()
        queries += 1
        newest = (store / "CURRENT").read_text().strip()
        lag = (int(newest.split(".")[0]) - int(seen.split(".")[0])) / 1e9
        max_lag = max(max_lag, lag)
    except Exception as exc:
        errors += 1; last_err = repr(exc)
print(json.dumps({"queries": queries, "errors": errors, "snapshot_switches": switches,
                  "max_lag_s": max_lag, "last_error": last_err}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.concurrency", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--every", default="1m", help="collector cadence (e.g. 10s, 1m)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sextant-conc-"))
    url_file = tmp / "demo.url"
    procs = [subprocess.Popen([sys.executable, "-m", "demo", "--url-file", str(url_file)], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        while not url_file.exists():
            time.sleep(0.1)
        env = {**os.environ, "AWS_ENDPOINT_URL": url_file.read_text().strip(), "AWS_REGION": "us-east-1",
               "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "placeholder",
               "SEXTANT_STORE": str(tmp / "store")}
        until = time.time() + args.minutes * 60
        collector = subprocess.Popen([sys.executable, "-m", "collectors", "run", "--every", args.every, "--quiet"],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        procs.append(collector)
        reader = subprocess.run([sys.executable, "-c", READER, str(tmp / "store"), str(until)], cwd=ROOT, env=env,
                                capture_output=True, text=True)
        collector.terminate()
        log, _ = collector.communicate(timeout=120)
        stats = json.loads(reader.stdout.strip().splitlines()[-1]) if reader.stdout.strip() else {}
        cycles = log.count("collected ")
        lock_errors = log.lower().count("lock") + (stats.get("last_error") or "").lower().count("lock")
        print(f"minutes={args.minutes} collector_every={args.every} cycles={cycles} "
              f"reader_queries={stats.get('queries')} reader_errors={stats.get('errors')} lock_errors={lock_errors} "
              f"snapshot_switches={stats.get('snapshot_switches')} max_reader_lag_s={stats.get('max_lag_s', 0):.1f}")
        if reader.returncode or stats.get("errors") or lock_errors:
            print(reader.stderr[-2000:], stats.get("last_error"), log[-2000:])
            return 1
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()


if __name__ == "__main__":
    raise SystemExit(main())
