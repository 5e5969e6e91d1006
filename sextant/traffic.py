"""The one definition of an endpoint's traffic over a window of complete minutes, as SQL over the store.

*Traffic over a window* [end - window, end): invocations, 4xx and 5xx errors summed over exactly those minutes — the
complete UTC hours inside from the hourly rollup, the partial hours at both ends from the points (1-minute points
where a 5-minute period has them, as the rollup does; a point straddling the window start counted for its share
inside) — so the figure read at :59 and at :01 of an hour differs by the traffic of those minutes, not by an hourly
bucket; and the p99 over the window: each touching hour's ModelLatency p99 (the hourly rollup's, an upper bound)
weighted by that hour's invocations inside the window, and the worst of those hours.

Two readers run this one SELECT: the metrics collector, which stores the windows the pages show
(``TRAFFIC_WINDOWS``, ending at the minute of its cycle) in ``aws_cloudwatch_endpoint_traffic`` at the end of every
cycle, so a page showing "now" reads one row per endpoint; and the dashboard, for a window that ends earlier (a
custom range in the past), at view time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

# An endpoint is idle after this many days without an invocation (in the metrics collected): the health rule of the
# Endpoints and Overview pages, the Savings list and the endpoint_idle_cost alert all judge it so.
IDLE_DAYS = 7

TRAFFIC_WINDOWS = (timedelta(hours=1), timedelta(hours=24))  # the windows stored each cycle: health's 1 h, 24 h
TRAFFIC_TABLE = "aws_cloudwatch_endpoint_traffic"

_EMPTY_POINTS = ("SELECT NULL::VARCHAR AS account_id, NULL::VARCHAR AS region, NULL::VARCHAR AS series_id, "
                 "NULL::INTEGER AS period_s, NULL::TIMESTAMPTZ AS ts, NULL::DOUBLE AS value WHERE false")


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def aligned_parts(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """(h0, h1): the complete UTC hours of [start, end) are [h0, h1), read from the hourly rollup; the minutes of
    [start, h0) and [h1, end) are read from the points. h0 = h1 = end when no whole hour fits."""
    h0 = hour_floor(start) if hour_floor(start) == start else hour_floor(start) + timedelta(hours=1)
    h1 = hour_floor(end)
    return (h0, h1) if h0 <= h1 else (end, end)


def merged(ranges: Sequence[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    """Half-open [start, end) ranges, empty ones dropped, overlapping or touching ones joined, in time order."""
    out: list[tuple[datetime, datetime]] = []
    for lo, hi in sorted(r for r in ranges if r[0] < r[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def traffic_select(end: datetime, windows: Sequence[timedelta], *, name: str | None = None,
                   account_id: str | None = None, region: str | None = None) -> tuple[str, list[object]]:
    """(sql, params) of a SELECT with one row per window index (``win``: the position in ``windows``) and endpoint
    with metrics (every one, or only ``name``; of one account and region, or of all): win, account_id, region,
    endpoint_name, invocations, errors_4xx, errors_5xx, p99_us (the invocation-weighted hourly p99, microseconds),
    peak_p99_us (the worst hour's). Every window ends at ``end``; the points and hourly rows the windows share are read
    once. Only fixed text is formatted into the SQL (one VALUES row per window, one scan per minute range)."""
    parts = []
    for k, window in enumerate(windows):
        h0, h1 = aligned_parts(end - window, end)
        parts.append((k, end - window, h0, h1, hour_floor(end - window)))
    earliest = min(p[1] for p in parts)
    values = ", ".join("(?::INTEGER, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ, ?::TIMESTAMPTZ)" for _ in parts)
    # the minutes read from the points: per window, before its first whole hour and from its last one on
    ranges = merged([r for _, ws, h0, h1, _ in parts
                     for r in ((ws - timedelta(minutes=5) + timedelta(microseconds=1), h0), (h1, end))])
    # one plain time range per scan, so the point table's zone maps skip all but those minutes' row groups (an OR of
    # ranges in one scan made DuckDB read the whole day's points)
    point_scans = " UNION ALL ".join(
        "SELECT p.account_id, p.region, p.series_id, p.period_s, p.ts, p.value FROM aws_cloudwatch_metric_point p "
        "JOIN s USING (account_id, region, series_id) "
        "WHERE p.stat = 'Sum' AND p.ts >= ?::TIMESTAMPTZ AND p.ts < ?::TIMESTAMPTZ" for _ in ranges) or _EMPTY_POINTS
    sql = f"""
        WITH w(win, ws, h0, h1, hs) AS (VALUES {values}),
        s AS (
            SELECT account_id, region, series_id, endpoint_name, variant_name, metric_name
            FROM aws_cloudwatch_metric_series
            WHERE namespace = 'AWS/SageMaker' AND endpoint_name IS NOT NULL
              AND metric_name IN ('Invocations', 'Invocation4XXErrors', 'Invocation5XXErrors', 'ModelLatency')
              AND (?::VARCHAR IS NULL OR endpoint_name = ?)
              AND (?::VARCHAR IS NULL OR account_id = ?) AND (?::VARCHAR IS NULL OR region = ?)),
        hourly AS (
            SELECT h.account_id, h.region, h.series_id, h.stat, h.hour, h.value
            FROM aws_cloudwatch_metric_hourly h JOIN s USING (account_id, region, series_id)
            WHERE h.hour >= ?::TIMESTAMPTZ AND h.hour < ?::TIMESTAMPTZ AND h.stat IN ('Sum', 'p99')),
        raw AS ({point_scans}),
        pts AS (  -- per window and 5-minute bucket: its 1-minute points where it has any, else its coarser points
            SELECT win, account_id, region, series_id, floor(epoch(ts) / 300) AS b5,
                   sum(share) FILTER (WHERE period_s = 60) AS fine, sum(share) FILTER (WHERE period_s <> 60) AS coarse,
                   bool_or(period_s = 60) AS has_fine
            FROM (SELECT w.win, r.account_id, r.region, r.series_id, r.period_s, r.ts,
                         r.value * greatest(0, least(epoch(r.ts) + r.period_s, epoch(?::TIMESTAMPTZ))
                                             - greatest(epoch(r.ts), epoch(w.ws))) / r.period_s AS share
                  FROM raw r JOIN w ON r.ts > w.ws - INTERVAL 5 MINUTE AND (r.ts < w.h0 OR r.ts >= w.h1))
            GROUP BY ALL),
        counts AS (
            SELECT w.win, h.account_id, h.region, h.series_id, h.hour, h.value
            FROM hourly h JOIN w ON h.hour >= w.h0 AND h.hour < w.h1 WHERE h.stat = 'Sum'
            UNION ALL
            SELECT win, account_id, region, series_id, to_timestamp(floor(b5 * 300 / 3600) * 3600) AS hour,
                   CASE WHEN has_fine THEN fine ELSE coarse END AS value
            FROM pts),
        per_hour AS (
            SELECT c.win, s.account_id, s.region, s.endpoint_name, s.variant_name, c.hour,
                   sum(c.value) FILTER (WHERE s.metric_name = 'Invocations') AS inv,
                   sum(c.value) FILTER (WHERE s.metric_name = 'Invocation4XXErrors') AS e4,
                   sum(c.value) FILTER (WHERE s.metric_name = 'Invocation5XXErrors') AS e5
            FROM counts c JOIN s USING (account_id, region, series_id) GROUP BY ALL),
        p99 AS (
            SELECT w.win, s.account_id, s.region, s.endpoint_name, s.variant_name, h.hour, max(h.value) AS p99
            FROM hourly h JOIN s USING (account_id, region, series_id) JOIN w ON h.hour >= w.hs
            WHERE s.metric_name = 'ModelLatency' AND h.stat = 'p99' GROUP BY ALL)
        SELECT win, account_id, region, endpoint_name, coalesce(sum(inv), 0) AS invocations,
               coalesce(sum(e4), 0) AS errors_4xx, coalesce(sum(e5), 0) AS errors_5xx,
               sum(p99 * inv) / nullif(sum(inv) FILTER (WHERE p99 IS NOT NULL), 0) AS p99_us,
               max(p99) AS peak_p99_us
        FROM per_hour FULL JOIN p99 USING (win, account_id, region, endpoint_name, variant_name, hour)
        GROUP BY ALL"""  # noqa: S608 - fixed text only; every value is bound
    params: list[object] = [*(v for p in parts for v in p), name, name, account_id, account_id, region, region,
                            hour_floor(earliest), end, *(v for r in ranges for v in r), end]
    return sql, params
