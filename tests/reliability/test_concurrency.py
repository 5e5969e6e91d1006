"""A collector every 10 s, a dashboard-like process running 1,000 page queries, and actions scaling an endpoint
up and down, all at once on one store and one account: zero errors anywhere. (Longer: ``bench/soak.py --long``.)"""

from __future__ import annotations

import os

import pytest

from tests.reliability import side_by_side

pytestmark = pytest.mark.xdist_group("live")

QUERIES = int(os.environ.get("SEXTANT_CONCURRENCY_QUERIES", "1000"))
ACTIONS = 4
MIN_CYCLES = 3


def test_collector_dashboard_queries_and_actions_side_by_side_make_zero_errors(live, tmp_path):
    r = side_by_side.run(live, tmp_path, queries=QUERIES, actions=ACTIONS, every="10s", min_cycles=MIN_CYCLES)
    print(f"\nconcurrency: {r['cycles']} collector cycles, {r['queries']} page queries ({r['query_errors']} errors, "
          f"{r['snapshots_seen']} snapshots seen, {r['query_functions']} query functions), actions {r['actions']}, "
          f"{r['seconds']} s")
    assert side_by_side.errors(r, QUERIES, ACTIONS, MIN_CYCLES) == []
