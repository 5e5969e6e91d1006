"""The collector's cycle evaluates the alerts before it publishes and sends after; ``python -m alerts`` for cron."""

from __future__ import annotations

import os
import subprocess
import sys

from sextant.store import Reader, Writer
from tests.alerts.test_channels import Receiver
from tests.conftest import ROOT

CONFIG = """
[alerts]
base_url = "https://sextant.example.com"
disabled_rules = ["source_stale"]

[alerts.channels.hook]
type = "webhook"
target_env = "SEXTANT_TEST_HOOK"

[alerts.rules.ecr_ran]
sql = "SELECT source AS resource, count(*) AS value FROM sextant_collection_run WHERE source = 'ecr' GROUP BY ALL"
threshold = 0
window = "every run"
"""


def collect(account, tmp_path, hook: Receiver) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "collectors", "run", "--once", "--quiet", "--source", "ecr",
                           "--store", str(tmp_path / "store"), "--config", str(tmp_path / "sextant.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **account.env, "SEXTANT_TEST_HOOK": hook.url("services/x")})


def test_a_cycle_evaluates_before_its_publish_and_sends_after_once_across_cycles(account, tmp_path):
    (tmp_path / "sextant.toml").write_text(CONFIG)
    hook = Receiver(200)
    try:
        first = collect(account, tmp_path, hook)
        assert first.returncode == 0, first.stderr
        assert "alert ecr_ran: ecr pending -> firing" in first.stdout and "alerts sent to hook: 1" in first.stdout
        second = collect(account, tmp_path, hook)
        assert second.returncode == 0, second.stderr
    finally:
        hook.close()
    assert [p["text"] for p in hook.received] == ["[FIRING] ecr_ran: ecr 1"]  # once, whatever the cycles
    reader = Reader(tmp_path / "store")  # the published snapshot holds the alert of its cycle
    try:
        con = reader.connection()
        assert con is not None
        assert con.execute("SELECT state, value FROM sextant_alert WHERE rule = 'ecr_ran'").fetchall() == [
            ("firing", 2.0)]
        assert con.execute("SELECT count(*) FROM sextant_table_doc WHERE table_name = 'sextant_alert'").fetchall() \
            == [(1,)]
    finally:
        reader.close()
    writer = Writer(tmp_path / "store")
    try:
        assert writer.con.execute("SELECT status FROM sextant_alert_delivery").fetchall() == [("sent",)]
    finally:
        writer.close()


def test_a_wrong_alerts_section_stops_the_collector_and_the_cli_with_its_message(tmp_path):
    bad = tmp_path / "sextant.toml"
    bad.write_text('[alerts.channels.x]\ntype = "webhook"\ntarget = "https://hooks.slack.com/services/T/B/zz"\n')
    for module in (["collectors", "run", "--once"], ["alerts", "evaluate"]):
        out = subprocess.run([sys.executable, "-m", *module, "--config", str(bad), "--store", str(tmp_path / "s")],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2, out.stderr
        assert "alerts.channels.x.target" in out.stderr and "target_env" in out.stderr
        assert "services/T/B/zz" not in out.stderr + out.stdout
    assert not (tmp_path / "s" / "writer.duckdb").exists()


def test_python_m_alerts_evaluates_a_store_for_cron(account, tmp_path):
    (tmp_path / "sextant.toml").write_text(CONFIG)
    hook = Receiver(200)
    try:
        assert collect(account, tmp_path, hook).returncode == 0
        out = subprocess.run([sys.executable, "-m", "alerts", "evaluate", "--store", str(tmp_path / "store"),
                              "--config", str(tmp_path / "sextant.toml")], cwd=ROOT, capture_output=True, text=True,
                             timeout=120, env={**os.environ, "SEXTANT_TEST_HOOK": hook.url("services/x")})
    finally:
        hook.close()
    assert out.returncode == 0, out.stderr
    assert "0 change(s)" in out.stdout and len(hook.received) == 1
