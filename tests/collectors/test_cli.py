"""The collector CLI as users run it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sextant import progress as first_collection
from sextant.settings import AccountSettings, Settings
from sextant.store import Writer

ROOT = Path(__file__).resolve().parents[2]


def test_ctrl_c_stops_a_collection_at_once_and_leaves_a_usable_store(account, tmp_path):
    store = tmp_path / "store"
    proc = subprocess.Popen([sys.executable, "-m", "collectors", "run", "--once", "--store", str(store)], cwd=ROOT,
                            env={**os.environ, **account.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    while not (store / "CURRENT").exists() and proc.poll() is None:  # the first source has been published
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, _ = proc.communicate(timeout=30)
    assert time.monotonic() - started < 10, out
    assert proc.returncode in (0, 130), out
    writer = Writer(store)  # not locked, not corrupt
    try:
        runs = writer.con.execute("SELECT count(*) FROM sextant_collection_run").fetchone()[0]
        assert runs >= 1
    finally:
        writer.close()


def test_a_malformed_settings_file_is_refused_with_the_line_to_fix(tmp_path):
    bad = tmp_path / "sextant.toml"
    bad.write_text("[collect]\nhot_every = 5 minutes\n")
    out = subprocess.run([sys.executable, "-m", "collectors", "run", "--once", "--config", str(bad)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "not valid TOML" in out.stderr and "line 2" in out.stderr


def test_a_session_token_in_signature_errors_is_neither_printed_nor_logged_nor_stored(account, tmp_path):
    """A SigV4 error quotes the canonical request with x-amz-security-token: the core call of one source and an
    optional call of another answer it; the CLI's output, its log and the run rows show neither token."""
    from tests.collectors.test_runner import SIGNATURE_MESSAGE, TOKEN

    store = tmp_path / "store"
    faults = [{"operation": "application-autoscaling:DescribeScalableTargets", "kind": "signature_mismatch",
               "message": SIGNATURE_MESSAGE},
              {"operation": "sagemaker:ListTags", "kind": "signature_mismatch", "message": SIGNATURE_MESSAGE}]
    out = subprocess.run([sys.executable, "-m", "tests.reliability.faultcli", "run", "--once", "--store", str(store),
                          "--source", "application_autoscaling", "--source", "sagemaker_endpoints"], cwd=ROOT,
                         env={**os.environ, **account.env, "SEXTANT_OPERATION_FAULTS": json.dumps(faults)},
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "ERR application_autoscaling" in out.stdout and "PRT sagemaker_endpoints" in out.stdout
    assert "SignatureDoesNotMatch" in out.stdout + out.stderr or "InvalidSignature" in out.stdout + out.stderr
    writer = Writer(store)
    try:
        rows = writer.con.execute("SELECT source, status, error, hint FROM sextant_collection_run").fetchall()
    finally:
        writer.close()
    assert {(s, st) for s, st, _, _ in rows} == {("application_autoscaling", "failed"),
                                                 ("sagemaker_endpoints", "partial")}
    for text in (out.stdout, out.stderr, *(f"{e} {h}" for _, _, e, h in rows)):
        assert TOKEN[:40] not in text and TOKEN[-40:] not in text and "x-amz-security-token:F" not in text


class _CountingWriter:
    """The writer as the CLI's cycle sees it: whether something was published, and each publish."""

    def __init__(self, published: str | None, location: Path | None = None) -> None:
        self._published = published
        self.location = location or Path("/nonexistent")
        self.publishes: list[int] = []  # sources finished at each publish
        self.finished = 0

    def published(self) -> str | None:
        return self._published

    def publish(self) -> None:
        self.publishes.append(self.finished)
        self._published = "snapshot"


def _one_cycle(monkeypatch, writer: _CountingWriter, sources: int = 6, seen: list | None = None) -> None:
    """The CLI's cycle with a runner whose sources finish at once (each reported through progress)."""
    from argparse import Namespace
    from threading import Event

    from collectors import __main__ as cli
    from collectors import runner

    def run_cycle(settings, w, srcs, account, since, progress, shard=None, region_filter=None):
        cycle = runner.CycleResult("r")
        for i in range(sources):
            r = runner.SourceResult(f"s{i}", "1", "us-east-1", "succeeded")
            writer.finished += 1
            progress(r)
            if seen is not None:
                seen.append(first_collection.read(writer.location))
            cycle.results.append(r)
        return cycle

    monkeypatch.setattr(runner, "run_cycle", run_cycle)
    settings = Settings(accounts=(AccountSettings(name="a", regions=("us-east-1", "eu-west-1")),))
    assert cli._cycle(settings, writer, [], Namespace(quiet=True, account=None, since=None, shard=None, region=None),
                      Event()) == 0


def test_a_cycle_publishes_the_store_once_at_its_end(monkeypatch):
    writer = _CountingWriter(published="1764662400000000000.duckdb")
    _one_cycle(monkeypatch, writer)
    assert writer.publishes == [6]  # one whole copy per cycle, not one every 10 s as well


def test_a_first_collection_also_publishes_once_early_so_endpoints_show_before_metrics_finish(monkeypatch):
    writer = _CountingWriter(published=None)
    _one_cycle(monkeypatch, writer)
    assert writer.publishes == [1, 6]
    _one_cycle(monkeypatch, writer)  # the next cycle: the store has a snapshot
    assert writer.publishes == [1, 6, 12]


def test_a_first_collection_leaves_its_progress_for_the_dashboard_and_removes_it_at_the_end(monkeypatch, tmp_path):
    writer = _CountingWriter(published=None, location=tmp_path)
    seen: list = []
    _one_cycle(monkeypatch, writer, seen=seen)
    assert [s.done for s in seen] == [1, 2, 3, 4, 5, 6]
    assert seen[-1].last == "s5" and all(s.total > s.done for s in seen)  # never "done" before the cycle ends
    assert first_collection.read(tmp_path) is None and not (tmp_path / first_collection.FILE).exists()
    seen.clear()
    _one_cycle(monkeypatch, writer, seen=seen)  # the next cycle is not a first collection: no progress shown
    assert seen == [None] * 6
