"""Typed read queries for the money and housekeeping pages: Overview, Cost, Collection, Data dictionary.

Every query is parameterized (values are bound with ``?``; the only identifiers interpolated come from
this module's own constants) and runs on the newest published snapshot through ``dashboard.data.query``.

**The bill.** ``aws_cost_daily`` holds the whole bill once per *grouping* (``group_by_kind``), so every
function here reads exactly one kind. A scope filter (account, team, project) can only be honoured by the
kind that carries it (Cost Explorer groups by at most two keys): the chosen kind is the one for the
active filter, and filters no kind can honour together are reported in ``df.attrs["ignored"]`` so the
page can say so. When the store holds the bill of a payer *and* of one of its linked accounts, the
linked account's own rows are skipped: the payer's bill already includes them.

**Hosting cost per endpoint** is not on the bill (Cost Explorer knows instance types, not endpoints): it is
instance-hours of each variant (integrated over ``aws_sagemaker_endpoint_variant_history``; the earliest
observed state is assumed to hold before it) times the $ per instance-hour the account actually paid for
that instance type (cost / usage hours of usage type ``*Host:<type>`` over the last 30 days).

**The SQL box** (:func:`run_user_sql`) is the one sanctioned place where user text reaches SQL; see there.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import pandas as pd

from collectors import cloudwatch_metrics as cwm
from dashboard.data import has_table, per_snapshot, query, reader
from dashboard.filters import Filters
from sextant.settings import Settings

# --------------------------------------------------------------------------- the bill

BILL = "aws_cost_daily"
# group name -> (group_by_kind, key column holding the group)
GROUPS: dict[str, tuple[str, str]] = {
    "service": ("SERVICE/USAGE_TYPE", "key1"),
    "usage type": ("SERVICE/USAGE_TYPE", "key2"),
    "account": ("LINKED_ACCOUNT/SERVICE", "key1"),
    "team": ("TAG:team/SERVICE", "key1"),
    "project": ("TAG:project/SERVICE", "key1"),
}
# filter name -> group_by_kind whose key1 carries it
FILTER_KINDS = {"accounts": "LINKED_ACCOUNT/SERVICE", "teams": "TAG:team/SERVICE",
                "projects": "TAG:project/SERVICE"}
NOT_LINKED = ("account_id NOT IN (SELECT key1 FROM aws_cost_daily "
              "WHERE group_by_kind = 'LINKED_ACCOUNT/SERVICE' AND key1 <> account_id)")
UNTAGGED = "(untagged)"


def has_bill() -> bool:
    """The store holds Cost Explorer data (once per snapshot)."""
    return has_table(BILL) and bool(per_snapshot(
        "has_bill", lambda cur: cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {BILL} LIMIT 1)").fetchone()[0]))  # noqa: S608


def _scope(f: Filters, group: str = "service") -> tuple[str, str, str, list, list[str]]:
    """(kind, group column, WHERE fragment, params, ignored filter names) for a bill query."""
    active = {name: list(getattr(f, name)) for name in FILTER_KINDS if getattr(f, name)}
    kind, col = GROUPS[group]
    if group == "service" and active:
        # service is key2 of every kind that carries a filter: use the first active filter's kind
        kind, col = FILTER_KINDS[next(iter(active))], "key2"
    where, params, ignored = [NOT_LINKED, "group_by_kind = ?"], [kind], []
    for name, values in active.items():
        if FILTER_KINDS[name] == kind:
            where.append("key1 IN (SELECT unnest(?))")
            params.append(values)
        else:
            ignored.append(name)
    return kind, col, " AND ".join(where), params, ignored


def daily_cost(f: Filters, group: str, start: date, end: date) -> pd.DataFrame:
    """Cost per day and group over [start, end): columns date, group, cost_usd, estimated.

    ``attrs["ignored"]`` lists the scope filters the chosen grouping cannot honour."""
    if not has_bill():
        return pd.DataFrame(columns=["date", "group", "cost_usd", "estimated"])
    kind, col, where, params, ignored = _scope(f, group)
    untagged = UNTAGGED if kind.startswith("TAG:") and col == "key1" else "(none)"
    df = query(f"""
        SELECT date, coalesce(nullif({col}, ''), ?) AS "group", sum(unblended_cost_usd) AS cost_usd,
               bool_or(estimated) AS estimated
        FROM {BILL} WHERE {where} AND date >= ? AND date < ?
        GROUP BY ALL ORDER BY date, "group"
    """, [untagged, *params, start, end])  # noqa: S608 - identifiers are this module's constants
    df.attrs["ignored"] = ignored
    df.attrs["kind"] = kind
    return df


def bill_total(f: Filters, start: date, end: date) -> float:
    df = daily_cost(f, "service", start, end)
    return float(df.cost_usd.sum()) if not df.empty else 0.0


@dataclass(frozen=True)
class MonthToDate:
    month_start: date
    mtd_usd: float  # month start through today (today is partial)
    complete_usd: float  # month start through yesterday
    previous_same_days_usd: float | None  # the same complete days of last month
    days: int  # complete days compared
    daily: pd.DataFrame  # date, cost_usd of this month (for a sparkline)
    ignored: tuple[str, ...] = ()

    @property
    def change_pct(self) -> float | None:
        if not self.previous_same_days_usd:
            return None
        return (self.complete_usd - self.previous_same_days_usd) / self.previous_same_days_usd * 100


def month_to_date(f: Filters, today: date) -> MonthToDate:
    """Spend of this month so far, and the same complete days of last month for comparison."""
    month_start = today.replace(day=1)
    prev_start = (month_start - timedelta(days=1)).replace(day=1)
    days = (today - month_start).days
    prev_days_in_month = (month_start - prev_start).days
    prev_end = prev_start + timedelta(days=min(days, prev_days_in_month))
    this = daily_cost(f, "service", month_start, today + timedelta(days=1))
    prev = daily_cost(f, "service", prev_start, prev_end) if days else pd.DataFrame()
    per_day = this.groupby("date", as_index=False).cost_usd.sum() if not this.empty else \
        pd.DataFrame(columns=["date", "cost_usd"])
    complete = float(per_day.loc[pd.to_datetime(per_day.date).dt.date < today, "cost_usd"].sum()) \
        if not per_day.empty else 0.0
    previous = float(prev.cost_usd.sum()) if days and not prev.empty else None
    return MonthToDate(month_start, float(per_day.cost_usd.sum()) if not per_day.empty else 0.0, complete,
                       previous, days, per_day, tuple(this.attrs.get("ignored", ())))


def forecast(today: date) -> pd.DataFrame:
    """The newest Cost Explorer forecast, with month_end_usd = spend before it + its mean (whole bill).

    Columns: as_of, period_start, period_end, mean_usd, lower_usd, upper_usd, actual_before_usd,
    month_end_usd, month_end_lower_usd, month_end_upper_usd."""
    if not has_table("aws_cost_forecast"):
        return pd.DataFrame()
    df = query(f"""
        WITH f AS (SELECT as_of, period_start, period_end, sum(mean_usd) AS mean_usd,
                          sum(lower_usd) AS lower_usd, sum(upper_usd) AS upper_usd
                   FROM aws_cost_forecast WHERE {NOT_LINKED} AND period_start <= ? AND period_end > ?
                   GROUP BY ALL ORDER BY as_of DESC LIMIT 1)
        SELECT f.*, coalesce((SELECT sum(unblended_cost_usd) FROM {BILL}
                              WHERE {NOT_LINKED} AND group_by_kind = 'SERVICE/USAGE_TYPE'
                                AND date >= date_trunc('month', f.period_start) AND date < f.period_start), 0)
                    AS actual_before_usd
        FROM f
    """, [today, today])  # noqa: S608
    if df.empty:
        return df
    for col, src in (("month_end_usd", "mean_usd"), ("month_end_lower_usd", "lower_usd"),
                     ("month_end_upper_usd", "upper_usd")):
        df[col] = df.actual_before_usd + df[src]
    return df


def movers(f: Filters, group: str, today: date, limit: int = 8) -> pd.DataFrame:
    """Groups whose cost changed most: the last 7 complete days vs the 7 before.

    Columns: group, last_7d_usd, previous_7d_usd, change_usd, change_pct."""
    df = daily_cost(f, group, today - timedelta(days=14), today)
    if df.empty:
        return pd.DataFrame(columns=["group", "last_7d_usd", "previous_7d_usd", "change_usd", "change_pct"])
    recent = pd.to_datetime(df.date).dt.date >= today - timedelta(days=7)
    out = pd.DataFrame({"last_7d_usd": df[recent].groupby("group").cost_usd.sum(),
                        "previous_7d_usd": df[~recent].groupby("group").cost_usd.sum()}).fillna(0.0)
    out["change_usd"] = out.last_7d_usd - out.previous_7d_usd
    out["change_pct"] = (out.change_usd / out.previous_7d_usd.where(out.previous_7d_usd > 0)) * 100
    out = out.reset_index(names="group")
    out = out.reindex(out.change_usd.abs().sort_values(ascending=False).index).head(limit)
    out.attrs["ignored"] = df.attrs.get("ignored", [])
    return out.reset_index(drop=True)


def anomalies(start: date, end: date) -> pd.DataFrame:
    """Cost anomalies starting in [start, end): start_date, end_date, service, usage_type, linked_account,
    total_impact_usd, total_actual_spend_usd, total_expected_spend_usd, total_impact_pct, max_score."""
    if not has_table("aws_cost_anomaly"):
        return pd.DataFrame()
    return query("""
        SELECT start_date, coalesce(end_date, start_date) AS end_date, service, usage_type, linked_account,
               total_impact_usd, total_actual_spend_usd, total_expected_spend_usd, total_impact_pct, max_score,
               anomaly_id
        FROM aws_cost_anomaly WHERE start_date >= ? AND start_date < ?
        ORDER BY start_date DESC, total_impact_usd DESC
    """, [start, end])


def instance_prices(today: date, days: int = 30) -> pd.DataFrame:
    """$ per instance-hour the account paid, by usage kind (Host, Train, Train-Spot) and instance type."""
    if not has_bill():
        return pd.DataFrame(columns=["kind", "instance_type", "usd_per_hour"])
    return query(f"""
        SELECT regexp_extract(key2, '(Host|Train-Spot|Train):(ml\\.[a-z0-9.]+)$', 1) AS kind,
               regexp_extract(key2, '(Host|Train-Spot|Train):(ml\\.[a-z0-9.]+)$', 2) AS instance_type,
               sum(unblended_cost_usd) / nullif(sum(usage_quantity), 0) AS usd_per_hour
        FROM {BILL}
        WHERE {NOT_LINKED} AND group_by_kind = 'SERVICE/USAGE_TYPE'
          AND regexp_matches(key2, '(Host|Train-Spot|Train):ml\\.[a-z0-9.]+$')
          AND date >= ? AND date < ?
        GROUP BY ALL HAVING sum(usage_quantity) > 0
    """, [today - timedelta(days=days), today + timedelta(days=1)])  # noqa: S608


# --------------------------------------------------------------------------- endpoints: metrics and hosting


def _endpoint_invocations(start: datetime, end: datetime) -> pd.DataFrame:
    """Invocations per endpoint over [start, end), summed in SQL: whole UTC days from the daily rollup, the
    partial days at either end from the hourly one (a 30-day range reads ~30 rows per series, not 720)."""
    key = ["account_id", "region", "endpoint_name"]
    if not (has_table("aws_cloudwatch_metric_series") and has_table("aws_cloudwatch_metric_hourly")):
        return pd.DataFrame(columns=[*key, "invocations"])
    day0 = start.replace(hour=0, minute=0, second=0, microsecond=0)
    d0 = day0 if day0 == start else day0 + timedelta(days=1)  # first whole day
    d1 = end.replace(hour=0, minute=0, second=0, microsecond=0)  # end of the last whole day
    if not has_table("aws_cloudwatch_metric_daily") or d1 <= d0:
        d0 = d1 = end  # no whole day: all from the hourly rollup
    days = ("UNION ALL SELECT account_id, region, series_id, value FROM aws_cloudwatch_metric_daily "
            "WHERE stat = 'Sum' AND day >= $2 AND day < $3") if has_table("aws_cloudwatch_metric_daily") else ""
    return query(f"""
        WITH s AS (SELECT account_id, region, series_id, endpoint_name FROM aws_cloudwatch_metric_series
                   WHERE namespace = 'AWS/SageMaker' AND metric_name = 'Invocations' AND endpoint_name IS NOT NULL),
        v AS (SELECT account_id, region, series_id, value FROM aws_cloudwatch_metric_hourly
              WHERE stat = 'Sum' AND hour >= $1 AND hour < $2
              UNION ALL
              SELECT account_id, region, series_id, value FROM aws_cloudwatch_metric_hourly
              WHERE stat = 'Sum' AND hour >= $3 AND hour < $4
              {days})
        SELECT s.account_id, s.region, s.endpoint_name, sum(v.value) AS invocations
        FROM v JOIN s USING (account_id, region, series_id) GROUP BY ALL""", [start, d0, d1, end])  # noqa: S608


SUMMARY = "aws_cloudwatch_endpoint_summary"


def metrics_as_of() -> datetime | None:
    """Newest endpoint invocation datapoint collected: health is judged relative to it.

    The collector records it with each cycle's endpoint summary; on a store without one it is looked up in
    the rollup and the points (``cloudwatch_metrics.newest_invocation``: two scans bounded for pruning)."""
    if has_table(SUMMARY):
        df = query(f"SELECT max(as_of) AS ts FROM {SUMMARY}")  # noqa: S608 - a constant table name
        if not df.empty and pd.notna(df.ts.iloc[0]):
            return pd.Timestamp(df.ts.iloc[0]).tz_convert(UTC).to_pydatetime()
    if not (has_table("aws_cloudwatch_metric_point") and has_table("aws_cloudwatch_metric_hourly")):
        return None

    def execute(sql: str, params: list) -> list[tuple]:  # rows as the collector's cursor gives them: NULL is None
        return [tuple(None if pd.isna(v) else v for v in row)
                for row in query(sql, params).itertuples(index=False, name=None)]

    ts = cwm.newest_invocation(execute, None, None, datetime.now(UTC))
    return None if ts is None or pd.isna(ts) else pd.Timestamp(ts).tz_convert(UTC).to_pydatetime()


def endpoint_summary() -> pd.DataFrame:
    """Per endpoint: invocations over 1 h / 24 h / 7 d / 30 d, 5xx errors, p99 and its 7-day baseline, last
    invocation, first day collected, all to ``as_of`` (see ``aws_cloudwatch_endpoint_summary``).

    Read from the table the metrics collector rewrites each cycle (one row per endpoint, nothing to scan at
    view time); a store collected before that table existed is summarized here with the same SELECT."""
    if has_table(SUMMARY):
        df = query(f"SELECT * FROM {SUMMARY}")  # noqa: S608 - a constant table name
    elif has_table("aws_cloudwatch_metric_series") and has_table("aws_cloudwatch_metric_daily"):
        ref = metrics_as_of()
        df = query(cwm.SUMMARY_SELECT, cwm.summary_params(ref)) if ref else pd.DataFrame()
    else:
        df = pd.DataFrame()
    for c in ("as_of", "last_invocation", "metrics_since"):
        if c in df.columns:
            df[c] = pd.to_datetime(df[c], utc=True)
    return df


def _endpoints(f: Filters) -> pd.DataFrame:
    if not has_table("aws_sagemaker_endpoint"):
        return pd.DataFrame(columns=["account_id", "region", "endpoint_name", "team", "project", "status",
                                     "creation_time"])
    where, params = f.where()
    return query(f"""
        SELECT account_id, region, endpoint_name, team, project, env, status, creation_time
        FROM aws_sagemaker_endpoint WHERE {where}
    """, params)  # noqa: S608 - the WHERE fragment is built from bound parameters


def last_invocation(f: Filters) -> pd.DataFrame:
    """Per endpoint in scope: invocations in the last 24 h / 7 d / 30 d of data, the last hour with any, and the
    days without one (idle_days), from the endpoint summary."""
    eps = _endpoints(f)
    key = ["account_id", "region", "endpoint_name"]
    summary = endpoint_summary()
    if summary.empty:
        for c in ("invocations_1h", "invocations_24h", "invocations_7d", "invocations_30d", "errors_5xx_1h",
                  "errors_5xx_24h"):
            eps[c] = 0.0
        for c in ("p99_1h_us", "p99_24h_us", "p99_baseline_us"):
            eps[c] = float("nan")
        eps["last_invocation"] = pd.NaT
        eps["idle_days"] = 0.0  # no metrics collected: nothing can be called idle
        return eps
    out = eps.merge(summary, on=key, how="left")
    for c in ("invocations_1h", "invocations_24h", "invocations_7d", "invocations_30d", "errors_5xx_1h",
              "errors_5xx_24h"):
        out[c] = out[c].fillna(0.0)
    # days without an invocation, bounded by what was collected: with no invocation in the collected metrics,
    # idle at least since the later of the endpoint's creation and the start of metrics collection
    ref = out.as_of.fillna(summary.as_of.max())
    created = pd.to_datetime(out.creation_time, utc=True)
    covered = out.metrics_since.min()
    last = out.last_invocation
    since = last.where(last.notna(), created.clip(lower=covered) if pd.notna(covered) else created)
    out["idle_days"] = (ref - since).dt.total_seconds() / 86400
    return out


THRESHOLDS = {"error_rate_pct": 1.0, "p99_vs_baseline": 2.0}


def endpoint_health(f: Filters) -> pd.DataFrame:
    """One row per endpoint with its health: ok, degraded or idle, and why.

    degraded: 5xx error rate > 1 % of invocations, or p99 ModelLatency > 2 x the endpoint's own 7-day
    median hourly p99, in the last hour or the last 24 h of data; idle: zero invocations over 7+ days
    (the endpoint being older than that). Columns: endpoint_name, team, project, account_id, region,
    health, reason, invocations_1h, invocations_24h, error_rate_1h_pct, error_rate_24h_pct,
    p99_1h_ms, p99_24h_ms, p99_baseline_ms, last_invocation."""
    out = last_invocation(f)
    if out.empty:
        return out
    out = out.rename(columns={"errors_5xx_1h": "errors_1h", "errors_5xx_24h": "errors_24h"})
    out["error_rate_1h_pct"] = out.errors_1h / out.invocations_1h.where(out.invocations_1h > 0) * 100
    out["error_rate_24h_pct"] = out.errors_24h / out.invocations_24h.where(out.invocations_24h > 0) * 100
    for c in ("p99_1h", "p99_24h", "p99_baseline"):
        out[f"{c}_ms"] = out[f"{c}_us"].astype(float) / 1000

    def judge(rate_1h, rate_24h, p99_1h, p99_24h, base, idle_days, last) -> tuple[str, str]:
        reasons = []
        for w, rate, p99 in (("1h", rate_1h, p99_1h), ("24h", rate_24h, p99_24h)):
            if pd.notna(rate) and rate > THRESHOLDS["error_rate_pct"]:
                reasons.append(f"5xx {rate:.1f}% over {w}")
            if pd.notna(p99) and pd.notna(base) and base > 0 and p99 > THRESHOLDS["p99_vs_baseline"] * base:
                reasons.append(f"p99 {p99:,.0f} ms over {w} ({p99 / base:.1f}x its usual {base:,.0f} ms)")
        if reasons:
            return "degraded", "; ".join(dict.fromkeys(reasons))
        if idle_days >= 7:
            since = f"no invocations since {last:%Y-%m-%d}" if pd.notna(last) else \
                f"no invocations in the {idle_days:.0f} days collected"
            return "idle", since
        return "ok", ""

    # one call per endpoint over plain values (a row-wise DataFrame.apply costs ~0.1 ms a row)
    judged = [judge(*v) for v in zip(out.error_rate_1h_pct, out.error_rate_24h_pct, out.p99_1h_ms, out.p99_24h_ms,
                                     out.p99_baseline_ms, out.idle_days, out.last_invocation, strict=True)]
    out["health"] = [h for h, _ in judged]
    out["reason"] = [r for _, r in judged]
    return out[["endpoint_name", "health", "reason", "team", "project", "account_id", "region",
                "invocations_1h", "invocations_24h", "error_rate_1h_pct", "error_rate_24h_pct", "p99_1h_ms",
                "p99_24h_ms", "p99_baseline_ms", "last_invocation"]].sort_values(
        ["health", "endpoint_name"], key=lambda s: s.map({"degraded": 0, "idle": 1, "ok": 2}) if s.name == "health"
        else s).reset_index(drop=True)


def variant_hours(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Instance-hours per endpoint variant and instance type over [start, end).

    Each observed state holds until the next one; the earliest observed state is assumed to hold before
    it (the collector only sees changes from its first run on)."""
    if not has_table("aws_sagemaker_endpoint_variant_history"):
        return pd.DataFrame(columns=["account_id", "region", "endpoint_name", "variant_name", "instance_type",
                                     "instance_hours"])
    where, params = f.where("e")
    return query(f"""
        WITH h AS (
            SELECT account_id, region, endpoint_name, variant_name, instance_type, current_instance_count,
                   CASE WHEN row_number() OVER w = 1 THEN ?::TIMESTAMPTZ ELSE observed_at END AS t0,
                   coalesce(lead(observed_at) OVER w, ?::TIMESTAMPTZ) AS t1
            FROM aws_sagemaker_endpoint_variant_history
            WINDOW w AS (PARTITION BY account_id, region, endpoint_name, variant_name ORDER BY observed_at)
        )
        SELECT h.account_id, h.region, h.endpoint_name, h.variant_name, h.instance_type,
               sum(h.current_instance_count * greatest(0, epoch(least(h.t1, ?::TIMESTAMPTZ))
                   - epoch(greatest(h.t0, ?::TIMESTAMPTZ))) / 3600) AS instance_hours
        FROM h JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
        WHERE {where}
        GROUP BY ALL
    """, [start, end, end, start, *params])  # noqa: S608


def endpoint_unit_cost(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Hosting cost and cost per 1,000 inferences per endpoint over [start, end).

    Columns: endpoint_name, team, project, instance_type, instance_hours, usd_per_hour, hosting_usd,
    invocations, usd_per_1k_inferences."""
    hours = variant_hours(f, start, end)
    if hours.empty:
        return pd.DataFrame()
    prices = instance_prices(end.date())
    host = prices[prices.kind == "Host"][["instance_type", "usd_per_hour"]]
    hours = hours.merge(host, on="instance_type", how="left")
    hours["hosting_usd"] = hours.instance_hours * hours.usd_per_hour
    key = ["account_id", "region", "endpoint_name"]
    per = hours.groupby(key).agg(instance_type=("instance_type", lambda s: ", ".join(sorted(set(s)))),
                                 instance_hours=("instance_hours", "sum"),
                                 hosting_usd=("hosting_usd", lambda s: s.sum(min_count=1))).reset_index()
    per["usd_per_hour"] = per.hosting_usd / per.instance_hours.where(per.instance_hours > 0)
    inv = _endpoint_invocations(start, end)
    eps = _endpoints(f)[[*key, "team", "project"]]
    out = eps.merge(per, on=key, how="left").merge(inv, on=key, how="left")
    out["invocations"] = out.invocations.fillna(0.0)
    out["usd_per_1k_inferences"] = out.hosting_usd / out.invocations.where(out.invocations > 0) * 1000
    return out[["endpoint_name", "team", "project", "account_id", "instance_type", "instance_hours",
                "usd_per_hour", "hosting_usd", "invocations", "usd_per_1k_inferences"]].sort_values(
        "hosting_usd", ascending=False, na_position="last").reset_index(drop=True)


def _current_hourly_cost(f: Filters, today: date) -> pd.DataFrame:
    """Per endpoint: $ per hour of the instances serving now (current counts x paid price), in one query."""
    if not has_table("aws_sagemaker_endpoint_variant"):
        return pd.DataFrame(columns=["account_id", "region", "endpoint_name", "instances", "instance_type",
                                     "usd_per_hour"])
    where, params = f.where("e")
    prices = instance_prices(today)
    host = prices[prices.kind == "Host"]
    return query(f"""
        WITH p AS (SELECT unnest(?::VARCHAR[]) AS instance_type, unnest(?::DOUBLE[]) AS usd_per_hour)
        SELECT v.account_id, v.region, v.endpoint_name, sum(v.current_instance_count)::BIGINT AS instances,
               string_agg(DISTINCT v.instance_type, ', ' ORDER BY v.instance_type) AS instance_type,
               sum(v.current_instance_count * p.usd_per_hour) AS usd_per_hour
        FROM aws_sagemaker_endpoint_variant v JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
        LEFT JOIN p USING (instance_type)
        WHERE {where} GROUP BY ALL
    """, [host.instance_type.tolist(), host.usd_per_hour.astype(float).tolist(), *params])  # noqa: S608


def idle_endpoints(f: Filters, days: int, today: date) -> pd.DataFrame:
    """Endpoints older than ``days`` with zero invocations over the last ``days`` days of data.

    Columns: endpoint_name, team, project, account_id, instance_type, instances, last_invocation (NaT:
    none in the collected metrics), idle_days (at least; bounded by the metrics collected), daily_usd
    (instances serving now x the $ per instance-hour paid x 24), monthly_saving_usd (daily cost x 30)."""
    inv = last_invocation(f)
    if inv.empty:
        return pd.DataFrame()
    idle = inv[inv.idle_days >= days]
    cost = _current_hourly_cost(f, today)
    out = idle.merge(cost, on=["account_id", "region", "endpoint_name"], how="left")
    out["daily_usd"] = out.usd_per_hour * 24
    out["monthly_saving_usd"] = out.daily_usd * 30
    out["idle_days"] = out.idle_days.astype(float).round(1)
    return out[["endpoint_name", "team", "project", "account_id", "instance_type", "instances", "last_invocation",
                "idle_days", "daily_usd", "monthly_saving_usd"]].sort_values(
        "monthly_saving_usd", ascending=False).reset_index(drop=True)


RIGHTSIZE_TARGET_CPU = 50.0  # % a right-sized fleet would run at, at its p95
HOURS_PER_MONTH = 730.0


def overprovisioned(f: Filters, today: date, cpu_p95_below: float = 20.0, days: int = 7) -> pd.DataFrame:
    """Endpoints with traffic whose p95 hourly CPU over ``days`` days is below the threshold.

    The saving: with several instances, the ones a fleet at 50 % p95 CPU would not need; with one
    instance, half its cost (one instance size down in the same family halves the price).
    Columns: endpoint_name, team, instance_type, instances, cpu_p95_pct, suggestion, monthly_saving_usd."""
    ref = metrics_as_of() or datetime.now(UTC)
    if not (has_table("aws_cloudwatch_metric_series") and has_table("aws_cloudwatch_metric_hourly")):
        return pd.DataFrame()
    p95 = query("""
        SELECT s.account_id, s.region, s.endpoint_name, quantile_cont(h.value, 0.95) AS cpu_p95_pct
        FROM aws_cloudwatch_metric_series s
        JOIN aws_cloudwatch_metric_hourly h USING (account_id, region, series_id)
        WHERE s.namespace = '/aws/sagemaker/Endpoints' AND s.metric_name = 'CPUUtilization'
          AND h.stat = 'Average' AND s.endpoint_name IS NOT NULL AND h.hour >= ? AND h.hour < ?
        GROUP BY ALL
    """, [ref - timedelta(days=days), ref + timedelta(hours=1)])
    if p95.empty:
        return pd.DataFrame()
    key = ["account_id", "region", "endpoint_name"]
    eps = last_invocation(f)
    eps = eps[eps.invocations_7d > 0][[*key, "team", "project"]]
    out = eps.merge(p95, on=key).merge(_current_hourly_cost(f, today), on=key, how="left")
    out = out[out.cpu_p95_pct < cpu_p95_below].copy()
    if out.empty:
        return pd.DataFrame(columns=["endpoint_name", "team", "project", "account_id", "instance_type", "instances",
                                     "cpu_p95_pct", "suggestion", "monthly_saving_usd"])
    need = (out.instances * out.cpu_p95_pct / RIGHTSIZE_TARGET_CPU).apply(math.ceil).clip(lower=1)
    per_instance = out.usd_per_hour / out.instances
    many = out.instances > 1
    out["suggestion"] = [f"{int(n)} → {int(k)} instances" if m else "one size smaller instance"
                         for n, k, m in zip(out.instances, need, many, strict=True)]
    out["monthly_saving_usd"] = ((out.instances - need) * per_instance).where(many, out.usd_per_hour / 2) \
        * HOURS_PER_MONTH
    return out[["endpoint_name", "team", "project", "account_id", "instance_type", "instances", "cpu_p95_pct",
                "suggestion", "monthly_saving_usd"]].sort_values("monthly_saving_usd", ascending=False) \
        .reset_index(drop=True)


# --------------------------------------------------------------------------- training

DEFAULT_SPOT_DISCOUNT = 0.70


def _jobs(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    if not has_table("aws_sagemaker_training_job"):
        return pd.DataFrame()
    where, params = f.where()
    return query(f"""
        SELECT training_job_name, team, project, account_id, status, spot, instance_type, instance_count,
               training_seconds, billable_seconds, creation_time, training_end_time, failure_reason
        FROM aws_sagemaker_training_job
        WHERE {where} AND creation_time >= ? AND creation_time < ?
    """, [*params, start, end])  # noqa: S608


def observed_spot_discount(f: Filters, now: datetime) -> float:
    """1 - billable / training seconds of the spot jobs of the last 90 days (the default when none)."""
    jobs = _jobs(f, now - timedelta(days=90), now)
    spot = jobs[(jobs.spot.fillna(False)) & (jobs.training_seconds > 0)] if not jobs.empty else jobs
    if spot.empty:
        return DEFAULT_SPOT_DISCOUNT
    return float(1 - spot.billable_seconds.sum() / spot.training_seconds.sum())


def training_cost(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Training jobs created in [start, end) priced: billable_seconds x instances x paid $ per hour.

    Columns: training_job_name, team, project, account_id, status, spot, instance_type, instance_count,
    training_hours (instance-hours of training), cost_usd."""
    jobs = _jobs(f, start, end)
    if jobs.empty:
        return jobs
    prices = instance_prices(end.date(), days=95)
    # on-demand training price; spot jobs are billed at it on their (discounted) billable time
    train = prices[prices.kind == "Train"][["instance_type", "usd_per_hour"]]
    jobs = jobs.merge(train, on="instance_type", how="left")
    n = jobs.instance_count.fillna(1)
    jobs["training_hours"] = jobs.training_seconds.fillna(0) * n / 3600
    jobs["cost_usd"] = jobs.billable_seconds.fillna(0) * n / 3600 * jobs.usd_per_hour
    return jobs


def training_unit_cost(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Per team: jobs, training instance-hours, cost, $ per training hour, spot share of hours."""
    jobs = training_cost(f, start, end)
    if jobs.empty:
        return pd.DataFrame()
    jobs["spot_hours"] = jobs.training_hours.where(jobs.spot.fillna(False), 0.0)
    out = jobs.groupby("team", dropna=False).agg(jobs=("training_job_name", "count"),
                                                 training_hours=("training_hours", "sum"),
                                                 cost_usd=("cost_usd", "sum"), spot_hours=("spot_hours", "sum"))
    out["usd_per_training_hour"] = out.cost_usd / out.training_hours.where(out.training_hours > 0)
    out["spot_share_pct"] = out.spot_hours / out.training_hours.where(out.training_hours > 0) * 100
    return out.drop(columns="spot_hours").reset_index().sort_values("cost_usd", ascending=False) \
        .reset_index(drop=True)


def spot_candidates(f: Filters, now: datetime, discount: float, days: int = 30) -> pd.DataFrame:
    """On-demand training of the last ``days`` days that spot would have made cheaper, per team and
    instance type: cost_usd, saving_usd = cost x discount, monthly_saving_usd scaled to 30 days."""
    jobs = training_cost(f, now - timedelta(days=days), now)
    if jobs.empty:
        return pd.DataFrame()
    od = jobs[~jobs.spot.fillna(False) & (jobs.cost_usd > 0)]
    if od.empty:
        return pd.DataFrame(columns=["team", "instance_type", "jobs", "cost_usd", "monthly_saving_usd"])
    out = od.groupby(["team", "instance_type"], dropna=False).agg(
        jobs=("training_job_name", "count"), cost_usd=("cost_usd", "sum")).reset_index()
    out["monthly_saving_usd"] = out.cost_usd * discount * 30 / days
    return out.sort_values("monthly_saving_usd", ascending=False).reset_index(drop=True)


# --------------------------------------------------------------------------- incidents for the overview


def alarms_firing(f: Filters) -> pd.DataFrame:
    if not has_table("aws_cloudwatch_alarm"):
        return pd.DataFrame()
    where, params = f.where("a", team_col="", project_col="")
    return query(f"""
        SELECT a.alarm_name, a.endpoint_name, a.metric_name, a.state_updated_at AS since, a.state_reason,
               a.account_id, a.region
        FROM aws_cloudwatch_alarm a WHERE a.state_value = 'ALARM' AND {where}
        ORDER BY a.state_updated_at DESC
    """, params)  # noqa: S608


def failed_training(f: Filters, since: datetime) -> pd.DataFrame:
    if not has_table("aws_sagemaker_training_job"):
        return pd.DataFrame()
    where, params = f.where()
    return query(f"""
        SELECT training_job_name, team, project, coalesce(training_end_time, last_modified_time) AS failed_at,
               failure_reason, spot, instance_type, account_id
        FROM aws_sagemaker_training_job
        WHERE status = 'Failed' AND coalesce(training_end_time, last_modified_time) >= ? AND {where}
        ORDER BY failed_at DESC
    """, [since, *params])  # noqa: S608


def failed_pipeline_runs(f: Filters, since: datetime) -> pd.DataFrame:
    if not (has_table("aws_sagemaker_pipeline_execution") and has_table("aws_sagemaker_pipeline")):
        return pd.DataFrame()
    where, params = f.where("p")
    return query(f"""
        SELECT x.pipeline_name, x.display_name, coalesce(x.end_time, x.start_time) AS failed_at, x.failed_step,
               x.failure_reason, p.team, x.execution_arn, x.account_id
        FROM aws_sagemaker_pipeline_execution x
        JOIN aws_sagemaker_pipeline p USING (account_id, region, pipeline_name)
        WHERE x.status = 'Failed' AND coalesce(x.end_time, x.start_time) >= ? AND {where}
        ORDER BY failed_at DESC
    """, [since, *params])  # noqa: S608


# --------------------------------------------------------------------------- collection (self-cost meter)


def cadence_s(settings: Settings) -> dict[str, int]:
    """Expected seconds between fresh data per source: Cost Explorer's refresh, cold metrics' cadence,
    and the hot cadence for every other source (the collector is meant to run that often)."""
    c = settings.collect
    return {"cost_explorer": c.cost_refresh_every_s, "cloudwatch_logs": c.cold_every_s}


def freshness(sources: list[str], settings: Settings, now: datetime) -> pd.DataFrame:
    """One row per source (and account/region it ran for): last run, last success, age, expected cadence,
    status (fresh: age <= 2 x cadence; late: <= 6 x; stale beyond; failing when the last run failed;
    never when it never succeeded)."""
    cad = cadence_s(settings)
    runs = query("""
        SELECT source, account_id, region, max(ended_at) FILTER (WHERE status = 'succeeded') AS last_success,
               arg_max(status, ended_at) AS last_status, arg_max(error, ended_at) AS last_error,
               arg_max(hint, ended_at) AS last_hint, max(ended_at) AS last_run
        FROM sextant_collection_run GROUP BY ALL
    """) if has_table("sextant_collection_run") else pd.DataFrame()
    known = set(runs.source) if not runs.empty else set()
    missing = pd.DataFrame({"source": [s for s in sources if s not in known]})
    cols = ["source", "account_id", "region", "last_success", "last_status", "last_error", "last_hint", "last_run"]
    out = pd.concat([runs.reindex(columns=cols), missing], ignore_index=True).reindex(columns=cols)
    out["expected_every_s"] = out.source.map(lambda s: cad.get(s, settings.collect.hot_every_s))
    last = pd.to_datetime(out.get("last_success"), utc=True)
    out["age_s"] = (pd.Timestamp(now) - last).dt.total_seconds()

    def status(r) -> str:
        if pd.isna(r.age_s):
            return "never"
        if r.get("last_status") == "failed":
            return "failing"
        ratio = r.age_s / r.expected_every_s
        return "fresh" if ratio <= 2 else "late" if ratio <= 6 else "stale"

    out["status"] = out.apply(status, axis=1)
    return out.sort_values(["source", "account_id"]).reset_index(drop=True)


def collection_runs(limit: int = 200) -> pd.DataFrame:
    """Collection cycles, newest first: started, ended, sources, failed, rows, API calls, $."""
    if not has_table("sextant_collection_run"):
        return pd.DataFrame()
    return query("""
        SELECT run_id, min(started_at) AS started_at, max(ended_at) AS ended_at,
               epoch(max(ended_at) - min(started_at)) AS duration_s,
               count(*) AS sources, count(*) FILTER (WHERE status = 'failed') AS failed,
               sum(rows) AS rows, sum(api_calls) AS api_calls, sum(estimated_cost_usd) AS cost_usd
        FROM sextant_collection_run GROUP BY run_id ORDER BY started_at DESC LIMIT ?
    """, [limit])


def collection_run_sources(run_id: str) -> pd.DataFrame:
    return query("""
        SELECT source, account_id, region, status, rows, api_calls, estimated_cost_usd, started_at, ended_at,
               epoch(ended_at - started_at) AS duration_s, api_calls_by_operation, error, hint
        FROM sextant_collection_run WHERE run_id = ? ORDER BY source, account_id, region
    """, [run_id])


def collection_errors(limit: int = 100) -> pd.DataFrame:
    if not has_table("sextant_collection_run"):
        return pd.DataFrame()
    return query("""
        SELECT ended_at, source, account_id, region, error, hint, run_id
        FROM sextant_collection_run WHERE status = 'failed' ORDER BY ended_at DESC LIMIT ?
    """, [limit])


@dataclass(frozen=True)
class SelfCost:
    last_24h_usd: float
    api_calls_24h: int
    runs_24h: int
    hours_covered: float  # span of the runs counted (< 24 while the store is younger than a day)
    projected_monthly_usd: float  # last 24 h x 30
    budget_usd: float
    by_source: pd.DataFrame  # source, api_calls, cost_usd, projected_monthly_usd over the last 24 h


def self_cost(settings: Settings, now: datetime) -> SelfCost:
    """What collecting costs in AWS API charges: the last 24 h of runs, projected to a month (x 30)."""
    budget = settings.collect.monthly_api_budget_usd
    if not has_table("sextant_collection_run"):
        return SelfCost(0.0, 0, 0, 0.0, 0.0, budget, pd.DataFrame())
    since = now - timedelta(days=1)
    by = query("""
        SELECT source, sum(api_calls) AS api_calls, sum(estimated_cost_usd) AS cost_usd,
               count(DISTINCT run_id) AS runs, min(started_at) AS first_run
        FROM sextant_collection_run WHERE started_at >= ? GROUP BY source ORDER BY cost_usd DESC
    """, [since])
    if by.empty:
        return SelfCost(0.0, 0, 0, 0.0, 0.0, budget, by)
    by["projected_monthly_usd"] = by.cost_usd * 30
    runs = query("SELECT count(DISTINCT run_id) AS n FROM sextant_collection_run WHERE started_at >= ?", [since])
    first = pd.to_datetime(by.first_run, utc=True).min()
    covered = max(0.0, (pd.Timestamp(now) - first).total_seconds() / 3600)
    total = float(by.cost_usd.sum())
    return SelfCost(total, int(by.api_calls.sum()), int(runs.n.iloc[0]), min(24.0, covered), total * 30, budget,
                    by.drop(columns="first_run"))


def metrics_plan() -> pd.DataFrame:
    """The metrics collector's own plan estimate, newest polls first."""
    if not has_table("aws_cloudwatch_metric_poll"):
        return pd.DataFrame()
    return query("""
        SELECT polled_at, account_id, region, queries, requests, datapoints, deferred, hot_every_s, cold_every_s,
               estimated_monthly_usd, budget_usd
        FROM aws_cloudwatch_metric_poll ORDER BY polled_at DESC LIMIT 50
    """)


# --------------------------------------------------------------------------- data dictionary and the SQL box


def tables_doc() -> pd.DataFrame:
    """Every table of the store with its description, primary key, column count and row count estimate."""
    if not has_table("sextant_table_doc"):
        return pd.DataFrame()
    return query("""
        SELECT d.table_name, d.description, d.primary_key, count(c.column_name) AS columns,
               any_value(t.estimated_size) AS rows
        FROM sextant_table_doc d
        LEFT JOIN sextant_column_doc c USING (table_name)
        LEFT JOIN duckdb_tables() t ON t.table_name = d.table_name
        GROUP BY ALL ORDER BY d.table_name
    """)


def columns_doc(table_name: str | None = None) -> pd.DataFrame:
    if not has_table("sextant_column_doc"):
        return pd.DataFrame()
    return query("""
        SELECT table_name, position, column_name, data_type, description FROM sextant_column_doc
        WHERE ? IS NULL OR table_name = ? ORDER BY table_name, position
    """, [table_name, table_name])


class UserSQLError(ValueError):
    """The SQL box refused or failed the statement; the message says why, for the user."""


MAX_SQL_CHARS = 20_000


def validate_user_sql(sql: str) -> str:
    """The single SELECT (or WITH ... SELECT) statement in ``sql``, without a trailing semicolon.

    Parsed by DuckDB itself, so comments and string literals cannot hide a second statement."""
    text = (sql or "").strip()
    if not text:
        raise UserSQLError("Type a SELECT statement, e.g. SELECT * FROM aws_sagemaker_endpoint.")
    if len(text) > MAX_SQL_CHARS:
        raise UserSQLError(f"The statement is longer than {MAX_SQL_CHARS:,} characters.")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise UserSQLError(f"Not valid SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UserSQLError(f"Only one statement can run at a time; this has {len(statements)}. "
                           "Remove everything after the first semicolon.")
    st = statements[0]
    if st.type != duckdb.StatementType.SELECT:
        kind = st.type.name.replace("_STATEMENT", "")
        raise UserSQLError(f"Only SELECT (or WITH ... SELECT) queries can run here; this is a {kind} statement. "
                           "The store is read-only: collectors write it.")
    return st.query.strip().rstrip(";").strip()


def run_user_sql(sql: str, limit: int = 1000, timeout_s: float = 10.0) -> pd.DataFrame:
    """Run a user's SELECT on the newest snapshot, bounded in rows and time, sandboxed.

    Safety, in layers: (1) the text must parse, by DuckDB's own parser, as exactly one SELECT/WITH
    statement; (2) it is wrapped as ``SELECT * FROM (<sql>) LIMIT n``, and the wrapped text is parsed again
    (so it cannot close the parenthesis and smuggle a second clause or statement); (3) it runs on a
    private in-memory DuckDB that ATTACHes the snapshot READ_ONLY, with external access (files, network,
    extensions, further ATTACHes) disabled and the configuration locked, a memory and thread cap, and
    (4) it is interrupted after ``timeout_s`` seconds. Raises :class:`UserSQLError` with a message."""
    inner = validate_user_sql(sql)
    limit = max(1, min(int(limit), 100_000))
    wrapped = f"SELECT * FROM (\n{inner}\n) AS user_query LIMIT {limit}"  # noqa: S608 - validated, sandboxed
    parsed = duckdb.extract_statements(wrapped)
    if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT:
        raise UserSQLError("The statement could not be bounded safely; write it as a plain SELECT.")
    r = reader()
    name = r.current()
    if name is None:
        raise UserSQLError("Nothing has been collected yet: run `python -m collectors run` first.")
    path = str((r.location / "snapshots" / name).resolve())
    con = duckdb.connect(":memory:")
    try:
        # ATTACH takes no bound parameter: the path is the store's own (settings), quoted as a literal
        literal = "'" + path.replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS store (READ_ONLY)")
        con.execute("USE store")
        con.execute("SET memory_limit = '1GB'")
        con.execute("SET threads = 2")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        result: dict = {}

        def work() -> None:
            try:
                result["df"] = con.execute(wrapped).df()
            except BaseException as exc:  # reported to the caller below
                result["error"] = exc

        t = threading.Thread(target=work, daemon=True)
        t.start()
        t.join(timeout_s)
        if t.is_alive():
            con.interrupt()
            t.join(5)
            raise UserSQLError(f"The query ran longer than {timeout_s:g} s and was stopped. "
                               "Narrow it with WHERE (e.g. on a date or ts column) or aggregate first.")
        if "error" in result:
            exc = result["error"]
            if isinstance(exc, duckdb.InterruptException):
                raise UserSQLError(f"The query ran longer than {timeout_s:g} s and was stopped.")
            if isinstance(exc, duckdb.Error):
                raise UserSQLError(str(exc).splitlines()[0]) from None
            raise exc
        df = result["df"]
        df.attrs["truncated"] = len(df) >= limit
        return df
    finally:
        con.close()
