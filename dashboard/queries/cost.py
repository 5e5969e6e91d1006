"""Read queries of the cost area: the bill (by any grouping, month to date, forecast, movers, anomalies) and unit
economics (hosting cost per endpoint, cost per 1,000 inferences, training cost per team).

Every query is parameterized (values are bound with ``?``; the only identifiers interpolated come from this
module's own constants) and runs on the newest published snapshot through ``dashboard.data.query``.

**The bill.** ``aws_cost_daily`` holds the whole bill once per *grouping* (``group_by_kind``), so every function
here reads exactly one kind. A scope filter (account, team, project) can only be honoured by the kind that carries
it (Cost Explorer groups by at most two keys): the chosen kind is the one for the active filter, and filters no kind
can honour together are reported, by their names (``FILTER_NAMES``), in ``df.attrs["ignored"]`` so the page can say
so. When the store holds the bill of a payer *and* of one of its linked accounts, the linked account's own rows are
skipped: the payer's bill already includes them.

**The 7-day change** is defined once, in :func:`seven_day_change`: the last 7 complete days (today excluded) vs the
7 days before them; the Overview's movers and the Cost page's breakdown both read it.

**Hosting cost per endpoint** is not on the bill (Cost Explorer knows instance types, not endpoints): it is
instance-hours of each variant (integrated over ``aws_sagemaker_endpoint_variant_history``; the earliest observed
state is assumed to hold before it) times the $ per instance-hour of that instance type
(:mod:`dashboard.queries.prices`, the one price rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd

from dashboard.data import per_snapshot, query
from dashboard.filters import Filters
from dashboard.queries.endpoints import endpoint_list
from dashboard.queries.prices import prices_for
from sextant.bill import NOT_LINKED, endpoint_invocations_select, forecast_select, variant_hours_select, whole_days

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
# scope filter (a Filters attribute) -> group_by_kind whose key1 carries it
FILTER_KINDS = {"accounts": "LINKED_ACCOUNT/SERVICE", "teams": "TAG:team/SERVICE",
                "projects": "TAG:project/SERVICE"}
# scope filter -> its name for users (the sidebar's filter), as pages name it in "not applied" notes
FILTER_NAMES = {"accounts": "account", "teams": "team", "projects": "project"}
UNTAGGED = "(untagged)"
DAILY_COLUMNS = ["date", "group", "cost_usd", "estimated"]
CHANGE_COLUMNS = ["group", "last_7d_usd", "previous_7d_usd", "change_usd", "change_pct"]


def has_bill() -> bool:
    """The store holds Cost Explorer data (once per snapshot)."""
    return bool(per_snapshot(
        "has_bill", lambda cur: cur.execute(f"SELECT count(*) FROM (SELECT 1 FROM {BILL} LIMIT 1)").fetchone()[0]))  # noqa: S608


def active_filters(f: Filters) -> list[str]:
    """The bill's scope filters (Filters attribute names) the viewer has set, in ``FILTER_KINDS`` order."""
    return [name for name in FILTER_KINDS if getattr(f, name)]


def _scope(f: Filters, group: str = "service") -> tuple[str, str, str, list, list[str]]:
    """(kind, group column, WHERE fragment, params, names of the filters it ignores) for a bill query."""
    active = {name: list(getattr(f, name)) for name in active_filters(f)}
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
            ignored.append(FILTER_NAMES[name])
    return kind, col, " AND ".join(where), params, ignored


def daily_cost(f: Filters, group: str, start: date, end: date) -> pd.DataFrame:
    """Cost per day and group over [start, end): columns date, group, cost_usd, estimated.

    ``attrs["ignored"]`` names the scope filters the chosen grouping cannot honour (``FILTER_NAMES``)."""
    if not has_bill():
        return pd.DataFrame(columns=DAILY_COLUMNS)
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


@dataclass(frozen=True)
class MonthToDate:
    month_start: date
    mtd_usd: float  # month start through today (today is partial)
    complete_usd: float  # month start through yesterday
    previous_same_days_usd: float | None  # the same complete days of last month
    days: int  # complete days compared
    daily: pd.DataFrame  # date, cost_usd of this month (for a sparkline)
    ignored: tuple[str, ...] = ()  # names of the scope filters the bill cannot honour together (FILTER_NAMES)
    honoured: tuple[str, ...] = ()  # names of the scope filters the spend honours

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
    ignored = tuple(_scope(f)[4])
    honoured = tuple(FILTER_NAMES[n] for n in active_filters(f) if FILTER_NAMES[n] not in ignored)
    return MonthToDate(month_start, float(per_day.cost_usd.sum()) if not per_day.empty else 0.0, complete,
                       previous, days, per_day, ignored, honoured)


def forecast(today: date) -> pd.DataFrame:
    """The newest Cost Explorer forecast, with month_end_usd = spend before it + its mean (whole bill).

    Columns: as_of, period_start, period_end, mean_usd, lower_usd, upper_usd, actual_before_usd,
    month_end_usd, month_end_lower_usd, month_end_upper_usd."""
    df = query(forecast_select("?"), [today, today])
    if df.empty:
        return df
    for col, src in (("month_end_usd", "mean_usd"), ("month_end_lower_usd", "lower_usd"),
                     ("month_end_upper_usd", "upper_usd")):
        df[col] = df.actual_before_usd + df[src]
    return df


@dataclass(frozen=True)
class DailyAverage:
    usd: float | None  # average cost of a complete day of the period; None when it has no complete day
    days: int  # complete days averaged: the period's days before today (today is partial)
    first: date | None  # first and last day averaged
    last: date | None


def daily_average(df: pd.DataFrame, start: date, end: date, today: date) -> DailyAverage:
    """The average cost per day of a :func:`daily_cost` frame over [start, end), over complete days only: today (the
    bill's partial day) and any later day are left out, a day without a bill line counts as $0. The Cost page's
    "per day" figure."""
    last = min(end, today)
    days = (last - start).days
    if days <= 0:
        return DailyAverage(None, 0, None, None)
    complete = pd.to_datetime(df.date).dt.date < last if not df.empty else None
    total = float(df.loc[complete, "cost_usd"].sum()) if complete is not None else 0.0
    return DailyAverage(total / days, days, start, last - timedelta(days=1))


def seven_day_change(f: Filters, group: str, today: date) -> pd.DataFrame:
    """Per group: the last 7 complete days [today - 7, today) against the 7 before them [today - 14, today - 7).

    Columns: group, last_7d_usd, previous_7d_usd, change_usd, change_pct (NaN without a previous week).
    ``attrs["ignored"]`` as :func:`daily_cost`'s."""
    df = daily_cost(f, group, today - timedelta(days=14), today)
    if df.empty:
        out = pd.DataFrame(columns=CHANGE_COLUMNS)
        out.attrs["ignored"] = df.attrs.get("ignored", [])
        return out
    recent = pd.to_datetime(df.date).dt.date >= today - timedelta(days=7)
    out = pd.DataFrame({"last_7d_usd": df[recent].groupby("group").cost_usd.sum(),
                        "previous_7d_usd": df[~recent].groupby("group").cost_usd.sum()}).fillna(0.0)
    out["change_usd"] = out.last_7d_usd - out.previous_7d_usd
    out["change_pct"] = (out.change_usd / out.previous_7d_usd.where(out.previous_7d_usd > 0)) * 100
    out = out.reset_index(names="group")
    out.attrs["ignored"] = df.attrs.get("ignored", [])
    return out


def movers(f: Filters, group: str, today: date, limit: int = 8) -> pd.DataFrame:
    """Groups whose cost changed most (:func:`seven_day_change`), largest absolute change first.

    Columns: group, last_7d_usd, previous_7d_usd, change_usd, change_pct."""
    out = seven_day_change(f, group, today)
    if out.empty:
        return out
    ignored = out.attrs.get("ignored", [])
    out = out.reindex(out.change_usd.abs().sort_values(ascending=False).index).head(limit).reset_index(drop=True)
    out.attrs["ignored"] = ignored
    return out


def breakdown(df: pd.DataFrame, f: Filters, group: str, today: date) -> pd.DataFrame:
    """The Cost page's table of a :func:`daily_cost` frame: per group, its cost over the frame's days, its share of
    the total, and :func:`seven_day_change`'s figures, biggest cost first. The 7-day columns do not follow the
    frame's period (month to date covers a day or two at the start of a month): they are the last 7 complete days
    against the 7 before, the Overview's movers for the same scope.

    Columns: <group>, cost_usd, share_pct, last_7d_usd, previous_7d_usd, change_pct."""
    total = float(df.cost_usd.sum()) if not df.empty else 0.0
    week = seven_day_change(f, group, today)[["group", "last_7d_usd", "previous_7d_usd", "change_pct"]]
    out = df.groupby("group").cost_usd.sum().reset_index().merge(week, on="group", how="left")
    out[["last_7d_usd", "previous_7d_usd"]] = out[["last_7d_usd", "previous_7d_usd"]].astype(float).fillna(0.0)
    out["change_pct"] = out.change_pct.astype(float)
    out["share_pct"] = out.cost_usd / total * 100 if total else 0.0
    out = out.rename(columns={"group": group}).sort_values("cost_usd", ascending=False).reset_index(drop=True)
    return out[[group, "cost_usd", "share_pct", "last_7d_usd", "previous_7d_usd", "change_pct"]]


def anomalies(start: date, end: date) -> pd.DataFrame:
    """Cost anomalies starting in [start, end): start_date, end_date, service, usage_type, linked_account,
    total_impact_usd, total_actual_spend_usd, total_expected_spend_usd, total_impact_pct, max_score, anomaly_id."""
    return query("""
        SELECT start_date, coalesce(end_date, start_date) AS end_date, service, usage_type, linked_account,
               total_impact_usd, total_actual_spend_usd, total_expected_spend_usd, total_impact_pct, max_score,
               anomaly_id
        FROM aws_cost_anomaly WHERE start_date >= ? AND start_date < ?
        ORDER BY start_date DESC, total_impact_usd DESC
    """, [start, end])


# --------------------------------------------------------------------------- unit economics: endpoints


def _endpoint_invocations(start: datetime, end: datetime) -> pd.DataFrame:
    """Invocations per endpoint over [start, end), summed in SQL: whole UTC days from the daily rollup, the
    partial days at either end from the hourly one (a 30-day range reads ~30 rows per series, not 720);
    :func:`sextant.bill.endpoint_invocations_select`, which the alert rules read too."""
    d0, d1 = whole_days(start, end)
    return query(endpoint_invocations_select("$1", "$2", "$3", "$4"), [start, d0, d1, end])


def variant_hours(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Instance-hours per endpoint variant and instance type over [start, end) of the endpoints in scope
    (:func:`sextant.bill.variant_hours_select`, which the alert rules read too).

    Each observed state holds until the next one; the earliest observed state is assumed to hold before
    it (the collector only sees changes from its first run on)."""
    where, params = f.where("e")
    return query(f"""
        SELECT h.* FROM ({variant_hours_select()}) h
        JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
        WHERE {where}
    """, [start, end, end, start, *params])  # noqa: S608


def endpoint_unit_cost(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Hosting cost and cost per 1,000 inferences per endpoint over [start, end).

    Columns: endpoint_name, team, project, account_id, instance_type, instance_hours, usd_per_hour, hosting_usd,
    invocations, usd_per_1k_inferences."""
    hours = variant_hours(f, start, end)
    if hours.empty:
        return pd.DataFrame()
    hours = hours.merge(prices_for("Host"), on="instance_type", how="left")
    hours["hosting_usd"] = hours.instance_hours * hours.usd_per_hour
    key = ["account_id", "region", "endpoint_name"]
    per = hours.groupby(key).agg(instance_type=("instance_type", lambda s: ", ".join(sorted(set(s)))),
                                 instance_hours=("instance_hours", "sum"),
                                 hosting_usd=("hosting_usd", lambda s: s.sum(min_count=1))).reset_index()
    per["usd_per_hour"] = per.hosting_usd / per.instance_hours.where(per.instance_hours > 0)
    inv = _endpoint_invocations(start, end)
    eps = endpoint_list(f)[[*key, "team", "project"]]
    out = eps.merge(per, on=key, how="left").merge(inv, on=key, how="left")
    out["invocations"] = out.invocations.fillna(0.0)
    out["usd_per_1k_inferences"] = out.hosting_usd / out.invocations.where(out.invocations > 0) * 1000
    return out[["endpoint_name", "team", "project", "account_id", "instance_type", "instance_hours",
                "usd_per_hour", "hosting_usd", "invocations", "usd_per_1k_inferences"]].sort_values(
        "hosting_usd", ascending=False, na_position="last").reset_index(drop=True)


# --------------------------------------------------------------------------- unit economics: training


def jobs_created(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Training jobs in scope created in [start, end), with their seconds, spot flag and training image."""
    where, params = f.where()
    return query(f"""
        SELECT training_job_name, team, project, account_id, status, spot, instance_type, instance_count,
               training_seconds, billable_seconds, creation_time, training_end_time, failure_reason, image
        FROM aws_sagemaker_training_job
        WHERE {where} AND creation_time >= ? AND creation_time < ?
    """, [*params, start, end])  # noqa: S608


def training_cost(f: Filters, start: datetime, end: datetime) -> pd.DataFrame:
    """Training jobs created in [start, end) priced: billable_seconds x instances x the on-demand $ per hour.

    Columns: training_job_name, team, project, account_id, status, spot, instance_type, instance_count,
    training_seconds, billable_seconds, ..., usd_per_hour, training_hours (instance-hours of training), cost_usd."""
    jobs = jobs_created(f, start, end)
    if jobs.empty:
        return jobs
    # on-demand training price (prices_for falls back to the spot line's rate when the bill has no on-demand one);
    # spot jobs are billed at it on their (discounted) billable time
    jobs = jobs.merge(prices_for("Train"), on="instance_type", how="left")
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
