"""CloudWatch for the demo account: endpoint metrics computed from the model, training metrics, alarms.

What AWS does and this module emulates on top of moto's CloudWatch:

GetMetricData for the SageMaker endpoint series (``AWS/SageMaker``: Invocations, Invocation4XXErrors,
Invocation5XXErrors, ModelLatency, OverheadLatency in microseconds; ``/aws/sagemaker/Endpoints``:
CPU/Memory/DiskUtilization, and GPU/GPUMemoryUtilization on GPU variants only; dimensions EndpointName
and VariantName, in any order) is answered from :func:`demo.model.variant_metrics`: nothing is stored,
any range at any period is computed on request, so a state change recorded in the world timeline shows
in the next minute.

- Data exists from the endpoint's creation up to the last complete minute (wall clock); a period without
  a data point (no instances yet, the future, no invocation for a latency metric) returns no point.
- Resolution follows the documented CloudWatch retention: 1-minute data for the last 15 days
  (``ONE_MINUTE_RETENTION_MIN``); older data is 5-minute only, so on that part a Period that is not a
  multiple of 300 is rounded up to one and points are 5-minute aligned.
- Points start at StartTime rounded down to the minute (to 5 minutes on 5-minute data) and step by Period.
- Statistics: Sum, Average, Maximum, Minimum, SampleCount and any ``pNN``/``pNN.N``. Count metrics
  publish one sample a minute; latency metrics one sample per invocation (SampleCount = invocations,
  Average invocation-weighted). A period's percentile is the invocation-weighted mean of the model's
  per-minute percentiles (p50/p90/p99 exactly, others interpolated on a log-normal scale), which keeps
  p50 <= p90 <= p99 and lets a short spike show in proportion to its traffic. Percentiles of the other
  metrics are the percentile of the period's minute values.
- StartTime/EndTime, ScanBy (default TimestampDescending), Label (default: the metric name), Id,
  ReturnData, Unit (a different unit returns no data), at most 500 queries and unique Ids (ValidationError
  as AWS), MaxDatapoints (default 100,800) with NextToken pagination and StatusCode PartialData.
- Any other query (stored metrics such as training metrics, metric math) goes to moto's own code.

ListMetrics: one entry per series (moto lists one per stored datapoint), the modelled endpoint series plus
moto's stored metrics, filtered by Namespace/MetricName/Dimensions, 500 per page with NextToken.

Alarms: the seed creates realistic alarms on the endpoints; every minute ``tick`` evaluates *every* alarm
(seeded or created through the API) whose metric is a modelled series, like CloudWatch does, with AWS's
reason text, and moto's missing DescribeAlarmHistory is added, fed by the state changes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import NormalDist
from typing import Any

import numpy as np
from moto.cloudwatch import models as cw_models
from moto.cloudwatch import responses as cw_responses
from moto.cloudwatch.exceptions import InvalidParameterValue, ValidationError
from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import BaseJSONSerializer
from numpy.lib.stride_tricks import sliding_window_view

from demo import model
from demo.world import REGION, EndpointSpec, TrainingJobSpec, VariantSpec, World

ONE_MINUTE_RETENTION_MIN = 15 * 1440
OLD_RESOLUTION_MIN = 5
MAX_QUERIES = 500
MAX_DATAPOINTS = 100_800
LIST_PAGE_SIZE = 500
HISTORY_PAGE_SIZE = 100
ALARM_HISTORY_HOURS = 72
TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
MAX_EPOCH_POINTS = 60
BASIC_STATS = ("Sum", "Average", "Maximum", "Minimum", "SampleCount")
LATENCY_METRICS = ("ModelLatency", "OverheadLatency")
COUNT_METRICS = ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors")
# per-invocation extremes around the per-minute mean / p99 of a latency metric
LATENCY_MIN_FACTOR = 0.35
LATENCY_MAX_FACTOR = 1.7


# --------------------------------------------------------------------------- series


@dataclass(frozen=True)
class Series:
    """One modelled CloudWatch series: a metric of one endpoint variant."""

    endpoint: EndpointSpec
    variant: VariantSpec
    namespace: str
    metric: str

    @property
    def dimensions(self) -> list[dict[str, str]]:
        return [{"Name": "EndpointName", "Value": self.endpoint.name},
                {"Name": "VariantName", "Value": self.variant.name}]

    @property
    def unit(self) -> str:
        if self.metric in LATENCY_METRICS:
            return "Microseconds"
        return "None" if self.metric in COUNT_METRICS else "Percent"

    @property
    def gpu(self) -> bool:
        return any(x in self.variant.instance_type for x in ("g4dn", "g5", "p3", "p4d", "p5"))


def _series_key(account: str, namespace: str, metric: str, dims: list[dict[str, str]]) -> tuple:
    return account, namespace, metric, frozenset((d.get("Name"), d.get("Value")) for d in dims)


def _variant_series(e: EndpointSpec, v: VariantSpec) -> list[Series]:
    out = [Series(e, v, model.INVOCATION_NAMESPACE, m) for m in model.INVOCATION_METRICS]
    out += [Series(e, v, model.INSTANCE_NAMESPACE, m) for m in model.INSTANCE_METRICS]
    gpu = [Series(e, v, model.INSTANCE_NAMESPACE, m) for m in model.GPU_METRICS]
    return out + (gpu if gpu[0].gpu else [])


@dataclass
class _State:
    world: World | None = None
    index: dict[tuple, Series] = field(default_factory=dict)
    by_account: dict[str, list[Series]] = field(default_factory=dict)
    last_tick_minute: int = 0
    epochs_written: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_STATE = _State()


def world() -> World | None:
    """The world this process's account was installed with (None before :func:`install`): the control requests
    answered outside the server's own handlers (demo/control.py: the live incident) act on it."""
    return _STATE.world


def _build_index(world: World) -> None:
    _STATE.index.clear()
    _STATE.by_account.clear()
    for e in world.endpoints:
        for v in e.variants:
            for s in _variant_series(e, v):
                _STATE.index[_series_key(e.account, s.namespace, s.metric, s.dimensions)] = s
                _STATE.by_account.setdefault(e.account, []).append(s)


def lookup(account: str, region: str, namespace: str, metric: str, dims: list[dict[str, str]]) -> Series | None:
    """The modelled series a (namespace, metric, dimensions) names in this account, if any."""
    if region != REGION:
        return None
    return _STATE.index.get(_series_key(account, namespace, metric, dims))


# --------------------------------------------------------------------------- statistics


def _minute(t: datetime) -> float:
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp() / 60


def _now_minute() -> int:
    return int(datetime.now(UTC).timestamp() // 60)


def parse_stat(stat: str) -> tuple[str, float] | None:
    """('basic', 0) for Sum/Average/..., ('pct', NN) for pNN, None for a statistic not emulated."""
    if stat in BASIC_STATS:
        return "basic", 0.0
    if stat.startswith("p"):
        try:
            p = float(stat[1:])
        except ValueError:
            return None
        if 0 <= p <= 100:
            return "pct", p
    return None


def _pct_factor(p: float) -> float:
    """Percentile / mean of the model's latency spread, interpolating its p50/p90/p99 in log space over z."""
    known = sorted((float(k[1:]), v) for k, v in model.P_FACTORS.items())
    zs = [NormalDist().inv_cdf(q / 100) for q, _ in known]
    logs = [math.log(f) for _, f in known]
    z = NormalDist().inv_cdf(min(max(p, 0.1), 99.99) / 100)
    if z <= zs[0]:
        slope = (logs[1] - logs[0]) / (zs[1] - zs[0])
        return math.exp(logs[0] + slope * (z - zs[0]))
    if z >= zs[-1]:
        slope = (logs[-1] - logs[-2]) / (zs[-1] - zs[-2])
        return math.exp(logs[-1] + slope * (z - zs[-1]))
    return math.exp(float(np.interp(z, zs, logs)))


@dataclass
class MinuteStats:
    """Per-minute statistic sets of one series (what CloudWatch stores as 1-minute aggregates)."""

    total: np.ndarray
    count: np.ndarray
    low: np.ndarray
    high: np.ndarray
    value: np.ndarray  # per-minute value, nan where no data
    present: np.ndarray


def minute_stats(s: Series, out: dict[str, np.ndarray], live: np.ndarray) -> MinuteStats:
    v = out[s.metric]
    if s.metric in LATENCY_METRICS:
        inv = np.nan_to_num(out["Invocations"])
        present = live & ~np.isnan(v) & (inv > 0)
        count = np.where(present, inv, 0.0)
        low = np.where(present, v * LATENCY_MIN_FACTOR, np.inf)
        high = np.where(present, out[f"{s.metric}:p99"] * LATENCY_MAX_FACTOR, -np.inf)
    else:
        present = live & ~np.isnan(v)
        count = present.astype(float)
        low = np.where(present, v, np.inf)
        high = np.where(present, v, -np.inf)
    value = np.where(present, v, np.nan)
    return MinuteStats(np.where(present, v * count, 0.0), count, low, high, value, present)


def _minute_percentile(s: Series, out: dict[str, np.ndarray], p: float) -> np.ndarray:
    key = f"{s.metric}:p{p:g}"
    return out[key] if key in out else out[s.metric] * _pct_factor(p)


def bucket_starts(start_min: int, end_min: int, period_min: int, now_min: int) -> tuple[np.ndarray, int]:
    """Bucket start minutes and the last bucket's end for [start_min, end_min), by CloudWatch's retention."""
    cutoff = (now_min - ONE_MINUTE_RETENTION_MIN) // OLD_RESOLUTION_MIN * OLD_RESOLUTION_MIN
    old_origin = start_min // OLD_RESOLUTION_MIN * OLD_RESOLUTION_MIN
    if period_min % OLD_RESOLUTION_MIN == 0 or start_min >= cutoff:
        origin = old_origin if start_min < cutoff else start_min
        starts = np.arange(origin, end_min, period_min, dtype=np.int64)
        return starts, int(starts[-1]) + period_min if len(starts) else origin
    coarse = -(-period_min // OLD_RESOLUTION_MIN) * OLD_RESOLUTION_MIN
    old = np.arange(old_origin, min(cutoff, end_min), coarse, dtype=np.int64)
    recent = np.arange(cutoff, end_min, period_min, dtype=np.int64)
    stop = int(recent[-1]) + period_min if len(recent) else int(old[-1]) + coarse
    return np.concatenate([old, recent]), stop


class Computer:
    """Computes modelled series for one request, sharing each variant's model run between its metrics."""

    def __init__(self, world: World, now_min: int | None = None) -> None:
        self.world = world
        self.now_min = _now_minute() if now_min is None else now_min
        self._cache: dict[tuple, dict[str, np.ndarray]] = {}

    def model_out(self, s: Series, m0: int, m1: int) -> dict[str, np.ndarray]:
        key = (s.endpoint.account, s.endpoint.name, s.variant.name, m0, m1)
        if key not in self._cache:
            self._cache[key] = model.variant_metrics(self.world, s.endpoint, s.variant,
                                                     np.arange(m0, m1, dtype=np.int64))
        return self._cache[key]

    def values(self, s: Series, stat: str, start_min: int, end_min: int, period_min: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """(bucket start minutes, values) of the buckets that hold data, ascending."""
        kind, p = parse_stat(stat) or ("basic", 0.0)
        starts, stop = bucket_starts(start_min, end_min, period_min, self.now_min)
        if not len(starts):
            return starts, np.zeros(0)
        m0 = int(starts[0])
        out = self.model_out(s, m0, stop)
        minutes = np.arange(m0, stop, dtype=np.int64)
        ms = minute_stats(s, out, minutes < self.now_min)
        idx = (starts - m0).astype(np.intp)
        count = np.add.reduceat(ms.count, idx)
        has = np.add.reduceat(ms.present.astype(np.int64), idx) > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            if kind == "pct":
                vals = self._percentile(s, out, ms, idx, p, count)
            elif stat == "Sum":
                vals = np.add.reduceat(ms.total, idx)
            elif stat == "SampleCount":
                vals = count
            elif stat == "Average":
                vals = np.add.reduceat(ms.total, idx) / count
            elif stat == "Maximum":
                vals = np.maximum.reduceat(ms.high, idx)
            else:
                vals = np.minimum.reduceat(ms.low, idx)
        return starts[has], vals[has]

    @staticmethod
    def _percentile(s: Series, out: dict[str, np.ndarray], ms: MinuteStats, idx: np.ndarray, p: float,
                    count: np.ndarray) -> np.ndarray:
        if s.metric in LATENCY_METRICS:
            pct = np.where(ms.present, _minute_percentile(s, out, p), 0.0)
            return np.add.reduceat(pct * ms.count, idx) / count
        sizes = np.diff(np.append(idx, len(ms.value)))
        out_vals = np.full(len(idx), np.nan)
        for size in np.unique(sizes):  # one vectorised percentile per bucket width
            rows = np.flatnonzero(sizes == size)
            block = np.sort(ms.value[idx[rows, None] + np.arange(size)], axis=1)  # nan sorts last
            k = np.maximum((~np.isnan(block)).sum(axis=1), 1)
            pos = (k - 1) * p / 100
            lo, hi = np.floor(pos).astype(np.intp), np.ceil(pos).astype(np.intp)
            r = np.arange(len(rows))
            out_vals[rows] = block[r, lo] + (block[r, hi] - block[r, lo]) * (pos - lo)  # numpy's "linear"
        return out_vals


# --------------------------------------------------------------------------- GetMetricData


def _token(payload: dict[str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def _untoken(token: str | None, error: Exception) -> dict[str, int]:
    if not token:
        return {}
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        return {k: int(v) for k, v in payload.items()}
    except (ValueError, TypeError, AttributeError):
        raise error from None


def validate_queries(queries: list[dict[str, Any]]) -> None:
    """The request checks AWS makes before computing anything (ValidationError)."""
    if len(queries) > MAX_QUERIES:
        raise ValidationError(f"The collection MetricDataQueries must not have a size greater than {MAX_QUERIES}.")
    ids = [q.get("Id") for q in queries]
    if len(set(ids)) != len(ids):
        raise ValidationError("The values for parameter id in MetricDataQueries are not unique.")
    for i, q in enumerate(queries, 1):
        if "MetricStat" not in q and "Expression" not in q:
            raise ValidationError(f"The parameter MetricDataQueries.member.{i}.MetricStat is required.\n")


def _demo_series(account: str, region: str, query: dict[str, Any]) -> Series | None:
    stat = query.get("MetricStat")
    if not stat:
        return None
    metric = stat.get("Metric", {})
    return lookup(account, region, metric.get("Namespace", ""), metric.get("MetricName", ""),
                  metric.get("Dimensions", []))


def _check_demo_query(i: int, query: dict[str, Any]) -> tuple[int, str]:
    stat = query["MetricStat"]
    period = int(stat.get("Period") or 0)
    if period <= 0 or (period % 60 and period not in (1, 5, 10, 30)):
        raise ValidationError(f"The parameter MetricDataQueries.member.{i}.MetricStat.Period must be a multiple of "
                              "60 or one of 1, 5, 10, 30.")
    if parse_stat(stat.get("Stat", "")) is None:
        raise ValidationError(f"The value {stat.get('Stat')} for parameter MetricDataQueries.member.{i}.MetricStat"
                              ".Stat is not supported by the demo account.")
    return max(1, period // 60), stat["Stat"]


def _demo_result(computer: Computer, s: Series, query: dict[str, Any], start: datetime, end: datetime
                 ) -> dict[str, Any]:
    period_min, stat = query["_demo"]
    unit = query["MetricStat"].get("Unit")
    start_min, end_min = int(math.floor(_minute(start))), int(math.ceil(_minute(end)))
    if unit and unit != s.unit:
        starts, vals = np.zeros(0, dtype=np.int64), np.zeros(0)
    else:
        starts, vals = computer.values(s, stat, start_min, end_min, period_min)
    return {"id": query["Id"], "label": query.get("Label") or s.metric,
            "timestamps": [datetime.fromtimestamp(int(m) * 60, UTC) for m in starts],
            "values": vals.tolist(), "status_code": "Complete"}


def _paginate(results: list[dict[str, Any]], max_points: int, token: str | None
              ) -> tuple[list[dict[str, Any]], str | None]:
    """Split results into pages of at most max_points datapoints, AWS-style (PartialData + NextToken)."""
    pos = _untoken(token, InvalidParameterValue("The value for parameter NextToken is not valid."))
    q, offset = pos.get("q", 0), pos.get("o", 0)
    page: list[dict[str, Any]] = []
    budget = max_points
    while q < len(results):
        r = results[q]
        n = len(r["values"]) - offset
        take = min(n, budget)
        page.append({**r, "values": r["values"][offset:offset + take],
                     "timestamps": r["timestamps"][offset:offset + take],
                     "status_code": "Complete" if take == n else "PartialData"})
        budget -= take
        if take < n:
            return page, _token({"q": q, "o": offset + take})
        q, offset = q + 1, 0
        if budget == 0 and q < len(results):
            return page, _token({"q": q, "o": 0})
    return page, None


class _FastJSONLists:
    """Serializer mixin: lists of doubles / whole-second UTC timestamps in one pass (same JSON as moto's).

    moto serialises each list element through its generic shape walk (~7 us a datapoint); a 60-series day
    at one minute is 86,400 values and as many timestamps.
    """

    def _serialize_type_list(self, serialized: Any, value: Any, shape: Any, key: str) -> None:
        kind = shape.member.type_name
        if kind == "double" and all(isinstance(v, float) for v in value):
            return self._default_serialize(serialized, list(value), shape, key)
        fmt = shape.member.serialization.get("timestampFormat", self._timestamp_serializer.default_format)
        if kind == "timestamp" and fmt.lower() == "unixtimestamp" and all(
                isinstance(v, datetime) and v.tzinfo is not None and not v.microsecond for v in value):
            return self._default_serialize(serialized, [int(v.timestamp()) for v in value], shape, key)
        return super()._serialize_type_list(serialized, value, shape, key)


class _MetricDataResult(ActionResult):
    """ActionResult that serialises GetMetricData's long value/timestamp lists fast on JSON protocols."""

    def execute_result(self, context: ActionContext) -> Any:
        if issubclass(context.serializer_class, BaseJSONSerializer):
            fast = type("FastJSONSerializer", (_FastJSONLists, context.serializer_class), {})
            context = ActionContext(context.service_model, context.operation_model, fast, context.response)
        return super().execute_result(context)


def _get_metric_data(self: cw_responses.CloudWatchResponse) -> ActionResult:
    """GetMetricData: modelled endpoint series computed here, every other query answered by moto."""
    params = self._get_params()
    queries = params.get("MetricDataQueries", [])
    validate_queries(queries)
    start, end = params["StartTime"], params["EndTime"]
    if start.replace(microsecond=0) >= end.replace(microsecond=0):
        raise ValidationError("The parameter StartTime must be less than the parameter EndTime.")
    scan_by = params.get("ScanBy") or "TimestampDescending"
    world = _STATE.world
    found = {} if world is None else {q["Id"]: s for q in queries
                                      if (s := _demo_series(self.current_account, self.region, q))}
    stock_queries = [q for q in queries if q["Id"] not in found]
    stock = {}
    if stock_queries:
        backend = self.cloudwatch_backend
        stock = {r["id"]: r for r in backend.get_metric_data(stock_queries, start, end, scan_by)}
    computer = Computer(world) if world is not None else None
    results = []
    for i, q in enumerate(queries, 1):
        if q["Id"] in found:
            q = {**q, "_demo": _check_demo_query(i, q)}
            if q.get("ReturnData", True) is False:
                continue
            r = _demo_result(computer, found[q["Id"]], q, start, end)
            if scan_by == "TimestampDescending":
                r["timestamps"].reverse()
                r["values"].reverse()
            results.append(r)
        elif q["Id"] in stock:
            results.append(stock[q["Id"]])
    page, token = _paginate(results, int(params.get("MaxDatapoints") or MAX_DATAPOINTS), params.get("NextToken"))
    return _MetricDataResult({"MetricDataResults": page, "NextToken": token, "Messages": []})


# --------------------------------------------------------------------------- ListMetrics


def _entry(namespace: str, name: str, dims: list[dict[str, str]]) -> dict[str, Any]:
    return {"Namespace": namespace, "MetricName": name, "Dimensions": dims}


def _stored_entries(backend: cw_models.CloudWatchBackend) -> list[dict[str, Any]]:
    seen: dict[tuple, dict[str, Any]] = {}
    for md in backend.get_all_metrics():
        dims = [{"Name": d.name, "Value": d.value} for d in md.dimensions]
        key = _series_key("", md.namespace, md.name, dims)
        seen.setdefault(key, _entry(md.namespace, md.name, dims))
    return list(seen.values())


def _matches(entry: dict[str, Any], namespace: str | None, name: str | None, filters: list[dict[str, str]]) -> bool:
    if namespace and entry["Namespace"] != namespace:
        return False
    if name and entry["MetricName"] != name:
        return False
    have = {(d["Name"], d["Value"]) for d in entry["Dimensions"]}
    names = {d["Name"] for d in entry["Dimensions"]}
    return all((f["Name"], f["Value"]) in have if f.get("Value") is not None else f["Name"] in names
               for f in filters)


def _list_metrics(self: cw_models.CloudWatchBackend, next_token: str | None, namespace: str, metric_name: str,
                  dimensions: list[dict[str, str]]) -> tuple[str | None, list[dict[str, Any]]]:
    """ListMetrics: one entry per series (modelled and stored), filtered, 500 per page."""
    modelled = []
    if self.region_name == REGION:
        modelled = [_entry(s.namespace, s.metric, s.dimensions) for s in _STATE.by_account.get(self.account_id, [])]
    keys = {_series_key("", e["Namespace"], e["MetricName"], e["Dimensions"]) for e in modelled}
    stored = [e for e in _stored_entries(self)
              if _series_key("", e["Namespace"], e["MetricName"], e["Dimensions"]) not in keys]
    entries = [e for e in modelled + stored if _matches(e, namespace, metric_name, dimensions or [])]
    offset = _untoken(next_token, InvalidParameterValue("Request parameter NextToken is invalid")).get("o", 0)
    page = entries[offset:offset + LIST_PAGE_SIZE]
    more = offset + LIST_PAGE_SIZE < len(entries)
    return (_token({"o": offset + LIST_PAGE_SIZE}) if more else None), page


# --------------------------------------------------------------------------- alarms


COMPARISON_WORDS = {
    "GreaterThanThreshold": "greater than",
    "GreaterThanOrEqualToThreshold": "greater than or equal to",
    "LessThanThreshold": "less than",
    "LessThanOrEqualToThreshold": "less than or equal to",
}


def _naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def _history_item(alarm: cw_models.Alarm, old: tuple[str, str], new: tuple[str, str, str], when: datetime
                  ) -> dict[str, Any]:
    data = {"version": "1.0", "oldState": {"stateValue": old[0], "stateReason": old[1]},
            "newState": {"stateValue": new[0], "stateReason": new[1]}}
    try:
        data["newState"]["stateReasonData"] = json.loads(new[2] or "{}")
    except ValueError:
        pass
    return {"AlarmName": alarm.name, "AlarmType": "CompositeAlarm" if alarm.rule else "MetricAlarm",
            "Timestamp": when, "HistoryItemType": "StateUpdate",
            "HistorySummary": f"Alarm updated from {old[0]} to {new[0]}", "HistoryData": json.dumps(data)}


def _update_state(self: cw_models.Alarm, reason: str, reason_data: str, state_value: str,
                  when: datetime | None = None) -> None:
    """Alarm.update_state that records an AWS-shaped history item (moto keeps an internal tuple)."""
    when = _naive(when) if when else cw_models.utcnow()
    self.history.append(_history_item(self, (self.state_value, self.state_reason),
                                      (state_value, reason, reason_data), when))
    self.state_reason = reason
    self.state_reason_data = reason_data
    self.state_value = state_value
    self.state_updated_timestamp = when


def _describe_alarm_history(self: cw_responses.CloudWatchResponse) -> ActionResult:
    """DescribeAlarmHistory (missing in moto): state changes and configuration updates, newest first."""
    name = self._get_param("AlarmName")
    item_type = self._get_param("HistoryItemType")
    types = self._get_param("AlarmTypes") or ["MetricAlarm"]
    start, end = self._get_param("StartDate"), self._get_param("EndDate")
    items = [h for a in self.cloudwatch_backend.alarms.values() if not name or a.name == name
             for h in a.history if isinstance(h, dict)]
    items = [h for h in items if h["AlarmType"] in types and (not item_type or h["HistoryItemType"] == item_type)
             and (not start or h["Timestamp"] >= _naive(start)) and (not end or h["Timestamp"] <= _naive(end))]
    items.sort(key=lambda h: h["Timestamp"], reverse=(self._get_param("ScanBy") or "TimestampDescending")
               == "TimestampDescending")
    size = int(self._get_param("MaxRecords") or HISTORY_PAGE_SIZE)
    offset = _untoken(self._get_param("NextToken"), InvalidParameterValue("The NextToken is invalid.")).get("o", 0)
    more = offset + size < len(items)
    return ActionResult({"AlarmHistoryItems": items[offset:offset + size],
                         "NextToken": _token({"o": offset + size}) if more else None})


@dataclass(frozen=True)
class Target:
    """What an alarm watches, when that is a modelled series."""

    series: Series
    stat: str
    period_min: int
    periods: int
    to_alarm: int
    threshold: float
    comparison: str
    missing: str


def alarm_target(account: str, alarm: cw_models.Alarm) -> Target | None:
    if alarm.rule or alarm.metric_data_queries or alarm.comparison_operator not in COMPARISON_WORDS:
        return None
    dims = [{"Name": d.name, "Value": d.value} for d in alarm.dimensions]
    s = lookup(account, alarm.region_name, alarm.namespace, alarm.metric_name, dims)
    stat = alarm.extended_statistic or alarm.statistic
    if s is None or not stat or parse_stat(stat) is None:
        return None
    periods = int(alarm.evaluation_periods)
    return Target(s, stat, max(1, int(alarm.period) // 60), periods, int(alarm.datapoints_to_alarm or periods),
                  float(alarm.threshold), alarm.comparison_operator, alarm.treat_missing_data or "missing")


def _breaching(t: Target, values: np.ndarray) -> np.ndarray:
    ops = {"GreaterThanThreshold": np.greater, "GreaterThanOrEqualToThreshold": np.greater_equal,
           "LessThanThreshold": np.less, "LessThanOrEqualToThreshold": np.less_equal}
    with np.errstate(invalid="ignore"):
        return ops[t.comparison](values, t.threshold)


def _fmt_time(m: int) -> str:
    return datetime.fromtimestamp(m * 60, UTC).strftime("%d/%m/%y %H:%M:%S")


def _reason(t: Target, state: str, window: list[tuple[int, float]]) -> tuple[str, str]:
    """CloudWatch's StateReason and StateReasonData for a threshold evaluation."""
    word = COMPARISON_WORDS[t.comparison]
    shown = [(m, v) for m, v in reversed(window) if not math.isnan(v)]
    breach = [(m, v) for m, v in shown if _breaching(t, np.array([v]))[0]]
    listed = breach if state == "ALARM" else shown
    points = ", ".join(f"{v:g} ({_fmt_time(m)})" for m, v in listed)
    if not shown:
        reason = f"Insufficient Data: {t.periods} datapoints were unknown."
    elif state == "ALARM" and t.periods == 1:
        reason = f"Threshold Crossed: 1 datapoint [{points}] was {word} the threshold ({t.threshold:g})."
    elif state == "ALARM":
        reason = (f"Threshold Crossed: {len(breach)} out of the last {t.periods} datapoints [{points}] were {word} "
                  f"the threshold ({t.threshold:g}) (minimum {t.to_alarm} datapoints for OK -> ALARM transition).")
    elif t.periods == 1:
        reason = f"Threshold Crossed: 1 datapoint [{points}] was not {word} the threshold ({t.threshold:g})."
    else:
        calm = [(m, v) for m, v in shown if (m, v) not in breach]
        points = ", ".join(f"{v:g} ({_fmt_time(m)})" for m, v in calm)
        needed = t.periods - t.to_alarm + 1
        reason = (f"Threshold Crossed: {len(calm)} out of the last {t.periods} datapoints [{points}] were not {word} "
                  f"the threshold ({t.threshold:g}) (minimum {needed} datapoint{'s' if needed > 1 else ''} "
                  "for ALARM -> OK transition).")
    stat_key = "statistic" if t.stat in BASIC_STATS else "extendedStatistic"
    data = {"version": "1.0", stat_key: t.stat, "period": t.period_min * 60, "threshold": t.threshold,
            "recentDatapoints": [round(v, 3) for _, v in shown],
            "evaluatedDatapoints": [{"timestamp": datetime.fromtimestamp(m * 60, UTC).strftime(
                "%Y-%m-%dT%H:%M:%S.000+0000"), "value": round(v, 3)} for m, v in shown]}
    return reason, json.dumps(data)


def evaluate(computer: Computer, t: Target, first_end: int, last_end: int) -> list[tuple[int, str | None, list]]:
    """Alarm states at the period-aligned evaluation ends in [first_end, last_end]: the first one and each change.

    Each entry is (end minute, state or None to keep the current one, the evaluated window).
    """
    p = t.period_min
    first_end, last_end = first_end // p * p, last_end // p * p
    start = first_end - t.periods * p
    starts, vals = computer.values(t.series, t.stat, start, last_end, p)
    grid = np.full((last_end - start) // p, np.nan)
    grid[((starts - start) // p).astype(np.intp)] = vals
    windows = sliding_window_view(grid, t.periods)
    known = ~np.isnan(windows)
    breach = _breaching(t, windows) & known
    if t.missing == "breaching":
        breach |= ~known
    states = np.where(breach.sum(axis=1) >= t.to_alarm, "ALARM", "OK").astype(object)
    if t.missing in ("missing", "ignore"):
        states[~known.any(axis=1)] = "INSUFFICIENT_DATA" if t.missing == "missing" else None
    out = []
    for j, state in enumerate(states):
        if j and state == states[j - 1]:
            continue
        stamps = start + np.arange(j, j + t.periods) * p  # datapoint timestamps: bucket starts
        out.append((start + (j + t.periods) * p, state, list(zip(stamps.tolist(), windows[j].tolist(), strict=True))))
    return out


def _apply(alarm: cw_models.Alarm, t: Target, evaluations: list, delay: timedelta, record: bool) -> None:
    for end_min, state, window in evaluations:
        if state is None or state == alarm.state_value:
            continue
        reason, data = _reason(t, state, window)
        when = datetime.fromtimestamp(end_min * 60, UTC) + delay
        if record:
            alarm.update_state(reason, data, state, when)
        else:
            alarm.state_value, alarm.state_reason, alarm.state_reason_data = state, reason, data
            alarm.state_updated_timestamp = _naive(when)


@dataclass(frozen=True)
class AlarmSpec:
    name: str
    series: Series
    stat: str
    period: int
    periods: int
    to_alarm: int
    threshold: float
    comparison: str
    description: str
    missing: str = "notBreaching"


def alarm_specs(world: World) -> list[AlarmSpec]:
    """The alarms the ML teams set up: latency, errors and saturation on prod, idleness where it bites."""
    specs = []
    for e in world.endpoints:
        v = max(e.variants, key=lambda x: x.weight)
        by_metric = {s.metric: s for s in _variant_series(e, v)}
        p99 = round(e.base_latency_ms * 1000 * model.P_FACTORS["p99"] * 4, -2)
        if e.env == "prod":
            specs += [
                AlarmSpec(f"{e.name}-p99-latency", by_metric["ModelLatency"], "p99", 60, 5, 3, p99,
                          "GreaterThanThreshold", f"p99 model latency of {e.name} above {p99 / 1000:g} ms"),
                AlarmSpec(f"{e.name}-5xx-errors", by_metric["Invocation5XXErrors"], "Sum", 60, 5, 3,
                          float(max(5, round(e.peak_rpm * 0.005))), "GreaterThanThreshold",
                          f"server errors on {e.name}"),
                AlarmSpec(f"{e.name}-cpu-high", by_metric["CPUUtilization"], "Average", 300, 3, 3, 85.0,
                          "GreaterThanThreshold", f"CPU saturation on {e.name}; check autoscaling"),
            ]
            if "GPUUtilization" in by_metric:
                specs.append(AlarmSpec(f"{e.name}-gpu-hot", by_metric["GPUUtilization"], "Average", 300, 3, 2,
                                       55.0, "GreaterThanThreshold", f"GPU busy on {e.name}; consider a 2nd instance"))
        if e.idle_since is not None:
            specs += [
                AlarmSpec(f"{e.name}-no-invocations", by_metric["Invocations"], "Sum", 3600, 24, 24, 1.0,
                          "LessThanThreshold", f"{e.name} has served nothing for a day: delete it?", "breaching"),
                AlarmSpec(f"{e.name}-gpu-idle", by_metric["GPUUtilization"], "Maximum", 3600, 6, 6, 10.0,
                          "LessThanThreshold", f"GPU of {e.name} idle for 6 hours"),
            ]
    return specs


def _topic(e: EndpointSpec) -> str:
    return f"arn:aws:sns:{REGION}:{e.account}:{e.team}-oncall"


def _put_alarm(world: World, spec: AlarmSpec) -> cw_models.Alarm:
    e = spec.series.endpoint
    backend = cw_models.cloudwatch_backends[e.account][REGION]
    pct = parse_stat(spec.stat)[0] == "pct"
    alarm = backend.put_metric_alarm(
        name=spec.name, namespace=spec.series.namespace, metric_name=spec.series.metric,
        comparison_operator=spec.comparison, evaluation_periods=spec.periods, period=spec.period,
        threshold=spec.threshold, statistic=None if pct else spec.stat, extended_statistic=spec.stat if pct else None,
        description=spec.description, dimensions=spec.series.dimensions, alarm_actions=[_topic(e)],
        ok_actions=[_topic(e)], datapoints_to_alarm=spec.to_alarm, treat_missing_data=spec.missing,
        tags=[{"Key": "team", "Value": e.team}, {"Key": "env", "Value": e.env}],
    )
    created = _naive(e.created + timedelta(days=1, hours=3))
    alarm.configuration_updated_timestamp = created
    alarm.state_updated_timestamp = created
    alarm.history = [{"AlarmName": spec.name, "AlarmType": "MetricAlarm", "Timestamp": created,
                      "HistoryItemType": "ConfigurationUpdate", "HistorySummary": f'Alarm "{spec.name}" created',
                      "HistoryData": json.dumps({"version": "1.0", "type": "Create"})}]
    return alarm


def _delay(name: str, end_min: int) -> timedelta:
    return timedelta(seconds=20 + _hash(name, end_min) % 40)


def _hash(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=4).digest(), "little")


def seed_alarms(world: World, now: datetime) -> None:
    """Create the alarms and replay the last days of evaluations, so history shows yesterday's incident.

    Each replayed change lands 20-59 s after its period ends, as CloudWatch's do, but never after ``now``: a change
    stamped in the future would be in DescribeAlarms before DescribeAlarmHistory admits it."""
    now_min = int(now.timestamp() // 60)
    computer = Computer(world, now_min)

    def delay(name: str, end_min: int) -> timedelta:
        return min(_delay(name, end_min), now - datetime.fromtimestamp(end_min * 60, UTC))

    for spec in alarm_specs(world):
        alarm = _put_alarm(world, spec)
        t = alarm_target(spec.series.endpoint.account, alarm)
        first = now_min - ALARM_HISTORY_HOURS * 60
        evaluations = evaluate(computer, t, first, now_min)
        _apply(alarm, t, evaluations[:1], _delay(spec.name, first), record=False)  # days ago
        for ev in evaluations[1:]:
            _apply(alarm, t, [ev], delay(spec.name, ev[0]), record=True)


def evaluate_alarms(world: World, now_min: int) -> None:
    """One CloudWatch evaluation round: every alarm on a modelled series, at the latest complete period."""
    computer = Computer(world, now_min)
    accounts = {e.account for e in world.endpoints}
    for account in accounts:
        backend = cw_models.cloudwatch_backends[account][REGION]
        for alarm in list(backend.alarms.values()):
            t = alarm_target(account, alarm)
            if t is None:
                continue
            _apply(alarm, t, evaluate(computer, t, now_min, now_min), timedelta(seconds=0), record=True)


# --------------------------------------------------------------------------- training metrics


def _training_window(job: TrainingJobSpec) -> tuple[datetime, datetime]:
    training = next((tr for tr in job.transitions if tr.status == "Training"), None)
    if training is None:
        return job.start, job.end
    return training.start, training.end or job.end


def training_curve(world: World, job: TrainingJobSpec) -> list[tuple[datetime, float, float]]:
    """(time, train:loss, validation:auc) per logged epoch: loss falls and AUC rises to the job's final metrics."""
    rng = random.Random(_hash(world.seed, job.name))
    n = max(1, min(job.epochs, MAX_EPOCH_POINTS))
    auc_end = job.final_metrics.get("validation:auc", round(0.78 + rng.uniform(0, 0.1), 4))
    loss_end = job.final_metrics.get("train:loss", round(0.65 - (auc_end - 0.8) * 2.2, 4))
    loss_start, auc_start = loss_end + rng.uniform(0.35, 0.6), 0.5 + rng.uniform(0, 0.08)
    t0, t1 = _training_window(job)
    span = 1 - math.exp(-4)
    out = []
    for k in range(1, n + 1):
        decay = (math.exp(-4 * k / n) - math.exp(-4)) / span  # 1 -> 0
        jitter = 0.0 if k == n else rng.uniform(-0.01, 0.01)
        loss = loss_end + (loss_start - loss_end) * decay + jitter * (loss_start - loss_end)
        auc = auc_end - (auc_end - auc_start) * decay + jitter * 0.2 * (auc_end - auc_start)
        out.append((t0 + (t1 - t0) * k / n, round(loss, 4), round(min(auc, 0.999), 4)))
    return out


def _write_epochs(world: World, job: TrainingJobSpec, until: datetime) -> None:
    points = [p for p in training_curve(world, job) if p[0] <= until]
    done = _STATE.epochs_written.get(job.name, 0)
    if len(points) <= done:
        return
    backend = cw_models.cloudwatch_backends[job.account][REGION]
    dims = [{"Name": "Host", "Value": f"{job.name}/algo-1"}]
    for when, loss, auc in points[done:]:
        ts = _naive(when)  # moto's request parser hands naive UTC datetimes to its comparisons
        backend.metric_data.append(cw_models.MetricDatum(TRAINING_NAMESPACE, "train:loss", loss, dims, ts, "None"))
        backend.metric_data.append(cw_models.MetricDatum(TRAINING_NAMESPACE, "validation:auc", auc, dims, ts,
                                                         "None"))
    _STATE.epochs_written[job.name] = len(points)


# --------------------------------------------------------------------------- fill interface


def install(world: World) -> None:
    """Patch moto's CloudWatch (idempotent): computed endpoint series, de-duplicated ListMetrics, alarm history."""
    _STATE.world = world
    _build_index(world)
    if getattr(cw_models.CloudWatchBackend, "_demo_patched", False):
        return
    cw_responses.CloudWatchResponse.get_metric_data = _get_metric_data
    cw_responses.CloudWatchResponse.describe_alarm_history = _describe_alarm_history
    cw_models.CloudWatchBackend.list_metrics = _list_metrics
    cw_models.Alarm.update_state = _update_state
    cw_models.CloudWatchBackend._demo_patched = True


def seed(world: World) -> None:
    """Training-job epoch metrics and the endpoint alarms (with their recent history), in-process."""
    now = datetime.now(UTC)
    with _STATE.lock:
        for job in world.training_jobs:
            _write_epochs(world, job, now)
        seed_alarms(world, now)
        _STATE.last_tick_minute = int(now.timestamp() // 60)


def tick(world: World, now: datetime) -> None:
    """Once a minute: log new epochs of running jobs and evaluate alarms, as CloudWatch does."""
    now_min = int(now.timestamp() // 60)
    with _STATE.lock:
        if now_min <= _STATE.last_tick_minute:
            return
        _STATE.last_tick_minute = now_min
        for job in world.training_jobs:
            if job.status == "InProgress":
                _write_epochs(world, job, now)
        evaluate_alarms(world, now_min)
