"""The --surge scenario knob: more traffic on one endpoint from its start on, and nothing before."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import numpy as np

from demo import model
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


def test_a_surge_on_an_unknown_endpoint_is_refused_with_the_names_that_exist():
    res = subprocess.run([sys.executable, "-m", "demo", "--surge", "no-such-endpoint=100"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "no endpoint 'no-such-endpoint'" in res.stderr and "fraud-txn-scorer-prod" in res.stderr
    res = subprocess.run([sys.executable, "-m", "demo", "--surge", "fraud-txn-scorer-prod=lots"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "expected ENDPOINT=RPM" in res.stderr
