"""The bill: a daily cost table derived from the world, and Cost Explorer answering from it.

**The table** (:func:`cost_frame`) has one row per (day, line item): ``date``, ``linked_account``,
``service``, ``usage_type``, ``region``, ``team``, ``project``, ``instance_type``,
``purchase_type``, ``resource``, ``unblended_cost``, ``usage_quantity``, ``unit``. It covers
``COST_DAYS`` full days before today plus today so far, for both accounts (the main account is the
payer; ``linked_account`` tells them apart). Every line carries the ``team``/``project`` tags of
the resource it bills. Lines, priced with :mod:`demo.prices`:

- SageMaker hosting, ``USE1-Host:<instance type>`` in Hrs: instance-hours of every endpoint
  variant, integrated over the world :class:`~demo.world.Timeline` (so a scale-up recorded by an
  action shows in today's cost at once), and ``USE1-Host:VolumeUsage.gp2`` for the instances'
  volumes.
- SageMaker training, ``USE1-Train:<type>`` (on-demand) and ``USE1-Train-Spot:<type>`` (managed
  spot; AWS's exact spot usage-type spelling could not be confirmed, so this is the demo's
  choice): ``BillableTimeInSeconds × InstanceCount`` at the hourly rate, spread over the days
  the job ran; in-progress jobs accrue up to now. ``USE1-Train:VolumeUsage.gp2`` for volumes.
- SageMaker processing, ``USE1-Processing:<instance type>`` in Hrs: ``InstanceCount × (ProcessingEndTime -
  ProcessingStartTime)`` (SageMaker bills processing per instance-second while the instances run) at the
  hourly rate, spread over the days the job ran; running jobs accrue up to now, a job that failed before
  its instances started costs nothing. ``USE1-Processing:VolumeUsage.gp2`` for volumes.
- ``USE1-Hst:Data-Bytes-Out``: response bytes of the endpoint invocations of
  :func:`demo.model.demand`.
- S3 storage per team (``TimedStorage-ByteHrs``), CloudWatch alarms and endpoint log ingestion,
  ECR image storage.

Days before today are built once per day (and again when the timeline changes); today's rows
are rebuilt for every question, up to the current time.

**Cost Explorer** (:func:`install`): moto's ``ce`` answers GetCostAndUsage only with injected
canned results and lacks GetCostForecast, GetAnomalies, GetAnomalyMonitors, GetDimensionValues and
GetTags (HTTP 500, which botocore retries for ~25 s). For the world's accounts these operations
are answered from the table: the payer sees both accounts, the linked account its own rows,
honouring what real Cost Explorer honours (time period with exclusive end, DAILY/MONTHLY periods,
metrics, up to two GroupBy, filter expressions, paging, ``Estimated`` for the last two days).
Any other account keeps moto's behaviour, with empty answers instead of 500s for the added
operations.
"""

from __future__ import annotations

import base64
import json
import math
import statistics
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import reduce
from typing import Any

import numpy as np
import pandas as pd

from demo import model, prices
from demo.world import COST_DAYS, MAIN_ACCOUNT, REGION, SECOND_ACCOUNT, World

SAGEMAKER = "Amazon SageMaker"
S3 = "Amazon Simple Storage Service"
CLOUDWATCH = "AmazonCloudWatch"
ECR = "Amazon EC2 Container Registry (ECR)"
REGION_PREFIX = "USE1"
ACCOUNT_NAMES = {MAIN_ACCOUNT: "ml-platform-prod", SECOND_ACCOUNT: "forecasting-prod"}
S3_GROWTH_PER_DAY = 0.003  # team buckets grow linearly; TeamSpec.s3_gb is today's size
NO_INSTANCE_TYPE = "NoInstanceType"
ESTIMATED_DAYS = 2  # today and yesterday can still change
PAGE_GROUPS = 1000  # groups per GetCostAndUsage page before a NextPageToken
ANOMALY_LOOKBACK_DAYS = 14
ANOMALY_MIN_IMPACT = 250.0  # USD above the expected day
ANOMALY_MIN_RATIO = 0.5  # and at least this fraction above it
FORECAST_TRAIN_DAYS = 28

COLUMNS = ["date", "linked_account", "service", "usage_type", "region", "team", "project", "instance_type",
           "purchase_type", "resource", "unblended_cost", "usage_quantity", "unit"]
DIMENSION_COLUMNS = {
    "SERVICE": "service", "USAGE_TYPE": "usage_type", "LINKED_ACCOUNT": "linked_account", "REGION": "region",
    "INSTANCE_TYPE": "instance_type", "PURCHASE_TYPE": "purchase_type", "RECORD_TYPE": "record_type",
}
TAG_KEYS = ("team", "project")
COST_METRICS = ("UnblendedCost", "BlendedCost", "AmortizedCost", "NetUnblendedCost", "NetAmortizedCost")
USAGE_METRICS = ("UsageQuantity", "NormalizedUsageAmount")
FORECAST_METRICS = ("UNBLENDED_COST", "BLENDED_COST", "AMORTIZED_COST", "NET_UNBLENDED_COST",
                    "NET_AMORTIZED_COST")

# --------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Line:
    """What one row bills, apart from its day and amounts."""

    account: str
    service: str
    usage_type: str
    team: str
    project: str
    unit: str
    instance_type: str = NO_INSTANCE_TYPE
    purchase_type: str = "On Demand Instances"
    resource: str = ""


class Ledger:
    """Sums cost and quantity per (epoch day, line)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[int, Line], list[float]] = defaultdict(lambda: [0.0, 0.0])

    def add(self, day: int, line: Line, cost: float, quantity: float) -> None:
        row = self.rows[(day, line)]
        row[0] += cost
        row[1] += quantity

    def frame(self) -> pd.DataFrame:
        records = [(day, ln.account, ln.service, ln.usage_type, REGION, ln.team, ln.project, ln.instance_type,
                    ln.purchase_type, ln.resource, c, q, ln.unit) for (day, ln), (c, q) in self.rows.items()]
        df = pd.DataFrame.from_records(records, columns=COLUMNS)
        df["date"] = pd.to_datetime(df["date"].astype("int64"), unit="D")
        return df


def _ts(t: datetime) -> float:
    return t.astimezone(UTC).timestamp()


def day_overlaps(start: float, end: float, lo: float, hi: float) -> Iterator[tuple[int, float]]:
    """(epoch day, seconds) of the interval [start, end) ∩ [lo, hi), per UTC day."""
    s, e = max(start, lo), min(end, hi)
    while s < e:
        day = int(s // 86400)
        nxt = min(e, (day + 1) * 86400.0)
        yield day, nxt - s
        s = nxt


def _hosting(world: World, ledger: Ledger, lo: float, hi: float) -> None:
    """Instance-hours and instance volumes of every variant state in the timeline."""
    specs = {(e.account, e.name): e for e in world.endpoints}
    for account, endpoint, variant in world.timeline.keys():
        spec = specs.get((account, endpoint))
        team, project = (spec.team, spec.project) if spec else ("", "")
        created = _ts(spec.created) if spec else -math.inf
        states = world.timeline.states(account, endpoint, variant)
        for i, st in enumerate(states):
            t0 = max(_ts(st.time), created)
            t1 = _ts(states[i + 1].time) if i + 1 < len(states) else math.inf
            host = Line(account, SAGEMAKER, f"{REGION_PREFIX}-Host:{st.instance_type}", team, project, "Hrs",
                        st.instance_type, resource=endpoint)
            volume = Line(account, SAGEMAKER, f"{REGION_PREFIX}-Host:VolumeUsage.gp2", team, project, "GB-Mo",
                          resource=endpoint)
            for day, secs in day_overlaps(t0, t1, lo, hi):
                hours = secs / 3600 * st.count
                ledger.add(day, host, hours * prices.hourly(st.instance_type), hours)
                gb_month = hours * prices.HOSTING_VOLUME_GB / prices.HOURS_PER_MONTH
                ledger.add(day, volume, gb_month * prices.ML_STORAGE_GB_MONTH, gb_month)


def _finished(account: str, name: str) -> tuple[float, int] | None:
    """(end, BillableTimeInSeconds) once moto shows a job the world planned as running as final.

    The SageMaker fill finishes such jobs at their planned end, or earlier on StopTrainingJob;
    from then on the bill uses the job's own billable seconds.
    """
    try:
        from moto.sagemaker.models import sagemaker_backends

        job = sagemaker_backends[account][REGION].training_jobs[name]
        end, billable = job.training_end_time, job.billable_time_in_seconds
        if job.training_job_status in ("Completed", "Stopped", "Failed") and isinstance(end, datetime) \
                and billable is not None:
            return _ts(end if end.tzinfo else end.replace(tzinfo=UTC)), int(billable)
    except (KeyError, AttributeError, ImportError):
        pass
    return None


def _training(world: World, ledger: Ledger, lo: float, hi: float, now: float) -> None:
    """Billable instance-hours of every training job, spread over the days the job ran.

    A running job accrues its wall time (a spot job at ``1 - SPOT_DISCOUNT`` of it) up to now.
    """
    for job in world.training_jobs:
        start, end = _ts(job.start), _ts(job.end)
        billable: float = job.billable_seconds
        if job.status == "InProgress":
            done = _finished(job.account, job.name)
            if done is None:
                end = min(end, now)
                billable = (end - start) * (1 - prices.SPOT_DISCOUNT if job.spot else 1.0)
            else:
                end, billable = done
        ratio = billable / (end - start) if end > start else 0.0
        kind = "Train-Spot" if job.spot else "Train"
        train = Line(job.account, SAGEMAKER, f"{REGION_PREFIX}-{kind}:{job.instance_type}", job.team, job.project,
                     "Hrs", job.instance_type, "Spot Instances" if job.spot else "On Demand Instances", job.name)
        volume = Line(job.account, SAGEMAKER, f"{REGION_PREFIX}-Train:VolumeUsage.gp2", job.team, job.project,
                      "GB-Mo", resource=job.name)
        for day, secs in day_overlaps(start, end, lo, hi):
            hours = secs * ratio / 3600 * job.instance_count
            ledger.add(day, train, hours * prices.hourly(job.instance_type), hours)
            gb_month = job.volume_gb * job.instance_count * secs / 3600 / prices.HOURS_PER_MONTH
            ledger.add(day, volume, gb_month * prices.ML_STORAGE_GB_MONTH, gb_month)


def _processing(world: World, ledger: Ledger, lo: float, hi: float, now: float) -> None:
    """Instance-hours of every processing job from its start to its end (a running one: to now), per day."""
    for job in world.processing_jobs:
        if job.start is None:
            continue
        start, end = _ts(job.start), min(_ts(job.end), now)
        usage = Line(job.account, SAGEMAKER, f"{REGION_PREFIX}-Processing:{job.instance_type}", job.team,
                     job.project, "Hrs", job.instance_type, resource=job.name)
        volume = Line(job.account, SAGEMAKER, f"{REGION_PREFIX}-Processing:VolumeUsage.gp2", job.team, job.project,
                      "GB-Mo", resource=job.name)
        for day, secs in day_overlaps(start, end, lo, hi):
            hours = secs / 3600 * job.instance_count
            ledger.add(day, usage, hours * prices.hourly(job.instance_type), hours)
            gb_month = job.volume_gb * hours / prices.HOURS_PER_MONTH
            ledger.add(day, volume, gb_month * prices.ML_STORAGE_GB_MONTH, gb_month)


def _invocations_per_day(world: World, lo: float, hi: float) -> dict[str, tuple[int, np.ndarray]]:
    """Endpoint name -> (first epoch day, invocations per day) from the metric model's demand."""
    if hi <= lo:
        return {}
    minutes = model.minute_range(datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC))
    first_day = int(minutes[0] // 1440)
    days = (minutes // 1440 - first_day).astype(np.int64)
    out = {}
    for e in world.endpoints:
        live = np.zeros(len(minutes), dtype=bool)
        for v in e.variants:
            counts, _, _ = model.variant_state(world, e, v, minutes)
            live |= counts > 0
        inv = np.where(live, model.demand(world, e, minutes), 0.0)
        out[f"{e.account}/{e.name}"] = (first_day, np.bincount(days, weights=inv))
    return out


def _traffic(world: World, ledger: Ledger, lo: float, hi: float) -> None:
    """Data transfer out and CloudWatch log ingestion, both proportional to invocations."""
    per_day = _invocations_per_day(world, lo, hi)
    for e in world.endpoints:
        first_day, inv = per_day.get(f"{e.account}/{e.name}", (0, np.zeros(0)))
        out = Line(e.account, SAGEMAKER, f"{REGION_PREFIX}-Hst:Data-Bytes-Out", e.team, e.project, "GB",
                   resource=e.name)
        logs = Line(e.account, CLOUDWATCH, "DataProcessing-Bytes", e.team, e.project, "GB", resource=e.name)
        for i, n in enumerate(inv):
            if n <= 0:
                continue
            gb = n * prices.RESPONSE_KB / 1024 / 1024
            ledger.add(first_day + i, out, gb * prices.DATA_TRANSFER_GB, gb)
            log_gb = n * prices.LOG_BYTES_PER_INVOCATION / 1024**3
            ledger.add(first_day + i, logs, log_gb * prices.CLOUDWATCH_LOGS_INGEST_GB, log_gb)


def _monthly(ledger: Ledger, line: Line, amount: float, price: float, since: float, lo: float, hi: float,
             growth: Callable[[int], float] = lambda day: 1.0) -> None:
    """A resource billed per unit-month (GB-Mo, alarm-months), accrued by the hour."""
    for day, secs in day_overlaps(since, math.inf, lo, hi):
        qty = amount * growth(day) * secs / 3600 / prices.HOURS_PER_MONTH
        ledger.add(day, line, qty * price, qty)


def _storage(world: World, ledger: Ledger, lo: float, hi: float) -> None:
    """S3 per team, ECR per image repository, CloudWatch alarms per endpoint."""
    anchor_day = int(_ts(world.anchor) // 86400)
    growth = lambda day: max(0.2, 1 + S3_GROWTH_PER_DAY * (day - anchor_day))
    for t in world.teams:
        for project in t.projects:
            line = Line(t.account, S3, "TimedStorage-ByteHrs", t.team, project, "GB-Mo")
            _monthly(ledger, line, t.s3_gb / len(t.projects), prices.S3_GB_MONTH, -math.inf, lo, hi, growth)
    repos: dict[tuple[str, str, str, str], float] = {}
    for e in world.endpoints:
        repos.setdefault((e.account, e.team, e.project, e.serve_repo), _ts(e.created))
        alarms = Line(e.account, CLOUDWATCH, "CW:AlarmMonitorUsage", e.team, e.project, "Alarms", resource=e.name)
        _monthly(ledger, alarms, prices.CLOUDWATCH_ALARMS_PER_ENDPOINT, prices.CLOUDWATCH_ALARM_MONTH,
                 _ts(e.created), lo, hi)
    for job in world.training_jobs:
        repo = job.image.split("/", 1)[1].rsplit(":", 1)[0]
        key = (job.account, job.team, job.project, repo)
        repos[key] = min(repos.get(key, math.inf), _ts(job.created))
    for (account, team, project, repo), since in repos.items():
        line = Line(account, ECR, f"{REGION_PREFIX}-TimedStorage-ByteHrs", team, project, "GB-Mo", resource=repo)
        _monthly(ledger, line, prices.ECR_REPO_GB, prices.ECR_GB_MONTH, since, lo, hi)


def build_frame(world: World, lo: datetime, hi: datetime, now: datetime) -> pd.DataFrame:
    """Every cost line of the days in [lo, hi), accrued up to ``now``."""
    lo_s, hi_s, now_s = _ts(lo), _ts(hi), _ts(now)
    end = min(hi_s, now_s)
    ledger = Ledger()
    _hosting(world, ledger, lo_s, end)
    _training(world, ledger, lo_s, end, now_s)
    _processing(world, ledger, lo_s, end, now_s)
    _traffic(world, ledger, lo_s, end)
    _storage(world, ledger, lo_s, end)
    return ledger.frame()


class CostTable:
    """The table for ``[today - COST_DAYS, now)``: past days cached, today rebuilt on every read."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._lock = threading.Lock()
        self._history: tuple[tuple, pd.DataFrame] | None = None

    def _fingerprint(self) -> tuple:
        """Changes when an action records a variant state or a running job finishes."""
        tl = self.world.timeline
        jobs = tuple(_finished(j.account, j.name) for j in self.world.training_jobs if j.status == "InProgress")
        return sum(len(tl.states(*k)) for k in tl.keys()), jobs

    def frame(self, now: datetime) -> pd.DataFrame:
        today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        key = (today, *self._fingerprint())
        with self._lock:
            if self._history is None or self._history[0] != key:
                start = today - timedelta(days=COST_DAYS)
                self._history = (key, build_frame(self.world, start, today, today))
            history = self._history[1]
        current = build_frame(self.world, today, today + timedelta(days=1), now)
        df = pd.concat([history, current], ignore_index=True)
        df["record_type"] = "Usage"
        return df


_WORLD: World | None = None
_TABLE: CostTable | None = None
_CLOCK: dict[str, datetime | None] = {"frozen": None}


def now() -> datetime:
    """Wall clock while the account is live (ticked), else the time it was seeded."""
    frozen = _CLOCK["frozen"]
    return frozen if frozen is not None else datetime.now(UTC)


def cost_frame(world: World, at: datetime | None = None) -> pd.DataFrame:
    """The cost table of ``world`` as of ``at`` (default: the emulator's now)."""
    global _TABLE
    if _TABLE is None or _TABLE.world is not world:
        _TABLE = CostTable(world)
    return _TABLE.frame(at or now())


# --------------------------------------------------------------------------- Cost Explorer queries


class CEError(Exception):
    """A Cost Explorer client error (HTTP 400), e.g. ValidationException."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _validation(message: str) -> CEError:
    return CEError("ValidationException", message)


def _parse_day(value: Any, what: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise _validation(f"{what} date is invalid: {value!r}. Use the format yyyy-MM-dd.") from None


def _period(params: dict) -> tuple[date, date]:
    """A DateInterval TimePeriod: Start inclusive, End exclusive."""
    period = params.get("TimePeriod")
    if not isinstance(period, dict) or "Start" not in period or "End" not in period:
        raise _validation("TimePeriod is required")
    start, end = _parse_day(period["Start"], "Start"), _parse_day(period["End"], "End")
    if start >= end:
        raise _validation("Start date (and hour) should be before end date (and hour)")
    return start, end


def _periods(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    """Result periods: single days, or calendar months clipped to [start, end)."""
    if granularity == "DAILY":
        return [(start + timedelta(days=i), start + timedelta(days=i + 1)) for i in range((end - start).days)]
    if granularity == "MONTHLY":
        out, cur = [], start
        while cur < end:
            nxt = (cur.replace(day=1) + timedelta(days=32)).replace(day=1)
            out.append((cur, min(nxt, end)))
            cur = nxt
        return out
    if granularity == "HOURLY":
        raise _validation("Hourly granularity is not enabled for this account")
    raise _validation(f"Granularity {granularity!r} is invalid. Valid values are DAILY, MONTHLY, HOURLY.")


def _match(series: pd.Series, values: list[str], options: list[str]) -> pd.Series:
    """Values matched as Cost Explorer's MatchOptions say (EQUALS by default)."""
    opts = set(options or ["EQUALS"])
    if "ABSENT" in opts:
        return series == ""
    s = series
    vals = list(values or [])
    if "CASE_INSENSITIVE" in opts:
        s, vals = s.str.lower(), [v.lower() for v in vals]
    if "STARTS_WITH" in opts:
        return reduce(lambda m, v: m | s.str.startswith(v), vals, pd.Series(False, index=s.index))
    if "ENDS_WITH" in opts:
        return reduce(lambda m, v: m | s.str.endswith(v), vals, pd.Series(False, index=s.index))
    if "CONTAINS" in opts:
        return reduce(lambda m, v: m | s.str.contains(v, regex=False), vals, pd.Series(False, index=s.index))
    return s.isin(vals)


def _dimension_column(key: str) -> str:
    if key not in DIMENSION_COLUMNS:
        raise _validation(f"Dimension {key} is not available in this account. Valid values are "
                          f"{', '.join(DIMENSION_COLUMNS)}.")
    return DIMENSION_COLUMNS[key]


def _tag_column(df: pd.DataFrame, key: str) -> pd.Series:
    return df[key] if key in TAG_KEYS else pd.Series("", index=df.index)


def filter_mask(df: pd.DataFrame, expr: dict | None) -> pd.Series:
    """Rows an Expression (Dimensions, Tags, And, Or, Not) selects."""
    if not expr:
        return pd.Series(True, index=df.index)
    roots = [k for k in ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories") if expr.get(k)]
    if len(roots) != 1:
        raise _validation("Expression must have exactly one root: And, Or, Not, Dimensions, Tags or CostCategories")
    root = roots[0]
    if root == "And":
        return reduce(lambda m, e: m & filter_mask(df, e), expr["And"], pd.Series(True, index=df.index))
    if root == "Or":
        return reduce(lambda m, e: m | filter_mask(df, e), expr["Or"], pd.Series(False, index=df.index))
    if root == "Not":
        return ~filter_mask(df, expr["Not"])
    if root == "Dimensions":
        d = expr["Dimensions"]
        return _match(df[_dimension_column(d.get("Key", ""))], d.get("Values"), d.get("MatchOptions"))
    if root == "Tags":
        t = expr["Tags"]
        return _match(_tag_column(df, t.get("Key", "")), t.get("Values"), t.get("MatchOptions"))
    raise _validation("No cost categories are defined in this account")


def _window(df: pd.DataFrame, start: date, end: date) -> pd.DataFrame:
    return df[(df["date"] >= pd.Timestamp(start)) & (df["date"] < pd.Timestamp(end))]


def _amount(x: float) -> str:
    return "0" if abs(x) < 5e-11 else f"{x:.10f}"


def _metrics(metrics: list[str], cost: float, qty: float, units: set[str]) -> dict[str, dict[str, str]]:
    out = {}
    for m in metrics:
        if m in COST_METRICS:
            out[m] = {"Amount": _amount(cost), "Unit": "USD"}
        elif m == "UsageQuantity":
            out[m] = {"Amount": _amount(qty), "Unit": units.pop() if len(units) == 1 else "N/A"}
        else:
            out[m] = {"Amount": "0", "Unit": "N/A"}
    return out


def _group_keys(df: pd.DataFrame, group_by: list[dict]) -> list[str]:
    """Adds one key column per GroupBy element (``team$search`` for tags) and returns their names."""
    if len(group_by) > 2:
        raise _validation("Group Definitions can only have up to two elements")
    names = []
    for i, g in enumerate(group_by):
        kind, key = g.get("Type"), g.get("Key")
        if not kind or not key:
            raise _validation("Group Definition is invalid. Both type an key need to be set to a non-empty value.")
        if kind == "DIMENSION":
            df[f"_g{i}"] = df[_dimension_column(key)]
        elif kind == "TAG":
            df[f"_g{i}"] = key + "$" + _tag_column(df, key)
        elif kind == "COST_CATEGORY":
            raise _validation("No cost categories are defined in this account")
        else:
            raise _validation("Group Definition type is invalid.")
        names.append(f"_g{i}")
    return names


def _page_token(index: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"period": index}).encode()).decode()


def _page_start(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["period"])
    except (ValueError, KeyError, TypeError):
        raise CEError("InvalidNextTokenException", "The pagination token is invalid.") from None


def get_cost_and_usage(df: pd.DataFrame, params: dict, today: date) -> dict:
    """GetCostAndUsage over the table: periods, metrics, GroupBy (≤ 2), Filter, paging, Estimated."""
    start, end = _period(params)
    periods = _periods(start, end, params.get("Granularity") or "")
    metrics = params.get("Metrics") or []
    bad = [m for m in metrics if m not in COST_METRICS + USAGE_METRICS]
    if not metrics or bad:
        raise _validation(f"Metrics {bad or metrics} are invalid. Valid values are "
                          f"{', '.join(COST_METRICS + USAGE_METRICS)}.")
    group_by = params.get("GroupBy") or []
    rows = _window(df, start, end)
    rows = rows[filter_mask(rows, params.get("Filter"))].copy()
    keys = _group_keys(rows, group_by)
    starts = np.array([pd.Timestamp(p[0]).value for p in periods], dtype=np.int64)
    rows["_p"] = np.searchsorted(starts, rows["date"].to_numpy().astype("datetime64[ns]").astype(np.int64),
                                 side="right") - 1
    agg = rows.groupby(["_p", *keys], sort=True).agg(
        cost=("unblended_cost", "sum"), qty=("usage_quantity", "sum"), unit=("unit", "first"),
        n_units=("unit", "nunique"))
    by_period: dict[int, list] = defaultdict(list)
    for idx, cost, qty, unit, n_units in zip(agg.index, agg["cost"], agg["qty"], agg["unit"], agg["n_units"],
                                             strict=True):
        idx = idx if isinstance(idx, tuple) else (idx,)
        by_period[int(idx[0])].append((list(idx[1:]), cost, qty, {unit} if n_units == 1 else {unit, None}))
    estimated_from = today - timedelta(days=ESTIMATED_DAYS - 1)
    results, first, n_groups, token = [], _page_start(params.get("NextPageToken")), 0, None
    for i in range(first, len(periods)):
        p0, p1 = periods[i]
        if group_by and n_groups and n_groups + len(by_period[i]) > PAGE_GROUPS:
            token = _page_token(i)
            break
        entry: dict[str, Any] = {"TimePeriod": {"Start": p0.isoformat(), "End": p1.isoformat()},
                                 "Estimated": p1 > estimated_from}
        if group_by:
            entry["Total"] = {}
            entry["Groups"] = [{"Keys": k, "Metrics": _metrics(metrics, c, q, set(u))}
                               for k, c, q, u in by_period[i]]
            n_groups += len(by_period[i])
        else:
            c = sum(g[1] for g in by_period[i])
            q = sum(g[2] for g in by_period[i])
            units = set().union(*(g[3] for g in by_period[i])) if by_period[i] else set()
            entry["Total"] = _metrics(metrics, c, q, units)
            entry["Groups"] = []
        results.append(entry)
    out: dict[str, Any] = {"GroupDefinitions": group_by, "ResultsByTime": results,
                           "DimensionValueAttributes": _account_attributes(rows, group_by)}
    if token:
        out["NextPageToken"] = token
    return out


def _account_attributes(rows: pd.DataFrame, group_by: list[dict]) -> list[dict]:
    if not any(g.get("Type") == "DIMENSION" and g.get("Key") == "LINKED_ACCOUNT" for g in group_by):
        return []
    return [{"Value": a, "Attributes": {"description": ACCOUNT_NAMES.get(a, a)}}
            for a in sorted(rows["linked_account"].unique())]


def _paged(values: list, params: dict, default_max: int = 1000) -> tuple[list, str | None]:
    first = _page_start(params.get("NextPageToken"))
    size = int(params.get("MaxResults") or default_max)
    page = values[first:first + size]
    return page, _page_token(first + size) if first + size < len(values) else None


def _search(values: list[str], params: dict) -> list[str]:
    needle = (params.get("SearchString") or "").lower()
    return [v for v in values if needle in v.lower()]


def get_dimension_values(df: pd.DataFrame, params: dict) -> dict:
    """GetDimensionValues: distinct values of a dimension in a time period (and filter)."""
    start, end = _period(params)
    if (params.get("Context") or "COST_AND_USAGE") != "COST_AND_USAGE":
        return {"DimensionValues": [], "ReturnSize": 0, "TotalSize": 0}
    dim = params.get("Dimension") or ""
    rows = _window(df, start, end)
    rows = rows[filter_mask(rows, params.get("Filter"))]
    values = _search(sorted(rows[_dimension_column(dim)].unique()), params)
    page, token = _paged(values, params)
    out: dict[str, Any] = {
        "DimensionValues": [{"Value": v, "Attributes": {"description": ACCOUNT_NAMES.get(v, v)}
                             if dim == "LINKED_ACCOUNT" else {}} for v in page],
        "ReturnSize": len(page), "TotalSize": len(values)}
    if token:
        out["NextPageToken"] = token
    return out


def get_tags(df: pd.DataFrame, params: dict) -> dict:
    """GetTags: the cost allocation tag keys, or one key's values, seen in a time period."""
    start, end = _period(params)
    rows = _window(df, start, end)
    rows = rows[filter_mask(rows, params.get("Filter"))]
    key = params.get("TagKey")
    if key:
        values = sorted(v for v in _tag_column(rows, key).unique() if v)
    else:
        values = [k for k in TAG_KEYS if (rows[k] != "").any()]
    values = _search(values, params)
    page, token = _paged(values, params)
    out: dict[str, Any] = {"Tags": page, "ReturnSize": len(page), "TotalSize": len(values)}
    if token:
        out["NextPageToken"] = token
    return out


# --------------------------------------------------------------------------- forecast


def _daily_totals(df: pd.DataFrame, start: date, end: date) -> np.ndarray:
    rows = _window(df, start, end)
    days = pd.date_range(start, end - timedelta(days=1), freq="D")
    return rows.groupby("date")["unblended_cost"].sum().reindex(days, fill_value=0.0).to_numpy()


def _trend(history: np.ndarray) -> tuple[float, float, float]:
    """(intercept at day 0 of the history, slope per day, residual sigma), outlier days left out."""
    x = np.arange(len(history), dtype=float)
    med = float(np.median(history))
    mad = float(np.median(np.abs(history - med))) or max(med * 0.05, 1e-9)
    keep = np.abs(history - med) <= 5 * 1.4826 * mad
    slope, intercept = np.polyfit(x[keep], history[keep], 1) if keep.sum() >= 3 else (0.0, med)
    resid = history[keep] - (intercept + slope * x[keep])
    sigma = float(np.std(resid)) if keep.sum() > 2 else med * 0.1
    return float(intercept), float(slope), max(sigma, med * 0.02)


def get_cost_forecast(df: pd.DataFrame, params: dict, today: date) -> dict:
    """GetCostForecast: a linear trend of the last 28 full days, with a normal prediction interval."""
    start, end = _period(params)
    if start < today:
        raise _validation(f"Start date must be on or after the current date ({today.isoformat()})")
    if end > today + timedelta(days=366):
        raise _validation("End date must be within 12 months of the current date")
    metric = params.get("Metric")
    if metric not in FORECAST_METRICS:
        raise _validation(f"Metric {metric!r} is invalid. Valid values are {', '.join(FORECAST_METRICS)}.")
    level = int(params.get("PredictionIntervalLevel") or 80)
    if not 51 <= level <= 99:
        raise _validation("PredictionIntervalLevel must be between 51 and 99")
    granularity = params.get("Granularity") or ""
    periods = _periods(start, end, granularity)
    rows = df[filter_mask(df, params.get("Filter"))]
    train_start = today - timedelta(days=FORECAST_TRAIN_DAYS)
    history = _daily_totals(rows, train_start, today)
    if not history.any():
        raise CEError("DataUnavailableException", "Insufficient amount of historical data to generate forecast.")
    intercept, slope, sigma = _trend(history)
    z = statistics.NormalDist().inv_cdf(0.5 + level / 200)
    results, total = [], 0.0
    for p0, p1 in periods:
        offsets = np.arange((p0 - train_start).days, (p1 - train_start).days, dtype=float)
        mean = float(np.maximum(intercept + slope * offsets, 0.0).sum())
        horizon = 1 + (p1 - today).days / FORECAST_TRAIN_DAYS
        spread = z * sigma * math.sqrt(len(offsets) * horizon)
        total += mean
        results.append({"TimePeriod": {"Start": p0.isoformat(), "End": p1.isoformat()},
                        "MeanValue": _amount(mean),
                        "PredictionIntervalLowerBound": _amount(max(mean - spread, 0.0)),
                        "PredictionIntervalUpperBound": _amount(mean + spread)})
    return {"Total": {"Amount": _amount(total), "Unit": "USD"}, "ForecastResultsByTime": results}


# --------------------------------------------------------------------------- anomalies


def monitor_arn(account: str) -> str:
    uid = uuid.uuid5(uuid.NAMESPACE_URL, f"sextant-demo/{account}/anomaly-monitor/services")
    return f"arn:aws:ce::{account}:anomalymonitor/{uid}"


def get_anomaly_monitors(account: str, world: World, params: dict) -> dict:
    """GetAnomalyMonitors: the AWS-managed services monitor every account with Cost Explorer gets."""
    arn = monitor_arn(account)
    wanted = params.get("MonitorArnList")
    if wanted and arn not in wanted:
        return {"AnomalyMonitors": []}
    created = (world.anchor - timedelta(days=COST_DAYS + 30)).date().isoformat()
    return {"AnomalyMonitors": [{
        "MonitorArn": arn, "MonitorName": "Default-Services-Monitor", "CreationDate": created,
        "LastUpdatedDate": created, "LastEvaluatedDate": now().date().isoformat(),
        "MonitorType": "DIMENSIONAL", "MonitorDimension": "SERVICE",
        "DimensionalValueCount": len(cost_frame(world)["service"].unique())}]}


def detect_anomalies(df: pd.DataFrame, account: str) -> list[dict]:
    """Service-days far above the median of the previous two weeks, with their top usage-type causes."""
    daily = df.pivot_table(index="date", columns="service", values="unblended_cost", aggfunc="sum", fill_value=0.0)
    daily = daily.reindex(pd.date_range(daily.index.min(), daily.index.max(), freq="D"), fill_value=0.0)
    expected = daily.shift(1).rolling(ANOMALY_LOOKBACK_DAYS, min_periods=ANOMALY_LOOKBACK_DAYS).median()
    impact = daily - expected
    flagged = (impact >= ANOMALY_MIN_IMPACT) & (impact >= ANOMALY_MIN_RATIO * expected)
    detail = df.groupby(["date", "service", "linked_account", "region", "usage_type"])["unblended_cost"].sum()
    out = []
    for day, service in flagged.stack().loc[lambda f: f].index:
        prior = daily[service].loc[day - pd.Timedelta(days=ANOMALY_LOOKBACK_DAYS):day - pd.Timedelta(days=1)]
        exp = float(expected.at[day, service])
        spread = float(np.median(np.abs(prior - exp))) * 1.4826 or max(exp * 0.05, 1.0)
        out.append(_anomaly(account, service, day, float(daily.at[day, service]), exp, spread,
                            _root_causes(detail, day, service)))
    return sorted(out, key=lambda a: a["AnomalyStartDate"])


def _root_causes(detail: pd.Series, day: pd.Timestamp, service: str) -> list[dict]:
    today = detail.xs((day, service), level=("date", "service"))
    window = [day - pd.Timedelta(days=i) for i in range(1, ANOMALY_LOOKBACK_DAYS + 1)]
    before = detail[detail.index.get_level_values("date").isin(window)
                    & (detail.index.get_level_values("service") == service)]
    typical = before.groupby(["linked_account", "region", "usage_type"]).sum() / ANOMALY_LOOKBACK_DAYS
    delta = (today - typical.reindex(today.index, fill_value=0.0)).sort_values(ascending=False)
    return [{"Service": service, "Region": region, "LinkedAccount": acct,
             "LinkedAccountName": ACCOUNT_NAMES.get(acct, acct), "UsageType": usage,
             "Impact": {"Contribution": round(float(d), 2)}}
            for (acct, region, usage), d in delta.head(3).items() if d > 0.01 * delta.iloc[0]]


def _anomaly(account: str, service: str, day: pd.Timestamp, actual: float, expected: float, spread: float,
             causes: list[dict]) -> dict:
    arn = monitor_arn(account)
    impact = actual - expected
    score = round(min(impact / spread, 99.0), 2)
    return {
        "AnomalyId": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{arn}/{service}/{day.date()}")),
        "AnomalyStartDate": f"{day.date()}T00:00:00Z", "AnomalyEndDate": f"{day.date()}T00:00:00Z",
        "DimensionValue": service, "RootCauses": causes,
        "AnomalyScore": {"MaxScore": score, "CurrentScore": score},
        "Impact": {"MaxImpact": round(impact, 2), "TotalImpact": round(impact, 2),
                   "TotalActualSpend": round(actual, 2), "TotalExpectedSpend": round(expected, 2),
                   "TotalImpactPercentage": round(impact / expected * 100, 2) if expected else None},
        "MonitorArn": arn,
    }


NUMERIC_OPS: dict[str, Callable[[float, float, float], bool]] = {
    "EQUAL": lambda x, a, b: x == a, "GREATER_THAN_OR_EQUAL": lambda x, a, b: x >= a,
    "LESS_THAN_OR_EQUAL": lambda x, a, b: x <= a, "GREATER_THAN": lambda x, a, b: x > a,
    "LESS_THAN": lambda x, a, b: x < a, "BETWEEN": lambda x, a, b: a <= x <= b,
}


def _date_interval(interval: dict) -> tuple[date, date]:
    """An AnomalyDateInterval: StartDate required, EndDate optional, both inclusive."""
    if not interval.get("StartDate"):
        raise _validation("DateInterval.StartDate is required")
    start = _parse_day(interval["StartDate"], "Start")
    end = _parse_day(interval["EndDate"], "End") if interval.get("EndDate") else date.max
    if end < start:
        raise _validation("Start date should be on or before end date")
    return start, end


def get_anomalies(df: pd.DataFrame, account: str, params: dict) -> dict:
    """GetAnomalies: detected anomalies whose day falls in DateInterval, by monitor and TotalImpact."""
    start, end = _date_interval(params.get("DateInterval") or {})
    arn = params.get("MonitorArn")
    if arn and arn != monitor_arn(account):
        raise CEError("UnknownMonitorException", f"Monitor {arn} does not exist")
    found = [a for a in detect_anomalies(df, account) if start <= date.fromisoformat(a["AnomalyStartDate"][:10])
             <= end]
    if params.get("Feedback"):
        found = []  # no feedback has been given on any anomaly
    impact = params.get("TotalImpact")
    if impact:
        op = NUMERIC_OPS.get(impact.get("NumericOperator"))
        if op is None:
            raise _validation("TotalImpact.NumericOperator is invalid")
        found = [a for a in found if op(a["Impact"]["TotalImpact"], float(impact.get("StartValue", 0)),
                                        float(impact.get("EndValue") or math.inf))]
    page, token = _paged(found, params, default_max=100)
    out: dict[str, Any] = {"Anomalies": page}
    if token:
        out["NextPageToken"] = token
    return out


# --------------------------------------------------------------------------- moto patch


def _visible(df: pd.DataFrame, account: str) -> pd.DataFrame:
    """The payer sees every account's rows; a linked account only its own."""
    return df if account == MAIN_ACCOUNT else df[df["linked_account"] == account]


def _answer(account: str, op: str, params: dict) -> dict:
    world = _WORLD
    assert world is not None
    at = now()
    today = at.date()
    df = _visible(cost_frame(world, at), account)
    if op == "get_cost_and_usage":
        return get_cost_and_usage(df, params, today)
    if op == "get_cost_forecast":
        return get_cost_forecast(df, params, today)
    if op == "get_anomalies":
        return get_anomalies(df, account, params)
    if op == "get_anomaly_monitors":
        return get_anomaly_monitors(account, world, params)
    if op == "get_dimension_values":
        return get_dimension_values(df, params)
    return get_tags(df, params)


EMPTY_ANSWERS: dict[str, dict] = {
    "get_anomalies": {"Anomalies": []},
    "get_anomaly_monitors": {"AnomalyMonitors": []},
    "get_dimension_values": {"DimensionValues": [], "ReturnSize": 0, "TotalSize": 0},
    "get_tags": {"Tags": [], "ReturnSize": 0, "TotalSize": 0},
}
OPERATIONS = ("get_cost_and_usage", "get_cost_forecast", "get_anomalies", "get_anomaly_monitors",
              "get_dimension_values", "get_tags")


def _handler(op: str, original: Callable | None) -> Callable:
    from moto.core.exceptions import JsonRESTError

    def handle(self: Any) -> str:
        account = self.current_account
        world = _WORLD
        if world is None or account not in {MAIN_ACCOUNT, SECOND_ACCOUNT}:
            if original is not None:
                return original(self)
            if op == "get_cost_forecast":
                raise JsonRESTError("DataUnavailableException", "No cost and usage data for this account.")
            return json.dumps(EMPTY_ANSWERS[op])
        try:
            params = json.loads(self.body or "{}")
            return json.dumps(_answer(account, op, params))
        except CEError as e:
            raise JsonRESTError(e.code, e.message) from None

    handle.__name__ = op
    handle._sextant_costs = True  # type: ignore[attr-defined]
    return handle


def install(world: World) -> None:
    """Answer Cost Explorer from the world's cost table (idempotent)."""
    global _WORLD
    from moto.ce.responses import CostExplorerResponse

    _WORLD = world
    for op in OPERATIONS:
        current = getattr(CostExplorerResponse, op, None)
        if current is not None and getattr(current, "_sextant_costs", False):
            continue
        setattr(CostExplorerResponse, op, _handler(op, current))


def seed(world: World) -> None:
    """Build the table once so the first question is fast; the clock stays frozen until the first tick."""
    _CLOCK["frozen"] = datetime.now(UTC)
    cost_frame(world, _CLOCK["frozen"])


def tick(world: World, now: datetime) -> None:
    """The account is live: costs follow the wall clock; refresh the cached past days if the day rolled."""
    _CLOCK["frozen"] = None
    cost_frame(world, now)
