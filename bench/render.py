"""Figure 3: every page rendered through the real app shell with AppTest, at reference scale.

Run as ``python -m bench.render <store> <runs>`` in a child process (so the first render really is the
first of a fresh process: imports, connection, empty caches); prints one JSON object. Per page:
*cold* is the render right after the query cache is cleared (what the first viewer after each new
snapshot meets; the very first page also pays the process's imports), *warm* the rerun of the same
page with the cache filled. Endpoints (detail) opens the busiest endpoint (``?endpoint=NAME``).

AppTest (not the served app) scans every installed package's metadata for Streamlit components on each run, 0.4-0.8 s
here; a served dashboard scans once when it starts. The scan is made once per process here, as in the tests, so the
figure is the page's render; the first render of the process still pays it.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "dashboard" / "app.py")
PAGES = {"overview": "pages/overview.py", "endpoints (list)": "pages/endpoints.py",
         "endpoints (detail)": "pages/endpoints.py", "training": "pages/training.py",
         "pipelines": "pages/pipelines.py", "models": "pages/models.py", "cost": "pages/cost.py",
         "logs": "pages/logs.py", "incident": "pages/incident.py", "alerts": "pages/alerts.py",
         "audit": "pages/audit.py",
         "collection": "pages/collection.py", "data": "pages/data.py"}


def main(store: str, runs: int) -> dict:
    import os
    os.environ["SEXTANT_STORE"] = store
    import functools

    from streamlit.components.v2 import manifest_scanner
    from streamlit.testing.v1 import AppTest
    manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)

    from bench.pagesets import clear_cache, make_ctx
    t0 = time.perf_counter()
    endpoint = make_ctx().endpoint
    clear_cache()
    setup_s = time.perf_counter() - t0
    out: dict[str, dict] = {}
    first = None
    for page, path in PAGES.items():
        cold, warm, errors = [], [], []
        for _ in range(runs):
            at = AppTest.from_file(APP, default_timeout=120)
            if page == "endpoints (detail)":
                at.query_params["endpoint"] = endpoint
            at.run()
            clear_cache()
            t = time.perf_counter()
            at.switch_page(f"../{path}").run()
            cold.append(time.perf_counter() - t)
            if first is None:
                first = cold[-1]
            t = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t)
            errors += [str(e.value)[:200] for e in at.exception]
        out[page] = {"cold_s": statistics.median(cold), "warm_s": statistics.median(warm),
                     "cold_max_s": max(cold), "runs": runs, "errors": sorted(set(errors)),
                     "tables": len(at.dataframe), "charts": len(at.get("plotly_chart")),
                     "metrics": len(at.metric)}
    return {"pages": out, "setup_s": setup_s, "first_render_s": first}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]))))
