"""The collector CLI as users run it."""

from __future__ import annotations

import json
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
