"""``python -m tests.reliability.dashreader STORE N [THREADS [SECONDS]]``: a dashboard-like process.

Runs N page queries, spread over at least SECONDS (as viewers' page loads are: a burst of queries that ends
before the collector publishes again would never meet a snapshot switch), through the dashboard's own read
path (``dashboard.data`` → ``sextant.store.Reader``, the typed query functions of ``dashboard.queries``)
from THREADS threads, as Streamlit sessions do. The per-snapshot query cache is cleared before every query so
each one reaches DuckDB (the dashboard would answer repeats from it).
Prints one JSON line: queries, errors, the last errors, snapshots seen, per-function counts.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path


def page_queries() -> list[tuple[str, object]]:
    from dashboard import data
    from dashboard.filters import Filters
    from dashboard.queries import catalog, collection, scope
    from dashboard.queries import endpoints as eq

    now = datetime.now(UTC)
    f = Filters(start=now - timedelta(days=1), end=now)
    out: list[tuple[str, object]] = [
        ("endpoints.endpoint_list", lambda: eq.endpoint_list(f)),
        ("endpoints.endpoints", lambda: eq.endpoints(f)),
        ("endpoints.alarms", lambda: eq.alarms("123456789012", "us-east-1", "nlp-summarizer-prod")),
        ("collection.data_as_of", collection.data_as_of),
        ("scope.filter_options", scope.filter_options),
        ("collection.collection_runs", collection.collection_runs), ("catalog.tables_doc", catalog.tables_doc),
        ("data.query(collection runs)", lambda: data.query(
            "SELECT source, status, count(*) AS n FROM sextant_collection_run GROUP BY ALL")),
        ("data.query(variants)", lambda: data.query(
            "SELECT endpoint_name, variant_name, desired_instance_count FROM aws_sagemaker_endpoint_variant "
            "WHERE account_id = ? ORDER BY ALL", ["123456789012"])),
    ]
    return out


def main(argv: list[str]) -> int:
    store, n = Path(argv[0]), int(argv[1])
    threads = int(argv[2]) if len(argv) > 2 else 4
    seconds = float(argv[3]) if len(argv) > 3 else 0.0
    os.environ["SEXTANT_STORE"] = str(store)
    logging.getLogger("streamlit").setLevel(logging.ERROR)  # "no runtime" warnings of st.cache_* outside a server
    from dashboard import data

    calls = page_queries()
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "errors": 0, "last_errors": [], "snapshots": set(), "by_function": {}}

    t0 = time.monotonic()

    def worker() -> None:
        while True:
            with lock:
                i = state["next"]
                if i >= n:
                    return
                state["next"] += 1
            time.sleep(max(0.0, t0 + seconds * i / n - time.monotonic()))  # query i starts no sooner than its share
            name, fn = calls[i % len(calls)]
            try:
                data._cached.clear()
                fn()
                snap = data.snapshot()
                with lock:
                    state["done"] += 1
                    state["snapshots"].add(snap)
                    state["by_function"][name] = state["by_function"].get(name, 0) + 1
            except Exception as exc:
                with lock:
                    state["errors"] += 1
                    state["last_errors"] = (state["last_errors"] + [f"{name}: {exc!r}"[:300]])[-5:]

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    print(json.dumps({"queries": state["done"], "errors": state["errors"], "last_errors": state["last_errors"],
                      "snapshots_seen": len(state["snapshots"] - {None}), "functions": len(calls),
                      "by_function": state["by_function"]}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
