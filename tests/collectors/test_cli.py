"""The collector CLI as users run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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
