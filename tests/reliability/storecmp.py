"""Compare two stores table by table, row by row, leaving out the columns that legitimately differ between
two collections of the same (frozen) account."""

from __future__ import annotations

from pathlib import Path

import duckdb

import collectors

# Columns whose value is the time of the collection, not a fact about AWS: they differ between any two runs.
VOLATILE_COLUMNS = frozenset({
    "observed_at",    # every resource table: when the collector last described it
    "polled_at",      # cloudwatch_metrics plan: when the plan was made
    "first_seen_at",  # cloudwatch_metrics series: first discovery
    "last_seen_at",   # cloudwatch_metrics series: last discovery
    "updated_at",     # sextant_watermark: when the cursor moved
})
# System tables compared separately (run ids and timings differ by construction).
SKIP_TABLES = frozenset({"sextant_collection_run", "sextant_schema"})
# Watermarks whose value is the time of the run (e.g. Cost Explorer's last fetch); their keys are compared.
VOLATILE_WATERMARKS = frozenset({
    "last_fetch_at",  # cost_explorer: the last complete fetch of the bill
    "anomalies_read_at",  # cost_explorer: the last successful GetAnomalies
    "tags_read_at",  # SageMaker sources: when every resource's tags were last re-read
})


def source_tables(sources: list[str]) -> list[str]:
    return [t.name for s in collectors.by_name(sources) for t in s.TABLES]


def dump(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, list[tuple]]:
    """Every row of each table, volatile columns dropped, sorted; watermarks with time-of-run values masked."""
    out: dict[str, list[tuple]] = {}
    for name in tables:
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [name]).fetchall()]
        keep = [c for c in cols if c not in VOLATILE_COLUMNS]
        rows = con.execute(f"SELECT {', '.join(chr(34) + c + chr(34) for c in keep)} FROM \"{name}\"").fetchall()
        out[name] = sorted(rows, key=repr)
    return out


def watermarks(con: duckdb.DuckDBPyConnection, sources: list[str]) -> list[tuple]:
    rows = con.execute("SELECT account_id, region, source, key, value FROM sextant_watermark "
                       "WHERE source IN (SELECT unnest(?))", [sources]).fetchall()
    return sorted((a, r, s, k, "<time of run>" if k in VOLATILE_WATERMARKS else v) for a, r, s, k, v in rows)


def dump_file(path: Path, sources: list[str]) -> dict[str, list[tuple]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {**dump(con, source_tables(sources)), "sextant_watermark": watermarks(con, sources)}
    finally:
        con.close()


def differences(a: dict[str, list[tuple]], b: dict[str, list[tuple]], limit: int = 3) -> dict[str, str]:
    """Per table: a short description of how the two dumps differ (empty when equal)."""
    out = {}
    for name in sorted(set(a) | set(b)):
        ra, rb = a.get(name, []), b.get(name, [])
        if ra != rb:
            sa, sb = set(ra), set(rb)
            out[name] = (f"{len(ra)} vs {len(rb)} rows; only in first: {sorted(sa - sb, key=repr)[:limit]}; "
                         f"only in second: {sorted(sb - sa, key=repr)[:limit]}")
    return out
