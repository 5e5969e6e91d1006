"""bench.alerts_eval (figure 6) on a small published store: it evaluates the real rules over the store's rows through
views, writes only its own alert tables (the reference snapshot is left byte for byte), and a second evaluation of
the same rows is a steady cycle (no transition)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import collectors
from bench import alerts_eval
from sextant.store import Writer

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ACCOUNT = "111111111111"


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_rules_run_over_the_snapshot_without_writing_it(tmp_path):
    store = tmp_path / "ref"
    writer = Writer(store)
    try:
        writer.migrate(list(collectors.all_tables()))
        tables = {t.name: t for t in collectors.all_tables()}
        with writer.transaction():
            writer.upsert(tables["aws_sagemaker_training_job"], [
                {"account_id": ACCOUNT, "region": "us-east-1", "training_job_name": "t1", "status": "Failed",
                 "training_end_time": NOW - timedelta(hours=1), "team": "nlp", "failure_reason": "OOM"}])
        writer.publish()
    finally:
        writer.close()
    snap = store / "snapshots" / (store / "CURRENT").read_text().strip()
    before = _digest(snap)

    out = alerts_eval.run(store, now=NOW, runs=2)
    assert out["rules"] >= 9 and out["errors"] == {}
    assert out["first_transitions"] >= 1 and out["alerts"].get("firing", 0) >= 1  # the failed job fires
    assert out["steady_transitions"] == 0
    assert out["first_s"] > 0 and out["steady_s"] > 0 and out["publish_copy_s"] > 0
    assert _digest(snap) == before
