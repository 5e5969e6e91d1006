"""Actions: typed requests, validated, authorized, planned, confirmed, executed, audited.

Pages build a request (``ScaleEndpoint(...)``), call :func:`plan` to show the exact change and its
cost before the confirmation dialog, then :func:`run_action` with the idempotency token the dialog
was opened with. ``run_action`` is the only path to an AWS write and it:

1. validates the request (clear message, zero AWS calls on bad input);
2. authorizes the actor (viewers are refused here, whatever the UI showed);
3. checks the guardrails from settings (instance caps, allowed types and accounts, concurrency);
4. refuses a token that already acted (a double click acts once; a dry run uses no token);
5. plans from AWS's current state (read calls only), then, unless dry run, appends the intent to the audit
   log, calls AWS and completes the intent (no intent written: no call);
6. leaves exactly one audit row per call, whatever happened, every error text redacted.

Guardrails that count (concurrent training jobs, instances) are checked and acted on under one lock per
account and guardrail (per process: see :func:`_cap_lock`). With an account's ``operator_role_arn``, the
plan and the write run as that role assumed for the signed-in user (:mod:`actions.identity`).

Every AWS call of an action goes to the request's region (the resource's: pages pass the ``region`` of
the row they act on; an ARN names its own), in the account of the ``Env``'s clients; the audit row
records that region. Actions use boto3 through the collectors' client factory (one retry policy, one call counter);
cloning a training job is ``DescribeTrainingJob`` + ``CreateTrainingJob`` with overrides, which
needs no SDK abstraction (see README, "The SageMaker SDK").
"""

from __future__ import annotations

import json
import math
import re
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError, ConnectionClosedError, ReadTimeoutError

from actions.audit import AuditLog, AuditRow, LockBusy
from actions.identity import Identity, clients_for
from actions.roles import Actor
from actions.schedule import schedule_after_scale
from sextant.aws import Clients, region_problem
from sextant.redact import redact
from sextant.settings import Settings

# Every pattern is used with ``fullmatch`` and ASCII classes: ``$`` also matches before a trailing newline
# ("lr\n" passed), and ``\d`` / ``\w`` match any Unicode digit or letter ("１２３" passed as digits).
NAME_RE = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", re.ASCII)
ARN_RE = re.compile(r"arn:aws[a-z-]*:(sagemaker|states):[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9:/._-]{1,256}", re.ASCII)
INSTANCE_RE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+", re.ASCII)
HP_KEY_RE = re.compile(r"[A-Za-z0-9_.:/-]{1,256}", re.ASCII)
ACCOUNT_RE = re.compile(r"[0-9]{12}", re.ASCII)
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]{1,2}", re.ASCII)  # checked before the partitions' own patterns
MAX_JSON_CHARS = 100_000  # an edited parameters / hyperparameters / input box
MAX_NUMBER_DIGITS = 40  # a hyperparameter value; Python refuses to even print an int of 4,300+ digits
RESTORE_AFTER_S = (60, 7 * 86400)  # a scheduled restore of autoscaling bounds: 1 minute to 7 days after the scale
MAX_CAPACITY = 10_000  # a restored scalable-target bound (what it was before: not a count the user picks)


class ActionError(ValueError):
    """A request that cannot be carried out; the message says why and what to do."""


@dataclass
class Plan:
    """What an action will change, shown before confirming."""

    summary: str
    before: dict[str, Any]
    after: dict[str, Any]
    cost_per_day_delta: float | None = None  # $/day, + more expensive
    cost_estimate: float | None = None  # one-off $ (training)
    calls: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    # succeeded | failed | unknown (sent to AWS, outcome not known) | refused | invalid | dry_run | duplicate
    status: str
    message: str
    plan: Plan | None = None
    request_id: str | None = None
    audit_id: int | None = None
    result: dict[str, Any] = field(default_factory=dict)
    # Set when the audit log could not record the attempt as it happened; the message says so too (and, when the
    # action reached AWS, says plainly that it ran).
    audit_problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "dry_run", "duplicate")


@dataclass
class Env:
    """What an action needs to plan and run: clients for the target account, settings, prices, and the region
    every AWS call goes to (:func:`plan` and :func:`run_action` set it from the request)."""

    clients: Clients
    settings: Settings
    price: Callable[[str, str], float | None] = lambda instance_type, kind: None
    region: str | None = None

    def client(self, service: str) -> Any:
        if self.region is None:
            raise RuntimeError("no region to call: plan() and run_action() set it from the request (Env.at)")
        return self.clients.client(service, self.region)

    def at(self, region: str) -> Env:
        return replace(self, region=region)


# --------------------------------------------------------------------------- validation helpers


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not NAME_RE.fullmatch(value):
        raise ActionError(f"{what} {value!r} is not a valid AWS name: 1-63 letters, digits and hyphens, "
                          "starting with a letter or digit")
    return value


def _arn(value: Any, what: str, account_id: str) -> str:
    if not isinstance(value, str) or not ARN_RE.fullmatch(value):
        raise ActionError(f"{what} {value!r} is not a SageMaker or Step Functions ARN")
    if value.split(":")[4] != account_id:
        raise ActionError(f"the {what} ARN belongs to another account than the one selected")
    return value


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ActionError(f"{what} must be a whole number, got {str(_safe_value(value, 80))!r}")
    if not lo <= value <= hi:
        raise ActionError(f"{what} must be between {lo} and {hi}, got {_safe_value(value)}")
    return value


def _no_constant(name: str) -> Any:
    raise ActionError(f"{name} is not a number AWS accepts: use a finite number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ActionError(f"{text} is too large a number: use a finite number")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ActionError(f"a number of {len(text.lstrip('-'))} digits is too large (at most {MAX_NUMBER_DIGITS})")
    return int(text)


def loads_json(text: str, what: str) -> Any:
    """``text`` as JSON, or a clear ActionError: never NaN or infinity, never a huge integer or a nesting deep
    enough to exhaust the stack (json.loads raises RecursionError, int() a ValueError, outside ActionError)."""
    if len(text) > MAX_JSON_CHARS:
        raise ActionError(f"{what} is {len(text):,} characters long; at most {MAX_JSON_CHARS:,}")
    try:
        return json.loads(text, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except ActionError as exc:
        raise ActionError(f"{what}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ActionError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except RecursionError:
        raise ActionError(f"{what} is nested too deeply to be read") from None
    except ValueError as exc:
        raise ActionError(f"{what} is not valid JSON: {str(exc)[:200]}") from None


def _scalar(v: Any, k: str, what: str) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, int):
        if abs(v) >= 10**MAX_NUMBER_DIGITS:
            raise ActionError(f"{what}: value of {k!r} is too large a number (at most {MAX_NUMBER_DIGITS} digits)")
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ActionError(f"{what}: value of {k!r} is {v}, not a finite number")
        return str(v)
    if isinstance(v, str) and len(v) <= 2500:
        try:
            number = float(v)
        except ValueError:
            return v
        if not math.isfinite(number):
            raise ActionError(f"{what}: value of {k!r} is {v!r}, not a finite number")
        return v
    raise ActionError(f"{what}: value of {k!r} must be a string or number (at most 2500 characters)")


def parse_json_object(text: str | dict[str, Any] | None, what: str, max_items: int = 100) -> dict[str, str]:
    """A JSON object of names to scalar values, as AWS hyperparameters / parameters want (strings)."""
    if text is None or text == "":
        return {}
    value = loads_json(text, what) if isinstance(text, str) else text
    if not isinstance(value, dict):
        raise ActionError(f"{what} must be a JSON object like {{\"learning_rate\": \"0.001\"}}")
    if len(value) > max_items:
        raise ActionError(f"{what} has {len(value)} entries; at most {max_items}")
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not HP_KEY_RE.fullmatch(k):
            shown = repr(k)[:80] if isinstance(k, str) else type(k).__name__
            raise ActionError(f"{what}: name {shown} may use only letters, digits and _ . : - / (1-256 characters)")
        out[k] = _scalar(v, k, what)
    return out


def new_token() -> str:
    """An idempotency token for one confirmation dialog (32 hex chars: AWS accepts 32-128)."""
    return uuid.uuid4().hex


# --------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """One action on one resource, in the account ``account_id`` and the region ``region`` (keyword-only).

    Without a region, an ARN's region is used, else the account's only region; an account with several
    regions needs the request to name one."""

    ACTION: ClassVar[str] = ""
    # The guardrail this action counts against (None: none): requests of one account with the same CAP run
    # from plan (the check) to execute (the create) one at a time in this process (see run_action).
    CAP: ClassVar[str | None] = None
    account_id: str
    region: str | None = field(default=None, kw_only=True)

    @property
    def target(self) -> str:
        raise NotImplementedError

    @property
    def arn(self) -> str | None:
        """The ARN the request acts on, if it names one: its region must be the request's."""
        return None

    def validate(self, settings: Settings) -> None:
        allowed = settings.actions.allowed_accounts
        if not isinstance(self.account_id, str) or not ACCOUNT_RE.fullmatch(self.account_id):
            raise ActionError(f"account {self.account_id!r} is not a 12-digit AWS account id")
        if allowed and self.account_id not in allowed:
            raise ActionError(f"account {self.account_id} is not in [actions] allowed_accounts")

    def region_in(self, clients: Clients) -> str:
        """The region every AWS call of this request goes to (call after :meth:`validate`)."""
        region = self.region
        if region is not None and (not isinstance(region, str) or not REGION_RE.fullmatch(region)
                                   or region_problem(region)):
            raise ActionError(f"region {region!r} is not an AWS region")
        arn_region = self.arn.split(":")[3] if isinstance(self.arn, str) and ARN_RE.fullmatch(self.arn) else None
        if region is None:
            region = arn_region or (clients.regions[0] if len(clients.regions) == 1 else None)
            if region is None:
                raise ActionError(f"account {self.account_id} has several regions ({', '.join(clients.regions)}): "
                                  "the request must name the region of the resource it acts on")
        if arn_region is not None and arn_region != region:
            raise ActionError(f"the ARN is in {arn_region}, not in {region}, the region this request acts in")
        configured = clients.account.regions
        if configured and region not in configured:
            raise ActionError(f"region {region} is not one of this account's regions ({', '.join(configured)}) "
                              "in sextant.toml")
        return region

    def plan(self, env: Env) -> Plan:
        raise NotImplementedError

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """Call AWS; returns (the last AWS response, the state after)."""
        raise NotImplementedError

    def follow_up(self, env: Env, audit: AuditLog, audit_id: int, plan: Plan, actor: Actor) -> str | None:
        """What a succeeded action leaves for later (a scheduled restore), recorded in the audit database; returns a
        sentence for the outcome, or None. Called once, after the action's audit row says ``succeeded``."""
        return None


def describe_endpoint(env: Env, endpoint: str) -> dict[str, Any]:
    """DescribeEndpoint in the action's account and region; an endpoint that is not there is an ActionError."""
    try:
        return env.client("sagemaker").describe_endpoint(EndpointName=endpoint)  # type: ignore[no-any-return]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            raise ActionError(f"endpoint {endpoint!r} does not exist in this account in {env.region}") from None
        raise


def _variant(env: Env, endpoint: str, variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    d = describe_endpoint(env, endpoint)
    for v in d.get("ProductionVariants", []):
        if v["VariantName"] == variant:
            return d, v
    names = ", ".join(v["VariantName"] for v in d.get("ProductionVariants", []))
    raise ActionError(f"endpoint {endpoint} has no variant {variant!r} (variants: {names})")


def _instance_type(env: Env, d: dict[str, Any], variant: str) -> str | None:
    cfg = env.client("sagemaker").describe_endpoint_config(EndpointConfigName=d["EndpointConfigName"])
    return next((v.get("InstanceType") for v in cfg["ProductionVariants"] if v["VariantName"] == variant), None)


def _scalable_target(env: Env, endpoint: str, variant: str) -> dict[str, Any] | None:
    rid = f"endpoint/{endpoint}/variant/{variant}"
    res = env.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[rid], ScalableDimension="sagemaker:variant:DesiredInstanceCount")
    return res["ScalableTargets"][0] if res["ScalableTargets"] else None


@dataclass(frozen=True)
class EndpointRequest(Request):
    """A request on one endpoint: its name is the target, checked as a SageMaker name."""

    endpoint: str = ""

    @property
    def target(self) -> str:
        return self.endpoint

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _name(self.endpoint, "endpoint")


@dataclass(frozen=True)
class _VariantRequest(EndpointRequest):
    """A request on one production variant of an endpoint: ``endpoint/variant`` is its target."""

    variant: str = ""

    @property
    def target(self) -> str:
        return f"{self.endpoint}/{self.variant}"

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _name(self.variant, "variant")


@dataclass(frozen=True)
class ScaleEndpoint(_VariantRequest):
    """Scale a variant to ``desired_count`` instances; on an autoscaled variant, move the target's min/max."""

    ACTION: ClassVar[str] = "scale_endpoint"
    CAP: ClassVar[str | None] = "instances"
    desired_count: int = 0
    # Autoscaled variants only: put the scalable target's previous min/max back this many seconds after the scale
    # (a scheduled restore, carried out by the collector's next cycle after that time); None: never.
    restore_after_s: int | None = None

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _int(self.desired_count, "desired instance count", 1, settings.actions.max_instances_per_variant)
        self._validate_restore()

    def _validate_restore(self) -> None:
        if self.restore_after_s is not None:
            _int(self.restore_after_s, "restore after (s)", RESTORE_AFTER_S[0], RESTORE_AFTER_S[1])

    def plan(self, env: Env) -> Plan:
        d, v = _variant(env, self.endpoint, self.variant)
        if d["EndpointStatus"] != "InService":
            raise ActionError(f"endpoint {self.endpoint} is {d['EndpointStatus']}; wait until it is InService")
        current = v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount") or 0
        itype = _instance_type(env, d, self.variant)
        price = env.price(itype, "Host") if itype else None
        delta = (self.desired_count - current) * price * 24 if price is not None else None
        target = _scalable_target(env, self.endpoint, self.variant)
        before = {"instance_count": current, "instance_type": itype}
        after = {"instance_count": self.desired_count, "instance_type": itype}
        if target:
            lo, hi = target["MinCapacity"], target["MaxCapacity"]
            new_lo, new_hi = (self.desired_count, max(hi, self.desired_count)) if self.desired_count >= current \
                else (min(lo, self.desired_count), self.desired_count)
            before.update(min_capacity=lo, max_capacity=hi)
            after.update(min_capacity=new_lo, max_capacity=new_hi)
            summary = (f"{self.target} is autoscaled: set its scalable target to min {new_lo} / max {new_hi} "
                       f"(was {lo}/{hi}), moving it from {current} to {self.desired_count} × {itype}")
            calls = ["application-autoscaling:RegisterScalableTarget"]
            notes = [pin_note(self.target, lo, hi, new_lo, new_hi)]
            if self.restore_after_s is not None:
                notes.append(restore_note(self.restore_after_s, lo, hi))
        else:
            summary = f"scale {self.target} from {current} to {self.desired_count} × {itype}"
            calls = ["sagemaker:UpdateEndpointWeightsAndCapacities"]
            notes = []
            if self.restore_after_s is not None:
                raise ActionError(f"{self.target} is not autoscaled: it has no min/max to restore; choose never")
        if self.desired_count == current and not target:
            raise ActionError(f"{self.target} already has {current} instances; nothing to change")
        return Plan(summary, before, after, delta, None, calls, notes)

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if "min_capacity" in plan.after:
            res = env.client("application-autoscaling").register_scalable_target(
                ServiceNamespace="sagemaker", ResourceId=f"endpoint/{self.endpoint}/variant/{self.variant}",
                ScalableDimension="sagemaker:variant:DesiredInstanceCount",
                MinCapacity=plan.after["min_capacity"], MaxCapacity=plan.after["max_capacity"])
        else:
            res = env.client("sagemaker").update_endpoint_weights_and_capacities(
                EndpointName=self.endpoint,
                DesiredWeightsAndCapacities=[{"VariantName": self.variant, "DesiredInstanceCount": self.desired_count}])
        return res, plan.after

    def follow_up(self, env: Env, audit: AuditLog, audit_id: int, plan: Plan, actor: Actor) -> str | None:
        if self.restore_after_s is None or "min_capacity" not in plan.before:
            return None
        restore = schedule_after_scale(
            audit, scale_audit_id=audit_id, delay_s=self.restore_after_s, actor=actor.name, role=actor.role,
            account_id=self.account_id, region=str(env.region),
            endpoint=self.endpoint, variant=self.variant, min_capacity=int(plan.before["min_capacity"]),
            max_capacity=int(plan.before["max_capacity"]))
        return (f"min/max go back to {restore.min_capacity}/{restore.max_capacity} at "
                f"{restore.due_at:%Y-%m-%d %H:%M} UTC (restore #{restore.id})")


def pin_note(target: str, lo: int, hi: int, new_lo: int, new_hi: int) -> str:
    """The plain sentence the dialog shows for a scale of an autoscaled variant: what the autoscaler may still do."""
    if new_lo == new_hi:
        return (f"This pins {target} at {new_lo}: min = max = {new_lo} (they were min {lo} / max {hi}). The "
                "autoscaler cannot move it until the bounds change again.")
    floor = f"below {new_lo}" if new_lo != lo else None
    ceiling = f"above {new_hi}" if new_hi != hi else None
    limits = " or ".join(x for x in (floor, ceiling) if x) or "outside them"
    return (f"This moves {target}'s autoscaling bounds to min {new_lo} / max {new_hi} (they were min {lo} / max "
            f"{hi}): the autoscaler still acts between them, but cannot go {limits} until they change again.")


def restore_note(restore_after_s: int, lo: int, hi: int) -> str:
    return (f"Restore scheduled: min/max go back to {lo}/{hi} {_duration(restore_after_s)} after the scale, "
            "carried out by the collector's first cycle after that time and audited.")


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"


@dataclass(frozen=True)
class ScaleToMinimum(ScaleEndpoint):
    """From the savings list: an idle variant down to its minimum (autoscaling min, else 1 instance)."""

    ACTION: ClassVar[str] = "scale_to_minimum"
    desired_count: int = 1

    def validate(self, settings: Settings) -> None:
        _VariantRequest.validate(self, settings)  # any count: the plan picks the minimum
        self._validate_restore()

    def plan(self, env: Env) -> Plan:
        target = _scalable_target(env, self.endpoint, self.variant)
        floor = target["MinCapacity"] if target else 1
        d, v = _variant(env, self.endpoint, self.variant)
        current = v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount") or 0
        if current <= floor:
            raise ActionError(f"{self.target} already runs its minimum ({current} instance(s))")
        return ScaleEndpoint(self.account_id, self.endpoint, self.variant, floor, self.restore_after_s,
                             region=self.region).plan(env)

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return ScaleEndpoint(self.account_id, self.endpoint, self.variant, plan.after["instance_count"],
                             region=self.region).execute(env, plan, token)


@dataclass(frozen=True)
class RestoreScalableTarget(_VariantRequest):
    """Put an autoscaled variant's scalable-target bounds back to what they were before a scale: the scheduled
    restore (:mod:`actions.schedule`), run by :func:`actions.restore.run_due_restores` as the person who chose it.

    The bounds are those AWS had before the scale, so the instance guardrail (``max_instances_per_variant``, a
    count a person picks) does not apply to them; they are checked as AWS would (1 <= min <= max)."""

    ACTION: ClassVar[str] = "restore_scalable_target"
    CAP: ClassVar[str | None] = "instances"
    min_capacity: int = 0
    max_capacity: int = 0
    schedule_id: int = 0

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _int(self.min_capacity, "minimum capacity", 1, MAX_CAPACITY)
        _int(self.max_capacity, "maximum capacity", self.min_capacity, MAX_CAPACITY)
        _int(self.schedule_id, "scheduled restore id", 1, 2**62)

    def plan(self, env: Env) -> Plan:
        target = _scalable_target(env, self.endpoint, self.variant)
        if target is None:
            raise ActionError(f"{self.target} is no longer registered for autoscaling: there are no bounds to restore")
        lo, hi = target["MinCapacity"], target["MaxCapacity"]
        summary = (f"restore {self.target}'s autoscaling bounds to min {self.min_capacity} / max {self.max_capacity} "
                   f"(now {lo}/{hi}), as scheduled (restore #{self.schedule_id})")
        return Plan(summary, {"min_capacity": lo, "max_capacity": hi},
                    {"min_capacity": self.min_capacity, "max_capacity": self.max_capacity}, None, None,
                    ["application-autoscaling:RegisterScalableTarget"])

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        res = env.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=f"endpoint/{self.endpoint}/variant/{self.variant}",
            ScalableDimension="sagemaker:variant:DesiredInstanceCount",
            MinCapacity=self.min_capacity, MaxCapacity=self.max_capacity)
        return res, plan.after


@dataclass(frozen=True)
class LaunchTraining(Request):
    """Clone a past training job with overrides."""

    ACTION: ClassVar[str] = "launch_training"
    CAP: ClassVar[str | None] = "training_jobs"
    source_job: str = ""
    instance_type: str | None = None
    instance_count: int | None = None
    spot: bool | None = None
    max_wait_s: int | None = None
    max_runtime_s: int | None = None
    hyperparameters: str | dict[str, Any] | None = None  # JSON object of overrides

    @property
    def target(self) -> str:
        return self.source_job

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _name(self.source_job, "source training job")
        a = settings.actions
        if self.instance_type is not None:
            if not isinstance(self.instance_type, str) or not INSTANCE_RE.fullmatch(self.instance_type):
                raise ActionError(f"instance type {self.instance_type!r} is not an ml.* instance type")
            if a.allowed_instance_types and self.instance_type not in a.allowed_instance_types:
                raise ActionError(f"instance type {self.instance_type} is not allowed "
                                  f"(allowed: {', '.join(a.allowed_instance_types)})")
        if self.instance_count is not None:
            _int(self.instance_count, "instance count", 1, a.max_instances_per_variant)
        if self.max_runtime_s is not None:
            _int(self.max_runtime_s, "max runtime (s)", 60, 28 * 86400)
        if self.max_wait_s is not None:
            _int(self.max_wait_s, "max wait (s)", 60, 28 * 86400)
            if self.max_runtime_s is not None and self.max_wait_s < self.max_runtime_s:
                raise ActionError("max wait must be at least the max runtime (AWS requires it for spot)")
        if self.spot is not None and not isinstance(self.spot, bool):
            raise ActionError("spot must be true or false")
        parse_json_object(self.hyperparameters, "hyperparameters")

    def new_name(self, token: str) -> str:
        return f"{self.source_job[:45].rstrip('-')}-clone-{token[:8]}"

    def _spec(self, env: Env) -> dict[str, Any]:
        sm = env.client("sagemaker")
        try:
            src: dict[str, Any] = sm.describe_training_job(TrainingJobName=self.source_job)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
                raise ActionError(f"training job {self.source_job!r} does not exist") from None
            raise
        return src

    def plan(self, env: Env) -> Plan:
        src = self._spec(env)
        a = env.settings.actions
        running = sum(1 for _ in _paginate(env.client("sagemaker"), "list_training_jobs", "TrainingJobSummaries",
                                           StatusEquals="InProgress"))
        if running >= a.max_concurrent_training_jobs:
            raise ActionError(f"{running} training jobs are running; [actions] max_concurrent_training_jobs is "
                              f"{a.max_concurrent_training_jobs}")
        rc = src["ResourceConfig"]
        itype = self.instance_type or rc["InstanceType"]
        if a.allowed_instance_types and itype not in a.allowed_instance_types:
            raise ActionError(f"instance type {itype} is not allowed")
        count = self.instance_count or rc["InstanceCount"]
        spot = src.get("EnableManagedSpotTraining", False) if self.spot is None else self.spot
        stop = dict(src.get("StoppingCondition") or {})
        if self.max_runtime_s:
            stop["MaxRuntimeInSeconds"] = self.max_runtime_s
        if spot:
            stop["MaxWaitTimeInSeconds"] = self.max_wait_s or max(stop.get("MaxWaitTimeInSeconds") or 0,
                                                                  stop.get("MaxRuntimeInSeconds", 86400))
        else:
            stop.pop("MaxWaitTimeInSeconds", None)
        hp = {**(src.get("HyperParameters") or {}), **parse_json_object(self.hyperparameters, "hyperparameters")}
        price = env.price(itype, "Train")
        typical_h = (src.get("TrainingTimeInSeconds") or 3600) / 3600
        discount = 0.3 if spot else 1.0  # pay ~30% of on-demand on spot (AWS advertises up to 90% off)
        estimate = typical_h * count * price * discount if price is not None else None
        before = {"instance_type": rc["InstanceType"], "instance_count": rc["InstanceCount"],
                  "spot": src.get("EnableManagedSpotTraining", False), "hyperparameters": src.get("HyperParameters")}
        after = {"instance_type": itype, "instance_count": count, "spot": spot, "stopping_condition": stop,
                 "hyperparameters": hp}
        ceiling = stop["MaxRuntimeInSeconds"] / 3600 * count * price if price is not None else None
        notes = [f"at most ${ceiling:,.2f} if it runs to MaxRuntime"] if ceiling is not None else []
        return Plan(f"launch a clone of {self.source_job} on {count} × {itype}{' (spot)' if spot else ''}",
                    before, after, None, estimate, ["sagemaker:CreateTrainingJob"], notes)

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        src = self._spec(env)
        name = self.new_name(token)
        kwargs = {k: src[k] for k in ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "OutputDataConfig",
                                      "VpcConfig", "CheckpointConfig", "Environment") if src.get(k)}
        kwargs["AlgorithmSpecification"] = {k: v for k, v in kwargs["AlgorithmSpecification"].items()
                                            if k in ("TrainingImage", "TrainingInputMode", "MetricDefinitions",
                                                     "AlgorithmName", "EnableSageMakerMetricsTimeSeries")}
        rc = dict(src["ResourceConfig"], InstanceType=plan.after["instance_type"],
                  InstanceCount=plan.after["instance_count"])
        tags = [t for t in env.client("sagemaker").list_tags(ResourceArn=src["TrainingJobArn"]).get("Tags", [])
                if not t["Key"].startswith("aws:")]
        res = env.client("sagemaker").create_training_job(
            TrainingJobName=name, HyperParameters=plan.after["hyperparameters"], ResourceConfig=rc,
            StoppingCondition=plan.after["stopping_condition"], EnableManagedSpotTraining=plan.after["spot"],
            Tags=tags + [{"Key": "sextant:cloned-from", "Value": self.source_job}], **kwargs)
        return res, {**plan.after, "training_job_name": name, "arn": res.get("TrainingJobArn")}


@dataclass(frozen=True)
class RerunPipeline(Request):
    ACTION: ClassVar[str] = "rerun_pipeline"
    pipeline: str = ""
    parameters: str | dict[str, Any] | None = None  # JSON object; empty: the pipeline's defaults

    @property
    def target(self) -> str:
        return self.pipeline

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _name(self.pipeline, "pipeline")
        parse_json_object(self.parameters, "pipeline parameters")

    def plan(self, env: Env) -> Plan:
        try:
            env.client("sagemaker").describe_pipeline(PipelineName=self.pipeline)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
                raise ActionError(f"pipeline {self.pipeline!r} does not exist") from None
            raise
        params = parse_json_object(self.parameters, "pipeline parameters")
        return Plan(f"start pipeline {self.pipeline}" + (f" with {params}" if params else " with its defaults"),
                    {}, {"parameters": params}, None, None, ["sagemaker:StartPipelineExecution"])

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {"PipelineName": self.pipeline, "ClientRequestToken": token,
                  "PipelineExecutionDescription": "started from Sextant"}
        if plan.after["parameters"]:
            kwargs["PipelineParameters"] = [{"Name": k, "Value": v} for k, v in plan.after["parameters"].items()]
        res = env.client("sagemaker").start_pipeline_execution(**kwargs)
        return res, {"execution_arn": res.get("PipelineExecutionArn")}


@dataclass(frozen=True)
class _ExecutionAction(Request):
    execution_arn: str = ""

    @property
    def target(self) -> str:
        return self.execution_arn

    @property
    def arn(self) -> str | None:
        return self.execution_arn

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _arn(self.execution_arn, "execution", self.account_id)

    def _pipeline_execution(self, env: Env) -> dict[str, Any]:
        try:
            d: dict[str, Any] = env.client("sagemaker").describe_pipeline_execution(
                PipelineExecutionArn=self.execution_arn)
            return d
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
                raise ActionError(f"pipeline execution {self.execution_arn} does not exist") from None
            raise


@dataclass(frozen=True)
class RetryPipelineExecution(_ExecutionAction):
    ACTION: ClassVar[str] = "retry_pipeline_execution"

    def plan(self, env: Env) -> Plan:
        d = self._pipeline_execution(env)
        if d["PipelineExecutionStatus"] != "Failed":
            raise ActionError(f"only a failed execution can be retried; this one is {d['PipelineExecutionStatus']}")
        return Plan("retry the failed execution from its failed step", {"status": "Failed"},
                    {"status": "Executing"}, calls=["sagemaker:RetryPipelineExecution"])

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        res = env.client("sagemaker").retry_pipeline_execution(PipelineExecutionArn=self.execution_arn,
                                                               ClientRequestToken=token)
        return res, {"execution_arn": res.get("PipelineExecutionArn")}


@dataclass(frozen=True)
class StopPipelineExecution(_ExecutionAction):
    ACTION: ClassVar[str] = "stop_pipeline_execution"

    def plan(self, env: Env) -> Plan:
        d = self._pipeline_execution(env)
        if d["PipelineExecutionStatus"] != "Executing":
            raise ActionError(f"only a running execution can be stopped; this one is {d['PipelineExecutionStatus']}")
        return Plan("stop the running pipeline execution", {"status": "Executing"}, {"status": "Stopping"},
                    calls=["sagemaker:StopPipelineExecution"])

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        res = env.client("sagemaker").stop_pipeline_execution(PipelineExecutionArn=self.execution_arn,
                                                              ClientRequestToken=token)
        return res, plan.after


@dataclass(frozen=True)
class StopTrainingJob(Request):
    ACTION: ClassVar[str] = "stop_training_job"
    job: str = ""

    @property
    def target(self) -> str:
        return self.job

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _name(self.job, "training job")

    def plan(self, env: Env) -> Plan:
        try:
            d = env.client("sagemaker").describe_training_job(TrainingJobName=self.job)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
                raise ActionError(f"training job {self.job!r} does not exist") from None
            raise
        if d["TrainingJobStatus"] != "InProgress":
            raise ActionError(f"only a running job can be stopped; {self.job} is {d['TrainingJobStatus']}")
        return Plan(f"stop training job {self.job}", {"status": "InProgress"}, {"status": "Stopping"},
                    calls=["sagemaker:StopTrainingJob"])

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return env.client("sagemaker").stop_training_job(TrainingJobName=self.job), plan.after


@dataclass(frozen=True)
class StartStateMachine(Request):
    ACTION: ClassVar[str] = "start_state_machine"
    state_machine_arn: str = ""
    input: str | dict[str, Any] | None = None

    @property
    def target(self) -> str:
        return self.state_machine_arn

    @property
    def arn(self) -> str | None:
        return self.state_machine_arn

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _arn(self.state_machine_arn, "state machine", self.account_id)
        if isinstance(self.input, str) and self.input.strip():
            loads_json(self.input, "execution input")
        elif isinstance(self.input, dict):
            try:
                text = json.dumps(self.input, allow_nan=False)
            except (ValueError, TypeError, RecursionError):
                raise ActionError("execution input must be JSON: finite numbers, not nested too deeply") from None
            loads_json(text, "execution input")
        elif self.input is not None and not isinstance(self.input, str):
            raise ActionError("execution input must be a JSON object or text")

    def plan(self, env: Env) -> Plan:
        try:
            env.client("stepfunctions").describe_state_machine(stateMachineArn=self.state_machine_arn)
        except ClientError:
            raise ActionError(f"state machine {self.state_machine_arn} does not exist") from None
        return Plan("start a new execution of the state machine", {}, {"status": "RUNNING"},
                    calls=["states:StartExecution"])

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        payload = self.input if isinstance(self.input, str) and self.input.strip() else json.dumps(self.input or {})
        res = env.client("stepfunctions").start_execution(stateMachineArn=self.state_machine_arn,
                                                          name=f"sextant-{token}", input=payload)
        return res, {"execution_arn": res.get("executionArn")}


@dataclass(frozen=True)
class RedriveExecution(_ExecutionAction):
    ACTION: ClassVar[str] = "redrive_execution"

    def plan(self, env: Env) -> Plan:
        try:
            d = env.client("stepfunctions").describe_execution(executionArn=self.execution_arn)
        except ClientError:
            raise ActionError(f"execution {self.execution_arn} does not exist") from None
        if d["status"] != "FAILED":
            raise ActionError(f"only a failed execution can be redriven; this one is {d['status']}")
        return Plan("redrive the failed execution from the state that failed", {"status": "FAILED"},
                    {"status": "RUNNING"}, calls=["states:RedriveExecution"])

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        res = env.client("stepfunctions").redrive_execution(executionArn=self.execution_arn, clientToken=token)
        return res, plan.after


def _paginate(client: Any, op: str, key: str, **kwargs: Any) -> Iterator[Any]:
    for page in client.get_paginator(op).paginate(**kwargs):
        yield from page.get(key, [])


# --------------------------------------------------------------------------- running

# One lock per idempotency token while some submit of it is running: concurrent submits of one confirmation
# wait for each other, and the later ones find the first one's audit row. An entry lives only as long as a
# submit holds its lock (weak values), so the map does not grow with the number of actions taken.
_token_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_token_guard = threading.Lock()
# One lock per (account, guardrail) held from the guardrail's check (in plan) to the create (execute).
_cap_locks: weakref.WeakValueDictionary[tuple[str, str], threading.Lock] = weakref.WeakValueDictionary()


def _lock_for(token: str) -> threading.Lock:
    with _token_guard:
        lock = _token_locks.get(token)
        if lock is None:
            lock = _token_locks[token] = threading.Lock()
        return lock


CAP_WAIT_S = 120.0  # how long an action waits for another process acting on the same account and guardrail


@contextmanager
def _cap_lock(request: Request, audit: AuditLog) -> Iterator[None]:
    """Count-then-create under one lock per account and guardrail (``Request.CAP``): six concurrent launches
    with one slot left under ``max_concurrent_training_jobs`` start one job, and two scales of one account do
    not plan from the same stale count.

    Threads of this process share a lock; dashboard processes on one machine also share a lock file beside the
    audit database (``flock``), waited for up to ``CAP_WAIT_S``. Dashboards on *several machines* (replicas
    behind a load balancer) can still race between the check and the create: that needs a lock they all see
    (PostgreSQL's advisory locks, with the audit log on PostgreSQL; docs/ARCHITECTURE.md)."""
    if request.CAP is None:
        yield
        return
    key = (str(request.account_id), request.CAP)
    with _token_guard:
        lock = _cap_locks.get(key)
        if lock is None:
            lock = _cap_locks[key] = threading.Lock()
    try:
        with lock, audit.exclusive(f"{key[0]}.{key[1]}", CAP_WAIT_S):
            yield
    except LockBusy:
        raise ActionError(f"another dashboard process is acting on this account's {key[1].replace('_', ' ')} "
                          "guardrail; try again in a minute") from None


def _checked(request: Request, env: Env) -> Env:
    """Validate the request (no AWS call) and return the env bound to the region it acts in."""
    request.validate(env.settings)
    return env.at(request.region_in(env.clients))


def _as_user(env: Env, actor: Actor) -> tuple[Env, Identity | None]:
    """The env whose clients act as ``actor`` (the account's operator role, assumed for them), if it has one."""
    clients, identity = clients_for(env.clients, actor.name)
    return (env if clients is env.clients else replace(env, clients=clients)), identity


def plan(request: Request, actor: Actor, env: Env) -> Plan:
    """Validate, authorize and plan (AWS reads only); raises ActionError with a clear (redacted) message, whatever
    went wrong."""
    if not actor.can_act():
        raise ActionError(f"{actor.name} is a {actor.role}: only operators and admins can act")
    try:
        target_env, _ = _as_user(_checked(request, env), actor)
        return request.plan(target_env)
    except ActionError as exc:
        raise ActionError(redact(exc)) from None
    except Exception as exc:  # an AWS error or anything else: the dialog shows a message, never a traceback
        raise ActionError(_error_text(exc, aws_write=False)) from None


def run_action(request: Request, actor: Actor, env: Env, audit: AuditLog, token: str,
               dry_run: bool = False) -> Outcome:
    """Carry out one confirmed action; leaves exactly one audit row per call, whatever happens.

    A request that reaches AWS's write is audited twice in one row: its intent (``requested``) is appended
    before the call, and completed after it (``succeeded`` / ``failed`` / ``unknown``, with the AWS request
    id). If the intent cannot be written (the audit database is locked or unwritable) the action does not
    run, and the outcome says so. If the completion cannot be written the row is marked ``unknown`` with the
    reason where the database allows it, and the outcome says plainly that the action ran.

    Every exception is caught here (an AWS error, a RecursionError from deep JSON, anything): it becomes an
    outcome and its audit row, and every text of either passes through :func:`sextant.redact.redact`."""
    try:
        dry = bool(dry_run or env.settings.actions.dry_run)
        base = _base(request, actor, env, token, dry)
        lock = _lock_for(str(token))
    except Exception as exc:  # a request whose fields cannot even be read
        return Outcome("invalid", _error_text(exc, aws_write=False))
    with lock:
        try:
            return _attempt(request, actor, env, audit, str(token), dry, base)
        except Exception as exc:  # only a bug of this module gets here; still one row, still an outcome
            return _record(audit, base, Outcome("failed", _error_text(exc, aws_write=False)), None, None)


def _attempt(request: Request, actor: Actor, env: Env, audit: AuditLog, token: str, dry: bool,
             base: dict[str, Any]) -> Outcome:
    p: Plan | None = None
    identity: Identity | None = None
    try:
        if not actor.can_act():
            return _record(audit, base, Outcome(
                "refused", f"{actor.name} is a {actor.role}: only operators and admins can act"), None, None)
        if (prior := audit.done(token)) is not None:
            return _record(audit, base, Outcome(
                "duplicate", f"already done (audit #{prior['id']}, {prior['result']}): this confirmation acts "
                "once; open the dialog again to act again"), None, None)
        target_env = _checked(request, env)
        target_env, identity = _as_user(target_env, actor)
        with _cap_lock(request, audit):
            p = request.plan(target_env)
            if dry:
                return _record(audit, base, Outcome("dry_run", f"dry run: would {p.summary}", p), p, identity)
            return _act(request, target_env, audit, token, base, p, identity, actor)
    except ActionError as exc:
        outcome = Outcome("invalid", str(exc), p)
    except Exception as exc:  # before the intent: no write was made (plan reads, sign-in to the role, ...)
        rid = exc.response.get("ResponseMetadata", {}).get("RequestId") if isinstance(exc, ClientError) else None
        outcome = Outcome("failed", _error_text(exc, aws_write=False), p, rid)
    return _record(audit, base, outcome, p, identity)


def _act(request: Request, env: Env, audit: AuditLog, token: str, base: dict[str, Any], p: Plan,
         identity: Identity | None, actor: Actor) -> Outcome:
    """The intent row, the AWS write, the completion of the row, and what the action leaves for later."""
    try:
        intent = audit.append(AuditRow(**base, state_before=p.before, state_after=None, result="requested",
                                       **_as_columns(identity)))
    except Exception as exc:
        reason = _reason(exc)
        return Outcome("failed", redact(f"Not run: the audit log could not record this action ({reason}), so "
                                        "nothing was sent to AWS. Try again when the audit log is writable."),
                       p, audit_problem=redact(f"intent not written: {reason}"))
    try:
        res, after = request.execute(env, p, token)
        rid = (res or {}).get("ResponseMetadata", {}).get("RequestId")
        outcome = Outcome("succeeded", f"done: {p.summary}", p, rid, result=after)
    except (ReadTimeoutError, ConnectionClosedError) as exc:  # sent, but no answer came back
        outcome = Outcome("unknown", f"the outcome is unknown, check AWS before acting again: "
                                     f"{_error_text(exc, aws_write=True)}", p)
    except (ClientError, BotoCoreError, ActionError) as exc:
        rid = exc.response.get("ResponseMetadata", {}).get("RequestId") if isinstance(exc, ClientError) else None
        text = str(exc) if isinstance(exc, ActionError) else _error_text(exc, aws_write=True)
        outcome = Outcome("failed", text, p, rid)
    except Exception as exc:  # raised while calling AWS: the write may or may not have happened
        outcome = Outcome("unknown", f"the outcome is unknown, check AWS before acting again: "
                                     f"{_error_text(exc, aws_write=True)}", p)
    outcome = _complete(audit, intent, outcome, p)
    return _follow_up(request, env, audit, intent, outcome, p, actor) if outcome.status == "succeeded" else outcome


def _follow_up(request: Request, env: Env, audit: AuditLog, intent: int, outcome: Outcome, p: Plan,
               actor: Actor) -> Outcome:
    """Record what a succeeded action leaves for later (a scheduled restore). If that cannot be recorded, the action
    still ran: the outcome says so plainly and carries the problem (the dialog shows a warning, not a success)."""
    try:
        note = request.follow_up(env, audit, intent, p, actor)
    except Exception as exc:
        reason = _reason(exc)
        outcome.audit_problem = redact(f"follow-up not recorded: {reason}")
        outcome.message = redact(f"{outcome.message}. The action RAN, but what it should do later could NOT be "
                                 f"scheduled ({reason}): do it by hand.")[:1200]
        return outcome
    if note:
        outcome.message = redact(f"{outcome.message}; {note}")[:1200]
    return outcome


def _complete(audit: AuditLog, intent: int, outcome: Outcome, p: Plan) -> Outcome:
    outcome.audit_id = intent
    outcome.message = redact(outcome.message)[:1000]
    state_after = (outcome.result or p.after) if outcome.status == "succeeded" else None
    try:
        audit.complete(intent, outcome.status, outcome.request_id, None if outcome.ok else outcome.message,
                       state_after)
        return outcome
    except Exception as exc:
        reason = _reason(exc)
    try:  # a smaller write may still go through (a transient lock, an outcome too large to store)
        audit.complete(intent, "unknown", outcome.request_id,
                       redact(f"the outcome ({outcome.status}) could not be recorded: {reason}")[:1000])
        row_says = "unknown"
    except Exception:
        row_says = "requested"
    ran = {"succeeded": "The action RAN in AWS", "failed": "The action was sent to AWS, which refused it",
           "unknown": "The action was sent to AWS"}[outcome.status]
    rid = f" (AWS request id {outcome.request_id})" if outcome.request_id else ""
    outcome.audit_problem = redact(f"audit #{intent} could not be completed ({reason}); it says '{row_says}'")
    outcome.message = redact(f"{outcome.message}. {ran}{rid}, but its audit row #{intent} could not be completed "
                             f"({reason}) and says '{row_says}'.")
    return outcome


def _record(audit: AuditLog, base: dict[str, Any], outcome: Outcome, p: Plan | None,
            identity: Identity | None) -> Outcome:
    """The one audit row of an attempt that made no AWS write (refused, invalid, duplicate, dry run, failed
    before the write)."""
    outcome.message = redact(outcome.message)[:1000]
    try:
        outcome.audit_id = audit.append(AuditRow(
            **base, state_before=p.before if p else None, state_after=None, result=outcome.status,
            aws_request_id=outcome.request_id, error=None if outcome.ok else outcome.message,
            **_as_columns(identity)))
    except Exception as exc:
        reason = _reason(exc)
        outcome.audit_problem = redact(f"not audited: {reason}")
        outcome.message = redact(f"{outcome.message} (nothing was changed in AWS; the audit log could not record "
                                 f"this attempt: {reason})")[:1200]
    return outcome


def _as_columns(identity: Identity | None) -> dict[str, Any]:
    return {"aws_role": identity.role_arn, "aws_session": identity.session_name} if identity else {}


def _reason(exc: BaseException) -> str:
    return redact(f"{type(exc).__name__}: {_text(exc)}")[:300]


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:  # an exception whose message cannot even be built
        return ""


def _error_text(exc: BaseException, aws_write: bool) -> str:
    """One line for an error: AWS's code and message, or the exception's type; always redacted."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code")
        msg = _text(exc).split("<", 1)[0].strip()
        return redact(f"AWS refused: {code}: {msg}")[:800]
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return redact(f"AWS did not answer: {type(exc).__name__}: {_text(exc)}")[:800]
    if isinstance(exc, BotoCoreError):
        return redact(f"AWS could not be reached: {type(exc).__name__}: {_text(exc)}")[:800]
    if isinstance(exc, RecursionError):
        return "the request is nested too deeply to be read"
    where = "while calling AWS" if aws_write else "before any AWS write"
    return redact(f"unexpected error {where}: {type(exc).__name__}: {_text(exc)}")[:800]


def _base(request: Request, actor: Actor, env: Env, token: str, dry: bool) -> dict[str, Any]:
    return dict(actor=str(actor.name)[:320], role=str(actor.role)[:20], action=request.ACTION,
                target=_short(lambda: request.target, 500), account_id=_short(lambda: request.account_id, 20),
                region=_audit_region(request, env), parameters=_safe_params(request), dry_run=dry,
                token=str(token)[:128])


def _short(get: Callable[[], Any], n: int) -> str:
    try:
        value = get()
        return value[:n] if isinstance(value, str) else str(_safe_value(value, n))[:n]
    except Exception:
        return "<unreadable>"


def _audit_region(request: Request, env: Env) -> str | None:
    """The region the request acts in; when it cannot act (invalid), the region it asked for."""
    try:
        return request.region_in(env.clients)
    except Exception:
        return None if request.region is None else _short(lambda: request.region, 40)


def _safe_value(v: Any, n: int = 2000) -> Any:
    """A value as the audit row can store it: never a huge integer (it cannot be printed), a deep structure (it
    cannot be serialised) or a long text."""
    if v is None or isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v if abs(v) < 10**MAX_NUMBER_DIGITS else f"<a whole number of {v.bit_length()} bits>"
    if isinstance(v, float):
        return v if math.isfinite(v) else str(v)
    if isinstance(v, str):
        return v[:n]
    try:
        return json.dumps(v, default=str, allow_nan=True)[:n]
    except Exception:
        return f"<{type(v).__name__} that cannot be shown>"


def _safe_params(request: Request) -> dict[str, Any]:
    return {f.name: _safe_value(getattr(request, f.name)) for f in fields(request)}
