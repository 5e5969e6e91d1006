"""The --surge scenario knob: more traffic on one endpoint from its start on, and nothing before."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from demo import control, model
from demo.server import SURGE_LEAD, Emulator, add_surges
from demo.world import MAIN_ACCOUNT, Surge, build_world
from tests.conftest import ROOT


def test_a_surge_raises_demand_from_its_start_only():
    world = build_world(7)
    e = world.endpoint("fraud-txn-scorer-prod")
    since = world.anchor + timedelta(hours=3, minutes=30)  # the nightly trough
    minutes = model.minute_range(since - timedelta(hours=1), since + timedelta(hours=1))
    before = model.demand(world, e, minutes)
    world.surges[(MAIN_ACCOUNT, e.name)] = Surge(since, 4800.0)
    after = model.demand(world, e, minutes)
    cut = model.to_minutes(since)
    assert np.array_equal(before[minutes < cut], after[minutes < cut])
    assert before[minutes >= cut].max() < 4800 * 0.5  # the trough is far below the surge
    assert after[minutes >= cut].min() >= 4800 * 0.95
    other = world.endpoint("search-ranker-prod")
    assert np.array_equal(model.demand(build_world(7), other, minutes), model.demand(world, other, minutes))


def test_a_surge_is_under_way_when_the_account_starts_and_a_bad_one_adds_nothing():
    world = build_world(7)
    now = datetime(2026, 12, 3, 2, 24, 41, tzinfo=UTC)
    add_surges(world, {"fraud-txn-scorer-prod": 4800.0}, now)
    (key, surge), = world.surges.items()
    assert key == (MAIN_ACCOUNT, "fraud-txn-scorer-prod") and surge.rpm == 4800.0
    assert surge.since == datetime(2026, 12, 3, 2, 24, tzinfo=UTC) - SURGE_LEAD
    assert SURGE_LEAD >= timedelta(minutes=10)  # an on-call page's last 5-10 minutes show the load
    fresh = build_world(7)
    for bad in ({"search-ranker-prod": 100.0, "nope": 100.0}, {"search-ranker-prod": 100.0, "nlp-summarizer-dev": 0}):
        with pytest.raises(ValueError):
            add_surges(fresh, bad, now)
        assert fresh.surges == {}


def test_a_surge_on_an_unknown_endpoint_is_refused_with_the_names_that_exist():
    res = subprocess.run([sys.executable, "-m", "demo", "--surge", "no-such-endpoint=100"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "no endpoint 'no-such-endpoint'" in res.stderr and "fraud-txn-scorer-prod" in res.stderr
    res = subprocess.run([sys.executable, "-m", "demo", "--surge", "fraud-txn-scorer-prod=lots"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "expected ENDPOINT=RPM" in res.stderr


def _serve_in_background(control_dir, emulator, now):
    """The running account's side of the control directory: served as its live tick does, until one request."""
    def loop():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not control.serve(control_dir, {"surge": emulator._surge}, now):
            time.sleep(0.05)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def test_a_surge_sent_to_the_running_account_starts_at_its_next_minute(tmp_path):
    emulator = Emulator(build_world(7), "127.0.0.1", 0, control=tmp_path)
    now = datetime(2026, 12, 3, 14, 7, 31, tzinfo=UTC)
    t = _serve_in_background(tmp_path, emulator, now)
    answer = control.send(tmp_path, {"kind": "surge", "surges": control.parse_surges(["search-ranker-prod=7000"])})
    t.join()
    assert answer["ok"] and "search-ranker-prod" in answer["message"], answer
    surge = emulator.world.surges[(MAIN_ACCOUNT, "search-ranker-prod")]
    assert surge == Surge(datetime(2026, 12, 3, 14, 8, tzinfo=UTC), 7000.0)  # minutes already served unchanged
    assert list(tmp_path.iterdir()) == []  # request and reply both consumed


def test_a_bad_request_to_the_running_account_is_answered_and_changes_nothing(tmp_path):
    emulator = Emulator(build_world(7), "127.0.0.1", 0, control=tmp_path)
    now = datetime(2026, 12, 3, 14, 7, 31, tzinfo=UTC)
    t = _serve_in_background(tmp_path, emulator, now)
    answer = control.send(tmp_path, {"kind": "surge", "surges": {"no-such-endpoint": 100.0}})
    t.join()
    assert not answer["ok"] and "no endpoint 'no-such-endpoint'" in answer["message"]
    assert emulator.world.surges == {}
    with pytest.raises(ValueError, match="expected ENDPOINT=RPM"):
        control.parse_surges(["search-ranker-prod"])
    assert control.parse_surges(["a=1,b=2.5", "c=3"]) == {"a": 1.0, "b": 2.5, "c": 3.0}


def test_a_surge_with_no_running_demo_says_so(tmp_path):
    res = subprocess.run([sys.executable, "-m", "demo.control", "--control", str(tmp_path), "surge", "x=1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DEMO_CONTROL_TIMEOUT": "1"})
    assert res.returncode == 1 and "no running demo answered" in res.stderr
    assert list(tmp_path.iterdir()) == []  # the unanswered request is taken back
