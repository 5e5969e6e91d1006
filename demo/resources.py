"""The account's supporting resources: logs, images, events, stacks, workflows, buckets, cross-account role.

What is emulated, and how (everything is written in-process into moto's backends):

- **CloudWatch Logs.** One log group per endpoint, ``/aws/sagemaker/Endpoints/NAME``, with a stream per
  instance, ``VARIANT/i-0...``, as SageMaker writes them. Instances follow the world's timeline: a
  deploy or rollback replaces the fleet (blue/green), autoscaling adds and removes instances. Lines
  (startup, ``GET /ping`` health checks, ten-minute request summaries, slow-request warnings, the
  incident's timeouts, 5xx and memory pressure) are a deterministic function of (seed, instance,
  minute) and of :mod:`demo.model`'s metrics, so seeding and the live tick write the same history.
  Training jobs of the last 30 days log per epoch to ``/aws/sagemaker/TrainingJobs``, stream
  ``JOB/algo-1-EPOCHSECONDS``, ending with the failure reason (a CUDA OOM traceback, a spot
  interruption). FilterLogEvents always interleaves streams by time, as AWS has since 2019.
- **ECR.** The repositories and tags the world's jobs, endpoints and model packages use, with
  deterministic digests and push times, and per-image basic-scan findings (real CVE ids).
- **EventBridge + SNS.** The rule ``sagemaker-state-changes`` routing SageMaker state changes to a topic.
- **CloudFormation.** Stacks that own the serving resources (``AWS::SageMaker::Endpoint`` /
  ``EndpointConfig`` / ``Model``, physical id = ARN, as CloudFormation reports them) and the
  training jobs (custom resources, physical id = job name), without provisioning duplicates.
- **Step Functions.** ``ml-release-orchestrator`` with the world's executions and a history in AWS's
  event shapes; executions started through the API run through their states on the wall clock;
  ``RedriveExecution`` (absent from moto) restarts a failed execution at its failed state.
- **S3.** A ``sagemaker-ACCOUNT-data`` bucket per account with a few team objects.
- **IAM/STS.** The cross-account role in the second account, trusting the main account with an
  external id; AssumeRole on that role checks the external id (moto checks nothing).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.util
import json
import math
import random
import sys
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np

from demo import model, prices
from demo import world as world_mod
from demo.world import EndpointSpec, TrainingJobSpec, VariantSpec, World

REGION = world_mod.REGION
PARTITION = "aws"
LOG_DAYS = 2  # endpoint log history before the anchor
IDLE_LOG_DAYS = 16  # the idle endpoint shows its empty pings for longer
TRAINING_LOG_DAYS = 30
PING_EVERY = 15  # minutes between health checks, per instance
ENDPOINT_LOG_PREFIX = "/aws/sagemaker/Endpoints/"
TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"
STATE_MACHINE = "ml-release-orchestrator"
EVENT_RULE = "sagemaker-state-changes"
REDRIVE_DAYS = 14

_lock = threading.Lock()
_state: dict = {}


# --------------------------------------------------------------------------- helpers


def _digest(*parts: object) -> str:
    return hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).hexdigest()


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) for ``parts``."""
    return int(_digest(*parts)[:13], 16) / float(1 << 52)


def _naive(t: datetime) -> datetime:
    """moto keeps UTC datetimes naive."""
    return t.astimezone(UTC).replace(tzinfo=None)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _floor_minute(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(second=0, microsecond=0)


def _line(t: datetime, level: str, component: str, message: str) -> tuple[int, str]:
    """One log event in the account's common format: ``ISO8601 LEVEL [component] message``."""
    stamp = t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    return _ms(t), f"{stamp} {level} [{component}] {message}"


def _accounts(world: World) -> list[str]:
    return sorted({e.account for e in world.endpoints} | {t.account for t in world.teams})


def _split_image(uri: str) -> tuple[str, str, str]:
    """``ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG`` -> (account, repo, tag)."""
    host, _, rest = uri.partition("/")
    repo, _, tag = rest.rpartition(":")
    return host.split(".")[0], repo, tag


# --------------------------------------------------------------------------- endpoint instances


@dataclass
class Instance:
    """One ML instance behind a variant, from launch to termination, as the timeline implies."""

    id: str
    variant: str
    instance_type: str
    launched: datetime
    model_version: int
    config_name: str
    cause: str
    terminated: datetime | None = None

    @property
    def stream(self) -> str:
        return f"{self.variant}/{self.id}"


def instances(world: World, e: EndpointSpec, v: VariantSpec) -> list[Instance]:
    """The variant's instances over its whole life.

    A new model version or instance type replaces the fleet (SageMaker's blue/green update); a
    count change launches or terminates the newest instances (autoscaling, manual scaling).
    """
    out: list[Instance] = []
    live: list[Instance] = []
    prev = None
    for s in world.timeline.states(e.account, e.name, v.name):
        if prev is None or s.model_version != prev.model_version or s.instance_type != prev.instance_type:
            for inst in live:
                inst.terminated = s.time
            live = []
        while len(live) < s.count:
            iid = "i-0" + _digest(world.seed, e.account, e.name, v.name, len(out))[:16]
            inst = Instance(iid, v.name, s.instance_type, s.time, s.model_version, s.config_name, s.cause)
            live.append(inst)
            out.append(inst)
        while len(live) > s.count:
            live.pop().terminated = s.time
        prev = s
    return out


def _startup_lines(e: EndpointSpec, inst: Instance) -> list[tuple[int, str]]:
    t = inst.launched
    model_name = f"{e.package_group}-v{inst.model_version}"
    workers = 4 if prices.is_gpu(inst.instance_type) else 2
    load_s = 8 + 30 * _unit(inst.id, "load")
    verb = {"deploy": "Deploying", "rollback": "Rolling back to"}.get(inst.cause, "Using")
    return [
        _line(t + timedelta(seconds=1), "INFO", "sagemaker",
              f"{verb} endpoint config {inst.config_name}: launching {inst.id} ({inst.instance_type}) "
              f"for variant {inst.variant}"),
        _line(t + timedelta(seconds=4), "INFO", "model-server",
              f"Loading model {model_name} from /opt/ml/model (model package version {inst.model_version})"),
        _line(t + timedelta(seconds=4 + load_s), "INFO", "model-server",
              f"Model {model_name} loaded in {load_s:.1f}s"),
        _line(t + timedelta(seconds=5 + load_s), "INFO", "gunicorn",
              f"Listening at: http://0.0.0.0:8080 ({workers} workers)"),
        _line(t + timedelta(seconds=7 + load_s), "INFO", "nginx",
              '"GET /ping HTTP/1.1" 200 0 "-" "AHC/2.0" first health check passed, instance InService'),
    ]


def _shutdown_lines(inst: Instance) -> list[tuple[int, str]]:
    t = inst.terminated
    assert t is not None
    return [
        _line(t + timedelta(seconds=2), "INFO", "sagemaker",
              f"Instance {inst.id} leaving service: draining connections (SIGTERM)"),
        _line(t + timedelta(seconds=9), "INFO", "gunicorn", "Shutting down: Master"),
    ]


INCIDENT_ERRORS = (
    ("ERROR", "model-server", "Model server timed out after 60s: POST /invocations request_id={rid}"),
    ("ERROR", "gunicorn", "WORKER TIMEOUT (pid:{pid}), restarting worker"),
    ("ERROR", "nginx", '"POST /invocations HTTP/1.1" 503 upstream timed out (110: Connection timed out) '
                       'request_id={rid}'),
    ("WARN", "model-server", "GC pause {gc:.1f}s (gen2 full collection), rss {rss:.1f}GiB of {mem:.1f}GiB"),
    ("ERROR", "model-server", "Worker {pid} killed: out of memory (rss {rss:.1f}GiB of {mem:.1f}GiB)"),
    ("ERROR", "nginx", '"POST /invocations HTTP/1.1" 500 ModelError: received server error (500) from '
                       'primary container request_id={rid}'),
)


def _incident_lines(inst: Instance, m: int, mem_gib: float) -> list[tuple[int, str]]:
    out = []
    for k in range(2):
        u = _unit(inst.id, m, k)
        level, comp, text = INCIDENT_ERRORS[int(u * len(INCIDENT_ERRORS))]
        t = datetime.fromtimestamp(m * 60 + 5 + 25 * k + int(20 * u), UTC)
        msg = text.format(rid=_digest(inst.id, m, k)[:32], pid=300 + int(u * 97) % 40, gc=2.5 + 6 * u,
                          rss=mem_gib * (0.9 + 0.09 * u), mem=mem_gib)
        out.append(_line(t, level, comp, msg))
    return out


def _memory_gib(instance_type: str) -> float:
    size = instance_type.split(".")[-1]
    base = {"large": 8, "xlarge": 16, "2xlarge": 32, "4xlarge": 64}.get(size, 16)
    return base * (0.5 if ".c5." in instance_type else 1.0)


@dataclass
class _VariantWindow:
    """Per-instance request statistics of one variant for every minute of [a - slot, b): each value
    summarises the slot of PING_EVERY minutes that ends at that minute (AWS-style rolling window)."""

    first_minute: int
    requests: np.ndarray
    p50_ms: np.ndarray
    p99_ms: np.ndarray
    errors5: np.ndarray

    def at(self, m: int) -> tuple[int, float, float, int]:
        i = m - self.first_minute
        return int(self.requests[i]), float(self.p50_ms[i]), float(self.p99_ms[i]), int(self.errors5[i])


def _slot(x: np.ndarray) -> np.ndarray:
    """Per minute, the PING_EVERY values that end at it (zeros before the start): exact per window, so a
    summary does not depend on the range it was computed in."""
    return np.lib.stride_tricks.sliding_window_view(np.concatenate([np.zeros(PING_EVERY - 1), x]), PING_EVERY)


def _variant_window(world: World, e: EndpointSpec, v: VariantSpec, a: datetime, b: datetime) -> _VariantWindow:
    minutes = model.minute_range(a - timedelta(minutes=PING_EVERY), b)
    metrics = {k: np.nan_to_num(x) for k, x in model.variant_metrics(world, e, v, minutes).items()}
    counts = np.maximum(model.variant_state(world, e, v, minutes)[0], 1)
    return _VariantWindow(
        int(minutes[0]) if len(minutes) else 0,
        _slot(metrics["Invocations"] / counts).sum(axis=1),
        _slot(metrics["ModelLatency:p50"] / 1000).mean(axis=1),
        _slot(metrics["ModelLatency:p99"] / 1000).max(axis=1),
        _slot(metrics["Invocation5XXErrors"] / counts).sum(axis=1),
    )


def _summary_lines(e: EndpointSpec, inst: Instance, m: int, w: _VariantWindow) -> list[tuple[int, str]]:
    requests, p50, p99, errors = w.at(m)
    if requests <= 0:
        return []
    t = datetime.fromtimestamp(m * 60 + 30, UTC)
    out = [_line(t, "INFO", "model-server",
                 f"requests={requests} p50={p50:.1f}ms p99={p99:.1f}ms 5xx={errors} window={PING_EVERY * 60}s")]
    threshold = 4 * e.base_latency_ms
    if p99 > threshold or _unit(inst.id, m, "slow") < 0.06:
        took = max(p99, threshold) * (1.05 + 0.5 * _unit(inst.id, m, "took"))
        out.append(_line(t + timedelta(seconds=1), "WARN", "model-server",
                         f"slow request: POST /invocations took {took:.0f}ms (threshold {threshold:.0f}ms) "
                         f"request_id={_digest(inst.id, m, 'rid')[:32]}"))
    return out


def _every(first: int, last: int, phase: int) -> range:
    """Minutes m in [first, last) with m % PING_EVERY == phase."""
    return range(first + (phase - first) % PING_EVERY, last, PING_EVERY)


def _instance_events(e: EndpointSpec, inst: Instance, a: datetime, b: datetime, w: _VariantWindow
                     ) -> list[tuple[int, str]]:
    events: list[tuple[int, str]] = []
    launched = model.to_minutes(inst.launched)
    first = max(model.to_minutes(a), launched + 1)
    last = model.to_minutes(b) if inst.terminated is None else min(model.to_minutes(b),
                                                                   model.to_minutes(inst.terminated))
    if a <= inst.launched < b:
        events += _startup_lines(e, inst)
    offset = int(_unit(inst.id, "offset") * PING_EVERY)
    for m in _every(first, last, offset):
        t = datetime.fromtimestamp(m * 60 + int(_unit(inst.id, m) * 50), UTC)
        events.append(_line(t, "INFO", "nginx", '"GET /ping HTTP/1.1" 200 0 "-" "AHC/2.0" 0.001s'))
    for m in _every(first, last, (offset + PING_EVERY // 2) % PING_EVERY):
        events += _summary_lines(e, inst, m, w)
    if e.incident:
        for m in range(max(first, model.to_minutes(e.incident.start)), min(last, model.to_minutes(e.incident.end))):
            events += _incident_lines(inst, m, _memory_gib(inst.instance_type))
    if inst.terminated is not None and a <= inst.terminated < b:
        events += _shutdown_lines(inst)
    return sorted(events)


def endpoint_log_events(world: World, e: EndpointSpec, a: datetime, b: datetime) -> dict[str, list[tuple[int, str]]]:
    """Log events of every instance stream of ``e`` in the whole minutes [a, b), by stream name."""
    out: dict[str, list[tuple[int, str]]] = {}
    for v in e.variants:
        fleet = [i for i in instances(world, e, v) if i.launched < b and (i.terminated is None or i.terminated >= a)]
        if not fleet:
            continue
        window = _variant_window(world, e, v, a, b)
        for inst in fleet:
            events = _instance_events(e, inst, a, b, window)
            if events:
                out.setdefault(inst.stream, []).extend(events)
    return out


def endpoint_log_start(world: World, e: EndpointSpec) -> datetime:
    days = IDLE_LOG_DAYS if e.idle_since else LOG_DAYS
    return max(world.anchor - timedelta(days=days), e.created)


# --------------------------------------------------------------------------- training logs


def _epoch_values(job: TrainingJobSpec, k: int) -> tuple[float, float]:
    loss_end = job.final_metrics.get("train:loss", 0.34 + 0.1 * _unit(job.name, "loss"))
    auc_end = job.final_metrics.get("validation:auc", 0.84 + 0.05 * _unit(job.name, "auc"))
    decay = math.exp(-4.0 * k / max(job.epochs, 1))
    jitter = (_unit(job.name, k) - 0.5) * 0.01
    return loss_end + (0.69 - loss_end) * decay + jitter, auc_end - (auc_end - 0.5) * decay + jitter / 2


def _oom_traceback(t: datetime) -> list[tuple[int, str]]:
    frames = [
        "Traceback (most recent call last):",
        '  File "/opt/ml/code/train.py", line 214, in <module>',
        "    main()",
        '  File "/opt/ml/code/train.py", line 188, in main',
        "    loss = step(model, batch, optimizer, scaler)",
        '  File "/opt/ml/code/train.py", line 97, in step',
        "    logits = model(batch.images.cuda(non_blocking=True))",
        '  File "/opt/conda/lib/python3.10/site-packages/torch/nn/modules/module.py", line 1518, in _call_impl',
        "    return forward_call(*args, **kwargs)",
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.50 GiB (GPU 0; 15.78 GiB total "
        "capacity; 13.12 GiB already allocated; 1.91 GiB free; 13.40 GiB reserved in total by PyTorch)",
    ]
    out = [_line(t + timedelta(milliseconds=i), "ERROR", "train", f) for i, f in enumerate(frames)]
    out.append(_line(t + timedelta(seconds=3), "ERROR", "sagemaker-training-toolkit",
                     "ExecuteUserScriptError: Command \"/opt/conda/bin/python3.10 train.py\" exit code 137"))
    return out


def training_log_events(job: TrainingJobSpec) -> list[tuple[int, str]]:
    """The whole log of one training job's first host (future lines included; callers cut at now)."""
    phases = {tr.status: tr for tr in job.transitions}
    training = phases["Training"]
    train_end = training.end or job.end
    assert train_end is not None and job.end is not None
    out = [
        _line(job.start + timedelta(seconds=20), "INFO", "sagemaker-training-toolkit",
              "Imported framework sagemaker_training; invoking user script"),
        _line(job.start + timedelta(seconds=21), "INFO", "sagemaker-training-toolkit",
              f"Hyperparameters: {json.dumps(job.hyperparameters, sort_keys=True)}"),
        _line(training.start + timedelta(seconds=5), "INFO", "train",
              f"Training on {job.instance_count} x {job.instance_type} (spot={str(job.spot).lower()}), "
              f"channels: {', '.join(job.channels)}"),
    ]
    planned_epochs = job.epochs
    done_fraction = 1.0 if job.status in ("Completed", "InProgress") else 0.35 + 0.5 * _unit(job.name, "done")
    epochs_run = max(1, int(planned_epochs * done_fraction))
    step = max(1, math.ceil(planned_epochs / 60))
    span = (train_end - training.start) / (epochs_run + 0.5)
    for k in range(1, epochs_run + 1):
        if k % step and k != epochs_run:
            continue
        loss, auc = _epoch_values(job, k)
        t = training.start + span * k
        out.append(_line(t, "INFO", "train", f"epoch {k}/{planned_epochs} train_loss={loss:.4f} val_auc={auc:.4f} "
                                             f"lr={job.hyperparameters.get('learning_rate', '0.001')} "
                                             f"elapsed={int((t - training.start).total_seconds())}s"))
    out += _training_ending(job, train_end)
    return sorted(out)


def _training_ending(job: TrainingJobSpec, train_end: datetime) -> list[tuple[int, str]]:
    assert job.end is not None
    reason = job.failure_reason or ""
    if "Interrupted" in {tr.status for tr in job.transitions}:
        return [
            _line(train_end, "WARN", "sagemaker", "Spot instance interruption notice received: capacity "
                                                  "reclaimed in 2 minutes; checkpointing to /opt/ml/checkpoints"),
            _line(train_end + timedelta(seconds=40), "INFO", "train", "Checkpoint saved to /opt/ml/checkpoints"),
            _line(job.end, "ERROR", "sagemaker", f"Training job failed: {reason}"),
        ]
    if job.status == "Failed" and "CUDA out of memory" in reason:
        return _oom_traceback(train_end) + [_line(job.end, "ERROR", "sagemaker", f"Training job failed: {reason}")]
    if job.status == "Failed":
        return [_line(train_end, "ERROR", "train", reason.split(": ", 1)[-1]),
                _line(job.end, "ERROR", "sagemaker", f"Training job failed: {reason}")]
    if job.status == "Stopped":
        return [_line(train_end, "INFO", "sagemaker", "Received SIGTERM: StopTrainingJob requested by user"),
                _line(job.end, "INFO", "sagemaker", "Training job stopped")]
    return [_line(train_end, "INFO", "train", "Saving model to /opt/ml/model"),
            _line(job.end, "INFO", "sagemaker", "Training job completed; model uploaded")]


def training_stream(job: TrainingJobSpec) -> str:
    return f"{job.name}/algo-1-{int(job.start.timestamp())}"


# --------------------------------------------------------------------------- logs into moto


def _logs_backend(account: str):
    from moto.logs.models import logs_backends

    return logs_backends[account][REGION]


def _ensure_group(account: str, name: str, created: datetime, retention: int | None = None):
    backend = _logs_backend(account)
    if name not in backend.groups:
        backend.create_log_group(name, {})
        group = backend.groups[name]
        group.creation_time = _naive(created)
        group.retention_in_days = retention
    return backend.groups[name]


def _append(group, stream_name: str, events: list[tuple[int, str]], created: datetime | None = None) -> None:
    """Append events to a stream, creating it; writes the stream directly (PutLogEvents refuses >14-day-old events)."""
    from moto.logs.models import LogEvent, LogStream

    if not events:
        return
    stream = group.streams.get(stream_name)
    if stream is None:
        stream = group.streams[stream_name] = LogStream(group, stream_name)
        stream.creation_time = _naive(created or datetime.fromtimestamp(events[0][0] / 1000, UTC))
    stream.events += [LogEvent(ts + 350, {"timestamp": ts, "message": msg}) for ts, msg in events]
    stream.stored_bytes += sum(len(msg) for _, msg in events)
    stream.last_ingestion_time = datetime.fromtimestamp(events[-1][0] / 1000 + 0.35, UTC).replace(tzinfo=None)
    stream.upload_sequence_token += 1


def _write_endpoint_logs(world: World, a_of, b: datetime) -> int:
    n = 0
    for e in world.endpoints:
        a = a_of(e)
        if a >= b:
            continue
        group = _ensure_group(e.account, ENDPOINT_LOG_PREFIX + e.name, e.created, 30)
        for stream, events in endpoint_log_events(world, e, a, b).items():
            _append(group, stream, events)
            n += len(events)
    return n


def _write_training_logs(world: World, a: datetime | None, b: datetime) -> int:
    n = 0
    since = world.anchor - timedelta(days=TRAINING_LOG_DAYS)
    for job in world.training_jobs:
        if job.created < since or (a is not None and job.end is not None and job.end + timedelta(minutes=1) < a):
            continue
        lo = _ms(a) if a else 0
        events = [ev for ev in training_log_events(job) if lo <= ev[0] < _ms(b)]
        group = _ensure_group(job.account, TRAINING_LOG_GROUP, world.history_start)
        _append(group, training_stream(job), events, job.start)
        n += len(events)
    return n


def _interleaved_filter(original):
    def filter_log_events(self, log_group_name, log_stream_names, start_time, end_time, limit, next_token,
                          filter_pattern, interleaved):
        if log_group_name.startswith("/aws/sagemaker/"):
            interleaved = True  # AWS ignores the flag and always interleaves (since 2019-06-17)
        return original(self, log_group_name, log_stream_names, start_time, end_time, limit, next_token,
                        filter_pattern, interleaved)

    filter_log_events._demo_original = original
    return filter_log_events


def _stream_prefix_filter(original):
    """FilterLogEvents with ``logStreamNamePrefix`` (moto ignores it and searches every stream)."""

    def filter_log_events(self):
        prefix = self._get_param("logStreamNamePrefix")
        if not prefix:
            return original(self)
        from moto.logs.exceptions import InvalidParameterException

        if self._get_param("logStreamNames"):
            raise InvalidParameterException("Cannot specify both logStreamNames and logStreamNamePrefix")
        group = self.logs_backend.groups.get(self._get_param("logGroupName"))
        names = sorted(n for n in group.streams if n.startswith(prefix)) if group else []
        if group is None or not names:
            return original(self) if group is None else json.dumps({"events": [], "searchedLogStreams": []})
        events, token, searched = self.logs_backend.filter_log_events(
            group.name, names, self._get_param("startTime"), self._get_param("endTime"), self._get_param("limit"),
            self._get_param("nextToken"), self._get_param("filterPattern"), True)
        return json.dumps({"events": events, "nextToken": token, "searchedLogStreams": searched})

    filter_log_events._demo_original = original
    return filter_log_events


# --------------------------------------------------------------------------- ECR


CVES = (
    # (id, package, version, severity, CVSS3 score)
    ("CVE-2025-32434", "torch", "2.1.2", "CRITICAL", 9.8),
    ("CVE-2022-45907", "torch", "1.13.0", "CRITICAL", 9.8),
    ("CVE-2023-37920", "certifi", "2022.12.7", "CRITICAL", 9.8),
    ("CVE-2023-45853", "zlib1g", "1:1.2.13.dfsg-1", "CRITICAL", 9.8),
    ("CVE-2023-38545", "curl", "7.88.1-10", "CRITICAL", 9.8),
    ("CVE-2024-6345", "setuptools", "65.5.0", "HIGH", 8.8),
    ("CVE-2024-1135", "gunicorn", "21.2.0", "HIGH", 7.5),
    ("CVE-2024-6827", "gunicorn", "21.2.0", "HIGH", 7.5),
    ("CVE-2023-30861", "flask", "2.2.2", "HIGH", 7.5),
    ("CVE-2024-26130", "cryptography", "41.0.7", "HIGH", 7.5),
    ("CVE-2023-4911", "libc6", "2.36-9", "HIGH", 7.8),
    ("CVE-2024-2961", "libc6", "2.36-9", "HIGH", 7.3),
    ("CVE-2023-29491", "ncurses-base", "6.4-4", "HIGH", 7.8),
    ("CVE-2024-35195", "requests", "2.31.0", "MEDIUM", 5.6),
    ("CVE-2024-3651", "idna", "3.6", "MEDIUM", 6.2),
    ("CVE-2024-37891", "urllib3", "2.0.7", "MEDIUM", 4.4),
    ("CVE-2022-40897", "setuptools", "65.5.0", "MEDIUM", 5.9),
    ("CVE-2023-50495", "ncurses-base", "6.4-4", "MEDIUM", 6.5),
    ("CVE-2021-41495", "numpy", "1.24.4", "MEDIUM", 5.3),
    ("CVE-2016-2781", "coreutils", "9.1-1", "LOW", 6.5),
    ("CVE-2022-27943", "gcc-12-base", "12.2.0-14", "LOW", 5.5),
)


@dataclass(frozen=True)
class ImageRef:
    account: str
    repo: str
    tag: str
    first_used: datetime


def image_refs(world: World) -> list[ImageRef]:
    """Every (account, repository, tag) the world's jobs, model packages and endpoints reference."""
    first: dict[tuple[str, str, str], datetime] = {}

    def add(account: str, repo: str, tag: str, t: datetime) -> None:
        key = (account, repo, tag)
        first[key] = min(first.get(key, t), t)

    for job in world.training_jobs:
        add(*_split_image(job.image), job.created)
    for p in world.packages:
        add(*_split_image(p.image), p.created)
    for e in world.endpoints:
        for v in e.variants:
            add(e.account, e.serve_repo, f"1.{v.model_version}.0", e.created)
        if e.incident:
            add(e.account, e.serve_repo, f"1.{e.incident.bad_version}.0", e.incident.start - timedelta(hours=2))
    return [ImageRef(a, r, t, when) for (a, r, t), when in sorted(first.items())]


def _version_rank(tag: str) -> tuple[int, ...]:
    return tuple(int(x) if x.isdigit() else 0 for x in tag.split("."))


def image_findings(world: World, ref: ImageRef, newest: bool) -> list[dict]:
    """Basic-scan findings of one image: older images carry CRITICAL/HIGH CVEs, the newest tag of a repo
    only MEDIUM/LOW ones. Deterministic in (seed, repository, tag)."""
    rng = random.Random(f"{world.seed}:{ref.account}:{ref.repo}:{ref.tag}")
    pool = [c for c in CVES if c[3] in ("MEDIUM", "LOW")]
    picks = rng.sample(pool, rng.randint(2, 5))
    if not newest:
        serious = [c for c in CVES if c[3] in ("CRITICAL", "HIGH")]
        picks += rng.sample(serious, rng.randint(1, 4))
    findings = []
    for cve, package, version, severity, score in sorted(picks):
        findings.append({
            "name": cve,
            "uri": f"https://nvd.nist.gov/vuln/detail/{cve}",
            "severity": severity,
            "description": f"{package} {version} is affected by {cve}.",
            "attributes": [{"key": "package_name", "value": package},
                           {"key": "package_version", "value": version},
                           {"key": "CVSS3_SCORE", "value": f"{score:.1f}"}],
        })
    return findings


def _severity_counts(findings: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in findings:
        counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    return counts


def _manifest(ref: ImageRef) -> str:
    layers = [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
               "size": 20_000_000 + int(_unit(ref.repo, ref.tag, i) * 400_000_000),
               "digest": "sha256:" + hashlib.sha256(f"{ref.repo}:{ref.tag}:{i}".encode()).hexdigest()}
              for i in range(4)]
    return json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": sum(x["size"] for x in layers),
                   "digest": "sha256:" + hashlib.sha256(f"{ref.repo}:{ref.tag}:config".encode()).hexdigest()},
        "layers": layers,
    })


def _seed_ecr(world: World) -> None:
    from moto.ecr.models import ecr_backends

    refs = image_refs(world)
    newest: dict[tuple[str, str], str] = {}
    for r in refs:
        key = (r.account, r.repo)
        if key not in newest or _version_rank(r.tag) > _version_rank(newest[key]):
            newest[key] = r.tag
    for r in refs:
        backend = ecr_backends[r.account][REGION]
        if r.repo not in backend.repositories:
            repo = backend.create_repository(r.repo, None, None, {"scanOnPush": True}, "MUTABLE", [])
            repo.created_at = _naive(min(x.first_used for x in refs if (x.account, x.repo) == (r.account, r.repo))
                                     - timedelta(days=3))
        pushed = r.first_used - timedelta(hours=2)
        image = backend.put_image(r.repo, _manifest(r), r.tag)
        image.image_pushed_at = int(pushed.timestamp())
        image.last_scan = _naive(pushed + timedelta(minutes=3))
        findings = image_findings(world, r, newest[(r.account, r.repo)] == r.tag)
        image.demo_findings = findings
        image.image_scan_status = {"status": "COMPLETE", "description": "The scan was completed successfully."}
        image.image_scan_findings_summary = {"imageScanCompletedAt": image.last_scan,
                                             "vulnerabilitySourceUpdatedAt": image.last_scan,
                                             "findingSeverityCounts": _severity_counts(findings)}


def _scan_findings(original):
    def describe_image_scan_findings(self, registry_id, repository_name, image_id):
        repo = self._get_repository(repository_name, registry_id)
        image = repo._get_image(image_id.get("imageTag"), image_id.get("imageDigest"))
        findings = getattr(image, "demo_findings", None)
        if findings is None:
            return original(self, registry_id, repository_name, image_id)
        return {
            "registryId": repo.registry_id,
            "repositoryName": repository_name,
            "imageId": {"imageDigest": image.image_digest, "imageTag": image.image_tag},
            "imageScanStatus": image.image_scan_status,
            "imageScanFindings": {**image.image_scan_findings_summary, "findings": findings},
        }

    describe_image_scan_findings._demo_original = original
    return describe_image_scan_findings


# --------------------------------------------------------------------------- EventBridge, S3, IAM


def _seed_events(world: World) -> None:
    from moto.events.models import events_backends
    from moto.sns.models import sns_backends

    pattern = {"source": ["aws.sagemaker"],
               "detail-type": ["SageMaker Training Job State Change", "SageMaker Endpoint State Change"]}
    for account in _accounts(world):
        topic = sns_backends[account][REGION].create_topic("ml-platform-alerts")
        events = events_backends[account][REGION]
        events.put_rule(EVENT_RULE, description="Notify the ML on-call of SageMaker training job and endpoint "
                        "state changes", event_pattern=json.dumps(pattern), state="ENABLED")
        events.put_targets(EVENT_RULE, None, [{"Id": "ml-platform-alerts", "Arn": topic.arn}])


def _seed_s3(world: World) -> None:
    from moto.s3.models import s3_backends

    for account in _accounts(world):
        backend = s3_backends[account][PARTITION]
        bucket_name = f"sagemaker-{account}-data"
        bucket = backend.create_bucket(bucket_name, REGION)
        bucket.creation_date = world.anchor - timedelta(days=400)
        for team in (t for t in world.teams if t.account == account):
            for i in range(3):
                key = f"{team.team}/features/part-{i:05d}.parquet"
                backend.put_object(bucket_name, key, b"PAR1" + _digest(team.team, i).encode() + b"PAR1")
            jobs = [j for j in world.training_jobs if j.account == account and j.team == team.team
                    and j.status == "Completed"][-2:]
            for j in jobs:
                key = f"{team.team}/models/{j.name}/output/model.tar.gz"
                obj = backend.put_object(bucket_name, key, b"\x1f\x8b" + _digest(j.name).encode())
                obj.last_modified = _naive(j.end or j.start)


def _trust_policy(world: World) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{world_mod.MAIN_ACCOUNT}:root"},
        "Action": "sts:AssumeRole",
        "Condition": {"StringEquals": {"sts:ExternalId": world_mod.EXTERNAL_ID}},
    }]}


def _seed_iam(world: World) -> None:
    from moto.iam.models import iam_backends

    account = world_mod.CROSS_ACCOUNT_ROLE.split(":")[4]
    name = world_mod.CROSS_ACCOUNT_ROLE.rsplit("/", 1)[1]
    iam = iam_backends[account][PARTITION]
    if name not in {r.name for r in iam.roles.values()}:
        role = iam.create_role(name, json.dumps(_trust_policy(world)), "/", None,
                               "Read-only access for the Sextant console in the ML platform account", [], "3600")
        role.create_date = _naive(world.anchor - timedelta(days=200))


def _checked_assume_role(original):
    def assume_role(self, region_name, role_session_name, role_arn, policy, duration, external_id):
        world = _state.get("world")
        if world is not None and role_arn == world_mod.CROSS_ACCOUNT_ROLE:
            _check_external_id(role_arn, external_id)
        return original(self, region_name, role_session_name, role_arn, policy, duration, external_id)

    assume_role._demo_original = original
    return assume_role


def _check_external_id(role_arn: str, external_id: str | None) -> None:
    """Evaluate the role's trust policy condition ``StringEquals sts:ExternalId`` as AWS does."""
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.models import iam_backends

    account, name = role_arn.split(":")[4], role_arn.rsplit("/", 1)[1]
    role = next((r for r in iam_backends[account][PARTITION].roles.values() if r.name == name), None)
    denied = AccessDeniedError(f"arn:aws:iam::{world_mod.MAIN_ACCOUNT}:root", f"sts:AssumeRole on resource: {role_arn}")
    if role is None:
        raise denied
    doc = role.assume_role_policy_document
    doc = json.loads(doc) if isinstance(doc, str) else doc
    for stmt in doc.get("Statement", []):
        wanted = stmt.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
        if wanted is not None and wanted != external_id:
            raise denied


# --------------------------------------------------------------------------- CloudFormation


@dataclass
class StackResource:
    """What moto's CloudFormation responses read from a provisioned resource, pointing at an existing one."""

    logical_resource_id: str
    physical_resource_id: str
    cf_resource_type: str

    def is_created(self) -> bool:
        return True


def _logical_id(name: str, suffix: str) -> str:
    return "".join(p.capitalize() for p in name.replace("_", "-").split("-")) + suffix


def stack_resources(world: World, stack: str) -> tuple[dict, list[StackResource], datetime]:
    """Template and resource records of one of the world's stacks, and its creation time."""
    from moto.sagemaker.utils import arn_formatter

    resources: dict = {}
    records: list[StackResource] = []
    created = world.anchor
    for e in (e for e in world.endpoints if e.stack == stack):
        created = min(created, e.created)
        states = [world.timeline.states(e.account, e.name, v.name)[-1] for v in e.variants]
        config = states[0].config_name
        cfg_id, ep_id = _logical_id(e.name, "Config"), _logical_id(e.name, "Endpoint")
        variants = []
        for v, s in zip(e.variants, states, strict=True):
            model_name = e.model_name(v, s.model_version)
            model_id = _logical_id(f"{e.name}-{v.name}", "Model")
            resources[model_id] = {"Type": "AWS::SageMaker::Model", "Properties": {
                "ModelName": model_name, "ExecutionRoleArn": world_mod.role_arn(e.account),
                "PrimaryContainer": {"Image": world_mod.ecr_uri(e.account, e.serve_repo, f"1.{s.model_version}.0")}}}
            records.append(StackResource(model_id, arn_formatter("model", model_name, e.account, REGION),
                                         "AWS::SageMaker::Model"))
            variants.append({"VariantName": v.name, "ModelName": {"Fn::GetAtt": [model_id, "ModelName"]},
                             "InstanceType": s.instance_type, "InitialInstanceCount": s.count,
                             "InitialVariantWeight": s.weight})
        resources[cfg_id] = {"Type": "AWS::SageMaker::EndpointConfig",
                             "Properties": {"EndpointConfigName": config, "ProductionVariants": variants}}
        resources[ep_id] = {"Type": "AWS::SageMaker::Endpoint", "Properties": {
            "EndpointName": e.name, "EndpointConfigName": {"Fn::GetAtt": [cfg_id, "EndpointConfigName"]}}}
        records.append(StackResource(cfg_id, arn_formatter("endpoint-config", config, e.account, REGION),
                                     "AWS::SageMaker::EndpointConfig"))
        records.append(StackResource(ep_id, arn_formatter("endpoint", e.name, e.account, REGION),
                                     "AWS::SageMaker::Endpoint"))
    for job in (j for j in world.training_jobs if j.stack == stack):
        created = min(created, job.created - timedelta(days=1))
        job_id = _logical_id(job.name, "TrainingJob")
        resources[job_id] = {"Type": "Custom::SageMakerTrainingJob", "Properties": {
            "ServiceToken": f"arn:aws:lambda:{REGION}:{job.account}:function:cfn-sagemaker-training-job",
            "TrainingJobName": job.name, "InstanceType": job.instance_type, "Image": job.image}}
        records.append(StackResource(job_id, job.name, "Custom::SageMakerTrainingJob"))
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Description": f"{stack}: ML platform resources",
                "Resources": resources}
    return template, records, created


class _AfterImport(importlib.abc.MetaPathFinder):
    """Runs ``callback`` right after ``module`` is first imported (by moto, on the first request for it)."""

    def __init__(self, module: str, callback) -> None:
        self.module, self.callback = module, callback

    def find_spec(self, fullname, path, target=None):
        if fullname != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            exec_module, callback = spec.loader.exec_module, self.callback

            def exec_then_seed(module):
                exec_module(module)
                callback()

            spec.loader.exec_module = exec_then_seed
        return spec


def _when_imported(module: str, callback) -> None:
    """Call ``callback`` now if ``module`` is loaded, else as soon as it is: importing
    moto.cloudformation costs ~2.4 s (it pulls in most of moto), too much for the account's start."""
    if module in sys.modules:
        callback()
    else:
        sys.meta_path.insert(0, _AfterImport(module, callback))


def _seed_cloudformation(world: World) -> None:
    from moto.cloudformation.models import Stack, cloudformation_backends

    stacks = sorted({(e.account, e.stack) for e in world.endpoints if e.stack}
                    | {(j.account, j.stack) for j in world.training_jobs if j.stack})
    for account, name in stacks:
        backend = cloudformation_backends[account][REGION]
        template, records, created = stack_resources(world, name)
        stack_id = f"arn:aws:cloudformation:{REGION}:{account}:stack/{name}/{uuid.UUID(_digest(world.seed, name))}"
        stack = Stack(stack_id, name, json.dumps(template), {}, account, REGION,
                      tags={"team": name.split("-")[0]})
        for r in records:
            stack.resource_map._parsed_resources[r.logical_resource_id] = r
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.status = "CREATE_COMPLETE"
        stack._add_stack_event("CREATE_COMPLETE")
        stack.creation_time = _naive(created)
        for i, ev in enumerate(stack.events):
            ev.timestamp = _naive(created + timedelta(minutes=9 * i))
        backend.stacks[stack.stack_id] = stack
    _patch_resource_timestamps()


def _patch_resource_timestamps() -> None:
    """DescribeStackResources reports a hard-coded 2010 timestamp in moto; report the stack's creation time."""
    from moto.cloudformation import responses

    dto = responses.StackResourceDTO
    if hasattr(dto.__init__, "_demo_original"):
        return
    original = dto.__init__

    def __init__(self, stack, resource) -> None:
        original(self, stack, resource)
        if isinstance(resource, StackResource):
            self.timestamp = stack.creation_time

    __init__._demo_original = original
    dto.__init__ = __init__


# --------------------------------------------------------------------------- Step Functions


TASK_RESOURCES = {
    "DataPrep": "arn:aws:states:::sagemaker:createProcessingJob.sync",
    "Training": "arn:aws:states:::sagemaker:createTrainingJob.sync",
    "Evaluation": "arn:aws:states:::lambda:invoke",
    "Deployment": "arn:aws:states:::sagemaker:updateEndpoint",
    "Monitoring": "arn:aws:states:::lambda:invoke",
}


@dataclass(frozen=True)
class StateRun:
    name: str
    start: datetime
    end: datetime
    failed: bool = False
    error: str | None = None
    cause: str | None = None


@dataclass
class ExecutionPlan:
    """What an execution does, in time; its status and history at any moment follow from it."""

    start: datetime
    input: str
    runs: list[StateRun]
    redrives: list[tuple[datetime, list[StateRun]]] = field(default_factory=list)

    def all_runs(self) -> list[StateRun]:
        return self.runs + [r for _, runs in self.redrives for r in runs]

    def status(self, now: datetime) -> tuple[str, datetime | None]:
        last = self.all_runs()[-1]
        if last.end > now:
            return "RUNNING", None
        return ("FAILED" if last.failed else "SUCCEEDED"), last.end


def _definition() -> str:
    names = list(TASK_RESOURCES)
    states = {}
    for i, name in enumerate(names):
        state = {"Type": "Task", "Resource": TASK_RESOURCES[name], "Parameters": {"Payload.$": "$"},
                 "ResultPath": f"$.{name[0].lower()}{name[1:]}",
                 "Retry": [{"ErrorEquals": ["ThrottlingException"], "MaxAttempts": 3, "BackoffRate": 2}]}
        state.update({"Next": names[i + 1]} if i + 1 < len(names) else {"End": True})
        states[name] = state
    return json.dumps({"Comment": "Release a retrained model: prepare data, train, evaluate, deploy, monitor",
                       "StartAt": names[0], "States": states}, indent=2)


def _plan_from_world(spec) -> ExecutionPlan:
    runs = [StateRun(s.name, s.start, s.end, s.status == "Failed",
                     "States.TaskFailed" if s.status == "Failed" else None, s.failure_reason)
            for s in spec.steps]
    return ExecutionPlan(spec.start, json.dumps(spec.parameters), runs)


def _quick_runs(key: str, names: list[str], start: datetime, fail_at: str | None = None) -> list[StateRun]:
    """States of an API-started execution: 2-6 s each on the wall clock (a demo should not keep you waiting).

    They succeed, unless the input names a state in ``"failAt"`` (the demo's failure injection), which then
    fails with the world's cause for that state."""
    out, t = [], start
    for name in names:
        d = timedelta(seconds=2 + 4 * _unit(key, name))
        if name == fail_at:
            out.append(StateRun(name, t, t + d, True, "States.TaskFailed",
                                world_mod.STEP_FAILURES.get(name, f"{name} failed")))
            break
        out.append(StateRun(name, t, t + d))
        t += d
    return out


def _fail_at(execution_input: str) -> str | None:
    try:
        value = json.loads(execution_input).get("failAt")
    except (ValueError, AttributeError):
        return None
    return value if value in TASK_RESOURCES else None


def execution_history(arn: str, role_arn: str, plan: ExecutionPlan, now: datetime) -> list[dict]:
    """GetExecutionHistory events (AWS shapes) of ``plan`` up to ``now``."""
    events: list[dict] = []

    def add(t: datetime, kind: str, details_key: str | None = None, details: dict | None = None) -> None:
        if t > now:
            return
        ev = {"timestamp": t, "type": kind, "id": len(events) + 1, "previousEventId": len(events)}
        if details_key:
            ev[details_key] = details
        events.append(ev)

    add(plan.start, "ExecutionStarted", "executionStartedEventDetails",
        {"input": plan.input, "inputDetails": {"truncated": False}, "roleArn": role_arn})
    _add_runs(add, plan.runs)
    for i, (at, runs) in enumerate(plan.redrives, start=1):
        add(at, "ExecutionRedriven", "executionRedrivenEventDetails", {"redriveCount": i})
        _add_runs(add, runs)
    last = plan.all_runs()[-1]
    if not last.failed:
        add(last.end, "ExecutionSucceeded", "executionSucceededEventDetails",
            {"output": json.dumps({"status": "released"}), "outputDetails": {"truncated": False}})
    return events


def _add_runs(add, runs: list[StateRun]) -> None:
    for r in runs:
        resource = TASK_RESOURCES.get(r.name, "arn:aws:states:::lambda:invoke")
        rtype, rname = resource.split(":::")[1].split(":", 1)
        add(r.start, "TaskStateEntered", "stateEnteredEventDetails",
            {"name": r.name, "input": "{}", "inputDetails": {"truncated": False}})
        add(r.start, "TaskScheduled", "taskScheduledEventDetails",
            {"resourceType": rtype, "resource": rname, "region": REGION, "parameters": '{"Payload.$":"$"}'})
        add(r.start + timedelta(milliseconds=120), "TaskStarted", "taskStartedEventDetails",
            {"resourceType": rtype, "resource": rname})
        if r.failed:
            add(r.end, "TaskFailed", "taskFailedEventDetails",
                {"resourceType": rtype, "resource": rname, "error": r.error, "cause": r.cause})
            add(r.end, "ExecutionFailed", "executionFailedEventDetails", {"error": r.error, "cause": r.cause})
            return
        add(r.end, "TaskSucceeded", "taskSucceededEventDetails",
            {"resourceType": rtype, "resource": rname, "output": "{}", "outputDetails": {"truncated": False}})
        add(r.end, "TaskStateExited", "stateExitedEventDetails",
            {"name": r.name, "output": "{}", "outputDetails": {"truncated": False}})


def _refresh(execution, now: datetime) -> None:
    plan: ExecutionPlan | None = getattr(execution, "demo_plan", None)
    if plan is None or execution.status == "ABORTED":
        return
    status, stop = plan.status(now)
    execution.status = status
    execution.stop_date = _naive(stop) if stop else None
    last = plan.all_runs()[-1]
    execution.error = last.error if status == "FAILED" else None
    execution.cause = last.cause if status == "FAILED" else None
    execution.output = json.dumps({"status": "released"}) if status == "SUCCEEDED" else None
    execution.output_details = {"truncated": False} if status == "SUCCEEDED" else None


def _sfn_backend(account: str):
    from moto.stepfunctions.models import stepfunctions_backends

    return stepfunctions_backends[account][REGION]


def _seed_stepfunctions(world: World) -> None:
    from moto.stepfunctions.models import Execution

    backend = _sfn_backend(world_mod.MAIN_ACCOUNT)
    role = f"arn:aws:iam::{world_mod.MAIN_ACCOUNT}:role/StepFunctionsMLRelease"
    sm = backend.create_state_machine(STATE_MACHINE, _definition(), role,
                                      tags=[{"key": "team", "value": "platform"}])
    sm.creation_date = _naive(world.history_start - timedelta(days=40))
    now = datetime.now(UTC)
    for spec in world.state_machine_executions:
        name = f"{spec.parameters.get('model', 'release')}-{spec.start:%Y%m%dT%H%M}"
        ex = Execution(REGION, spec.account, sm.name, name, sm.arn, json.dumps(spec.parameters))
        ex.start_date = _naive(spec.start)
        ex.demo_plan = _plan_from_world(spec)
        _refresh(ex, now)
        sm.executions.append(ex)


def _demo_execution(backend, arn: str):
    for sm in backend.state_machines:
        for ex in sm.executions:
            if ex.execution_arn == arn:
                return sm, ex
    return None, None


def _start_execution(original):
    def start_execution(self, state_machine_arn, name, execution_input):
        execution = original(self, state_machine_arn, name, execution_input)
        if state_machine_arn.endswith(f":stateMachine:{STATE_MACHINE}") and not hasattr(execution, "demo_plan"):
            start = execution.start_date.replace(tzinfo=UTC)
            runs = _quick_runs(execution.execution_arn, list(TASK_RESOURCES), start, _fail_at(execution_input))
            execution.demo_plan = ExecutionPlan(start, execution_input, runs)
            _refresh(execution, datetime.now(UTC))
        return execution

    start_execution._demo_original = original
    return start_execution


def _with_refresh(original):
    def method(self, execution_arn, *args, **kwargs):
        _, ex = _demo_execution(self, execution_arn)
        if ex is not None:
            _refresh(ex, datetime.now(UTC))
        return original(self, execution_arn, *args, **kwargs)

    method._demo_original = original
    return method


def _history(original):
    def get_execution_history(self, execution_arn):
        sm, ex = _demo_execution(self, execution_arn)
        if ex is None or not hasattr(ex, "demo_plan"):
            return original(self, execution_arn)
        return {"events": execution_history(execution_arn, sm.roleArn, ex.demo_plan, datetime.now(UTC))}

    get_execution_history._demo_original = original
    return get_execution_history


def redrive(backend, execution_arn: str, now: datetime) -> datetime:
    """RedriveExecution: a FAILED execution stopped less than 14 days ago restarts at its failed state."""
    from moto.core.exceptions import JsonRESTError

    _, ex = _demo_execution(backend, execution_arn)
    if ex is None:
        raise JsonRESTError("ExecutionDoesNotExist", f"Execution Does Not Exist: '{execution_arn}'")
    _refresh(ex, now)
    plan = getattr(ex, "demo_plan", None)
    stopped = ex.stop_date.replace(tzinfo=UTC) if ex.stop_date else None
    if plan is None or ex.status != "FAILED" or stopped is None or now - stopped > timedelta(days=REDRIVE_DAYS):
        raise JsonRESTError("ExecutionNotRedrivable",
                            f"Execution {execution_arn} cannot be redriven: only FAILED, ABORTED or TIMED_OUT "
                            f"executions that stopped within the last {REDRIVE_DAYS} days can be redriven.")
    failed = plan.all_runs()[-1].name
    names = list(TASK_RESOURCES)
    runs = _quick_runs(f"{execution_arn}/{len(plan.redrives)}", names[names.index(failed):], now)
    plan.redrives.append((now, runs))
    ex.redrive_count = len(plan.redrives)
    ex.redrive_date = _naive(now)
    _refresh(ex, now)
    return now


def _redrive_response(self):
    from moto.core.responses import ActionResult

    when = redrive(self.stepfunction_backend, self._get_param("executionArn"), datetime.now(UTC))
    return ActionResult({"redriveDate": when})


def _describe_with_redrive(original):
    def describe_execution(self):
        result = original(self)
        _, ex = _demo_execution(self.stepfunction_backend, self._get_param("executionArn"))
        if ex is not None and hasattr(ex, "demo_plan"):
            result.result["redriveCount"] = getattr(ex, "redrive_count", 0)
            if getattr(ex, "redrive_date", None):
                result.result["redriveDate"] = ex.redrive_date
        return result

    describe_execution._demo_original = original
    return describe_execution


# --------------------------------------------------------------------------- install / seed / tick


def _patch(owner, name: str, wrapper) -> None:
    current = getattr(owner, name)
    if not hasattr(current, "_demo_original"):
        setattr(owner, name, wrapper(current))


def install(world: World) -> None:
    """Patch moto: log filtering (interleaved, by stream prefix), scan findings, external ids, Step Functions."""
    from moto.ecr.models import ECRBackend
    from moto.logs.models import LogsBackend
    from moto.logs.responses import LogsResponse
    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.responses import StepFunctionResponse
    from moto.sts.models import STSBackend

    _state["world"] = world
    _patch(LogsBackend, "filter_log_events", _interleaved_filter)
    _patch(LogsResponse, "filter_log_events", _stream_prefix_filter)
    _patch(ECRBackend, "describe_image_scan_findings", _scan_findings)
    _patch(STSBackend, "assume_role", _checked_assume_role)
    _patch(StepFunctionBackend, "start_execution", _start_execution)
    _patch(StepFunctionBackend, "describe_execution", _with_refresh)
    _patch(StepFunctionBackend, "get_execution_history", _history)
    _patch(StepFunctionResponse, "describe_execution", _describe_with_redrive)
    StepFunctionResponse.redrive_execution = _redrive_response


def seed(world: World) -> None:
    """Write logs, images, the event rule, stacks, the state machine, buckets and the cross-account role."""
    _state["world"] = world
    now = _floor_minute(datetime.now(UTC))
    _write_endpoint_logs(world, lambda e: endpoint_log_start(world, e), now)
    _write_training_logs(world, None, now)
    _seed_ecr(world)
    _seed_events(world)
    _seed_s3(world)
    _seed_iam(world)
    _when_imported("moto.cloudformation.models", lambda: _seed_cloudformation(world))
    _seed_stepfunctions(world)
    _state["cursor"] = now


def tick(world: World, now: datetime) -> None:
    """Append the log lines of the whole minutes since the last tick; move Step Functions executions on."""
    with _lock:
        cursor = _state.get("cursor")
        end = _floor_minute(now)
        if cursor is not None and end > cursor:
            end = min(end, cursor + timedelta(hours=1))  # bounded catch-up after a stall
            _write_endpoint_logs(world, lambda e: max(cursor, e.created), end)
            _write_training_logs(world, cursor, end)
            _state["cursor"] = end
        for sm in _sfn_backend(world_mod.MAIN_ACCOUNT).state_machines:
            for ex in sm.executions:
                if ex.status == "RUNNING":
                    _refresh(ex, now)
