"""The --surge scenario knob: more traffic on one endpoint from its start on, and nothing before."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from demo import model
from demo.server import SURGE_LEAD, add_surges
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
