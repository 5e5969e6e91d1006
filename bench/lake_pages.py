"""Page query sets on the shared backend against the embedded one (issue 14: within 1.5x), same process, same run.

The embedded store (a DuckDB snapshot, e.g. make bench's reference store) and its copy on DuckLake (made by
``python -m collectors migrate``: a local SQLite catalog and Parquet files, or PostgreSQL + S3 when the settings say
so) are read through the dashboard's own door (``dashboard.data``), each page's query set run alternately on one then
the other, the query cache cleared before each run, so both meet the same machine at the same moments.

    python -m collectors migrate --to var/bench/lake-ref.toml --store var/bench/reference-v9-s1
    python -m bench.lake_pages --embedded var/bench/reference-v9-s1 --lake-config var/bench/lake-ref.toml
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import time
from pathlib import Path

TARGET_RATIO = 1.5  # shared backend p50 within this multiple of the embedded one's, page by page


def _use(env: dict[str, str]) -> None:
    for name in ("SEXTANT_STORE", "SEXTANT_STORE_BACKEND", "SEXTANT_CATALOG", "SEXTANT_DATA_PATH"):
        os.environ.pop(name, None)
    os.environ.update(env)


def run(embedded: Path, lake_env: dict[str, str], runs: int) -> dict[str, dict[str, float]]:
    logging.getLogger("streamlit").setLevel(logging.ERROR)
    base = {"SEXTANT_STORE": str(embedded)}
    _use(base)
    from bench import pagesets as ps
    ctx = ps.make_ctx()  # the page context (endpoint, range, now) from the embedded store, used for both
    out: dict[str, dict[str, float]] = {}
    for page, fn in ps.SQL_SETS.items():
        times: dict[str, list[float]] = {"embedded": [], "lake": []}
        for env in (base, lake_env):  # each store's first run pays its page's first reads
            _use(env)
            ps.clear_cache()
            fn(ctx)
        for _ in range(runs):
            for label, env in (("embedded", base), ("lake", lake_env)):
                _use(env)
                ps.clear_cache()
                t = time.perf_counter()
                fn(ctx)
                times[label].append((time.perf_counter() - t) * 1000)
        out[page] = {f"{k}_{q}": ps.pct(v, p) for k, v in times.items() for q, p in (("p50", 50), ("p95", 95))}
        out[page]["ratio_p50"] = out[page]["lake_p50"] / max(out[page]["embedded_p50"], 0.001)
        print(f"{page:20s} embedded {out[page]['embedded_p50']:7.0f} / {out[page]['embedded_p95']:7.0f} ms   "
              f"lake {out[page]['lake_p50']:7.0f} / {out[page]['lake_p95']:7.0f} ms   "
              f"{out[page]['ratio_p50']:.2f}x", flush=True)
    _use(base)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--embedded", required=True, help="the embedded store's location (a published DuckDB store)")
    ap.add_argument("--lake-config", required=True, help="settings file naming its DuckLake copy ([store] ...)")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", help="write the figures here too")
    args = ap.parse_args()
    from sextant.settings import load
    lake = load(Path(args.lake_config))
    env = {"SEXTANT_STORE": str(lake.store), "SEXTANT_STORE_BACKEND": lake.store_backend}
    env.update({k: v for k, v in (("SEXTANT_CATALOG", lake.catalog), ("SEXTANT_DATA_PATH", lake.data_path)) if v})
    t0 = time.monotonic()
    out = run(Path(args.embedded), env, args.runs)
    over = [p for p, v in out.items() if v["ratio_p50"] > TARGET_RATIO]
    ratios = [v["ratio_p50"] for v in out.values()]
    print(f"{len(out)} pages, {args.runs} runs each per backend in {time.monotonic() - t0:.0f} s; lake / embedded p50: "
          f"median {statistics.median(ratios):.2f}x, worst {max(ratios):.2f}x; within {TARGET_RATIO}x: "
          + ("all" if not over else f"missed ({', '.join(over)})") + f"; load average {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
