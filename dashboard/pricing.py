"""Unit prices learned from the bill: $ per instance-hour by instance type, from collected Cost Explorer rows.

Sextant carries no price list of its own: the price of ``ml.c5.2xlarge`` hosting is what the account
actually paid for it (cost / usage hours of usage type ``*Host:ml.c5.2xlarge``) over the last 30 days.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sextant.store import Reader

SQL = """
    SELECT regexp_extract(key2, '(Host|Train)(-Spot)?:(ml\\.[a-z0-9.]+)$', 3) AS instance_type,
           regexp_extract(key2, '(Host|Train)(-Spot)?:', 1) AS kind,
           sum(unblended_cost_usd) / nullif(sum(usage_quantity), 0) AS usd_per_hour
    FROM aws_cost_daily
    WHERE group_by_kind = 'SERVICE/USAGE_TYPE' AND key2 SIMILAR TO '.*(Host|Train):ml\\.[a-z0-9.]+'
      AND date >= current_date - INTERVAL 30 DAY
    GROUP BY ALL
"""


def hourly_prices(store: Path) -> dict[tuple[str, str], float]:
    """{(kind, instance_type): $ per instance-hour}; kind is Host or Train. Empty before costs are collected."""
    reader = Reader(store)
    try:
        con = reader.connection()
        if con is None:
            return {}
        if not con.execute("SELECT 1 FROM duckdb_tables() WHERE table_name = 'aws_cost_daily'").fetchall():
            return {}
        return {(k, t): p for t, k, p in con.execute(SQL).fetchall() if t and p}
    finally:
        reader.close()


def price_lookup(store: Path) -> Callable[[str, str], float | None]:
    prices = hourly_prices(store)

    def lookup(instance_type: str, kind: str = "Host") -> float | None:
        return prices.get((kind, instance_type)) or prices.get(("Host" if kind == "Train" else "Train",
                                                                 instance_type))

    return lookup
