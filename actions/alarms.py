"""Managed CloudWatch alarms: a recommended set per endpoint, created, updated and deleted as guarded actions.

Per production variant of an endpoint (dimensions ``EndpointName`` and ``VariantName``):

- ``p99-latency``: AWS/SageMaker ModelLatency, ExtendedStatistic p99, above the endpoint's own 7-day p99 baseline ×
  ``[alerts] p99_baseline_factor`` (else ``[alerts] p99_max_ms``, else ``DEFAULT_P99_MS``), in microseconds as
  CloudWatch stores it;
- ``5xx``: Invocation5XXErrors Sum over 5 minutes above ``errors_5xx_per_5min``;
- ``zero-invocations``: Invocations Sum over ``zero_invocations_minutes`` (15-60) below 1, missing data breaching;
  only for an endpoint that had traffic (an endpoint nobody calls would be in ALARM from the start);
- ``gpu-memory``: /aws/sagemaker/Endpoints GPUMemoryUtilization Average above 90 %, only on GPU instance types.

Every alarm is named ``sextant-<endpoint>-<variant>-<kind>``, notifies one SNS topic on ALARM and OK, and is
tagged ``managed-by = sextant`` when created; :class:`DeleteManagedAlarms` deletes only alarms with that tag whose
dimension ``EndpointName`` is the endpoint. The plan (read calls only) says which alarms are created and which
updated, and what they cost a month (``sextant.prices.CLOUDWATCH_ALARM_MONTH``). The pages read the store; the
request carries what the store knows (the p99 baseline, whether the endpoint had traffic), so planning reads no
metric.

``run_action`` does the rest, as for every request: the operator role, the dry run, the audit row.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from actions.service import ActionError, EndpointRequest, Env, Plan, _int, describe_endpoint
from sextant import prices
from sextant.settings import Settings

PREFIX = "sextant-"
MANAGED_TAG = {"Key": "managed-by", "Value": "sextant"}
SNS_ARN_RE = re.compile(r"arn:aws[a-z-]*:sns:([a-z]{2}(-[a-z]+)+-[0-9]{1,2}):([0-9]{12}):[A-Za-z0-9_-]{1,256}",
                        re.ASCII)
GPU_RE = re.compile(r"ml\.(g[0-9][a-z0-9]*|p[0-9][a-z0-9]*)\.[a-z0-9]+", re.ASCII)  # ml.g5.xlarge, ml.p4d.24xlarge
DEFAULT_P99_MS = 1000.0  # the p99 threshold when the store has no baseline and [alerts] p99_max_ms is 0
MAX_P99_MS = 3_600_000.0  # an hour: above it a latency threshold is a typo
GPU_MEMORY_PERCENT = 90.0
ERRORS_5XX_RANGE = (1, 1_000_000)
ZERO_MINUTES_RANGE = (15, 60)
KINDS = ("p99-latency", "5xx", "zero-invocations", "gpu-memory")


@dataclass(frozen=True)
class AlarmSpec:
    """One recommended alarm, as PutMetricAlarm takes it."""

    name: str
    kind: str
    variant: str
    namespace: str
    metric: str
    statistic: str  # Sum, Average, or an extended statistic (p99)
    comparison: str
    threshold: float
    period_s: int
    evaluation_periods: int
    treat_missing: str

    def describe(self) -> str:
        """The alarm in words, as the dialog and the audit row show it."""
        op = {"GreaterThanThreshold": ">", "LessThanThreshold": "<"}[self.comparison]
        value = f"{self.threshold / 1000:g} ms" if self.metric == "ModelLatency" else f"{self.threshold:g}"
        if self.metric == "GPUMemoryUtilization":
            value += " %"
        window = _duration(self.period_s)
        times = f" for {self.evaluation_periods} × {window}" if self.evaluation_periods > 1 else f" over {window}"
        return (f"{self.namespace} {self.metric} {self.statistic} {op} {value}{times}; missing data "
                f"{self.treat_missing}")

    def params(self, endpoint: str, topic: str) -> dict[str, Any]:
        stat: dict[str, Any] = {"Statistic": self.statistic} if self.statistic in ("Sum", "Average") \
            else {"ExtendedStatistic": self.statistic}
        return dict(
            AlarmName=self.name,
            AlarmDescription=f"Managed by Sextant: {self.kind} of {endpoint}/{self.variant}. Changes made here are "
                             "replaced when Sextant updates its recommended alarms.",
            ActionsEnabled=True, AlarmActions=[topic], OKActions=[topic],
            Namespace=self.namespace, MetricName=self.metric,
            Dimensions=[{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": self.variant}],
            Period=self.period_s, EvaluationPeriods=self.evaluation_periods, Threshold=self.threshold,
            ComparisonOperator=self.comparison, TreatMissingData=self.treat_missing, **stat)


def _duration(seconds: int) -> str:
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


def alarm_name(endpoint: str, variant: str, kind: str) -> str:
    return f"{PREFIX}{endpoint}-{variant}-{kind}"


def is_gpu(instance_type: str | None) -> bool:
    return isinstance(instance_type, str) and GPU_RE.fullmatch(instance_type) is not None


def p99_threshold_ms(baseline_ms: float | None, settings: Settings) -> tuple[float, str]:
    """The p99 threshold (ms) and where it comes from: the baseline × the rules' factor, else the absolute bound of
    the rules, else ``DEFAULT_P99_MS``."""
    a = settings.alerts
    if baseline_ms:
        value = round(baseline_ms * a.p99_baseline_factor, 3)
        return value, (f"the 7-day p99 baseline {baseline_ms:g} ms × [alerts] p99_baseline_factor "
                       f"{a.p99_baseline_factor:g}")
    if a.p99_max_ms > 0:
        return float(a.p99_max_ms), "[alerts] p99_max_ms (the store has no p99 baseline for this endpoint)"
    return DEFAULT_P99_MS, f"the default {DEFAULT_P99_MS:g} ms (no p99 baseline in the store, no [alerts] p99_max_ms)"


def recommended(endpoint: str, variants: list[tuple[str, str | None]], *, p99_ms: float, errors_5xx: int,
                zero_minutes: int, had_traffic: bool) -> list[AlarmSpec]:
    """The recommended alarms of an endpoint whose variants are ``(name, instance type or None)``."""
    out = []
    for variant, itype in variants:
        def spec(kind: str, namespace: str, metric: str, statistic: str, comparison: str, threshold: float,
                 period_s: int, evaluation_periods: int, treat_missing: str, variant: str = variant) -> AlarmSpec:
            return AlarmSpec(alarm_name(endpoint, variant, kind), kind, variant, namespace, metric, statistic,
                             comparison, threshold, period_s, evaluation_periods, treat_missing)

        out.append(spec("p99-latency", "AWS/SageMaker", "ModelLatency", "p99", "GreaterThanThreshold",
                        float(round(p99_ms * 1000)), 300, 3, "notBreaching"))
        out.append(spec("5xx", "AWS/SageMaker", "Invocation5XXErrors", "Sum", "GreaterThanThreshold",
                        float(errors_5xx), 300, 1, "notBreaching"))
        if had_traffic:
            out.append(spec("zero-invocations", "AWS/SageMaker", "Invocations", "Sum", "LessThanThreshold", 1.0,
                            zero_minutes * 60, 1, "breaching"))
        if is_gpu(itype):
            out.append(spec("gpu-memory", "/aws/sagemaker/Endpoints", "GPUMemoryUtilization", "Average",
                            "GreaterThanThreshold", GPU_MEMORY_PERCENT, 300, 3, "missing"))
    return out


def monthly_cost(n_alarms: int) -> float:
    """What ``n_alarms`` standard-resolution metric alarms cost a month (list price)."""
    return n_alarms * prices.CLOUDWATCH_ALARM_MONTH


@dataclass
class AlarmPlan(Plan):
    """A plan that carries the alarms it will put or delete (the audit row records ``before``/``after``)."""

    specs: list[AlarmSpec] = field(default_factory=list)
    names: list[str] = field(default_factory=list)


def _variants(env: Env, endpoint: str) -> list[tuple[str, str | None]]:
    d = describe_endpoint(env, endpoint)
    cfg = env.client("sagemaker").describe_endpoint_config(EndpointConfigName=d["EndpointConfigName"])
    types = {v["VariantName"]: v.get("InstanceType") for v in cfg.get("ProductionVariants", [])}
    names = [v["VariantName"] for v in d.get("ProductionVariants", [])] or list(types)
    if not names:
        raise ActionError(f"endpoint {endpoint} has no production variant to watch")
    return [(n, types.get(n)) for n in names]


def _alarms(cw: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    for page in cw.get_paginator("describe_alarms").paginate(AlarmTypes=["MetricAlarm"], **kwargs):
        yield from page.get("MetricAlarms", [])


def _dimension(alarm: dict[str, Any], name: str) -> str | None:
    return next((d.get("Value") for d in alarm.get("Dimensions", []) if d.get("Name") == name), None)


def _managed(cw: Any, alarm: dict[str, Any]) -> bool:
    """Whether the alarm carries Sextant's tag (``managed-by = sextant``)."""
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
    return any(t.get("Key") == MANAGED_TAG["Key"] and t.get("Value") == MANAGED_TAG["Value"] for t in tags)


def _now(alarm: dict[str, Any]) -> str:
    stat = alarm.get("ExtendedStatistic") or alarm.get("Statistic")
    return (f"exists ({alarm.get('StateValue')}): {alarm.get('MetricName')} {stat} {alarm.get('ComparisonOperator')} "
            f"{alarm.get('Threshold')}")


@dataclass(frozen=True)
class CreateRecommendedAlarms(EndpointRequest):
    """Create or update the recommended CloudWatch alarms of an endpoint, notifying ``sns_topic_arn``.

    ``p99_baseline_ms``: the endpoint's 7-day p99 baseline from the store (None: none known); ``had_traffic``:
    whether the store shows invocations (the zero-invocations alarm is only for an endpoint that had traffic)."""

    ACTION: ClassVar[str] = "create_recommended_alarms"
    sns_topic_arn: str = ""
    p99_baseline_ms: float | None = None
    had_traffic: bool = False
    errors_5xx_per_5min: int = 10
    zero_invocations_minutes: int = 30

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        if not isinstance(self.sns_topic_arn, str) or not SNS_ARN_RE.fullmatch(self.sns_topic_arn):
            shown = repr(self.sns_topic_arn)[:120] if isinstance(self.sns_topic_arn, str) else "that value"
            raise ActionError(f"SNS topic {shown} is not an SNS topic ARN "
                              "(arn:aws:sns:<region>:<account>:<topic name>)")
        b = self.p99_baseline_ms
        if b is not None and (isinstance(b, bool) or not isinstance(b, int | float) or not math.isfinite(b)
                              or not 0 < b <= MAX_P99_MS):
            raise ActionError(f"the p99 baseline must be a number of milliseconds above 0 and at most "
                              f"{MAX_P99_MS:,.0f}, or none")
        if not isinstance(self.had_traffic, bool):
            raise ActionError("had traffic must be true or false")
        _int(self.errors_5xx_per_5min, "5xx errors per 5 minutes", *ERRORS_5XX_RANGE)
        _int(self.zero_invocations_minutes, "minutes without invocations", *ZERO_MINUTES_RANGE)

    def specs(self, settings: Settings, variants: list[tuple[str, str | None]]) -> tuple[list[AlarmSpec], str]:
        p99, source = p99_threshold_ms(self.p99_baseline_ms, settings)
        return recommended(self.endpoint, variants, p99_ms=p99, errors_5xx=self.errors_5xx_per_5min,
                           zero_minutes=self.zero_invocations_minutes, had_traffic=self.had_traffic), source

    def plan(self, env: Env) -> Plan:
        topic_region = self.sns_topic_arn.split(":")[3]
        if topic_region != env.region:
            raise ActionError(f"the SNS topic is in {topic_region}: an alarm in {env.region} notifies a topic of its "
                              "own region")
        specs, source = self.specs(env.settings, _variants(env, self.endpoint))
        names = [s.name for s in specs]
        cw = env.client("cloudwatch")
        found = {x["AlarmName"]: x for x in _alarms(cw, AlarmNames=names)}
        foreign = sorted(n for n, x in found.items() if not _managed(cw, x))
        if foreign:  # an update would overwrite an alarm someone made by hand (and it would stay untagged)
            raise ActionError(f"alarm(s) {', '.join(foreign)} already exist and are not tagged managed-by = sextant: "
                              "Sextant does not overwrite them; rename or delete them in CloudWatch first")
        new = [s for s in specs if s.name not in found]
        before = {s.name: _now(found[s.name]) if s.name in found else "absent" for s in specs}
        after = {s.name: s.describe() for s in specs}
        cost = monthly_cost(len(new))
        summary = (f"create {len(new)} and update {len(specs) - len(new)} CloudWatch alarm(s) on endpoint "
                   f"{self.endpoint}, notifying {self.sns_topic_arn} on ALARM and OK")
        notes = [f"Cost: {len(new)} new standard-resolution alarm(s) × ${prices.CLOUDWATCH_ALARM_MONTH:.2f} per "
                 f"alarm-month = ${cost:.2f} a month; an update costs nothing more "
                 f"(all {len(specs)} together: ${monthly_cost(len(specs)):.2f} a month).",
                 f"p99 threshold from {source}.",
                 "Tagged managed-by = sextant when created; named sextant-<endpoint>-<variant>-<kind>."]
        if not self.had_traffic:
            notes.append("No zero-invocations alarm: the store shows no traffic for this endpoint.")
        return AlarmPlan(summary, before, after, cost / 30, None, ["cloudwatch:PutMetricAlarm"], notes,
                         specs=specs, names=names)

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(plan, AlarmPlan):
            raise ActionError("this plan carries no alarms: plan again")
        cw = env.client("cloudwatch")
        res: dict[str, Any] = {}
        for spec in plan.specs:
            res = cw.put_metric_alarm(**spec.params(self.endpoint, self.sns_topic_arn), Tags=[dict(MANAGED_TAG)])
        return res, plan.after


@dataclass(frozen=True)
class DeleteManagedAlarms(EndpointRequest):
    """Delete the CloudWatch alarms Sextant manages on an endpoint: tagged ``managed-by = sextant``, named with its
    prefix, and watching that endpoint. An alarm made outside Sextant stays, whatever its name."""

    ACTION: ClassVar[str] = "delete_managed_alarms"

    def plan(self, env: Env) -> Plan:
        cw = env.client("cloudwatch")
        managed, kept = {}, []
        for alarm in _alarms(cw, AlarmNamePrefix=f"{PREFIX}{self.endpoint}-"):
            if _dimension(alarm, "EndpointName") != self.endpoint:
                continue  # another endpoint whose name starts with this one's
            if _managed(cw, alarm):
                managed[alarm["AlarmName"]] = _now(alarm)
            else:
                kept.append(alarm["AlarmName"])
        if not managed:
            raise ActionError(f"no CloudWatch alarm managed by Sextant watches endpoint {self.endpoint} in "
                              f"{env.region}; nothing to delete")
        names = sorted(managed)
        notes = [f"Saves ${monthly_cost(len(names)):.2f} a month (${prices.CLOUDWATCH_ALARM_MONTH:.2f} per alarm)."]
        if kept:
            notes.append(f"Kept (not tagged managed-by = sextant): {', '.join(sorted(kept))}.")
        return AlarmPlan(f"delete {len(names)} Sextant-managed CloudWatch alarm(s) of endpoint {self.endpoint}",
                         managed, {n: "deleted" for n in names}, -monthly_cost(len(names)) / 30, None,
                         ["cloudwatch:DeleteAlarms"], notes, names=names)

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(plan, AlarmPlan) or not plan.names:
            raise ActionError("this plan names no alarm: plan again")
        cw = env.client("cloudwatch")
        res: dict[str, Any] = {}
        for i in range(0, len(plan.names), 100):  # DeleteAlarms takes at most 100 names
            res = cw.delete_alarms(AlarmNames=plan.names[i:i + 100])
        return res, plan.after
