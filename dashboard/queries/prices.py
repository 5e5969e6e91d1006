"""The one hourly-price rule: $ per instance-hour by instance type, learned from the collected bill.

Sextant carries no price list of its own: the price of ``ml.c5.2xlarge`` hosting is what the account paid
for it — cost / usage hours of the Cost Explorer SERVICE/USAGE_TYPE lines ``<region>-Host:ml.c5.2xlarge``
(real-time inference), ``-Train:`` (on-demand training), ``-Train-Spot:`` (spot training), ``-Processing:``
and any other ``<kind>:ml.<type>`` line — over the
``LOOKBACK_DAYS`` days ending at the newest day of the bill (so the figure holds still between
collections), excluding the management account's own copy of linked accounts' lines. The Endpoints table,
unit economics, the savings lists and the action dialog all read it here; the SQL is
:func:`sextant.bill.hourly_prices_select`, which the alert rules (alerts.rules) read too.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from dashboard.data import query
from sextant.bill import PRICE_LINE, PRICE_LOOKBACK_DAYS, hourly_prices_select

LOOKBACK_DAYS = PRICE_LOOKBACK_DAYS
_LINE = PRICE_LINE  # USE1-Host:ml.m5.xlarge -> Host, ml.m5.xlarge
# Where the bill has no line for a kind yet, the rate of the same hardware billed another way stands in.
FALLBACK = {"Train": ("Train-Spot",), "Train-Spot": ("Train",)}
COLUMNS = ["kind", "instance_type", "usd_per_hour"]


def hourly_prices() -> pd.DataFrame:
    """Columns kind (Host, Train, Train-Spot, Processing, ...), instance_type, usd_per_hour; empty before costs
    are collected (:func:`sextant.bill.hourly_prices_select`: the SQL the alert rules read too)."""
    df = query(f"SELECT * FROM ({hourly_prices_select()}) ORDER BY kind, instance_type",  # noqa: S608 - fixed text
               [_LINE, _LINE, _LINE, LOOKBACK_DAYS])
    return df if not df.empty else pd.DataFrame(columns=COLUMNS)


def price_of(prices: pd.DataFrame, kind: str, instance_type: str) -> float | None:
    """$ per hour of ``instance_type`` for ``kind``; on-demand training falls back to the spot rate and spot to
    on-demand (the only line the bill may have yet); hosting has no fallback. None: unknown (say so, never guess)."""
    return _rate(_table(prices), kind, instance_type)


def _table(prices: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {(k, t): float(p) for k, t, p in zip(prices.kind, prices.instance_type, prices.usd_per_hour, strict=True)}


def _rate(table: dict[tuple[str, str], float], kind: str, instance_type: str) -> float | None:
    for k in (kind, *FALLBACK.get(kind, ())):
        if (k, instance_type) in table:
            return table[(k, instance_type)]
    return None


def price_lookup() -> Callable[[str, str], float | None]:
    """``lookup(instance_type, kind)`` over the current snapshot's prices (for the action dialog)."""
    table = _table(hourly_prices())
    return lambda instance_type, kind="Host": _rate(table, kind, instance_type)


def prices_for(kind: str) -> pd.DataFrame:
    """instance_type, usd_per_hour for ``kind`` with :func:`price_of`'s fallbacks, to join in SQL or pandas."""
    table = _table(hourly_prices())
    rows = [(t, _rate(table, kind, t)) for t in sorted({t for _, t in table})]
    return pd.DataFrame(rows, columns=["instance_type", "usd_per_hour"]).dropna()
