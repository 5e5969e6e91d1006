"""SageMaker and Application Auto Scaling in the emulated account: seeded history and moto's gaps, filled.

moto 5.2.5 stores SageMaker resources but finishes everything at creation and lacks
several operations (see GUIDE §4). This module, installed into the moto server
process, makes the account behave like AWS over (wall-clock) time:

- Instance types: ``CreateEndpointConfig`` accepts every current SageMaker family
  (ml.g5, ml.g6, ml.p4d, ml.p5, ml.inf2, ml.trn1, ...), and still refuses unknown ones.
- Endpoints: ``UpdateEndpoint`` (status ``Updating``, back to ``InService`` after 30-60 s)
  and ``UpdateEndpointWeightsAndCapacities`` (a missing ``DesiredWeight`` keeps the weight,
  as in AWS; moto set it to null) move the endpoint through ``Updating``; the new variant
  state is recorded in the world timeline (cause ``action``), so the metric model follows.
  Both refuse an endpoint that is not ``InService``, like AWS.
- Training jobs: seeded with their real history (statuses, secondary-status transitions,
  billable vs training seconds, spot interruptions); ``InProgress`` jobs finish at their
  planned end. Jobs created through the API start ``InProgress`` and finish after a
  simulated duration of ``clamp(epochs x 20 s, 3 min, 10 min)`` (``Stopped`` with
  ``MaxRuntimeExceeded`` if ``MaxRuntimeInSeconds`` is shorter). ``StopTrainingJob``:
  ``Stopping`` for 20 s, then ``Stopped``. ``ListTrainingJobs`` sorts, pages (10 by
  default), and applies ``StatusEquals`` after paging, as AWS documents.
- Processing jobs: seeded with their history (one per processing step of each seeded pipeline
  execution, tagged ``sagemaker:pipeline-execution-arn`` and ``sagemaker:pipeline-step-name`` as
  Pipelines tags them; feature extraction and evaluation jobs started by hand; the Debugger
  ProfilerReport jobs of vision training jobs, with their ``TrainingJobArn``): instance
  resources, start and end times, failure reasons and exit messages, which moto drops or never
  sets; ``InProgress`` jobs finish at their planned end. ``ListProcessingJobs`` filters by time
  (moto compares the request's epoch seconds with datetimes and fails), sorts and pages.
- Pipelines: seeded executions with their steps; scheduled executions keep appearing
  every ``every_hours`` after the anchor; API-started executions run their definition's
  steps (30 s-2 min each) and succeed. ``ListPipelineExecutionSteps``,
  ``RetryPipelineExecution`` (re-runs from the failed step, same ARN) and
  ``StopPipelineExecution`` exist; start/retry/stop are idempotent on ``ClientRequestToken``.
- Application Auto Scaling: seeded scalable targets and target-tracking policies;
  ``DescribeScalingActivities`` answers from the timeline; a ``RegisterScalableTarget``
  that moves min/max past the current count clamps the variant (cause ``autoscaling``).
- ``ListMonitoringSchedules`` answers an empty list; any other operation moto lacks in
  these two services answers HTTP 400 ``UnknownOperationException`` at once instead of
  the HTTP 500 that botocore retries for ~25 s.

Simulated durations of work started through the API (endpoint updates, API training
jobs, pipeline steps, stopping) are divided by the environment variable
``DEMO_SPEEDUP`` (default 1), so tests can watch a 3-minute job finish in seconds;
``Updating`` and ``Stopping`` still last at least a second, so a client sees them.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from demo import prices
from demo.world import (
    PROCESSING_STEPS,
    REGION,
    EndpointSpec,
    PipelineExecutionSpec,
    PipelineSpec,
    ProcessingJobSpec,
    StepRun,
    TrainingJobSpec,
    Transition,
    VariantState,
    World,
    job_artifacts,
    job_output,
    package_training_jobs,
    role_arn,
)

VARIANT_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
POLICY_METRIC = "SageMakerVariantInvocationsPerInstance"
UPDATE_SECONDS = (30, 60)
STOP_SECONDS = 20
API_JOB_SECONDS = (180, 600)
API_STEP_SECONDS = (30, 120)
DEFAULT_PAGE = 10
EXTRA_INSTANCE_FAMILIES = re.compile(
    r"ml\.(g5|g6|g6e|p4d|p4de|p5|p5e|p5en|inf2|trn1|trn1n|trn2|c6i|c7i|m6i|m7i|r6i|r7i|c6g|m6g|r6g|c7g|m7g)"
    r"\.(medium|large|[0-9]*xlarge)"
)
STEP_TYPES = {
    "Train": "Training", "CheckAUC": "Condition", "RegisterModel": "RegisterModel", "BiasCheck": "ClarifyCheck",
    "BatchTransform": "Transform", **{step: "Processing" for step in PROCESSING_STEPS},
}
PIPELINE_EXECUTION_TAG = "sagemaker:pipeline-execution-arn"  # what Pipelines tags the jobs of its steps with
PIPELINE_STEP_TAG = "sagemaker:pipeline-step-name"
PIPELINE_FAILURE = "Step failure: One or multiple steps failed."

_LOCK = threading.RLock()
_STATE: dict[str, Any] = {"world": None, "installed": False}


# --------------------------------------------------------------------------- small helpers


def _speedup() -> float:
    try:
        return max(1.0, float(os.environ.get("DEMO_SPEEDUP", "1")))
    except ValueError:
        return 1.0


def _wall(seconds: float, floor: float = 0.0) -> timedelta:
    """A simulated duration of API-started work, in wall time (``DEMO_SPEEDUP`` shortens it down to ``floor``
    seconds, so that a client can still see a transient status), to the millisecond."""
    return timedelta(milliseconds=int(max(seconds / _speedup(), min(seconds, floor)) * 1000))


def _naive(t: datetime) -> datetime:
    """moto keeps naive UTC datetimes (the world keeps aware ones); AWS keeps milliseconds."""
    t = t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t
    return t.replace(microsecond=t.microsecond // 1000 * 1000)


def _aware(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def _utcnow() -> datetime:
    return _naive(datetime.now(UTC))


def _h(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "little")


def _unit(*parts: object) -> float:
    return (_h(*parts) % 1_000_000) / 1_000_000


def _uuid(*parts: object) -> str:
    return str(uuid.UUID(int=_h(*parts) << 64 | _h("lo", *parts)))


def _tags(team: str, project: str | None = None, env: str | None = None, stack: str | None = None,
          **extra: str) -> list[dict[str, str]]:
    """team/project/env tags, plus the tag CloudFormation puts on what a stack created."""
    kv = {"team": team, "project": project, "env": env, **extra, "aws:cloudformation:stack-name": stack}
    return [{"Key": k, "Value": v} for k, v in kv.items() if v]


def _sm(account: str, region: str = REGION):
    from moto.sagemaker.models import sagemaker_backends

    return sagemaker_backends[account][region]


def _aas(account: str, region: str = REGION):
    from moto.applicationautoscaling.models import applicationautoscaling_backends

    return applicationautoscaling_backends[account][region]


def _validation(message: str) -> Exception:
    from moto.sagemaker.exceptions import ValidationError

    return ValidationError(message=message)


def _world() -> World | None:
    return _STATE["world"]


# --------------------------------------------------------------------------- plans (what happens when)


@dataclass
class JobPlan:
    """A training job's whole life; what DescribeTrainingJob shows is this plan seen at ``now``."""

    job: Any  # moto FakeTrainingJob
    start: datetime
    end: datetime
    status: str  # final status
    transitions: list[Transition]
    training_seconds: int
    billable_seconds: int | None
    metrics: dict[str, float]
    failure_reason: str | None = None
    stopping_at: datetime | None = None
    artifacts: dict[str, str] | None = None  # ModelArtifacts, shown once Completed


@dataclass
class ExecPlan:
    """A pipeline execution's steps; the execution's status at ``now`` follows from them."""

    execution: Any  # moto FakePipelineExecution
    steps: list[StepRun]
    status: str  # final status
    end: datetime
    attempts: dict[str, int] = field(default_factory=dict)
    stopping_at: datetime | None = None


@dataclass
class PendingUpdate:
    """An endpoint in ``Updating``: at ``due`` its variants become ``variants`` and it is InService again."""

    endpoint: Any  # moto FakeEndpoint
    due: datetime
    variants: list[dict[str, Any]]


_JOBS: dict[int, JobPlan] = {}  # id(FakeTrainingJob) -> plan, only while not final
_PROCESSING: dict[int, tuple[Any, ProcessingJobSpec]] = {}  # id(FakeProcessingJob) -> (job, spec), while not final
_EXECS: dict[str, ExecPlan] = {}  # execution arn -> plan
_ACTIVE_EXECS: set[str] = set()
_UPDATES: dict[int, PendingUpdate] = {}  # id(FakeEndpoint) -> pending update
_TOKENS: dict[tuple[str, str, str], str] = {}  # (account, scope, token) -> execution arn
_SCHEDULED: dict[tuple[str, str], int] = {}  # (account, pipeline) -> next scheduled execution index
_NOTES: dict[tuple[str, str, str, datetime], tuple[str, datetime]] = {}  # scaling activity cause + start


# --------------------------------------------------------------------------- training jobs


def _show_job(plan: JobPlan, now: datetime) -> bool:
    """Write the plan, seen at ``now``, onto the moto object. Returns True once the job is final."""
    job = plan.job
    seen = [t for t in plan.transitions if _naive(t.start) <= now]
    job.secondary_status_transitions = [
        {"Status": t.status, "StartTime": _naive(t.start), "StatusMessage": t.message,
         **({"EndTime": _naive(t.end)} if t.end is not None and _naive(t.end) <= now else {})}
        for t in seen
    ]
    job.training_start_time = plan.start if plan.start <= now else None
    if now >= plan.end:
        job.training_job_status = plan.status
        job.secondary_status = "Failed" if plan.status == "Failed" or not seen else seen[-1].status
        job.training_end_time = job.last_modified_time = plan.end
        job.training_time_in_seconds = plan.training_seconds
        job.billable_time_in_seconds = plan.billable_seconds
        job.failure_reason = plan.failure_reason
        job.final_metric_data_list = [{"MetricName": k, "Value": v, "Timestamp": plan.end}
                                      for k, v in plan.metrics.items()] or None
        job.model_artifacts = plan.artifacts if plan.status == "Completed" else None
        return True
    stopping = plan.stopping_at is not None and now >= plan.stopping_at
    job.training_job_status = "Stopping" if stopping else "InProgress"
    job.secondary_status = seen[-1].status if seen else "Starting"
    job.last_modified_time = _naive(seen[-1].start) if seen else job.creation_time
    job.training_end_time = job.training_time_in_seconds = job.billable_time_in_seconds = None
    job.failure_reason = job.final_metric_data_list = job.model_artifacts = None
    return False


def _track_job(plan: JobPlan, now: datetime) -> None:
    plan.artifacts = plan.job.model_artifacts
    if not _show_job(plan, now):
        _JOBS[id(plan.job)] = plan


def _billable(seconds: int, spot: bool, *key: object) -> int:
    return int(seconds * (1 - prices.SPOT_DISCOUNT * (0.85 + 0.15 * _unit("spot", *key)))) if spot else seconds


def _spec_plan(job: Any, spec: TrainingJobSpec, seed: int) -> JobPlan:
    """The plan of a seeded job; a job InProgress at the anchor completes at its planned end."""
    start, end = _naive(spec.start), _naive(spec.end or spec.start)
    if spec.status != "InProgress":
        return JobPlan(job, start, end, spec.status, list(spec.transitions), spec.training_seconds,
                       spec.billable_seconds, dict(spec.final_metrics), spec.failure_reason)
    upload = spec.end - timedelta(minutes=2)
    head = [t for t in spec.transitions if t.end is not None]
    training = next(t for t in spec.transitions if t.end is None)
    transitions = head + [
        Transition("Training", training.start, upload, training.message),
        Transition("Uploading", upload, spec.end, "Uploading generated training model"),
        Transition("Completed", spec.end, spec.end, "Training job completed"),
    ]
    seconds = int((spec.end - spec.start).total_seconds())
    auc = round(min(0.985, 0.82 + 0.12 * _unit(seed, spec.name, "auc")), 4)
    metrics = {"train:loss": round(0.65 - (auc - 0.8) * 2.2, 4), "validation:auc": auc}
    return JobPlan(job, start, end, "Completed", transitions, seconds,
                   _billable(seconds, spec.spot, seed, spec.name), metrics)


def _api_plan(job: Any, now: datetime, definitions: list[dict[str, str]]) -> JobPlan:
    """The plan of a job created through CreateTrainingJob: a short simulated run (see module doc)."""
    epochs_param = str((job.hyper_parameters or {}).get("epochs", "10"))
    epochs = int(epochs_param) if epochs_param.isdigit() else 10
    simulated = min(max(epochs * 20, API_JOB_SECONDS[0]), API_JOB_SECONDS[1])
    max_runtime = (job.stopping_condition or {}).get("MaxRuntimeInSeconds") or 86400
    status, last = "Completed", ("Completed", "Training job completed")
    if max_runtime < simulated:
        simulated, status, last = max_runtime, "Stopped", ("MaxRuntimeExceeded", "Job exceeded MaxRuntimeInSeconds")
    start, end = now, now + _wall(simulated)
    span = end - start
    marks = [start, start + span * 0.15, start + span * 0.25, start + span * 0.9, end]
    transitions = [
        Transition("Starting", marks[0], marks[1], "Preparing the instances for training"),
        Transition("Downloading", marks[1], marks[2], "Downloading input data"),
        Transition("Training", marks[2], marks[3], "Training image download completed. Training in progress."),
        Transition("Uploading", marks[3], marks[4], "Uploading generated training model"),
        Transition(last[0], end, end, last[1]),
    ]
    seconds = int(simulated)  # the simulated run, also under DEMO_SPEEDUP
    names = [d["Name"] for d in definitions] or ["train:loss"]
    metrics = {n: round(0.1 + 0.85 * _unit(job.arn, n), 4) for n in names} if status == "Completed" else {}
    return JobPlan(job, start, end, status, transitions, seconds,
                   _billable(seconds, bool(job.enable_managed_spot_training), job.arn), metrics)


def _stop_job(plan: JobPlan, now: datetime) -> None:
    """StopTrainingJob: Stopping now, Stopped a little later, billed for the time it ran."""
    end = now + _wall(STOP_SECONDS, floor=1.0)
    kept = [Transition(t.status, t.start, t.end if t.end and _naive(t.end) <= now else now, t.message)
            for t in plan.transitions if _naive(t.start) <= now]
    plan.transitions = kept + [Transition("Stopping", now, end, "Stopping the training job"),
                               Transition("Stopped", end, end, "Training job stopped by user")]
    plan.status, plan.end, plan.stopping_at, plan.metrics = "Stopped", end, now, {}
    plan.training_seconds = max(0, int((now - plan.start).total_seconds())) + STOP_SECONDS
    plan.billable_seconds = _billable(plan.training_seconds, bool(plan.job.enable_managed_spot_training),
                                      plan.job.arn)


def _job_args(spec: TrainingJobSpec) -> dict[str, Any]:
    data = f"s3://sagemaker-{spec.account}-data/{spec.team}/{spec.project}"
    stopping = {"MaxRuntimeInSeconds": spec.max_runtime_seconds}
    if spec.max_wait_seconds:  # AWS refuses a spot job whose MaxWaitTimeInSeconds < MaxRuntimeInSeconds
        stopping = {"MaxRuntimeInSeconds": min(spec.max_runtime_seconds, spec.max_wait_seconds),
                    "MaxWaitTimeInSeconds": spec.max_wait_seconds}
    return dict(
        training_job_name=spec.name,
        hyper_parameters=dict(spec.hyperparameters),
        algorithm_specification={"TrainingImage": spec.image, "TrainingInputMode": "File"},
        role_arn=role_arn(spec.account),
        input_data_config=[
            {"ChannelName": ch, "ContentType": "application/x-parquet", "CompressionType": "None",
             "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"{data}/{ch}/",
                                             "S3DataDistributionType": "FullyReplicated"}}}
            for ch in spec.channels
        ],
        output_data_config={"S3OutputPath": job_output(spec)},
        resource_config={"InstanceType": spec.instance_type, "InstanceCount": spec.instance_count,
                         "VolumeSizeInGB": spec.volume_gb},
        vpc_config=None,
        stopping_condition=stopping,
        tags=_tags(team=spec.team, project=spec.project, env="dev", stack=spec.stack),
        enable_network_isolation=False,
        enable_inter_container_traffic_encryption=False,
        enable_managed_spot_training=spec.spot,
        checkpoint_config={"S3Uri": f"{data}/checkpoints/{spec.name}/"} if spec.spot else None,
        debug_hook_config=None,
        debug_rule_configurations=None,
        tensor_board_output_config=None,
        experiment_config=None,
    )


METRIC_DEFINITIONS = [{"Name": "train:loss", "Regex": "train_loss=([0-9\\.]+)"},
                      {"Name": "validation:auc", "Regex": "validation_auc=([0-9\\.]+)"}]


def _seed_training_jobs(world: World, now: datetime) -> None:
    from moto.sagemaker.models import FakeTrainingJob

    for spec in world.training_jobs:
        backend = _sm(spec.account)
        job = FakeTrainingJob(account_id=spec.account, region_name=REGION, **_job_args(spec))
        job.algorithm_specification["MetricDefinitions"] = METRIC_DEFINITIONS
        job.creation_time = _naive(spec.created)
        backend.training_jobs[spec.name] = job
        _track_job(_spec_plan(job, spec, world.seed), now)


# --------------------------------------------------------------------------- processing jobs


def _show_processing(job: Any, spec: ProcessingJobSpec, now: datetime) -> bool:
    """Write the job as it stands at ``now`` onto the moto object. Returns True once the job is final."""
    start = _naive(spec.start) if spec.start is not None else None
    end = _naive(spec.end)
    job.processing_start_time = start if start is not None and start <= now else None
    if now >= end:
        job.processing_job_status = "Completed" if spec.status == "InProgress" else spec.status
        job.processing_end_time = job.last_modified_time = end
        job.failure_reason, job.exit_message = spec.failure_reason, spec.exit_message
        return True
    job.processing_job_status = "InProgress"
    job.processing_end_time = job.failure_reason = job.exit_message = None
    job.last_modified_time = job.processing_start_time or job.creation_time
    return False


def _processing_args(spec: ProcessingJobSpec, tags: dict[str, str]) -> dict[str, Any]:
    code = next((uri for name, uri in spec.inputs if name == "code"), None)
    entrypoint = ["python3", f"/opt/ml/processing/input/code/{code.rsplit('/', 1)[-1]}"] if code else None
    return dict(
        processing_job_name=spec.name,
        app_specification={"ImageUri": spec.image, **({"ContainerEntrypoint": entrypoint} if entrypoint else {})},
        experiment_config=None,
        network_config={"EnableNetworkIsolation": False, "EnableInterContainerTrafficEncryption": False},
        processing_inputs=[
            {"InputName": name, "AppManaged": False,
             "S3Input": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/input/{name}", "S3DataType": "S3Prefix",
                         "S3InputMode": "File", "S3DataDistributionType": "FullyReplicated",
                         "S3CompressionType": "None"}}
            for name, uri in spec.inputs],
        processing_output_config={"Outputs": [
            {"OutputName": name, "AppManaged": False,
             "S3Output": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/{name}", "S3UploadMode": "EndOfJob"}}
            for name, uri in spec.outputs]},
        role_arn=role_arn(spec.account),
        tags=_tags(team=spec.team, project=spec.project, env=spec.env, **tags),
        stopping_condition={"MaxRuntimeInSeconds": 172800 if spec.status == "InProgress" else 86400},
    )


def _seed_processing_jobs(world: World, now: datetime) -> None:
    """After the pipelines and training jobs: a pipeline step's job carries its execution's ARN (tags), a
    Debugger rule's its training job's (TrainingJobArn)."""
    from moto.sagemaker.models import FakeProcessingJob

    for spec in world.processing_jobs:
        backend = _sm(spec.account)
        tags = {}
        if spec.pipeline and spec.execution_id:
            tags = {PIPELINE_EXECUTION_TAG: _exec_arn(backend.pipelines[spec.pipeline], spec.execution_id),
                    PIPELINE_STEP_TAG: spec.kind}
        job = FakeProcessingJob(account_id=spec.account, region_name=REGION, **_processing_args(spec, tags))
        job.creation_time = _naive(spec.created)
        job.processing_resources = {"ClusterConfig": {"InstanceCount": spec.instance_count,
                                                      "InstanceType": spec.instance_type,
                                                      "VolumeSizeInGB": spec.volume_gb}}
        if spec.training_job:
            job.training_job_arn = backend.training_jobs[spec.training_job].arn
        backend.processing_jobs[spec.name] = job
        if not _show_processing(job, spec, now):
            _PROCESSING[id(job)] = (job, spec)


# --------------------------------------------------------------------------- models, configs, endpoints


def _package_arns(world: World) -> dict[tuple[str, str, int], str]:
    """Seed model package groups and versions; returns (account, group, version) -> package ARN."""
    arns: dict[tuple[str, str, int], str] = {}
    for p in sorted(world.packages, key=lambda p: (p.account, p.group, p.version)):
        backend = _sm(p.account)
        team = next((e.team for e in world.endpoints if e.package_group == p.group), "ml")
        if p.group not in backend.model_package_groups:
            backend.create_model_package_group(p.group, f"{p.group} models ({team})", _tags(team=team))
            backend.model_package_groups[p.group].creation_time = _naive(p.created) - timedelta(days=1)
        arn = backend.create_model_package(
            model_package_name=None, model_package_group_name=p.group, model_package_description=p.description,
            inference_specification=_inference_spec(world, p.account, p.group, p.image, p.version),
            validation_specification=None, source_algorithm_specification=None, certify_for_marketplace=False,
            tags=_tags(team=team), model_approval_status=p.status, metadata_properties=None,
            model_metrics=None, client_token=None, customer_metadata_properties={"auc": f"{p.auc:.4f}"},
            drift_check_baselines=None, domain=None, task=None, sample_payload_url=None,
            additional_inference_specifications=None,
        )
        backend.model_packages[arn].creation_time = _naive(p.created)
        if p.status != "PendingManualApproval":
            backend.model_packages[arn].last_modified_time = _naive(p.created) + timedelta(hours=3)
        arns[(p.account, p.group, p.version)] = arn
    return arns


def _model_data(world: World, account: str, group: str, version: int) -> str:
    """A version's artifacts: the model its training job wrote (world.package_training_jobs), else a folder of the
    group's own (a version trained before the jobs' history, or elsewhere)."""
    job = package_training_jobs(world).get((account, group, version))
    return job_artifacts(job) if job else f"s3://sagemaker-{account}-models/{group}/v{version}/model.tar.gz"


def _inference_spec(world: World, account: str, group: str, image: str, version: int) -> dict[str, Any]:
    types = sorted({v.instance_type for e in world.endpoints if e.package_group == group and e.account == account
                    for v in e.variants})
    return {"Containers": [{"Image": image, "ModelDataUrl": _model_data(world, account, group, version)}],
            "SupportedContentTypes": ["application/json"], "SupportedResponseMIMETypes": ["application/json"],
            "SupportedRealtimeInferenceInstanceTypes": types}


def _seed_models(world: World, e: EndpointSpec, arns: dict[tuple[str, str, int], str]) -> None:
    backend = _sm(e.account)
    package = {(p.account, p.group, p.version): p for p in world.packages}
    for v in e.variants:
        for s in world.timeline.states(e.account, e.name, v.name):
            name = e.model_name(v, s.model_version)
            if name in backend._models:
                continue
            p = package[(e.account, e.package_group, s.model_version)]
            container = {"Image": p.image, "ModelPackageName": arns[(p.account, p.group, p.version)],
                         "ModelDataUrl": _model_data(world, e.account, e.package_group, s.model_version),
                         "Mode": "SingleModel", "Environment": {"SAGEMAKER_PROGRAM": "serve.py"}}
            model = backend.create_model(name, role_arn(e.account), container, None, None,
                                         _tags(team=e.team, project=e.project, env=e.env,
                                               **{"model-package-group": e.package_group}))
            model.creation_time = _naive(min(s.time, p.created + timedelta(hours=4)))


def _seed_configs(world: World, e: EndpointSpec) -> None:
    """Every endpoint config the timeline names, with the variant state it was deployed with."""
    backend = _sm(e.account)
    first: dict[str, dict[str, VariantState]] = {}
    for v in e.variants:
        for s in world.timeline.states(e.account, e.name, v.name):
            first.setdefault(s.config_name, {}).setdefault(v.name, s)
    for name, states in first.items():
        variants = [{"VariantName": s.variant, "ModelName": e.model_name(v, s.model_version),
                     "InitialInstanceCount": s.count, "InstanceType": s.instance_type,
                     "InitialVariantWeight": s.weight}
                    for v in e.variants if (s := states.get(v.name))]
        config = backend.create_endpoint_config(name, variants, None, None,
                                                _tags(team=e.team, project=e.project, env=e.env), None)
        config.creation_time = _naive(min(s.time for s in states.values())) - timedelta(minutes=6)


def _variant_view(state: VariantState, image: str) -> dict[str, Any]:
    return {"VariantName": state.variant, "CurrentWeight": state.weight, "DesiredWeight": state.weight,
            "CurrentInstanceCount": state.count, "DesiredInstanceCount": state.count,
            "DeployedImages": [{"SpecifiedImage": image, "ResolvedImage": image.split(":")[0] + "@sha256:"
                                + hashlib.sha256(image.encode()).hexdigest(), "ResolutionTime": _naive(state.time)}]}


def _seed_endpoint(world: World, e: EndpointSpec, now: datetime) -> None:
    backend = _sm(e.account)
    current = [world.timeline.at(e.account, e.name, v.name, _aware(now)) for v in e.variants]
    current = [s for s in current if s is not None]
    endpoint = backend.create_endpoint(e.name, current[0].config_name,
                                       _tags(team=e.team, project=e.project, env=e.env,
                                             stack=e.stack))
    images = {p.version: p.image for p in world.packages if p.account == e.account and p.group == e.package_group}
    endpoint.production_variants = [_variant_view(s, images.get(s.model_version, "")) for s in current]
    endpoint.creation_time = _naive(e.created)
    states = [s for v in e.variants for s in world.timeline.states(e.account, e.name, v.name)
              if _naive(s.time) <= now]
    endpoint.last_modified_time = _naive(max(s.time for s in states))


def _seed_endpoints(world: World, now: datetime) -> None:
    arns = _package_arns(world)
    for e in world.endpoints:
        _seed_models(world, e, arns)
        _seed_configs(world, e)
        _seed_endpoint(world, e, now)


# --------------------------------------------------------------------------- endpoint updates


def _settle_update(pending: PendingUpdate, now: datetime) -> bool:
    if now < pending.due:
        return False
    endpoint = pending.endpoint
    endpoint.production_variants = pending.variants
    endpoint.endpoint_status = "InService"
    endpoint.last_modified_time = pending.due
    return True


def _model_version(model_name: str, previous: int) -> int:
    m = re.search(r"-v(\d+)$", model_name or "")
    return int(m.group(1)) if m else previous


def _record(account: str, endpoint: Any, variant: dict[str, Any], due: datetime, cause: str,
            instance_type: str | None = None, model_name: str | None = None) -> VariantState:
    """Append the variant's new state to the world timeline (the metric model reads it)."""
    world = _world()
    name = variant["VariantName"]
    before = world.timeline.at(account, endpoint.endpoint_name, name, _aware(due)) if world else None
    state = VariantState(
        _aware(due), account, endpoint.endpoint_name, name,
        instance_type or (before.instance_type if before else ""),
        int(variant.get("DesiredInstanceCount") or 0), float(variant.get("DesiredWeight") or 0.0),
        endpoint.endpoint_config_name,
        _model_version(model_name or "", before.model_version if before else 0), cause)
    if world is not None:
        world.timeline.record(state)
    return state


def _begin_update(account: str, endpoint: Any, final: list[dict[str, Any]], now: datetime) -> datetime:
    """Put the endpoint into Updating until a simulated 30-60 s later; returns when it is InService again."""
    seconds = UPDATE_SECONDS[0] + (UPDATE_SECONDS[1] - UPDATE_SECONDS[0]) * _unit(endpoint.arn, now)
    due = now + _wall(seconds, floor=1.0)
    endpoint.endpoint_status = "Updating"
    endpoint.last_modified_time = now
    _UPDATES[id(endpoint)] = PendingUpdate(endpoint, due, final)
    return due


def _require_in_service(endpoint: Any) -> None:
    if endpoint.endpoint_status != "InService":
        raise _validation(f"Cannot update in-progress endpoint \"{endpoint.arn}\".")


def _get_endpoint(backend: Any, name: str) -> Any:
    endpoint = backend.endpoints.get(name)
    if endpoint is None:
        from moto.sagemaker.models import FakeEndpoint

        arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise _validation(f"Could not find endpoint \"{arn}\".")
    return endpoint


def update_weights_and_capacities(backend: Any, endpoint_name: str, desired: list[dict[str, Any]],
                                  cause: str = "action") -> str:
    """UpdateEndpointWeightsAndCapacities as AWS does it: absent fields keep their value; Updating, then InService."""
    with _LOCK:
        _advance(_utcnow())
        endpoint = _get_endpoint(backend, endpoint_name)
        names = [d.get("VariantName") for d in desired]
        if len(set(names)) != len(names):
            raise _validation("The variant name was non-unique within the request.")
        current = {v["VariantName"]: v for v in endpoint.production_variants}
        missing = [n for n in names if n not in current]
        if missing:
            raise _validation(f"The variant name(s) \"{', '.join(map(str, missing))}\" is/are not present within "
                              f"endpoint configuration \"{endpoint.endpoint_config_name}\".")
        _require_in_service(endpoint)
        return _apply_capacity(backend.account_id, endpoint, {d["VariantName"]: d for d in desired}, cause)


def _apply_capacity(account: str, endpoint: Any, desired: dict[str, dict[str, Any]], cause: str) -> str:
    now = _utcnow()
    final, shown = [], []
    for v in endpoint.production_variants:
        d = desired.get(v["VariantName"], {})
        want = {**v, "DesiredWeight": d.get("DesiredWeight", v.get("DesiredWeight")),
                "DesiredInstanceCount": d.get("DesiredInstanceCount", v.get("DesiredInstanceCount"))}
        shown.append(want)
        final.append({**want, "CurrentWeight": want["DesiredWeight"],
                      "CurrentInstanceCount": want["DesiredInstanceCount"]})
    due = _begin_update(account, endpoint, final, now)
    endpoint.production_variants = shown
    for v in final:
        if v["VariantName"] in desired:
            _record(account, endpoint, v, due, cause)
    return endpoint.arn


def _autoscaled_variants(account: str, region: str, endpoint_name: str) -> set[str]:
    targets = _aas(account, region).targets.get(VARIANT_DIMENSION, {})
    prefix = f"endpoint/{endpoint_name}/variant/"
    return {rid[len(prefix):] for rid in targets if rid.startswith(prefix)}


def update_endpoint(backend: Any, endpoint_name: str, config_name: str, retain: bool = False) -> str:
    """UpdateEndpoint: switch to another endpoint config (Updating, then InService with the new variants)."""
    with _LOCK:
        _advance(_utcnow())
        endpoint = _get_endpoint(backend, endpoint_name)
        config = backend.endpoint_configs.get(config_name)
        if config is None:
            raise _validation(f"Could not find endpoint configuration \"{config_name}\".")
        _require_in_service(endpoint)
        _check_autoscaled_types(backend, endpoint, config)
        now = _utcnow()
        current = {v["VariantName"]: v for v in endpoint.production_variants}
        final = [_config_variant(pv, current.get(pv["VariantName"]) if retain else None)
                 for pv in config.production_variants]
        endpoint.endpoint_config_name = config_name
        due = _begin_update(backend.account_id, endpoint, final, now)
        for pv, v in zip(config.production_variants, final, strict=True):
            _record(backend.account_id, endpoint, v, due, "action", pv.get("InstanceType"), pv.get("ModelName"))
        for gone in set(current) - {v["VariantName"] for v in final}:
            _record(backend.account_id, endpoint, {"VariantName": gone}, due, "action")
        return endpoint.arn


def _config_variant(pv: dict[str, Any], retained: dict[str, Any] | None) -> dict[str, Any]:
    count = (retained or {}).get("CurrentInstanceCount", pv.get("InitialInstanceCount", 1))
    weight = (retained or {}).get("CurrentWeight", pv.get("InitialVariantWeight", 1.0))
    return {"VariantName": pv["VariantName"], "CurrentWeight": weight, "DesiredWeight": weight,
            "CurrentInstanceCount": count, "DesiredInstanceCount": count}


def _check_autoscaled_types(backend: Any, endpoint: Any, config: Any) -> None:
    """AWS refuses an update that changes the instance type of a variant registered for autoscaling."""
    autoscaled = _autoscaled_variants(backend.account_id, backend.region_name, endpoint.endpoint_name)
    old = backend.endpoint_configs.get(endpoint.endpoint_config_name)
    old_types = {pv["VariantName"]: pv.get("InstanceType") for pv in (old.production_variants if old else [])}
    changed = [pv["VariantName"] for pv in config.production_variants
               if pv["VariantName"] in autoscaled and pv.get("InstanceType") != old_types.get(pv["VariantName"])]
    if changed:
        raise _validation(f"The variant(s) \"[{', '.join(changed)}]\" include automatic scaling configurations. "
                          "Deregister the scalable target before changing the instance type of the variant(s).")


# --------------------------------------------------------------------------- pipelines


def _definition(p: PipelineSpec) -> str:
    steps = [{"Name": s, "Type": STEP_TYPES.get(s, "Processing"), "Arguments": {},
              **({"DependsOn": [p.steps[i - 1]]} if i else {})} for i, s in enumerate(p.steps)]
    return json.dumps({
        "Version": "2020-12-01", "Metadata": {},
        "Parameters": [{"Name": "InstanceType", "Type": "String", "DefaultValue": "ml.m5.2xlarge"},
                       {"Name": "AucThreshold", "Type": "Float", "DefaultValue": 0.88}],
        "PipelineExperimentConfig": {"ExperimentName": {"Get": "Execution.PipelineName"},
                                     "TrialName": {"Get": "Execution.PipelineExecutionId"}},
        "Steps": steps,
    })


def _seed_pipelines(world: World, now: datetime) -> None:
    for p in world.pipelines:
        backend = _sm(p.account)
        pipeline = backend.create_pipeline(p.name, p.name, _definition(p), None,
                                           f"{p.team}/{p.project}: {' -> '.join(p.steps)}", role_arn(p.account),
                                           _tags(team=p.team, project=p.project, env="prod"), None)
        pipeline.creation_time = pipeline.last_modified_time = _naive(p.first_run) - timedelta(days=3)
        executions = [x for x in world.pipeline_executions if x.pipeline == p.name and x.account == p.account]
        for x in executions:
            _add_execution(pipeline, x, now)
        _SCHEDULED[(p.account, p.name)] = len(executions)


def _exec_arn(pipeline: Any, execution_id: str) -> str:
    return f"{pipeline.arn}/execution/{execution_id}"


def _add_execution(pipeline: Any, x: PipelineExecutionSpec, now: datetime) -> None:
    from moto.sagemaker.models import FakePipelineExecution

    arn = _exec_arn(pipeline, x.execution_id)
    execution = FakePipelineExecution(arn, f"execution-{int(x.start.timestamp() * 1000)}",
                                      [{"Name": k, "Value": v} for k, v in x.parameters.items()],
                                      "Scheduled run", None, pipeline.pipeline_definition, None)
    execution.creation_time = execution.start_time = _naive(x.start)
    # swap the dict rather than mutate it: request threads may be iterating the old one
    pipeline.pipeline_executions = {**pipeline.pipeline_executions, arn: execution}
    pipeline.last_execution_time = max(pipeline.last_execution_time or execution.start_time, execution.start_time)
    plan = ExecPlan(execution, list(x.steps), x.status, _naive(x.end))
    _EXECS[arn] = plan
    _show_execution(plan, now)
    if execution.pipeline_execution_status in ("Executing", "Stopping"):
        _ACTIVE_EXECS.add(arn)


def _show_execution(plan: ExecPlan, now: datetime) -> bool:
    execution = plan.execution
    if now >= plan.end:
        execution.pipeline_execution_status = plan.status
        execution.pipeline_execution_failure_reason = PIPELINE_FAILURE if plan.status == "Failed" else None
        execution.last_modified_time = plan.end
        return True
    stopping = plan.stopping_at is not None and now >= plan.stopping_at
    execution.pipeline_execution_status = "Stopping" if stopping else "Executing"
    execution.pipeline_execution_failure_reason = None
    started = [_naive(s.start) for s in plan.steps if _naive(s.start) <= now]
    execution.last_modified_time = max(started, default=execution.creation_time)
    return False


def _step_view(plan: ExecPlan, step: StepRun, now: datetime) -> dict[str, Any] | None:
    start, end = _naive(step.start), _naive(step.end)
    if start > now:
        return None
    view: dict[str, Any] = {"StepName": step.name, "StepDisplayName": step.name, "StartTime": start,
                            "AttemptCount": plan.attempts.get(step.name, 1)}
    if now >= end:
        view.update(StepStatus=step.status, EndTime=end)
        if step.failure_reason:
            view["FailureReason"] = step.failure_reason
    else:
        stopping = plan.stopping_at is not None and now >= plan.stopping_at
        view["StepStatus"] = "Stopping" if stopping else "Executing"
    return view


def _steps_of(definition: str) -> list[str]:
    try:
        steps = [s["Name"] for s in json.loads(definition or "{}").get("Steps", []) if s.get("Name")]
    except (ValueError, TypeError, AttributeError):
        steps = []
    return steps or ["Step1"]


def _run_steps(names: list[str], start: datetime, key: str) -> list[StepRun]:
    runs, t = [], start
    for name in names:
        d = API_STEP_SECONDS[0] + (API_STEP_SECONDS[1] - API_STEP_SECONDS[0]) * _unit(key, name)
        runs.append(StepRun(name, t, t + _wall(d), "Succeeded"))
        t += _wall(d)
    return runs


def start_execution(backend: Any, original: Any, pipeline_name: str, *args: Any) -> dict[str, str]:
    """StartPipelineExecution, idempotent on ClientRequestToken; the execution runs its steps over time."""
    token = args[-1]
    with _LOCK:
        key = (backend.account_id, f"start/{pipeline_name}", token)
        if token and key in _TOKENS:
            return {"PipelineExecutionArn": _TOKENS[key]}
        result = original(backend, pipeline_name, *args)
        arn = result["PipelineExecutionArn"]
        pipeline = backend.pipelines[pipeline_name]
        execution = pipeline.pipeline_executions[arn]
        now = _utcnow()
        steps = _run_steps(_steps_of(pipeline.pipeline_definition), now, arn)
        plan = ExecPlan(execution, steps, "Succeeded", steps[-1].end)
        _EXECS[arn] = plan
        _show_execution(plan, now)
        _ACTIVE_EXECS.add(arn)
        if token:
            _TOKENS[key] = arn
        return result


def _plan_for(backend: Any, arn: str) -> ExecPlan:
    from moto.sagemaker.utils import get_pipeline_execution_from_arn

    get_pipeline_execution_from_arn(backend.pipelines, arn)  # raises AWS's ValidationException if unknown
    plan = _EXECS.get(arn)
    if plan is None:
        raise _validation(f"Pipeline execution {arn} has no step history in this account.")
    return plan


def retry_execution(backend: Any, arn: str, token: str | None) -> str:
    """RetryPipelineExecution: re-run a Failed/Stopped execution from its first unsuccessful step (same ARN)."""
    with _LOCK:
        _advance(_utcnow())
        key = (backend.account_id, f"retry/{arn}", token or "")
        if token and key in _TOKENS:
            return _TOKENS[key]
        plan = _plan_for(backend, arn)
        status = plan.execution.pipeline_execution_status
        if status not in ("Failed", "Stopped"):
            raise _validation(f"Pipeline execution with ARN {arn} is in status {status}; only Failed or Stopped "
                              "executions can be retried.")
        now = _utcnow()
        done = [s for s in plan.steps if s.status == "Succeeded"]
        names = _steps_of(plan.execution.pipeline_definition_for_execution)
        todo = [n for n in names if n not in {s.name for s in done}]
        for name in todo:
            plan.attempts[name] = plan.attempts.get(name, 1) + (1 if any(s.name == name for s in plan.steps) else 0)
        plan.steps = done + _run_steps(todo, now, f"{arn}/retry/{now.isoformat()}")
        plan.status, plan.end, plan.stopping_at = "Succeeded", max(now, plan.steps[-1].end), None
        _show_execution(plan, now)
        _ACTIVE_EXECS.add(arn)
        if token:
            _TOKENS[key] = arn
        return arn


def stop_execution(backend: Any, arn: str, token: str | None) -> str:
    """StopPipelineExecution: Stopping now, Stopped (running steps Stopped) a little later."""
    with _LOCK:
        _advance(_utcnow())
        key = (backend.account_id, f"stop/{arn}", token or "")
        if token and key in _TOKENS:
            return _TOKENS[key]
        plan = _plan_for(backend, arn)
        status = plan.execution.pipeline_execution_status
        if status != "Executing":
            raise _validation(f"Pipeline execution with ARN {arn} is in status {status} and cannot be stopped.")
        now = _utcnow()
        end = now + _wall(STOP_SECONDS, floor=1.0)
        plan.steps = [s if _naive(s.end) <= now else StepRun(s.name, s.start, end, "Stopped")
                      for s in plan.steps if _naive(s.start) <= now]
        plan.status, plan.end, plan.stopping_at = "Stopped", end, now
        _show_execution(plan, now)
        if token:
            _TOKENS[key] = arn
        return arn


def _scheduled_spec(world: World, p: PipelineSpec, n: int) -> PipelineExecutionSpec:
    """The n-th scheduled run of a world pipeline (n beyond the seeded history), deterministic in (seed, n)."""
    rng = random.Random(_h(world.seed, p.account, p.name, n))
    start = p.first_run + timedelta(hours=p.every_hours * n, minutes=rng.randint(0, 9))
    from demo.world import STEP_FAILURES

    fail_at = rng.choice([s for s in p.steps if s in STEP_FAILURES]) if rng.random() < 0.2 else None
    runs, t = [], start
    for s in p.steps:
        d = timedelta(minutes=rng.randint(4, 45))
        failed = s == fail_at
        runs.append(StepRun(s, t, t + d, "Failed" if failed else "Succeeded", STEP_FAILURES[s] if failed else None))
        t += d
        if failed:
            break
    return PipelineExecutionSpec(p.account, p.name, f"{rng.getrandbits(48):012x}", start, t,
                                 "Failed" if fail_at else "Succeeded", tuple(runs),
                                 {"InstanceType": "ml.m5.2xlarge", "AucThreshold": "0.88"})


def _schedule_pipelines(world: World, now: datetime) -> None:
    for p in world.pipelines:
        key = (p.account, p.name)
        pipeline = _sm(p.account).pipelines.get(p.name)
        while pipeline is not None:
            x = _scheduled_spec(world, p, _SCHEDULED[key])
            if _naive(x.start) > now:
                break
            _add_execution(pipeline, x, now)
            _SCHEDULED[key] += 1


# --------------------------------------------------------------------------- application auto scaling


def _seed_autoscaling(world: World) -> None:
    for e in world.endpoints:
        if e.autoscaling is None:
            continue
        aas = _aas(e.account)
        v = e.variants[0]
        rid = f"endpoint/{e.name}/variant/{v.name}"
        target = aas.register_scalable_target("sagemaker", rid, VARIANT_DIMENSION, e.autoscaling.min_capacity,
                                              e.autoscaling.max_capacity,
                                              f"arn:aws:iam::{e.account}:role/aws-service-role/sagemaker."
                                              "application-autoscaling.amazonaws.com/"
                                              "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint", None)
        target.arn = (f"arn:aws:application-autoscaling:{REGION}:{e.account}:scalable-target/"
                      f"{_uuid(world.seed, rid).replace('-', '')[:32]}")
        target.creation_time = e.created.timestamp() + 600
        policy = aas.put_scaling_policy(_policy_name(e.name), "sagemaker", rid, VARIANT_DIMENSION, {
            "TargetValue": e.autoscaling.target_invocations_per_instance,
            "PredefinedMetricSpecification": {"PredefinedMetricType": POLICY_METRIC},
            "ScaleInCooldown": 300, "ScaleOutCooldown": 60}, "TargetTrackingScaling")
        policy.policy_arn = (f"arn:aws:autoscaling:{REGION}:{e.account}:scalingPolicy:{_uuid(world.seed, 'p', rid)}"
                             f":resource/sagemaker/{rid}:policyName/{policy.policy_name}")
        policy.creation_time = e.created.timestamp() + 660


def _policy_name(endpoint: str) -> str:
    return f"{endpoint}-invocations-target-tracking"


def _target_variant(account: str, region: str, resource_id: str) -> tuple[Any, dict[str, Any]] | None:
    """The moto endpoint and live variant a ``endpoint/NAME/variant/VARIANT`` resource id names, if any."""
    m = re.fullmatch(r"endpoint/([^/]+)/variant/([^/]+)", resource_id)
    endpoint = _sm(account, region).endpoints.get(m.group(1)) if m else None
    if endpoint is None:
        return None
    variant = next((v for v in endpoint.production_variants if v["VariantName"] == m.group(2)), None)
    return (endpoint, variant) if variant is not None else None


def _clamp_to_target(account: str, region: str, target: Any) -> None:
    """A changed min/max that excludes the variant's count moves the count into range (cause autoscaling)."""
    found = _target_variant(account, region, target.resource_id)
    if found is None:
        return
    endpoint, variant = found
    count = int(variant.get("DesiredInstanceCount") or 0)
    low = target.min_capacity if target.min_capacity is not None else count
    high = target.max_capacity if target.max_capacity is not None else count
    new = min(max(count, low), high)
    if new == count:
        return
    with _LOCK:
        now = _utcnow()
        if id(endpoint) in _UPDATES:  # AAS waits for InService: let the running update finish first
            running = _UPDATES.pop(id(endpoint))
            _settle_update(running, running.due)
        _apply_capacity(account, endpoint, {variant["VariantName"]: {"DesiredInstanceCount": new}}, "autoscaling")
        why = f"minimum capacity was set to {low}" if new > count else f"maximum capacity was set to {high}"
        _NOTES[(account, endpoint.endpoint_name, variant["VariantName"], _UPDATES[id(endpoint)].due)] = (why, now)


def _activity(account: str, rid: str, endpoint: str, variant: str, s: VariantState, prev: VariantState,
              now: datetime) -> dict[str, Any]:
    end = _naive(s.time)
    note = _NOTES.get((account, endpoint, variant, end))
    up = s.count > prev.count
    if note:
        cause, start = note
    elif s.cause == "autoscaling":
        alarm = f"TargetTracking-{rid}-Alarm{'High' if up else 'Low'}-{_uuid('alarm', account, rid, up)}"
        cause, start = f"monitor alarm {alarm} in state ALARM triggered policy {_policy_name(endpoint)}", \
            end - timedelta(minutes=4)
    else:
        cause = f"{'minimum' if up else 'maximum'} capacity was set to {s.count}" if s.cause == "manual" else \
            f"desired instance count was set to {s.count} by UpdateEndpointWeightsAndCapacities"
        start = end - timedelta(minutes=4)
    done = end <= now
    out = {"ActivityId": _uuid("activity", account, rid, end.isoformat()), "ServiceNamespace": "sagemaker",
           "ResourceId": rid, "ScalableDimension": VARIANT_DIMENSION,
           "Description": f"Setting desired instance count to {s.count}.", "Cause": cause,
           "StartTime": start.replace(tzinfo=UTC).timestamp(),
           "StatusCode": "Successful" if done else "InProgress",
           "StatusMessage": (f"Successfully set desired instance count to {s.count}. Change successfully fulfilled "
                             "by sagemaker.") if done else "Waiting for change to be fulfilled by sagemaker."}
    if done:
        out["EndTime"] = end.replace(tzinfo=UTC).timestamp()
    return out


def scaling_activities(account: str, region: str, namespace: str, resource_id: str | None,
                       dimension: str | None) -> list[dict[str, Any]]:
    """DescribeScalingActivities for SageMaker variants: every count change of an autoscaled variant, newest first."""
    world = _world()
    if world is None or namespace != "sagemaker":
        return []
    now = _utcnow()
    out = []
    for t in _aas(account, region).describe_scalable_targets(namespace, [resource_id] if resource_id else None,
                                                              dimension):
        m = re.fullmatch(r"endpoint/([^/]+)/variant/([^/]+)", t.resource_id)
        if not m:
            continue
        states = world.timeline.states(account, m.group(1), m.group(2))
        for prev, s in zip(states, states[1:], strict=False):
            if s.count != prev.count and s.cause in ("autoscaling", "manual", "action"):
                out.append(_activity(account, t.resource_id, m.group(1), m.group(2), s, prev, now))
    return sorted(out, key=lambda a: a["StartTime"], reverse=True)


# --------------------------------------------------------------------------- time


def _advance(now: datetime) -> None:
    """Move every running thing to ``now`` (naive UTC): endpoint updates, jobs, executions, schedules."""
    with _LOCK:
        for key, pending in list(_UPDATES.items()):
            if _settle_update(pending, now):
                _UPDATES.pop(key, None)
        for key, plan in list(_JOBS.items()):
            if _show_job(plan, now):
                _JOBS.pop(key, None)
        for key, (job, spec) in list(_PROCESSING.items()):
            if _show_processing(job, spec, now):
                _PROCESSING.pop(key, None)
        for arn in list(_ACTIVE_EXECS):
            if _show_execution(_EXECS[arn], now):
                _ACTIVE_EXECS.discard(arn)
        world = _world()
        if world is not None and _SCHEDULED:
            _schedule_pipelines(world, now)


def tick(world: World, now: datetime) -> None:
    _advance(_naive(now))


# --------------------------------------------------------------------------- seed


def seed(world: World) -> None:
    """Write the world's SageMaker and Application Auto Scaling state into moto's in-process backends."""
    with _LOCK:
        _STATE["world"] = world
        now = _utcnow()
        _seed_endpoints(world, now)
        _seed_training_jobs(world, now)
        _seed_pipelines(world, now)
        _seed_processing_jobs(world, now)
        _seed_autoscaling(world)
        _advance(now)


# --------------------------------------------------------------------------- install (patches)


def _accept_instance_type(original: Any) -> Any:
    def validate_instance_type(self: Any, instance_type: str) -> None:
        if instance_type in prices.ML_INSTANCE_HOURLY or EXTRA_INSTANCE_FAMILIES.fullmatch(instance_type or ""):
            return
        original(self, instance_type)

    return validate_instance_type


def _advancing(original: Any) -> Any:
    """Reads first bring running things up to date, so no state lags behind the tick period."""

    def read(self: Any, *args: Any, **kwargs: Any) -> Any:
        _advance(_utcnow())
        return original(self, *args, **kwargs)

    read.__wrapped__ = original
    return read


def _create_training_job(original: Any) -> Any:
    def create_training_job(self: Any, **kwargs: Any) -> Any:
        definitions = [dict(d) for d in (kwargs.get("algorithm_specification") or {}).get("MetricDefinitions", [])]
        job = original(self, **kwargs)
        job.algorithm_specification["MetricDefinitions"] = definitions
        with _LOCK:
            now = _utcnow()
            job.creation_time = now
            _track_job(_api_plan(job, now, definitions), now)
        return job

    return create_training_job


def _describe_pipeline_execution(original: Any) -> Any:
    def describe(self: Any, arn: str) -> dict[str, Any]:
        _advance(_utcnow())
        out = original(self, arn)
        plan = _EXECS.get(arn)
        reason = plan.execution.pipeline_execution_failure_reason if plan else None
        if reason:
            out["FailureReason"] = reason
        else:
            out.pop("FailureReason", None)
        return out

    return describe


def _resource_from_arn(original: Any) -> Any:
    """Tags on versioned model packages (three-part ARNs) and unknown types: a ValidationException, never a 500."""

    def get(self: Any, arn: str) -> Any:
        if ":model-package/" in arn:
            package = self.model_packages.get(arn)
            if package is None:
                raise _validation(f"Could not find model package with ARN {arn}")
            if package.tags is None:
                package.tags = []
            return package
        try:
            return original(self, arn)
        except (ValueError, AttributeError, KeyError):
            raise _validation(f"Could not find resource with ARN {arn}") from None

    return get


def _time_param(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    return _naive(value) if isinstance(value, datetime) else None


def _page(items: list[Any], token: str | None, size: int) -> tuple[list[Any], str | None]:
    try:
        start = int(token) if token else 0
    except ValueError:
        raise _validation(f"Invalid pagination token \"{token}\".") from None
    if start < 0 or start > len(items):
        raise _validation(f"Invalid pagination token \"{token}\".")
    end = start + size
    return items[start:end], (str(end) if end < len(items) else None)


def _list_training_jobs(self: Any) -> Any:
    """ListTrainingJobs as AWS documents it: filter, sort, page, and only then apply StatusEquals."""
    from moto.core.responses import ActionResult

    p = self._get_param
    sort_by, order = p("SortBy") or "CreationTime", p("SortOrder") or "Ascending"
    size = self._get_int_param("MaxResults") or DEFAULT_PAGE
    if sort_by not in ("Name", "CreationTime", "Status") or order not in ("Ascending", "Descending") \
            or not 1 <= size <= 100:
        raise _validation("1 validation error detected: SortBy, SortOrder or MaxResults is out of range.")
    _advance(_utcnow())
    bounds = {k: _time_param(p(k)) for k in ("CreationTimeAfter", "CreationTimeBefore", "LastModifiedTimeAfter",
                                             "LastModifiedTimeBefore")}
    name = p("NameContains")
    jobs = [j for j in list(self.sagemaker_backend.training_jobs.values())
            if (not name or name in j.training_job_name)
            and (bounds["CreationTimeAfter"] is None or j.creation_time > bounds["CreationTimeAfter"])
            and (bounds["CreationTimeBefore"] is None or j.creation_time < bounds["CreationTimeBefore"])
            and (bounds["LastModifiedTimeAfter"] is None or j.last_modified_time > bounds["LastModifiedTimeAfter"])
            and (bounds["LastModifiedTimeBefore"] is None or j.last_modified_time < bounds["LastModifiedTimeBefore"])]
    key = {"Name": lambda j: j.training_job_name, "Status": lambda j: j.training_job_status,
           "CreationTime": lambda j: j.creation_time}[sort_by]
    jobs.sort(key=key, reverse=order == "Descending")
    page, token = _page(jobs, p("NextToken"), size)
    status = p("StatusEquals")
    summaries = [{"TrainingJobName": j.training_job_name, "TrainingJobArn": j.arn, "CreationTime": j.creation_time,
                  "TrainingEndTime": j.training_end_time, "LastModifiedTime": j.last_modified_time,
                  "TrainingJobStatus": j.training_job_status, "SecondaryStatus": j.secondary_status}
                 for j in page if not status or j.training_job_status == status]
    return ActionResult({"TrainingJobSummaries": summaries, "NextToken": token})


def _list_processing_jobs(self: Any) -> Any:
    """ListProcessingJobs: filter (times as AWS sends them), sort, then page."""
    from moto.core.responses import ActionResult

    p = self._get_param
    sort_by, order = p("SortBy") or "CreationTime", p("SortOrder") or "Ascending"
    size = self._get_int_param("MaxResults") or DEFAULT_PAGE
    if sort_by not in ("Name", "CreationTime", "Status") or order not in ("Ascending", "Descending") \
            or not 1 <= size <= 100:
        raise _validation("1 validation error detected: SortBy, SortOrder or MaxResults is out of range.")
    _advance(_utcnow())
    bounds = {k: _time_param(p(k)) for k in ("CreationTimeAfter", "CreationTimeBefore", "LastModifiedTimeAfter",
                                             "LastModifiedTimeBefore")}
    name, status = p("NameContains"), p("StatusEquals")
    jobs = [j for j in list(self.sagemaker_backend.processing_jobs.values())
            if (not name or name in j.processing_job_name) and (not status or j.processing_job_status == status)
            and (bounds["CreationTimeAfter"] is None or j.creation_time > bounds["CreationTimeAfter"])
            and (bounds["CreationTimeBefore"] is None or j.creation_time < bounds["CreationTimeBefore"])
            and (bounds["LastModifiedTimeAfter"] is None or j.last_modified_time > bounds["LastModifiedTimeAfter"])
            and (bounds["LastModifiedTimeBefore"] is None or j.last_modified_time < bounds["LastModifiedTimeBefore"])]
    key = {"Name": lambda j: j.processing_job_name, "Status": lambda j: j.processing_job_status,
           "CreationTime": lambda j: j.creation_time}[sort_by]
    jobs.sort(key=key, reverse=order == "Descending")
    page, token = _page(jobs, p("NextToken"), size)
    summaries = [{"ProcessingJobName": j.processing_job_name, "ProcessingJobArn": j.arn,
                  "CreationTime": j.creation_time, "ProcessingEndTime": j.processing_end_time,
                  "LastModifiedTime": j.last_modified_time, "ProcessingJobStatus": j.processing_job_status,
                  **({"FailureReason": j.failure_reason} if getattr(j, "failure_reason", None) else {}),
                  **({"ExitMessage": j.exit_message} if getattr(j, "exit_message", None) else {})}
                 for j in page]
    return ActionResult({"ProcessingJobSummaries": summaries, "NextToken": token})


def _list_pipeline_executions(self: Any) -> Any:
    from moto.core.responses import ActionResult
    from moto.sagemaker.utils import get_pipeline_from_name

    _advance(_utcnow())
    name = (self._get_param("PipelineName") or "").split("/")[-1]
    pipeline = get_pipeline_from_name(self.sagemaker_backend.pipelines, name)
    after, before = _time_param(self._get_param("CreatedAfter")), _time_param(self._get_param("CreatedBefore"))
    executions = [x for x in pipeline.pipeline_executions.values()
                  if (after is None or x.creation_time > after) and (before is None or x.creation_time < before)]
    by_arn = self._get_param("SortBy") == "PipelineExecutionArn"
    executions.sort(key=lambda x: x.arn if by_arn else x.creation_time,
                    reverse=(self._get_param("SortOrder") or "Descending") == "Descending")
    page, token = _page(executions, self._get_param("NextToken"), self._get_int_param("MaxResults") or DEFAULT_PAGE)
    summaries = [{"PipelineExecutionArn": x.arn, "StartTime": x.start_time,
                  "PipelineExecutionStatus": x.pipeline_execution_status,
                  "PipelineExecutionDescription": x.pipeline_execution_description,
                  "PipelineExecutionDisplayName": x.pipeline_execution_display_name,
                  **({"PipelineExecutionFailureReason": x.pipeline_execution_failure_reason}
                     if x.pipeline_execution_failure_reason else {})}
                 for x in page]
    return ActionResult({"PipelineExecutionSummaries": summaries, "NextToken": token})


def _list_pipeline_execution_steps(self: Any) -> Any:
    from moto.core.responses import ActionResult

    _advance(_utcnow())
    now = _utcnow()
    plan = _plan_for(self.sagemaker_backend, self._get_param("PipelineExecutionArn"))
    steps = [v for s in plan.steps if (v := _step_view(plan, s, now))]
    steps.sort(key=lambda v: v["StartTime"], reverse=(self._get_param("SortOrder") or "Descending") == "Descending")
    page, token = _page(steps, self._get_param("NextToken"), self._get_int_param("MaxResults") or DEFAULT_PAGE)
    return ActionResult({"PipelineExecutionSteps": page, "NextToken": token})


def _update_endpoint(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = update_endpoint(self.sagemaker_backend, self._get_param("EndpointName"),
                          self._get_param("EndpointConfigName"), bool(self._get_param("RetainAllVariantProperties")))
    return ActionResult({"EndpointArn": arn})


def _update_weights(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = update_weights_and_capacities(self.sagemaker_backend, self._get_param("EndpointName"),
                                        self._get_param("DesiredWeightsAndCapacities") or [])
    return ActionResult({"EndpointArn": arn})


def _stop_training_job(self: Any) -> Any:
    from moto.core.responses import EmptyResult

    backend = self.sagemaker_backend
    name = self._get_param("TrainingJobName")
    with _LOCK:
        _advance(_utcnow())
        job = backend.training_jobs.get(name)
        if job is None:
            raise _validation(f"Requested resource not found: training job {name} does not exist.")
        plan = _JOBS.get(id(job))
        if plan is None or job.training_job_status != "InProgress":
            raise _validation(f"The request was rejected because the training job is in status "
                              f"{job.training_job_status}.")
        now = _utcnow()
        _stop_job(plan, now)
        _show_job(plan, now)
    return EmptyResult()


def _retry_pipeline_execution(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = retry_execution(self.sagemaker_backend, self._get_param("PipelineExecutionArn"),
                          self._get_param("ClientRequestToken"))
    return ActionResult({"PipelineExecutionArn": arn})


def _stop_pipeline_execution(self: Any) -> Any:
    from moto.core.responses import ActionResult

    arn = stop_execution(self.sagemaker_backend, self._get_param("PipelineExecutionArn"),
                         self._get_param("ClientRequestToken"))
    return ActionResult({"PipelineExecutionArn": arn})


def _list_monitoring_schedules(self: Any) -> Any:
    from moto.core.responses import ActionResult

    return ActionResult({"MonitoringScheduleSummaries": []})


def _describe_scaling_activities(self: Any) -> str:
    self._validate_params()
    activities = scaling_activities(self.current_account, self.region, self._get_param("ServiceNamespace"),
                                    self._get_param("ResourceId"), self._get_param("ScalableDimension"))
    page, token = _page(activities, self._get_param("NextToken"), self._get_int_param("MaxResults") or 50)
    return json.dumps({"ScalingActivities": page, **({"NextToken": token} if token else {})})


def _register_scalable_target(original: Any) -> Any:
    def register(self: Any, namespace: str, r_id: str, dimension: str, *args: Any, **kwargs: Any) -> Any:
        target = original(self, namespace, r_id, dimension, *args, **kwargs)
        if namespace == "sagemaker" and dimension == VARIANT_DIMENSION and _world() is not None:
            _clamp_to_target(self.account_id, self.region_name, target)
        return target

    return register


def _unknown_operations_answer_400(original: Any) -> Any:
    """An operation moto lacks answers 400 UnknownOperationException at once, not a 500 botocore retries."""
    from moto.core.exceptions import JsonRESTError

    def call_action(self: Any) -> Any:
        try:
            return original(self)
        except NotImplementedError as exc:
            error = JsonRESTError("UnknownOperationException", f"{exc} in the emulated account.")
            return 400, {"status": 400, "Content-Type": "application/x-amz-json-1.1"}, error.description

    return call_action


def install(world: World) -> None:
    """Patch moto's SageMaker and Application Auto Scaling in this process (idempotent)."""
    _STATE["world"] = world
    if _STATE["installed"]:
        return
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
    from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
    from moto.sagemaker.models import FakeEndpointConfig, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    FakeEndpointConfig.validate_instance_type = _accept_instance_type(FakeEndpointConfig.validate_instance_type)
    backend = SageMakerModelBackend
    backend.create_training_job = _create_training_job(backend.create_training_job)
    backend._get_resource_from_arn = _resource_from_arn(backend._get_resource_from_arn)
    backend.describe_pipeline_execution = _describe_pipeline_execution(backend.describe_pipeline_execution)
    for name in ("describe_training_job", "describe_processing_job", "describe_endpoint", "list_endpoints"):
        setattr(backend, name, _advancing(getattr(backend, name)))
    original_start = backend.start_pipeline_execution
    backend.start_pipeline_execution = lambda self, name, *args: start_execution(self, original_start, name, *args)
    responses = {
        "list_training_jobs": _list_training_jobs, "list_processing_jobs": _list_processing_jobs,
        "list_pipeline_executions": _list_pipeline_executions,
        "list_pipeline_execution_steps": _list_pipeline_execution_steps, "update_endpoint": _update_endpoint,
        "update_endpoint_weights_and_capacities": _update_weights, "stop_training_job": _stop_training_job,
        "retry_pipeline_execution": _retry_pipeline_execution, "stop_pipeline_execution": _stop_pipeline_execution,
        "list_monitoring_schedules": _list_monitoring_schedules,
    }
    for name, fn in responses.items():
        setattr(SageMakerResponse, name, fn)
    SageMakerResponse.call_action = _unknown_operations_answer_400(SageMakerResponse.call_action)
    ApplicationAutoScalingResponse.describe_scaling_activities = _describe_scaling_activities
    ApplicationAutoScalingResponse.call_action = _unknown_operations_answer_400(
        ApplicationAutoScalingResponse.call_action)
    ApplicationAutoscalingBackend.register_scalable_target = _register_scalable_target(
        ApplicationAutoscalingBackend.register_scalable_target)
    _STATE["installed"] = True
