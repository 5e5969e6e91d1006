"""The ML organisation the emulated account holds, as plain data.

``build_world(seed, anchor)`` is deterministic: the same seed and anchor (a UTC
midnight, by default today's) give the same organisation, down to every timestamp.
Everything else in ``demo/`` derives from it: the SageMaker resources seeded into
moto, the metric series, the logs and the bill.

The one mutable part is the :class:`Timeline` of variant states (instance type,
count, weight, endpoint config). Seeding writes its history; actions against the
running account (UpdateEndpoint, scalable-target changes, ...) append to it, and
the metric model reads it, so a scale-up shows in latency and CPU within a minute.
"""

from __future__ import annotations

import bisect
import random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from demo import prices

MAIN_ACCOUNT = "123456789012"
SECOND_ACCOUNT = "210987654321"
REGION = "us-east-1"
CROSS_ACCOUNT_ROLE = f"arn:aws:iam::{SECOND_ACCOUNT}:role/SextantReadOnly"
EXTERNAL_ID = "sextant-demo"
HISTORY_DAYS = 30
COST_DAYS = 95


def today_anchor(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def role_arn(account: str) -> str:
    return f"arn:aws:iam::{account}:role/SageMakerExecution"


def ecr_uri(account: str, repo: str, tag: str) -> str:
    return f"{account}.dkr.ecr.{REGION}.amazonaws.com/{repo}:{tag}"


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class VariantSpec:
    name: str
    instance_type: str
    count: int
    weight: float
    model_version: int


@dataclass(frozen=True)
class Autoscaling:
    min_capacity: int
    max_capacity: int
    target_invocations_per_instance: float


@dataclass(frozen=True)
class Incident:
    """A latency spike with a 5xx burst, caused by a bad deployment."""

    start: datetime
    end: datetime
    latency_factor: float
    error_rate: float
    bad_version: int


@dataclass(frozen=True)
class EndpointSpec:
    account: str
    name: str
    team: str
    project: str
    env: str
    package_group: str
    variants: tuple[VariantSpec, ...]
    peak_rpm: float  # invocations per minute at the daily peak, whole endpoint
    capacity_rpm: float  # invocations per minute one instance serves at 100% CPU
    base_latency_ms: float
    created: datetime
    autoscaling: Autoscaling | None = None
    idle_since: datetime | None = None
    incident: Incident | None = None
    stack: str | None = None
    serve_repo: str = ""

    @property
    def gpu(self) -> bool:
        return any(prices.is_gpu(v.instance_type) for v in self.variants)

    def model_name(self, variant: VariantSpec, version: int | None = None) -> str:
        return f"{self.package_group}-v{version or variant.model_version}"


@dataclass(frozen=True)
class ModelPackageSpec:
    account: str
    group: str
    version: int
    status: str  # Approved | PendingManualApproval | Rejected
    created: datetime
    auc: float
    image: str
    description: str = ""


@dataclass(frozen=True)
class Transition:
    status: str
    start: datetime
    end: datetime | None
    message: str


@dataclass(frozen=True)
class TrainingJobSpec:
    account: str
    name: str
    team: str
    project: str
    instance_type: str
    instance_count: int
    spot: bool
    created: datetime
    start: datetime
    end: datetime | None  # planned end; None never happens, InProgress jobs end in the future
    status: str  # Completed | Failed | Stopped | InProgress
    failure_reason: str | None
    hyperparameters: dict[str, str]
    epochs: int
    final_metrics: dict[str, float]
    image: str
    volume_gb: int
    training_seconds: int
    billable_seconds: int
    max_runtime_seconds: int
    max_wait_seconds: int | None
    transitions: tuple[Transition, ...]
    channels: tuple[str, ...] = ("train", "validation")
    stack: str | None = None

    @property
    def cost(self) -> float:
        return self.billable_seconds / 3600 * prices.hourly(self.instance_type) * self.instance_count


@dataclass(frozen=True)
class ProcessingJobSpec:
    """A SageMaker processing job: a pipeline step's, a training job's (a Debugger rule) or started by hand."""

    account: str
    name: str
    team: str
    project: str
    kind: str  # a pipeline step name, "features", "evaluation" or "profiler-report"
    instance_type: str
    instance_count: int
    volume_gb: int
    created: datetime
    start: datetime | None  # None: the job failed before its instances started
    end: datetime  # planned end; InProgress jobs end in the future
    status: str  # Completed | Failed | Stopped | InProgress
    failure_reason: str | None
    exit_message: str | None
    image: str
    inputs: tuple[tuple[str, str], ...]  # (input name, S3 URI)
    outputs: tuple[tuple[str, str], ...]  # (output name, S3 URI)
    env: str = "dev"
    pipeline: str | None = None  # started by a step of this pipeline's execution ...
    execution_id: str | None = None  # ... this one
    training_job: str | None = None  # started by this training job (a Debugger rule)

    @property
    def billable_seconds(self) -> int:
        """Instance-seconds from the instances' start to the end (SageMaker bills processing per instance-second)."""
        if self.start is None:
            return 0
        return int((self.end - self.start).total_seconds()) * self.instance_count

    @property
    def cost(self) -> float:
        return self.billable_seconds / 3600 * prices.hourly(self.instance_type)


@dataclass(frozen=True)
class PipelineSpec:
    account: str
    name: str
    team: str
    project: str
    steps: tuple[str, ...]
    every_hours: int
    first_run: datetime


@dataclass(frozen=True)
class StepRun:
    name: str
    start: datetime
    end: datetime
    status: str  # Succeeded | Failed | NotStarted
    failure_reason: str | None = None


@dataclass(frozen=True)
class PipelineExecutionSpec:
    account: str
    pipeline: str
    execution_id: str
    start: datetime
    end: datetime
    status: str  # Succeeded | Failed
    steps: tuple[StepRun, ...]
    parameters: dict[str, str]

    @property
    def failed_step(self) -> str | None:
        return next((s.name for s in self.steps if s.status == "Failed"), None)


@dataclass(frozen=True)
class TeamSpec:
    account: str
    team: str
    projects: tuple[str, ...]
    s3_gb: float


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class VariantState:
    time: datetime
    account: str
    endpoint: str
    variant: str
    instance_type: str
    count: int
    weight: float
    config_name: str
    model_version: int
    cause: str  # create | autoscaling | deploy | rollback | manual | action


class Timeline:
    """Thread-safe, time-ordered variant states per (account, endpoint, variant)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str, str], list[VariantState]] = {}

    def record(self, state: VariantState) -> None:
        key = (state.account, state.endpoint, state.variant)
        with self._lock:
            states = self._states.setdefault(key, [])
            times = [s.time for s in states]
            states.insert(bisect.bisect_right(times, state.time), state)

    def states(self, account: str, endpoint: str, variant: str) -> list[VariantState]:
        with self._lock:
            return list(self._states.get((account, endpoint, variant), []))

    def at(self, account: str, endpoint: str, variant: str, t: datetime) -> VariantState | None:
        states = self.states(account, endpoint, variant)
        i = bisect.bisect_right([s.time for s in states], t)
        return states[i - 1] if i else None

    def keys(self) -> list[tuple[str, str, str]]:
        with self._lock:
            return list(self._states)

    def all(self) -> list[VariantState]:
        with self._lock:
            return sorted((s for v in self._states.values() for s in v), key=lambda s: s.time)


# --------------------------------------------------------------------------- world


@dataclass(frozen=True)
class Surge:
    """A traffic surge on one endpoint, from ``since`` on: at least ``rpm`` invocations a minute.

    A scenario knob of the running account (``python -m demo --surge NAME=RPM``): an on-call
    situation where capacity, not the model, is the problem, at any hour of the day."""

    since: datetime
    rpm: float


@dataclass
class World:
    seed: int
    anchor: datetime  # UTC midnight; "yesterday" and "30 days ago" count from here
    teams: list[TeamSpec]
    endpoints: list[EndpointSpec]
    packages: list[ModelPackageSpec]
    training_jobs: list[TrainingJobSpec]
    pipelines: list[PipelineSpec]
    pipeline_executions: list[PipelineExecutionSpec]
    state_machine_executions: list[PipelineExecutionSpec]
    processing_jobs: list[ProcessingJobSpec] = field(default_factory=list)
    timeline: Timeline = field(default_factory=Timeline)
    surges: dict[tuple[str, str], Surge] = field(default_factory=dict)  # (account, endpoint) -> surge

    @property
    def history_start(self) -> datetime:
        return self.anchor - timedelta(days=HISTORY_DAYS)

    def endpoint(self, name: str, account: str = MAIN_ACCOUNT) -> EndpointSpec:
        return next(e for e in self.endpoints if e.name == name and e.account == account)

    def incident_endpoint(self) -> EndpointSpec:
        return next(e for e in self.endpoints if e.incident)

    def idle_endpoint(self) -> EndpointSpec:
        return next(e for e in self.endpoints if e.idle_since)


TEAMS = [
    TeamSpec(MAIN_ACCOUNT, "search", ("ranking", "query-embed"), 1800.0),
    TeamSpec(MAIN_ACCOUNT, "fraud", ("txn-risk",), 950.0),
    TeamSpec(MAIN_ACCOUNT, "vision", ("defect-detect",), 4200.0),
    TeamSpec(MAIN_ACCOUNT, "nlp", ("support-assistant",), 700.0),
    TeamSpec(SECOND_ACCOUNT, "forecasting", ("demand",), 300.0),
]


def _endpoints(anchor: datetime) -> list[EndpointSpec]:
    d = lambda days: anchor - timedelta(days=days)
    yesterday = anchor - timedelta(days=1)
    return [
        EndpointSpec(
            MAIN_ACCOUNT, "search-ranker-prod", "search", "ranking", "prod", "search-ranker",
            (VariantSpec("champion", "ml.c5.2xlarge", 3, 0.8, 12),
             VariantSpec("challenger", "ml.c5.2xlarge", 1, 0.2, 13)),
            peak_rpm=9000, capacity_rpm=3400, base_latency_ms=18, created=d(140),
            autoscaling=Autoscaling(2, 10, 2400), stack="search-serving", serve_repo="search/ranker-serve",
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "search-query-embed-prod", "search", "query-embed", "prod", "search-query-embed",
            (VariantSpec("AllTraffic", "ml.g4dn.xlarge", 2, 1.0, 5),),
            peak_rpm=5200, capacity_rpm=4200, base_latency_ms=9, created=d(120),
            autoscaling=Autoscaling(1, 6, 3000), stack="search-serving", serve_repo="search/query-embed-serve",
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "fraud-txn-scorer-prod", "fraud", "txn-risk", "prod", "fraud-txn-scorer",
            (VariantSpec("AllTraffic", "ml.m5.xlarge", 3, 1.0, 7),),
            peak_rpm=6400, capacity_rpm=3000, base_latency_ms=24, created=d(200),
            autoscaling=Autoscaling(2, 8, 2000), serve_repo="fraud/txn-scorer-serve",
            incident=Incident(yesterday + timedelta(hours=14), yesterday + timedelta(hours=15, minutes=10),
                              latency_factor=9.0, error_rate=0.07, bad_version=8),
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "fraud-txn-scorer-staging", "fraud", "txn-risk", "staging", "fraud-txn-scorer",
            (VariantSpec("AllTraffic", "ml.m5.large", 1, 1.0, 7),),
            peak_rpm=120, capacity_rpm=1500, base_latency_ms=26, created=d(90),
            serve_repo="fraud/txn-scorer-serve",
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "vision-defect-detector-prod", "vision", "defect-detect", "prod", "vision-defect-detector",
            (VariantSpec("AllTraffic", "ml.g5.2xlarge", 2, 1.0, 4),),
            peak_rpm=900, capacity_rpm=700, base_latency_ms=85, created=d(75),
            stack="vision-serving", serve_repo="vision/defect-serve",
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "vision-defect-detector-shadow", "vision", "defect-detect", "staging",
            "vision-defect-detector",
            (VariantSpec("AllTraffic", "ml.g4dn.2xlarge", 2, 1.0, 3),),
            peak_rpm=400, capacity_rpm=600, base_latency_ms=95, created=d(70),
            idle_since=anchor - timedelta(days=18), stack="vision-serving", serve_repo="vision/defect-serve",
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "nlp-intent-classifier-prod", "nlp", "support-assistant", "prod", "nlp-intent",
            (VariantSpec("AllTraffic", "ml.c5.xlarge", 2, 1.0, 6),),
            peak_rpm=2600, capacity_rpm=2200, base_latency_ms=14, created=d(160),
            autoscaling=Autoscaling(1, 4, 1600), serve_repo="nlp/intent-serve",
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "nlp-summarizer-prod", "nlp", "support-assistant", "prod", "nlp-summarizer",
            (VariantSpec("AllTraffic", "ml.g5.xlarge", 1, 1.0, 3),),
            peak_rpm=260, capacity_rpm=380, base_latency_ms=420, created=d(60),
            serve_repo="nlp/summarizer-serve",
        ),
        EndpointSpec(
            MAIN_ACCOUNT, "nlp-summarizer-dev", "nlp", "support-assistant", "dev", "nlp-summarizer",
            (VariantSpec("AllTraffic", "ml.m5.large", 1, 1.0, 4),),
            peak_rpm=12, capacity_rpm=40, base_latency_ms=1900, created=d(45),
            serve_repo="nlp/summarizer-serve",
        ),
        EndpointSpec(
            SECOND_ACCOUNT, "forecast-demand-prod", "forecasting", "demand", "prod", "forecast-demand",
            (VariantSpec("AllTraffic", "ml.m5.2xlarge", 2, 1.0, 9),),
            peak_rpm=700, capacity_rpm=900, base_latency_ms=60, created=d(180),
            autoscaling=Autoscaling(1, 4, 500), serve_repo="forecasting/demand-serve",
        ),
        EndpointSpec(
            SECOND_ACCOUNT, "forecast-demand-staging", "forecasting", "demand", "staging", "forecast-demand",
            (VariantSpec("AllTraffic", "ml.c5.large", 1, 1.0, 10),),
            peak_rpm=30, capacity_rpm=500, base_latency_ms=65, created=d(50),
            serve_repo="forecasting/demand-serve",
        ),
    ]


def _packages(rng: random.Random, endpoints: list[EndpointSpec], anchor: datetime) -> list[ModelPackageSpec]:
    groups: dict[tuple[str, str], int] = {}
    for e in endpoints:
        top = max(v.model_version for v in e.variants)
        if e.incident:
            top = max(top, e.incident.bad_version)
        groups[(e.account, e.package_group)] = max(groups.get((e.account, e.package_group), 0), top + 1)
    out = []
    for (account, group), n in sorted(groups.items()):
        serving = {v.model_version for e in endpoints if e.package_group == group and e.account == account
                   for v in e.variants}
        team = group.split("-")[0]
        team = {"forecast": "forecasting"}.get(team, team)
        for version in range(1, n + 1):
            created = anchor - timedelta(days=(n - version) * 9 + rng.randint(1, 5), hours=rng.randint(0, 23))
            if version == n:
                status, desc = "PendingManualApproval", "candidate from the latest retrain"
            elif any(e.incident and e.incident.bad_version == version for e in endpoints
                     if e.package_group == group):
                status, desc = "Rejected", "rolled back after p99 latency incident"
            elif version in serving:
                status, desc = "Approved", "serving"
            else:
                status = rng.choice(["Approved", "Approved", "Rejected"])
                desc = "superseded" if status == "Approved" else "failed offline evaluation"
            auc = round(0.80 + version * 0.006 + rng.uniform(-0.01, 0.01), 4)
            out.append(ModelPackageSpec(account, group, version, status, created, auc,
                                        ecr_uri(account, f"{team}/{group.split('-', 1)[1]}-serve", f"1.{version}.0"),
                                        desc))
    return out


def package_training_jobs(world: World) -> dict[tuple[str, str, int], TrainingJobSpec]:
    """The training job that produced each registered version, (account, group, version) -> job: a Completed job of
    the group's team and project whose algorithm shares a word with the group's name (``fraud-txn-scorer`` and
    ``fraud-lgbm-scorer-...``), the latest that ended before the version was registered and produced no other
    version. Versions registered before the jobs' history (or of a group no algorithm matches) have none: their
    artifacts come from elsewhere. The version's ModelDataUrl is then that job's artifacts, where SageMaker writes
    them: ``{S3OutputPath}{job}/output/model.tar.gz`` (:func:`job_artifacts`)."""
    owners = {(e.account, e.package_group): (e.team, e.project) for e in world.endpoints}
    taken: set[str] = set()
    out: dict[tuple[str, str, int], TrainingJobSpec] = {}
    for p in sorted(world.packages, key=lambda p: (p.account, p.group, -p.version)):  # newest first: in order
        team, project = owners.get((p.account, p.group), (None, None))
        words = set(p.group.split("-")[1:])
        candidates = [j for j in world.training_jobs
                      if j.account == p.account and j.team == team and j.project == project
                      and j.status == "Completed" and j.end is not None and j.end <= p.created
                      and j.name not in taken and words & set(j.name.split("-")[1:-3])]
        if candidates:
            job = max(candidates, key=lambda j: j.end or j.created)
            taken.add(job.name)
            out[(p.account, p.group, p.version)] = job
    return out


def job_output(job: TrainingJobSpec) -> str:
    """The job's S3OutputPath (OutputDataConfig)."""
    return f"s3://sagemaker-{job.account}-models/{job.team}/{job.project}/"


def job_artifacts(job: TrainingJobSpec) -> str:
    """Where SageMaker writes the job's model (ModelArtifacts.S3ModelArtifacts)."""
    return f"{job_output(job)}{job.name}/output/model.tar.gz"


FAILURES = [
    "AlgorithmError: ExecuteUserScriptError: ValueError: Input contains NaN, infinity or a value too large "
    "for dtype('float32').",
    "ClientError: Data download failed: Could not download s3://{bucket}/{team}/features/part-00042.parquet: "
    "AccessDenied",
    "AlgorithmError: ExecuteUserScriptError: KeyError: 'label' (column missing in validation channel)",
    "ResourceLimitExceeded: The account-level service limit 'ml.p3.2xlarge for training job usage' is 4 "
    "Instances, with current utilization of 4 Instances",
]
OOM_REASON = ("AlgorithmError: ExecuteUserScriptError: RuntimeError: CUDA out of memory. Tried to allocate "
              "2.50 GiB (GPU 0; 15.78 GiB total capacity; 13.12 GiB already allocated). Exit code 137 (OOMKilled)")
SPOT_REASON = ("Training job interrupted: spot capacity was reclaimed (Interrupted) and capacity did not return "
               "before MaxWaitTimeInSeconds=14400 was reached")

TRAINING_PROFILES = {
    # team: (project, algorithm, instance types, epochs, base minutes)
    "search": [("ranking", "xgb-ranker", ["ml.m5.2xlarge", "ml.c5.4xlarge"], 40, 55),
               ("query-embed", "bert-embed", ["ml.g4dn.xlarge", "ml.p3.2xlarge"], 8, 140)],
    "fraud": [("txn-risk", "lgbm-scorer", ["ml.m5.4xlarge", "ml.m5.2xlarge"], 60, 35)],
    "vision": [("defect-detect", "resnet-defect", ["ml.p3.2xlarge", "ml.g4dn.12xlarge", "ml.g5.2xlarge"], 25, 190)],
    "nlp": [("support-assistant", "distilbert-intent", ["ml.g4dn.xlarge", "ml.g5.xlarge"], 6, 80)],
    "forecasting": [("demand", "deepar-demand", ["ml.c5.4xlarge", "ml.m5.2xlarge"], 30, 70)],
}


def _transitions(start: datetime, end: datetime, status: str, interrupted: bool) -> tuple[Transition, ...]:
    t1 = start + timedelta(minutes=3)
    t2 = t1 + timedelta(minutes=2)
    steps = [Transition("Starting", start, t1, "Preparing the instances for training"),
             Transition("Downloading", t1, t2, "Downloading input data")]
    if interrupted:
        mid = t2 + (end - t2) / 3
        steps += [Transition("Training", t2, mid, "Training image download completed. Training in progress."),
                  Transition("Interrupted", mid, end, "Job interrupted: spot instance reclaimed")]
    elif status == "InProgress":
        steps.append(Transition("Training", t2, None, "Training image download completed. Training in progress."))
        return tuple(steps)
    else:
        up = end - timedelta(minutes=2)
        steps.append(Transition("Training", t2, up, "Training image download completed. Training in progress."))
        last = {"Completed": ("Uploading", "Uploading generated training model"),
                "Failed": ("Failed", "Training job failed"),
                "Stopped": ("Stopped", "Training job stopped by user")}[status]
        steps.append(Transition(last[0], up, end, last[1]))
        if status == "Completed":
            steps.append(Transition("Completed", end, end, "Training job completed"))
    return tuple(steps)


def _training_jobs(rng: random.Random, anchor: datetime) -> list[TrainingJobSpec]:
    jobs: list[TrainingJobSpec] = []
    plan: list[tuple[str, str, datetime]] = []
    for team in TEAMS:
        per_day = 0.35 if team.account == SECOND_ACCOUNT else 0.55
        t = anchor - timedelta(days=COST_DAYS - 2)
        while t < anchor - timedelta(hours=6):
            t += timedelta(hours=rng.expovariate(per_day / 24))
            if t < anchor - timedelta(hours=6):
                plan.append((team.account, team.team, t.replace(second=0, microsecond=0)))
    # three jobs still running at the anchor, finishing later today
    for team, hours_ago in (("vision", 3), ("search", 2), ("nlp", 1)):
        plan.append((MAIN_ACCOUNT, team, anchor - timedelta(hours=hours_ago, minutes=rng.randint(0, 40))))
    plan.sort(key=lambda p: p[2])
    oom_done = spot_done = False
    for i, (account, team, created) in enumerate(plan):
        project, algo, types, epochs, minutes = rng.choice(TRAINING_PROFILES[team])
        itype = rng.choice(types)
        count = rng.choice([1, 1, 1, 2]) if not prices.is_gpu(itype) else rng.choice([1, 1, 2, 4])
        spot = rng.random() < 0.45
        running = created > anchor - timedelta(hours=5)
        days_ago = (anchor - created).days
        roll = rng.random()
        status = "InProgress" if running else (
            "Failed" if roll < 0.11 else "Stopped" if roll < 0.16 else "Completed")
        reason = None
        interrupted = False
        if status == "Failed":
            reason = rng.choice(FAILURES).format(bucket=f"sagemaker-{account}-data", team=team)
            if not oom_done and prices.is_gpu(itype) and days_ago < 20:
                reason, oom_done = OOM_REASON, True
        if not spot_done and spot and status == "Completed" and team == "nlp" and days_ago < 15:
            status, reason, interrupted, spot_done = "Failed", SPOT_REASON, True, True
        duration = timedelta(minutes=minutes * rng.uniform(0.7, 1.5))
        if status in ("Failed", "Stopped") and not interrupted:
            duration *= rng.uniform(0.1, 0.6)
        if interrupted:
            duration = timedelta(hours=4, minutes=10)
        if status == "InProgress":
            duration = timedelta(hours=rng.randint(20, 30))
        start = created + timedelta(seconds=rng.randint(20, 90))
        end = start + duration
        training_seconds = int(duration.total_seconds())
        if interrupted:
            training_seconds = int(duration.total_seconds() / 3)
        billable = int(training_seconds * (1 - prices.SPOT_DISCOUNT * rng.uniform(0.85, 1.0))) if spot \
            else training_seconds
        if status == "InProgress":
            training_seconds = billable = 0
        lr = rng.choice(["0.001", "0.0005", "0.0003", "0.01", "0.05"])
        hp = {"epochs": str(epochs), "learning_rate": lr, "batch_size": str(rng.choice([64, 128, 256, 512])),
              "seed": str(rng.randint(1, 9999))}
        if algo.startswith(("xgb", "lgbm")):
            hp.update(max_depth=str(rng.randint(4, 10)), num_round=str(rng.choice([200, 400, 800])))
        auc = round(min(0.985, 0.82 + rng.uniform(0, 0.12)), 4)
        loss = round(0.65 - (auc - 0.8) * 2.2 + rng.uniform(-0.02, 0.02), 4)
        final = {"train:loss": loss, "validation:auc": auc} if status == "Completed" else {}
        name = f"{team}-{algo}-{created:%Y%m%d-%H%M}-{i:03d}"
        jobs.append(TrainingJobSpec(
            account, name, team, project, itype, count, spot, created, start, end, status, reason, hp,
            epochs, final, ecr_uri(account, f"{team}/{algo}-train", rng.choice(["1.4.2", "1.5.0", "1.5.1"])),
            rng.choice([30, 50, 100]), training_seconds, billable, 86400 if status != "InProgress" else 172800,
            int(max(14400, duration.total_seconds() * 1.5)) if spot else None,
            _transitions(start, end, status, interrupted),
            stack="vision-training" if team == "vision" and i % 5 == 0 else None,
        ))
    # the cost anomaly: a runaway on-demand job on big GPUs nine days ago
    created = anchor - timedelta(days=9, hours=-2)
    end = created + timedelta(hours=22)
    jobs.append(TrainingJobSpec(
        MAIN_ACCOUNT, f"vision-resnet-defect-sweep-{created:%Y%m%d-%H%M}", "vision", "defect-detect",
        "ml.p3.16xlarge", 4, False, created, created, end, "Completed", None,
        {"epochs": "300", "learning_rate": "0.0001", "batch_size": "1024", "seed": "7"}, 300,
        {"train:loss": 0.1812, "validation:auc": 0.9312}, ecr_uri(MAIN_ACCOUNT, "vision/resnet-defect-train", "1.5.1"),
        200, 22 * 3600, 22 * 3600, 86400, None, _transitions(created, end, "Completed", False),
    ))
    jobs.sort(key=lambda j: j.created)
    return jobs


PIPELINES = [
    (MAIN_ACCOUNT, "search-ranker-retrain", "search", "ranking",
     ("Preprocess", "Train", "Evaluate", "CheckAUC", "RegisterModel"), 24),
    (MAIN_ACCOUNT, "fraud-txn-weekly-retrain", "fraud", "txn-risk",
     ("ExtractFeatures", "Train", "Evaluate", "BiasCheck", "RegisterModel"), 48),
    (MAIN_ACCOUNT, "vision-batch-eval", "vision", "defect-detect",
     ("FetchImages", "BatchTransform", "ScoreDrift", "Report"), 36),
]
STEP_FAILURES = {
    "Train": "ClientError: Training job failed: AlgorithmError: ExecuteUserScriptError",
    "Evaluate": "Evaluation step failed: metrics.json missing in output",
    "CheckAUC": "Condition not met: validation:auc 0.871 < threshold 0.88",
    "BiasCheck": "ClarifyError: bias report DPPL 0.21 exceeds 0.10",
    "BatchTransform": "ModelError: received server error (500) from primary container",
    "ExtractFeatures": "AthenaError: Query exhausted resources at this scale factor",
    "Deployment": "UpdateEndpoint failed: ResourceLimitExceeded for ml.c5.2xlarge",
    "Evaluation": "States.TaskFailed: evaluation Lambda timed out after 900 seconds",
}


def _executions(rng: random.Random, account: str, pipeline: str, steps: tuple[str, ...], first: datetime,
                every: timedelta, until: datetime, params: dict[str, str]) -> list[PipelineExecutionSpec]:
    out = []
    t = first
    n = 0
    while t < until:
        start = t + timedelta(minutes=rng.randint(0, 9))
        fail_at = rng.choice([s for s in steps if s in STEP_FAILURES]) if rng.random() < 0.2 else None
        runs, cur = [], start
        failed = False
        for s in steps:
            if failed:
                break
            dur = timedelta(minutes=rng.randint(4, 45))
            status = "Failed" if s == fail_at else "Succeeded"
            runs.append(StepRun(s, cur, cur + dur, status, STEP_FAILURES.get(s) if status == "Failed" else None))
            cur += dur
            failed = status == "Failed"
        exec_id = f"{rng.getrandbits(48):012x}"
        out.append(PipelineExecutionSpec(account, pipeline, exec_id, start, cur,
                                         "Failed" if failed else "Succeeded", tuple(runs), dict(params)))
        t += every
        n += 1
    return out


# --------------------------------------------------------------------------- processing jobs

# AWS-owned images for us-east-1 (the SageMaker Python SDK's image URIs).
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SPARK_IMAGE = "173754725891.dkr.ecr.us-east-1.amazonaws.com/sagemaker-spark-processing:3.3-cpu-py39-v1.0"
PYTORCH_IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1.0-gpu-py310"
DEBUGGER_IMAGE = "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"

# Pipeline steps that run a processing job: instance type, count, volume GB, image, inputs and outputs
# (name, S3 key under the project's prefix).
PROCESSING_STEPS: dict[str, tuple[str, int, int, str, tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]] = {
    "Preprocess": ("ml.m5.2xlarge", 1, 30, SKLEARN_IMAGE, (("raw", "raw/clicks/"), ("code", "code/preprocess.py")),
                   (("train", "features/train/"), ("validation", "features/validation/"), ("test", "features/test/"))),
    "Evaluate": ("ml.m5.xlarge", 1, 30, SKLEARN_IMAGE,
                 (("model", "model/model.tar.gz"), ("test", "features/test/"), ("code", "code/evaluate.py")),
                 (("evaluation", "evaluation/"),)),
    "ExtractFeatures": ("ml.m5.4xlarge", 2, 100, SPARK_IMAGE, (("transactions", "raw/transactions/"),),
                        (("features", "features/"),)),
    "FetchImages": ("ml.c5.2xlarge", 1, 100, SKLEARN_IMAGE, (("manifest", "manifests/latest.jsonl"),),
                    (("images", "images/batch/"),)),
    "ScoreDrift": ("ml.m5.xlarge", 1, 30, SKLEARN_IMAGE,
                   (("baseline", "baseline/statistics.json"), ("predictions", "batch-predictions/")),
                   (("drift", "drift-report/"),)),
    "Report": ("ml.m5.large", 1, 30, SKLEARN_IMAGE, (("drift", "drift-report/"),), (("report", "reports/"),)),
}
# Why a pipeline's processing step failed, as DescribeProcessingJob says it: (FailureReason, ExitMessage).
PROCESSING_STEP_FAILURES = {
    "Evaluate": ("AlgorithmError: See job logs for more detail.",
                 "FileNotFoundError: [Errno 2] No such file or directory: "
                 "'/opt/ml/processing/evaluation/metrics.json'"),
    "ExtractFeatures": ("AlgorithmError: See job logs for more detail.",
                        "pyspark.errors.exceptions.captured.AnalysisException: Athena query failed: Query "
                        "exhausted resources at this scale factor"),
}
# Jobs started by hand, per team: (kind, instance types, counts, base minutes, image).
PROCESSING_PROFILES = {
    "features": (("ml.m5.4xlarge", "ml.c5.4xlarge", "ml.r5.xlarge"), (1, 2, 2, 4), 45, SPARK_IMAGE),
    "evaluation": (("ml.m5.xlarge", "ml.c5.2xlarge"), (1,), 18, SKLEARN_IMAGE),
}
GPU_EVALUATION = {"vision", "nlp"}  # these teams evaluate on a GPU
PROCESSING_FAILURES = [  # (FailureReason, ExitMessage, the job's instances started)
    ("AlgorithmError: See job logs for more detail.",
     "MemoryError: Unable to allocate 14.2 GiB for an array with shape (1901238, 1000) and data type float64", True),
    ("ClientError: Failed to download data. AccessDenied (403): Access Denied for {input}", None, True),
    ("AlgorithmError: See job logs for more detail.", "KeyError: 'label'", True),
    ("ResourceLimitExceeded: The account-level service limit '{itype} for processing job usage' is 4 Instances, "
     "with current utilization of 4 Instances and a request delta of {count} Instances. Please use AWS Service "
     "Quotas to request an increase for this quota.", None, False),
]


def _data(account: str, team: str, project: str, key: str) -> str:
    return f"s3://sagemaker-{account}-data/{team}/{project}/{key}"


def _pipeline_processing_jobs(rng: random.Random, executions: list[PipelineExecutionSpec]) -> list[ProcessingJobSpec]:
    """One processing job per processing step each execution ran, timed inside its step."""
    owners = {(account, name): (team, project) for account, name, team, project, _, _ in PIPELINES}
    out = []
    for x in executions:
        team, project = owners[(x.account, x.pipeline)]
        for step in x.steps:
            if step.name not in PROCESSING_STEPS:
                continue
            itype, count, volume, image, inputs, outputs = PROCESSING_STEPS[step.name]
            created = step.start + timedelta(seconds=rng.randint(2, 8))
            span = (step.end - created).total_seconds()
            start = created + timedelta(seconds=int(min(rng.randint(90, 240), span * 0.3)))
            end = step.end - timedelta(seconds=int(min(15, span * 0.05)))
            failed = step.status == "Failed"
            reason, exit_message = PROCESSING_STEP_FAILURES.get(step.name, (step.failure_reason, None)) \
                if failed else (None, None)
            run = f"{x.pipeline}/{x.execution_id}"
            out.append(ProcessingJobSpec(
                x.account, f"pipelines-{x.execution_id}-{step.name}-{rng.getrandbits(40):010x}", team, project,
                step.name, itype, count, volume, created, start, end, "Failed" if failed else "Completed", reason,
                exit_message, image, tuple((n, _data(x.account, team, project, k)) for n, k in inputs),
                tuple((n, _data(x.account, team, project, f"{run}/{k}")) for n, k in outputs),
                env="prod", pipeline=x.pipeline, execution_id=x.execution_id))
    return out


def _ad_hoc_plan(rng: random.Random, anchor: datetime) -> list[tuple[TeamSpec, str, str, datetime, bool]]:
    """(team, project, kind, created, still running) of the jobs started by hand, oldest first."""
    plan: list[tuple[TeamSpec, str, str, datetime, bool]] = []
    for team in TEAMS:
        for project in team.projects:
            for kind in PROCESSING_PROFILES:
                t = anchor - timedelta(days=HISTORY_DAYS)
                while True:
                    t += timedelta(hours=rng.expovariate(1 / (24 * 5.5)))
                    if t >= anchor - timedelta(hours=6):
                        break
                    plan.append((team, project, kind, t.replace(second=0, microsecond=0), False))
    # two long feature backfills still running, finishing later today
    for team_name, hours_ago in (("vision", 2), ("search", 1)):
        team = next(t for t in TEAMS if t.team == team_name)
        plan.append((team, team.projects[0], "features", anchor - timedelta(hours=hours_ago,
                                                                           minutes=rng.randint(0, 40)), True))
    return sorted(plan, key=lambda p: p[3])


def _ad_hoc_processing_jobs(rng: random.Random, anchor: datetime) -> list[ProcessingJobSpec]:
    """Feature extraction and evaluation jobs started by hand, per project, over the history; two still running."""
    out = []
    failures = 0
    for team, project, kind, created, running in _ad_hoc_plan(rng, anchor):
        types, counts, minutes, image = PROCESSING_PROFILES[kind]
        itype, count = rng.choice(types), rng.choice(counts)
        if kind == "evaluation" and team.team in GPU_EVALUATION:
            itype, image = "ml.g4dn.xlarge", PYTORCH_IMAGE
        if count == 1 and image == SPARK_IMAGE:
            image = SKLEARN_IMAGE
        roll = rng.random()
        status = "InProgress" if running else "Failed" if roll < 0.12 else "Stopped" if roll < 0.16 else "Completed"
        duration = timedelta(minutes=minutes * rng.uniform(0.6, 1.8))
        start: datetime | None = created + timedelta(seconds=rng.randint(100, 260))
        reason = exit_message = None
        if status == "Failed":  # every kind of failure, in turn
            reason, exit_message, started = PROCESSING_FAILURES[failures % len(PROCESSING_FAILURES)]
            failures += 1
            if not started:
                start = None
            duration *= rng.uniform(0.05, 0.4)
        elif status == "Stopped":
            duration *= rng.uniform(0.2, 0.7)
        elif status == "InProgress":
            duration = timedelta(hours=rng.randint(26, 30))
        duration = timedelta(seconds=int(duration.total_seconds()))
        end = start + duration if start else created + timedelta(seconds=rng.randint(15, 40))
        stamp = f"{created:%Y%m%d-%H%M}"
        source = "raw/" if kind == "features" else "features/test/"
        target = f"features/{stamp}/" if kind == "features" else f"evaluation/{stamp}/"
        inputs = [("input", _data(team.account, team.team, project, source))]
        if image != SPARK_IMAGE:
            inputs.append(("code", _data(team.account, team.team, project, f"code/{kind}.py")))
        if reason:
            reason = reason.format(input=inputs[0][1], itype=itype, count=count)
        out.append(ProcessingJobSpec(
            team.account, f"{team.team}-{project}-{kind}-{stamp}", team.team, project, kind, itype, count,
            100 if kind == "features" else 30, created, start, end, status, reason, exit_message, image,
            tuple(inputs), (("output", _data(team.account, team.team, project, target)),)))
    return out


def _profiler_jobs(rng: random.Random, anchor: datetime, training: list[TrainingJobSpec]) -> list[ProcessingJobSpec]:
    """The Debugger ProfilerReport rule of the vision team's finished training jobs of the history: a processing
    job started by the training job, running alongside it."""
    out = []
    for job in training:
        if job.team != "vision" or job.status == "InProgress" or job.created < anchor - timedelta(days=HISTORY_DAYS):
            continue
        created = job.start + timedelta(seconds=rng.randint(30, 90))
        start = created + timedelta(seconds=rng.randint(100, 200))
        end = max(start + timedelta(minutes=2), job.end + timedelta(seconds=rng.randint(60, 240)))
        out_uri = f"s3://sagemaker-{job.account}-models/{job.team}/{job.project}/{job.name}/rule-output/ProfilerReport/"
        out.append(ProcessingJobSpec(
            job.account, f"{job.name[:38]}-ProfilerReport-{rng.getrandbits(32):08x}", job.team, job.project,
            "profiler-report", "ml.m5.xlarge", 1, 30, created, start, end, "Completed", None, None, DEBUGGER_IMAGE,
            (("profiler", f"s3://sagemaker-{job.account}-models/{job.team}/{job.project}/{job.name}/profiler-output/"),),
            (("rule-output", out_uri),), training_job=job.name))
    return out


def _processing_jobs(seed: int, anchor: datetime, executions: list[PipelineExecutionSpec],
                     training: list[TrainingJobSpec]) -> list[ProcessingJobSpec]:
    """Every processing job of the world (their own random stream: the rest of the world does not move)."""
    rng = random.Random(f"processing-{seed}")
    jobs = (_pipeline_processing_jobs(rng, executions) + _ad_hoc_processing_jobs(rng, anchor)
            + _profiler_jobs(rng, anchor, training))
    return sorted(jobs, key=lambda j: j.created)


def build_world(seed: int = 7, anchor: datetime | None = None) -> World:
    anchor = today_anchor(anchor)
    rng = random.Random(seed)
    endpoints = _endpoints(anchor)
    packages = _packages(rng, endpoints, anchor)
    jobs = _training_jobs(rng, anchor)
    pipelines, executions = [], []
    start = anchor - timedelta(days=HISTORY_DAYS)
    for account, name, team, project, steps, every in PIPELINES:
        first = start + timedelta(hours=rng.randint(1, 20))
        pipelines.append(PipelineSpec(account, name, team, project, steps, every, first))
        executions += _executions(rng, account, name, steps, first, timedelta(hours=every), anchor,
                                  {"InstanceType": "ml.m5.2xlarge", "AucThreshold": "0.88"})
    sfn = _executions(rng, MAIN_ACCOUNT, "ml-release-orchestrator",
                      ("DataPrep", "Training", "Evaluation", "Deployment", "Monitoring"),
                      start + timedelta(hours=10), timedelta(hours=61), anchor, {"model": "fraud-txn-scorer"})
    world = World(seed, anchor, list(TEAMS), endpoints, packages, jobs, pipelines, executions, sfn,
                  _processing_jobs(seed, anchor, executions, jobs))
    _seed_timeline(world, rng)
    return world


def config_name(endpoint: str, n: int) -> str:
    return f"{endpoint}-config-{n:03d}"


def _seed_timeline(world: World, rng: random.Random) -> None:
    """Creation, daily autoscaling out/in on autoscaled endpoints, and the incident's deploy and rollback."""
    tl = world.timeline
    for e in world.endpoints:
        for v in e.variants:
            tl.record(VariantState(e.created, e.account, e.name, v.name, v.instance_type, v.count, v.weight,
                                   config_name(e.name, 1), v.model_version, "create"))
        if e.autoscaling:
            v = e.variants[0]
            for day in range(HISTORY_DAYS, 0, -1):
                base = world.anchor - timedelta(days=day)
                if base.weekday() >= 5 or (e.incident and base.date() == e.incident.start.date()):
                    continue
                out_at = base + timedelta(hours=12, minutes=rng.randint(0, 50))
                in_at = base + timedelta(hours=21, minutes=rng.randint(0, 50))
                cfg = config_name(e.name, 1)
                tl.record(VariantState(out_at, e.account, e.name, v.name, v.instance_type,
                                       min(v.count + 1, e.autoscaling.max_capacity), v.weight, cfg,
                                       v.model_version, "autoscaling"))
                tl.record(VariantState(in_at, e.account, e.name, v.name, v.instance_type, v.count, v.weight, cfg,
                                       v.model_version, "autoscaling"))
        if e.incident:
            v = e.variants[0]
            inc = e.incident
            tl.record(VariantState(inc.start - timedelta(minutes=8), e.account, e.name, v.name, v.instance_type,
                                   v.count, v.weight, config_name(e.name, 2), inc.bad_version, "deploy"))
            tl.record(VariantState(inc.start + timedelta(minutes=35), e.account, e.name, v.name, v.instance_type,
                                   v.count + 2, v.weight, config_name(e.name, 2), inc.bad_version, "manual"))
            tl.record(VariantState(inc.end - timedelta(minutes=4), e.account, e.name, v.name, v.instance_type,
                                   v.count + 2, v.weight, config_name(e.name, 3), v.model_version, "rollback"))
            tl.record(VariantState(inc.end + timedelta(hours=3), e.account, e.name, v.name, v.instance_type,
                                   v.count, v.weight, config_name(e.name, 3), v.model_version, "manual"))
