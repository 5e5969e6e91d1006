"""The collector killed with SIGKILL at random points: the store always opens, never holds a partial batch,
and a rerun converges to the clean run's store. (``bench/soak.py --long`` does 50+ kills.)"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from sextant.store import Reader
from tests.conftest import ROOT
from tests.reliability import storecmp
from tests.reliability.conftest import FAST_SOURCES, cli_env, run_cli
from tests.reliability.crash import kill_loop

pytestmark = pytest.mark.xdist_group("frozen")

KILLS = int(os.environ.get("SEXTANT_CRASH_KILLS", "12"))


def _startup_s() -> float:
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "collectors", "run", "--help"], cwd=ROOT, capture_output=True, check=True)
    return time.monotonic() - t0


def test_sigkill_at_random_points_leaves_no_partial_batch_and_a_rerun_converges(frozen, clean, tmp_path):
    store = tmp_path / "store"
    # Kill points are spread over one whole run: interpreter start-up, every source's transaction, the publish.
    horizon = _startup_s() + clean.seconds * 1.2 + 1.0
    report = kill_loop(store, cli_env(frozen), FAST_SOURCES, clean.dump, kills=KILLS, horizon_s=horizon,
                       seed=1125, cwd=ROOT)
    print(f"\ncrash: {report.kills} SIGKILLs (+{report.completed_before_kill} runs finished first) over "
          f"{horizon:.1f} s horizons in {report.seconds:.0f} s; {report.kills_on_empty_store} kills during a first "
          f"collection, by sources committed: {dict(sorted(report.committed_at_kill.items()))}; snapshots checked "
          f"{report.snapshots_checked}")
    assert report.kills >= KILLS

    done = run_cli(["run", "--once", "--store", str(store), *sum((["--source", s] for s in FAST_SOURCES), [])],
                   frozen)
    assert done.returncode == 0, done.stdout + done.stderr
    assert storecmp.differences(clean.dump, storecmp.dump_file(store / "writer.duckdb", FAST_SOURCES)) == {}
    reader = Reader(store)
    try:
        published = {**storecmp.dump(reader.connection(), storecmp.source_tables(FAST_SOURCES)),
                     "sextant_watermark": storecmp.watermarks(reader.connection(), FAST_SOURCES)}
    finally:
        reader.close()
    assert storecmp.differences(clean.dump, published) == {}
