"""Facts of the bill that more than one reader needs, as SQL over the store (the Cost page, unit prices, the alerts):
the rows to count (``NOT_LINKED``), the month-end forecast, the hourly price of an instance type learned from the bill,
and the hosting cost per endpoint (instance-hours, invocations) that cost per 1,000 inferences divides. The dashboard
(dashboard.queries) and the alert rules (alerts.rules) both read these texts, so each fact has one definition.

``NOT_LINKED``: the rows of the paying account itself. Cost Explorer answers a management account with the whole
organisation's bill and each linked account's own lines too (grouped by LINKED_ACCOUNT); counting both would count a
linked account twice, so every reader of the bill leaves out the rows collected *from* a linked account.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

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


# ----------------------------------------------------------------------------------------- the one hourly-price rule

# Cost Explorer usage types of SageMaker instances: USE1-Host:ml.m5.xlarge -> kind Host, instance type ml.m5.xlarge
PRICE_LINE = r"-([A-Za-z]+(?:-Spot)?):(ml\.[a-z0-9.]+)$"
PRICE_LOOKBACK_DAYS = 30
_PLACEHOLDER = re.compile(r"^(\?|\$[0-9]+|\$[A-Za-z_][A-Za-z0-9_]*)$")


def _placeholders(*names: str) -> None:
    for name in names:
        if not _PLACEHOLDER.match(name):
            raise ValueError(f"not a parameter: {name!r}")


def hourly_prices_select(line: str = "?", days: str = "?") -> str:
    """$ per instance-hour by kind (Host, Train, Train-Spot, Processing, ...) and instance type, learned from the bill
    (dashboard.queries.prices, the one price rule): cost / usage hours of the SERVICE/USAGE_TYPE lines
    ``<region>-<kind>:ml.<type>`` of the ``days`` days ending at the bill's newest day (``NOT_LINKED``). Columns kind,
    instance_type, usd_per_hour. ``line`` and ``days`` are the SQL parameters holding :data:`PRICE_LINE` and
    :data:`PRICE_LOOKBACK_DAYS`: "?" (bind line three times, then days) or named ("$price_line", "$price_days"; see
    :data:`PRICE_PARAMS`); they are the only text formatted in."""
    _placeholders(line, days)
    return f"""
        SELECT regexp_extract(key2, {line}, 1) AS kind, regexp_extract(key2, {line}, 2) AS instance_type,
               sum(unblended_cost_usd) / sum(usage_quantity) AS usd_per_hour
        FROM aws_cost_daily
        WHERE group_by_kind = 'SERVICE/USAGE_TYPE' AND regexp_matches(key2, {line})
          AND {NOT_LINKED}
          AND date > (SELECT max(date) FROM aws_cost_daily) - {days}::INTEGER
        GROUP BY ALL HAVING sum(usage_quantity) > 0"""  # noqa: S608 - fixed text and checked placeholders


# the named parameters of hourly_prices_select("$price_line", "$price_days")
PRICE_PARAMS = {"price_line": PRICE_LINE, "price_days": PRICE_LOOKBACK_DAYS}


# ------------------------------------------------------------------------- hosting cost per endpoint (unit economics)

def variant_hours_select(start: str = "?", end: str = "?") -> str:
    """Instance-hours per endpoint variant and instance type over [start, end): each observed state of
    ``aws_sagemaker_endpoint_variant_history`` holds until the next one, the earliest observed state is assumed to
    hold before it (the collector only sees changes from its first run on). Columns account_id, region, endpoint_name,
    variant_name, instance_type, instance_hours (every variant with history, whether or not its endpoint is still
    listed). ``start`` and ``end`` are SQL parameters: "?" (bind start, end, end, start) or named."""
    _placeholders(start, end)
    return f"""
        WITH h AS (
            SELECT account_id, region, endpoint_name, variant_name, instance_type, current_instance_count,
                   CASE WHEN row_number() OVER w = 1 THEN {start}::TIMESTAMPTZ ELSE observed_at END AS t0,
                   coalesce(lead(observed_at) OVER w, {end}::TIMESTAMPTZ) AS t1
            FROM aws_sagemaker_endpoint_variant_history
            WINDOW w AS (PARTITION BY account_id, region, endpoint_name, variant_name ORDER BY observed_at)
        )
        SELECT h.account_id, h.region, h.endpoint_name, h.variant_name, h.instance_type,
               sum(h.current_instance_count * greatest(0, epoch(least(h.t1, {end}::TIMESTAMPTZ))
                   - epoch(greatest(h.t0, {start}::TIMESTAMPTZ))) / 3600) AS instance_hours
        FROM h GROUP BY ALL"""  # noqa: S608 - fixed text and checked placeholders


def endpoint_invocations_select(start: str, first_day: str, last_day: str, end: str) -> str:
    """Invocations per endpoint over [start, end), summed in SQL: the whole UTC days [first_day, last_day) from the
    daily rollup, the partial days at either end from the hourly one. Columns account_id, region, endpoint_name,
    invocations. The four are named or numbered SQL parameters ("$1".."$4" or "$name"), each bound once."""
    _placeholders(start, first_day, last_day, end)
    return f"""
        WITH s AS (SELECT account_id, region, series_id, endpoint_name FROM aws_cloudwatch_metric_series
                   WHERE namespace = 'AWS/SageMaker' AND metric_name = 'Invocations' AND endpoint_name IS NOT NULL),
        v AS (SELECT account_id, region, series_id, value FROM aws_cloudwatch_metric_hourly
              WHERE stat = 'Sum' AND hour >= {start} AND hour < {first_day}
              UNION ALL
              SELECT account_id, region, series_id, value FROM aws_cloudwatch_metric_hourly
              WHERE stat = 'Sum' AND hour >= {last_day} AND hour < {end}
              UNION ALL
              SELECT account_id, region, series_id, value FROM aws_cloudwatch_metric_daily
              WHERE stat = 'Sum' AND day >= {first_day} AND day < {last_day})
        SELECT s.account_id, s.region, s.endpoint_name, sum(v.value) AS invocations
        FROM v JOIN s USING (account_id, region, series_id) GROUP BY ALL"""  # noqa: S608 - checked placeholders


def whole_days(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days [first_day, last_day) inside [start, end) for :func:`endpoint_invocations_select` (both
    ``end`` when there is none: all from the hourly rollup)."""
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    d0 = day0 if day0 == start else day0 + timedelta(days=1)
    d1 = end.replace(hour=0, minute=0, second=0, microsecond=0)
    return (end, end) if d1 <= d0 else (d0, d1)
