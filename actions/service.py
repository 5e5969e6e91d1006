"""Actions: typed requests, validated, authorized, planned, confirmed, executed, audited.

Pages build a request (``ScaleEndpoint(...)``), call :func:`plan` to show the exact change and its
cost before the confirmation dialog, then :func:`run_action` with the idempotency token the dialog
was opened with. ``run_action`` is the only path to an AWS write and it:

1. validates the request (clear message, zero AWS calls on bad input);
2. authorizes the actor (viewers are refused here, whatever the UI showed);
3. checks the guardrails from settings (instance caps, allowed types and accounts, concurrency);
4. refuses a token that already acted (a double click acts once);
5. plans from AWS's current state (read calls only), then, unless dry run, calls AWS;
6. appends exactly one audit row, whatever happened.

Every AWS call of an action goes to the request's region (the resource's: pages pass the ``region`` of
the row they act on; an ARN names its own), in the account of the ``Env``'s clients; the audit row
records that region. Actions use boto3 through the collectors' client factory (one retry policy, one call counter);
cloning a training job is ``DescribeTrainingJob`` + ``CreateTrainingJob`` with overrides, which
needs no SDK abstraction (see README, "The SageMaker SDK").
"""

from __future__ import annotations

import json
import re
import threading
import uuid
import weakref
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

from botocore.exceptions import BotoCoreError, ClientError

from actions.audit import AuditLog, AuditRow
from actions.roles import Actor
from sextant.aws import Clients, region_problem
from sextant.settings import Settings

NAME_RE = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
ARN_RE = re.compile(r"^arn:aws[a-z-]*:(sagemaker|states):[a-z0-9-]+:\d{12}:[A-Za-z0-9:/._-]{1,256}$")
INSTANCE_RE = re.compile(r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
HP_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-/]{1,256}$")


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
    status: str  # succeeded | failed | refused | invalid | dry_run | duplicate
    message: str
    plan: Plan | None = None
    request_id: str | None = None
    audit_id: int | None = None
    result: dict[str, Any] = field(default_factory=dict)

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
    if not isinstance(value, str) or not NAME_RE.match(value):
        raise ActionError(f"{what} {value!r} is not a valid AWS name: 1-63 letters, digits and hyphens, "
                          "starting with a letter or digit")
    return value


def _arn(value: Any, what: str, account_id: str) -> str:
    if not isinstance(value, str) or not ARN_RE.match(value):
        raise ActionError(f"{what} {value!r} is not a SageMaker or Step Functions ARN")
    if value.split(":")[4] != account_id:
        raise ActionError(f"the {what} ARN belongs to another account than the one selected")
    return value


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ActionError(f"{what} must be a whole number, got {value!r}")
    if not lo <= value <= hi:
        raise ActionError(f"{what} must be between {lo} and {hi}, got {value}")
    return value


def parse_json_object(text: str | dict[str, Any] | None, what: str, max_items: int = 100) -> dict[str, str]:
    """A JSON object of names to scalar values, as AWS hyperparameters / parameters want (strings)."""
    if text is None or text == "":
        return {}
    if isinstance(text, str):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ActionError(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    else:
        value = text
    if not isinstance(value, dict):
        raise ActionError(f"{what} must be a JSON object like {{\"learning_rate\": \"0.001\"}}")
    if len(value) > max_items:
        raise ActionError(f"{what} has {len(value)} entries; at most {max_items}")
    out = {}
    for k, v in value.items():
        if not HP_KEY_RE.match(k):
            raise ActionError(f"{what}: name {k!r} may use only letters, digits and _ . : - /")
        if isinstance(v, bool):
            v = str(v).lower()
        if not isinstance(v, str | int | float) or (isinstance(v, str) and len(v) > 2500):
            raise ActionError(f"{what}: value of {k!r} must be a string or number (at most 2500 characters)")
        out[k] = str(v)
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
        if not isinstance(self.account_id, str) or not re.fullmatch(r"\d{12}", self.account_id):
            raise ActionError(f"account {self.account_id!r} is not a 12-digit AWS account id")
        if allowed and self.account_id not in allowed:
            raise ActionError(f"account {self.account_id} is not in [actions] allowed_accounts")

    def region_in(self, clients: Clients) -> str:
        """The region every AWS call of this request goes to (call after :meth:`validate`)."""
        region = self.region
        if region is not None and (not isinstance(region, str) or region_problem(region)):
            raise ActionError(f"region {region!r} is not an AWS region")
        arn_region = self.arn.split(":")[3] if isinstance(self.arn, str) and ARN_RE.match(self.arn) else None
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


def _variant(env: Env, endpoint: str, variant: str) -> tuple[dict[str, Any], dict[str, Any]]:
    sm = env.client("sagemaker")
    try:
        d = sm.describe_endpoint(EndpointName=endpoint)
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("ValidationException", "ResourceNotFound"):
            raise ActionError(f"endpoint {endpoint!r} does not exist in this account in {env.region}") from None
        raise
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
class ScaleEndpoint(Request):
    """Scale a variant to ``desired_count`` instances; on an autoscaled variant, move the target's min/max."""

    ACTION: ClassVar[str] = "scale_endpoint"
    endpoint: str = ""
    variant: str = ""
    desired_count: int = 0

    @property
    def target(self) -> str:
        return f"{self.endpoint}/{self.variant}"

    def validate(self, settings: Settings) -> None:
        super().validate(settings)
        _name(self.endpoint, "endpoint")
        _name(self.variant, "variant")
        _int(self.desired_count, "desired instance count", 1, settings.actions.max_instances_per_variant)

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
        else:
            summary = f"scale {self.target} from {current} to {self.desired_count} × {itype}"
            calls = ["sagemaker:UpdateEndpointWeightsAndCapacities"]
        if self.desired_count == current and not target:
            raise ActionError(f"{self.target} already has {current} instances; nothing to change")
        return Plan(summary, before, after, delta, None, calls)

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


@dataclass(frozen=True)
class ScaleToMinimum(ScaleEndpoint):
    """From the savings list: an idle variant down to its minimum (autoscaling min, else 1 instance)."""

    ACTION: ClassVar[str] = "scale_to_minimum"
    desired_count: int = 1

    def validate(self, settings: Settings) -> None:
        Request.validate(self, settings)
        _name(self.endpoint, "endpoint")
        _name(self.variant, "variant")

    def plan(self, env: Env) -> Plan:
        target = _scalable_target(env, self.endpoint, self.variant)
        floor = target["MinCapacity"] if target else 1
        d, v = _variant(env, self.endpoint, self.variant)
        current = v.get("DesiredInstanceCount") or v.get("CurrentInstanceCount") or 0
        if current <= floor:
            raise ActionError(f"{self.target} already runs its minimum ({current} instance(s))")
        return ScaleEndpoint(self.account_id, self.endpoint, self.variant, floor, region=self.region).plan(env)

    def execute(self, env: Env, plan: Plan, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        return ScaleEndpoint(self.account_id, self.endpoint, self.variant, plan.after["instance_count"],
                             region=self.region).execute(env, plan, token)


@dataclass(frozen=True)
class LaunchTraining(Request):
    """Clone a past training job with overrides."""

    ACTION: ClassVar[str] = "launch_training"
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
            if not isinstance(self.instance_type, str) or not INSTANCE_RE.match(self.instance_type):
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
            try:
                json.loads(self.input)
            except json.JSONDecodeError as exc:
                raise ActionError(f"execution input is not valid JSON: {exc.msg}") from None

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


def _lock_for(token: str) -> threading.Lock:
    with _token_guard:
        lock = _token_locks.get(token)
        if lock is None:
            lock = _token_locks[token] = threading.Lock()
        return lock


def _checked(request: Request, env: Env) -> Env:
    """Validate the request (no AWS call) and return the env bound to the region it acts in."""
    request.validate(env.settings)
    return env.at(request.region_in(env.clients))


def plan(request: Request, actor: Actor, env: Env) -> Plan:
    """Validate, authorize and plan (AWS reads only); raises ActionError with a clear message."""
    if not actor.can_act():
        raise ActionError(f"{actor.name} is a {actor.role}: only operators and admins can act")
    return request.plan(_checked(request, env))


def run_action(request: Request, actor: Actor, env: Env, audit: AuditLog, token: str,
               dry_run: bool = False) -> Outcome:
    """Carry out one confirmed action; always appends exactly one audit row."""
    dry = dry_run or env.settings.actions.dry_run
    base: dict[str, Any] = dict(
        actor=actor.name, role=actor.role, action=request.ACTION, target=str(request.target)[:500],
        account_id=str(request.account_id)[:20], region=_audit_region(request, env), parameters=_safe_params(request),
        dry_run=dry, token=token)
    outcome: Outcome
    p: Plan | None = None
    with _lock_for(token):
        try:
            if not actor.can_act():
                outcome = Outcome("refused", f"{actor.name} is a {actor.role}: only operators and admins can act")
            elif (prior := audit.done(token)) is not None:
                outcome = Outcome("duplicate", f"already done (audit #{prior['id']}): this confirmation acted once")
            else:
                target_env = _checked(request, env)
                p = request.plan(target_env)
                if dry:
                    outcome = Outcome("dry_run", f"dry run: would {p.summary}", p)
                else:
                    res, after = request.execute(target_env, p, token)
                    rid = (res or {}).get("ResponseMetadata", {}).get("RequestId")
                    outcome = Outcome("succeeded", f"done: {p.summary}", p, rid, result=after)
        except ActionError as exc:
            outcome = Outcome("invalid", str(exc), p)
        except (ClientError, BotoCoreError) as exc:
            code = exc.response["Error"].get("Code") if isinstance(exc, ClientError) else type(exc).__name__
            rid = exc.response.get("ResponseMetadata", {}).get("RequestId") if isinstance(exc, ClientError) else None
            msg = str(exc).split("<", 1)[0].strip()
            outcome = Outcome("failed", f"AWS refused: {code}: {msg}"[:800], p, rid)
        outcome.audit_id = audit.append(AuditRow(
            **base, state_before=p.before if p else None,
            state_after=(outcome.result or p.after) if p and outcome.status == "succeeded" else None,
            result=outcome.status, aws_request_id=outcome.request_id,
            error=None if outcome.ok else outcome.message))
    return outcome


def _audit_region(request: Request, env: Env) -> str | None:
    """The region the request acts in; when it cannot act (invalid), the region it asked for."""
    try:
        return request.region_in(env.clients)
    except ActionError:
        return None if request.region is None else str(request.region)[:40]


def _safe_params(request: Request) -> dict[str, Any]:
    params = {}
    for k, v in asdict(request).items():
        params[k] = v if isinstance(v, int | float | bool | type(None)) else str(v)[:2000]
    return params
