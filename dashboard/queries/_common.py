"""Helpers shared by the query modules (not a page area of its own)."""

from __future__ import annotations

import pandas as pd

from dashboard.data import per_snapshot
from dashboard.queries.prices import prices_for
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


def _price_rows(kind: str) -> tuple[str, list]:
    """The hourly prices of ``kind`` (:func:`dashboard.queries.prices.prices_for`, the one rule) as a SELECT of
    (instance_type, usd_per_hour) to join in SQL, with its parameters."""
    p = prices_for(kind)
    return _PRICE_ROWS, [p.instance_type.tolist(), p.usd_per_hour.astype(float).tolist()]


_PRICE_ROWS = "SELECT unnest(?::VARCHAR[]) AS instance_type, unnest(?::DOUBLE[]) AS usd_per_hour"


def _or_empty(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """``df``, or an empty frame with ``columns`` when ``df`` has none: before the first snapshot is published
    ``query`` answers a frame without columns, and callers still read columns of it."""
    return df if len(df.columns) else pd.DataFrame(columns=columns)


ENDPOINT_KEY = ("account_id", "region", "endpoint_name")


def _lookup(left: pd.DataFrame, right: pd.DataFrame, columns: dict[str, str],
            key: tuple[str, ...] = ENDPOINT_KEY) -> None:
    """Left-join ``right``'s ``columns`` ({right column: new left column}) onto ``left`` by ``key``, in place, keeping
    ``left``'s rows and order (blank where ``right`` has no row; ``right`` has at most one row per key). The pages'
    frames have a row per endpoint: for a hundred rows, dictionary lookups cost a tenth of a pandas merge or reindex
    on three text columns."""
    row = {k: i for i, k in enumerate(zip(*(right[c] for c in key), strict=True))}
    at = [row.get(k, -1) for k in zip(*(left[c] for c in key), strict=True)]  # -1: no row (reindexed to blank)
    for src, dst in columns.items():
        values = right[src].reset_index(drop=True).reindex(at)
        values.index = left.index
        left[dst] = values
