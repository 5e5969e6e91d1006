"""Facts of the bill that more than one reader needs, as SQL over the store (the Cost page, unit prices, the alerts).

``NOT_LINKED``: the rows of the paying account itself. Cost Explorer answers a management account with the whole
organisation's bill and each linked account's own lines too (grouped by LINKED_ACCOUNT); counting both would count a
linked account twice, so every reader of the bill leaves out the rows collected *from* a linked account.
"""

from __future__ import annotations

NOT_LINKED = ("account_id NOT IN (SELECT key1 FROM aws_cost_daily "
              "WHERE group_by_kind = 'LINKED_ACCOUNT/SERVICE' AND key1 <> account_id)")


def forecast_select(today: str) -> str:
    """The newest Cost Explorer forecast covering today, summed over the bill (``NOT_LINKED``), with the month's spend
    before it: columns as_of, period_start, period_end, mean_usd, lower_usd, upper_usd, actual_before_usd (the month
    ends at actual_before_usd + mean_usd). ``today`` is the SQL parameter holding today's date as the caller binds it
    ("?", bound twice, or a named "$today"); it is the only text formatted in."""
    if today not in ("?", "$today"):
        raise ValueError(f"not a parameter: {today!r}")
    return f"""
        WITH f AS (SELECT as_of, period_start, period_end, sum(mean_usd) AS mean_usd,
                          sum(lower_usd) AS lower_usd, sum(upper_usd) AS upper_usd
                   FROM aws_cost_forecast WHERE {NOT_LINKED} AND period_start <= {today} AND period_end > {today}
                   GROUP BY ALL ORDER BY as_of DESC LIMIT 1)
        SELECT f.*, coalesce((SELECT sum(unblended_cost_usd) FROM aws_cost_daily
                              WHERE {NOT_LINKED} AND group_by_kind = 'SERVICE/USAGE_TYPE'
                                AND date >= date_trunc('month', f.period_start) AND date < f.period_start), 0)
                    AS actual_before_usd
        FROM f"""  # noqa: S608 - fixed text
