"""Helpers shared by the query modules (not a page area of its own)."""

from __future__ import annotations

import pandas as pd

from dashboard.data import per_snapshot
from sextant.schema import ident


def _utc(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    """Timestamp columns as tz-aware UTC (DuckDB hands TIMESTAMPTZ over in the session's zone)."""
    for c in cols:
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True)
    return df


def _in_several_accounts(table: str, column: str) -> frozenset[str]:
    """Values of ``column`` (a series id, an endpoint name) that ``table`` holds for more than one account or
    region, once per snapshot: where a value is in one only, it alone picks its rows (no account filter)."""
    sql = (f"SELECT {ident(column)} FROM {ident(table)} GROUP BY 1 "  # noqa: S608 - the callers' constants
           "HAVING count(DISTINCT (account_id, region)) > 1")
    return per_snapshot(f"several accounts: {table}.{column}",
                        lambda cur: frozenset(r[0] for r in cur.execute(sql).fetchall())) or frozenset()
