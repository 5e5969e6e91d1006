"""Kill the collector CLI with SIGKILL at random points and check the store after each kill.

Shared by ``tests/reliability/test_crash.py`` (a dozen kills) and ``bench/soak.py`` (50 and more).

After every kill:
- the store opens for writing (``Writer``) and migrates;
- for every source, its tables and cursors are either empty or exactly the clean run's (each source's
  rows, cursors and collection-run row are one transaction: all or nothing), and a source has a
  succeeded collection-run row exactly when its rows are there;
- the published snapshot named by ``CURRENT`` (if any) opens read-only and holds no partial source either.
Every other run starts from an empty store (kills during a first collection: each source's transaction is
new), the others from what the previous kills left (kills during incremental reruns and WAL replay). A final
uninterrupted run must then leave the store equal to the clean run's.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

import collectors
from sextant.store import Reader, Writer
from tests.reliability import storecmp


@dataclass
class KillReport:
    kills: int = 0
    completed_before_kill: int = 0
    committed_at_kill: Counter = field(default_factory=Counter)  # on an empty store: sources committed -> kills
    kills_on_empty_store: int = 0
    snapshots_checked: int = 0
    seconds: float = 0.0


def _per_source(con: duckdb.DuckDBPyConnection, sources: list[str]) -> dict[str, dict[str, list[tuple]]]:
    return {s: {**storecmp.dump(con, storecmp.source_tables([s])),
                "sextant_watermark": storecmp.watermarks(con, [s])} for s in sources}


def check_store(store: Path, clean: dict[str, list[tuple]], sources: list[str]) -> int:
    """Assert the invariants above; returns how many sources are committed."""
    w = Writer(store)
    try:
        collectors.migrate(w)
        committed = _check_con(w.con, clean, sources, where="writer")
        bad = w.con.execute("SELECT source, status, error FROM sextant_collection_run WHERE status <> 'succeeded'"
                            ).fetchall()
        assert bad == [], f"a killed run recorded a failure: {bad}"
    finally:
        w.close()
    reader = Reader(store)
    try:
        con = reader.connection()
        if con is not None:
            _check_con(con, clean, sources, where=f"snapshot {reader.current()}")
    finally:
        reader.close()
    return committed


def _check_con(con, clean: dict[str, list[tuple]], sources: list[str], where: str) -> int:
    committed = 0
    for source, got in _per_source(con, sources).items():
        ref = {t: clean[t] for t in got if t != "sextant_watermark"}
        ref["sextant_watermark"] = [r for r in clean["sextant_watermark"] if r[2] == source]
        empty = all(not rows for rows in got.values())
        assert empty or got == ref, (f"{where}: {source} holds a partial batch: "
                                     f"{storecmp.differences(ref, got)}")
        runs = con.execute("SELECT count(*) FROM sextant_collection_run WHERE source = ? AND status = 'succeeded'",
                           [source]).fetchone()[0]
        assert (runs > 0) == (not empty), f"{where}: {source} has rows={not empty} but {runs} succeeded run rows"
        committed += not empty
    return committed


def kill_loop(store: Path, env: dict[str, str], sources: list[str], clean: dict[str, list[tuple]], kills: int,
              horizon_s: float, seed: int, cwd: Path, max_runs: int | None = None) -> KillReport:
    """Start the CLI on ``store`` and SIGKILL it at a random point of the run, ``kills`` times (``horizon_s``:
    the first guess of a run's length)."""
    rng = random.Random(seed)
    report = KillReport()
    t0 = time.monotonic()
    args = [sys.executable, "-m", "collectors", "run", "--once", "--quiet", "--store", str(store)]
    for s in sources:
        args += ["--source", s]
    runs = 0
    # How long a whole run takes, from an empty store and from a collected one (an incremental rerun is much
    # shorter); kill points are drawn over the run they would interrupt, learnt from the last run that finished.
    duration = {True: horizon_s, False: horizon_s}
    while report.kills < kills and runs < (max_runs or kills * 3):
        runs += 1
        fresh = runs % 2 == 1
        if fresh:
            shutil.rmtree(store, ignore_errors=True)
        started = time.monotonic()
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            proc.wait(rng.uniform(0, duration[fresh] * 1.05))
            report.completed_before_kill += 1
            duration[fresh] = time.monotonic() - started
            assert proc.returncode == 0, proc.stderr.read().decode()[-2000:]
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            report.kills += 1
        finally:
            proc.stderr.close()
        committed = check_store(store, clean, sources)
        report.snapshots_checked += (store / "CURRENT").exists()
        if proc.returncode == -signal.SIGKILL and fresh:
            report.kills_on_empty_store += 1
            report.committed_at_kill[committed] += 1
    report.seconds = time.monotonic() - t0
    return report
