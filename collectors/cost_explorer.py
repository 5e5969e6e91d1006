"""Cost Explorer: daily cost by service, usage type, linked account and cost-allocation tag; forecast; anomalies.

**One long table.** Cost Explorer groups by at most two keys per request, so the daily bill is
fetched once per *grouping* and stored in ``aws_cost_daily`` with the grouping named in
``group_by_kind``:

- ``SERVICE/USAGE_TYPE``: key1 = service, key2 = usage type,
- ``LINKED_ACCOUNT/SERVICE``: key1 = linked account id, key2 = service,
- ``TAG:team/SERVICE`` and ``TAG:project/SERVICE``: key1 = the value of the team tag and of the project tag
  (``[collect] tag_keys``, the names the account uses for them, default team and project; '' = untagged),
  key2 = service. The kind names the role of the tag, so the dashboard's team and project views do not
  depend on the account's tag names.

Every grouping covers the whole bill, so ``SUM(unblended_cost_usd)`` per date is the same in every
kind; a dashboard picks one kind with ``WHERE group_by_kind = ?`` and never double-counts.

**Thrift.** Every Cost Explorer request costs $0.01 (each page counts), and the data refreshes at
most three times a day. So:

- the source makes no request at all while the last complete fetch (cursor ``last_fetch_at``) is
  younger than ``cost_refresh_every_s`` (unless ``--since`` is given);
- the full ``cost_history_days`` window is fetched only on the first run (or from ``--since``),
  oldest chunk first, with cursor ``backfill_through`` advanced after each complete chunk;
- afterwards only days that can still change are fetched again: the days stored as Estimated
  and the last 3 days;
- at most ``cost_requests_per_run`` requests per run; when the budget runs out the source stops
  and the cursors stay where they got to (the next run continues). A chunk is started only when
  one request per grouping is left, and a chunk cut short by paging is discarded (its days are
  fetched again next run). A refresh needs one request per grouping plus two (forecast,
  anomalies): a smaller budget never completes one;
- then one GetCostForecast to month end (skipped on the month's last day) and GetAnomalies (from the last
  successful read, 30 days back, or the whole window until one succeeds).

Forecast and anomalies are optional (``Context.optional``): a failure (denied; a young account's forecast
answers ``DataUnavailableException``) leaves the bill collected, the stored forecast or anomalies as they were,
and the run partial with the operation named.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta

from collectors.base import EPOCH, Batch, Context
from sextant.schema import table

NAME = "cost_explorer"
GLOBAL = True
DEPENDS_ON: tuple[str, ...] = ()
CE_REGION = "us-east-1"  # Cost Explorer's one endpoint
CHUNK_DAYS = 31
RECENT_DAYS = 3  # the last days are always fetched again: late usage records still arrive
ANOMALY_REFRESH_DAYS = 30  # after the first run, anomalies starting in this window are read again
ANOMALIES_READ = "anomalies_read_at"  # the last run whose GetAnomalies succeeded

COST_DAILY = table(
    "aws_cost_daily",
    "Daily unblended cost of the account's bill in one grouping (group_by_kind). Every kind covers the whole "
    "bill: filter on one kind, never sum across kinds. A payer account's bill includes its linked accounts.", [
        ("date", "DATE", "Usage day (UTC)."),
        ("group_by_kind", "VARCHAR", "Grouping of the row: SERVICE/USAGE_TYPE, LINKED_ACCOUNT/SERVICE, "
                                     "TAG:team/SERVICE, TAG:project/SERVICE (the team and project tags named by "
                                     "[collect] tag_keys)."),
        ("key1", "VARCHAR", "First group key: service, linked account id, or tag value ('' = untagged)."),
        ("key2", "VARCHAR", "Second group key: usage type (SERVICE/USAGE_TYPE) or service."),
        ("unblended_cost_usd", "DOUBLE", "UnblendedCost of the group on the day, in USD."),
        ("usage_quantity", "DOUBLE", "UsageQuantity of the group on the day, in usage_unit (meaningful per "
                                     "usage type; a sum over mixed units otherwise)."),
        ("usage_unit", "VARCHAR", "Unit of usage_quantity, e.g. Hrs, GB-Mo; 'N/A' or NULL when mixed."),
        ("estimated", "BOOLEAN", "True when Cost Explorer marks the day as estimated (it may still change)."),
        ("observed_at", "TIMESTAMPTZ", "When the collector fetched the row."),
    ], ["date", "group_by_kind", "key1", "key2"])

FORECAST = table("aws_cost_forecast", "Cost Explorer's forecast of unblended cost from today to month end.", [
    ("as_of", "DATE", "Day the forecast was made."),
    ("period_start", "DATE", "First day forecast (today)."),
    ("period_end", "DATE", "Day after the last day forecast (first day of next month)."),
    ("mean_usd", "DOUBLE", "Forecast mean for the period, in USD."),
    ("lower_usd", "DOUBLE", "Lower bound of the 80% prediction interval, in USD."),
    ("upper_usd", "DOUBLE", "Upper bound of the 80% prediction interval, in USD."),
    ("observed_at", "TIMESTAMPTZ", "When the forecast was fetched."),
], ["as_of", "period_start", "period_end"])

ANOMALY = table("aws_cost_anomaly", "A cost anomaly detected by AWS Cost Anomaly Detection.", [
    ("anomaly_id", "VARCHAR", "Anomaly id."),
    ("monitor_arn", "VARCHAR", "Anomaly monitor that detected it."),
    ("start_date", "DATE", "First day of the anomaly."),
    ("end_date", "DATE", "Last day of the anomaly (NULL while ongoing)."),
    ("service", "VARCHAR", "Dimension value of the monitor (the service, for a services monitor)."),
    ("linked_account", "VARCHAR", "Account of the top root cause."),
    ("usage_type", "VARCHAR", "Usage type of the top root cause."),
    ("root_causes", "JSON", "RootCauses: [{Service, Region, LinkedAccount, UsageType, Impact}]."),
    ("max_impact_usd", "DOUBLE", "Largest daily impact (actual - expected), in USD."),
    ("total_impact_usd", "DOUBLE", "Total impact over the anomaly, in USD."),
    ("total_actual_spend_usd", "DOUBLE", "Actual spend over the anomaly, in USD."),
    ("total_expected_spend_usd", "DOUBLE", "Expected spend over the anomaly, in USD."),
    ("total_impact_pct", "DOUBLE", "Total impact as a percentage of the expected spend, in %."),
    ("max_score", "DOUBLE", "Highest anomaly score."),
    ("current_score", "DOUBLE", "Latest anomaly score."),
    ("feedback", "VARCHAR", "Feedback given on the anomaly: YES, NO, PLANNED_ACTIVITY."),
    ("observed_at", "TIMESTAMPTZ", "When the anomaly was fetched."),
], ["anomaly_id"])

TABLES = (COST_DAILY, FORECAST, ANOMALY)


class BudgetExhausted(Exception):
    """No request left this run."""


class _Budget:
    def __init__(self, limit: int) -> None:
        self.left = limit

    def spend(self) -> None:
        if self.left <= 0:
            raise BudgetExhausted
        self.left -= 1


OWNER_TAGS = ("team", "project")  # what [collect] tag_keys name, in order


def kinds(tag_keys: tuple[str, ...]) -> list[tuple[str, list[dict]]]:
    """(group_by_kind, GroupBy) for every grouping fetched."""
    dim = lambda key: {"Type": "DIMENSION", "Key": key}
    out = [("SERVICE/USAGE_TYPE", [dim("SERVICE"), dim("USAGE_TYPE")]),
           ("LINKED_ACCOUNT/SERVICE", [dim("LINKED_ACCOUNT"), dim("SERVICE")])]
    out += [(f"TAG:{role}/SERVICE", [{"Type": "TAG", "Key": k}, dim("SERVICE")])
            for role, k in zip(OWNER_TAGS, tag_keys, strict=True)]
    return out


def collect(ctx: Context) -> Iterator[Batch]:
    settings = ctx.settings.collect
    last = ctx.cursor.get("last_fetch_at")
    if ctx.since is None and last and (ctx.now - last).total_seconds() < settings.cost_refresh_every_s:
        return  # Cost Explorer refreshes at most 3 times a day: nothing new to buy
    ce = ctx.clients.client("ce", CE_REGION)
    budget = _Budget(settings.cost_requests_per_run)
    today = ctx.now.astimezone(UTC).date()
    end = today + timedelta(days=1)
    history_start = today - timedelta(days=settings.cost_history_days)
    through = ctx.cursor.get("backfill_through")
    backfilled = through.date() if through else None
    if ctx.since is not None:
        start, backfill = max(ctx.since.astimezone(UTC).date(), history_start), True
    elif backfilled is None or backfilled < end - timedelta(days=RECENT_DAYS):
        start, backfill = (backfilled or history_start), True
    else:
        estimated = ctx.sql("SELECT min(date) FROM aws_cost_daily WHERE account_id = ? AND region = ? "
                              "AND estimated", [ctx.account_id, ctx.region])
        start, backfill = today - timedelta(days=RECENT_DAYS - 1), False
        if estimated and estimated[0][0] is not None:
            start = max(min(start, estimated[0][0]), history_start)
    try:
        chunk = start
        while chunk < end:
            chunk_end = min(chunk + timedelta(days=CHUNK_DAYS), end)
            groupings = kinds(settings.tag_keys)
            if budget.left < len(groupings):
                raise BudgetExhausted  # a chunk needs one request per grouping at least: don't start it
            rows = []
            for kind, group_by in groupings:
                rows += _cost_rows(ctx, ce, budget, kind, group_by, chunk, chunk_end)
            ctx.delete(COST_DAILY, "date", [chunk + timedelta(days=i) for i in range((chunk_end - chunk).days)])
            yield COST_DAILY, rows
            ctx.cursor.advance("backfill_through", datetime.combine(chunk_end, time(), UTC))
            chunk = chunk_end
        # Forecast and anomalies are optional: when one fails (a young account's forecast answers
        # DataUnavailableException), the bill still lands and the stored forecast or anomalies stay.
        forecast = ctx.optional("ce:GetCostForecast", lambda: _forecast(ctx, ce, budget, today))
        if forecast is not None:
            yield FORECAST, forecast
        read_at = ctx.cursor.get(ANOMALIES_READ) or last  # stores from before this cursor read them with the bill
        anomalies_from = history_start if (backfill or read_at is None) else \
            max(history_start, min(today - timedelta(days=ANOMALY_REFRESH_DAYS), read_at.date()))
        anomalies = ctx.optional("ce:GetAnomalies", lambda: _anomalies(ctx, ce, budget, anomalies_from, end))
        if anomalies is not None:
            yield ANOMALY, anomalies
            ctx.cursor.advance(ANOMALIES_READ, ctx.now)
        elif ctx.cursor.get(ANOMALIES_READ) is None:
            ctx.cursor.advance(ANOMALIES_READ, EPOCH)  # never read: the next run reads the whole window
    except BudgetExhausted:
        return  # cursors stay where they got to; the next run continues
    ctx.cursor.advance("last_fetch_at", ctx.now)


def _cost_rows(ctx: Context, ce, budget: _Budget, kind: str, group_by: list[dict], start: date,
               end: date) -> list[dict]:
    rows, token = [], None
    while True:
        budget.spend()
        kwargs = {"TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()}, "Granularity": "DAILY",
                  "Metrics": ["UnblendedCost", "UsageQuantity"], "GroupBy": group_by}
        if token:
            kwargs["NextPageToken"] = token
        page = ce.get_cost_and_usage(**kwargs)
        for r in page.get("ResultsByTime", []):
            day = date.fromisoformat(r["TimePeriod"]["Start"])
            for g in r.get("Groups", []):
                keys = [k.split("$", 1)[1] if kind.startswith("TAG:") and i == 0 and "$" in k else k
                        for i, k in enumerate(g["Keys"])]
                cost = g["Metrics"].get("UnblendedCost", {})
                usage = g["Metrics"].get("UsageQuantity", {})
                rows.append(ctx.rows(
                    date=day, group_by_kind=kind, key1=keys[0], key2=keys[1] if len(keys) > 1 else "",
                    unblended_cost_usd=float(cost.get("Amount") or 0.0),
                    usage_quantity=float(usage.get("Amount") or 0.0), usage_unit=usage.get("Unit"),
                    estimated=bool(r.get("Estimated")), observed_at=ctx.now))
        token = page.get("NextPageToken")
        if not token:
            return rows


def _forecast(ctx: Context, ce, budget: _Budget, today: date) -> list[dict]:
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1)  # first day of next month
    if month_end - today <= timedelta(days=1):
        return []  # the month ends today: nothing left to forecast
    budget.spend()
    f = ce.get_cost_forecast(TimePeriod={"Start": today.isoformat(), "End": month_end.isoformat()},
                             Metric="UNBLENDED_COST", Granularity="MONTHLY", PredictionIntervalLevel=80)
    by_time = f.get("ForecastResultsByTime") or [{}]
    lower = sum(float(r.get("PredictionIntervalLowerBound") or 0) for r in by_time)
    upper = sum(float(r.get("PredictionIntervalUpperBound") or 0) for r in by_time)
    return [ctx.rows(as_of=today, period_start=today, period_end=month_end,
                     mean_usd=float(f["Total"]["Amount"]), lower_usd=lower, upper_usd=upper, observed_at=ctx.now)]


def _anomalies(ctx: Context, ce, budget: _Budget, start: date, end: date) -> list[dict]:
    rows, token = [], None
    while True:
        budget.spend()
        kwargs = {"DateInterval": {"StartDate": start.isoformat(), "EndDate": end.isoformat()}, "MaxResults": 100}
        if token:
            kwargs["NextPageToken"] = token
        page = ce.get_anomalies(**kwargs)
        for a in page.get("Anomalies", []):
            causes = a.get("RootCauses") or []
            impact = a.get("Impact") or {}
            score = a.get("AnomalyScore") or {}
            top = causes[0] if causes else {}
            rows.append(ctx.rows(
                anomaly_id=a["AnomalyId"], monitor_arn=a.get("MonitorArn"),
                start_date=_day(a.get("AnomalyStartDate")), end_date=_day(a.get("AnomalyEndDate")),
                service=a.get("DimensionValue") or top.get("Service"), linked_account=top.get("LinkedAccount"),
                usage_type=top.get("UsageType"), root_causes=json.dumps(causes),
                max_impact_usd=impact.get("MaxImpact"), total_impact_usd=impact.get("TotalImpact"),
                total_actual_spend_usd=impact.get("TotalActualSpend"),
                total_expected_spend_usd=impact.get("TotalExpectedSpend"),
                total_impact_pct=impact.get("TotalImpactPercentage"), max_score=score.get("MaxScore"),
                current_score=score.get("CurrentScore"), feedback=a.get("Feedback"), observed_at=ctx.now))
        token = page.get("NextPageToken")
        if not token:
            return rows


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None
