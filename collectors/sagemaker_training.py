"""SageMaker training jobs and their secondary-status transitions.

Incremental: ListTrainingJobs with ``LastModifiedTimeAfter`` = the newest LastModifiedTime stored
(cursor ``last_modified``), 100 per page. ListTrainingJobs applies MaxResults *before* StatusEquals,
so nothing is filtered by status server-side. Only jobs whose LastModifiedTime differs from the
stored one are described (DescribeTrainingJob + ListTags); jobs stored as InProgress or Stopping
are re-described every run, since their secondary status, training time and metrics move
without always touching LastModifiedTime. Training jobs cannot be deleted, so rows are never
removed. A job's transitions are replaced whenever the job is described. Every job's tags are read
again once per ``collect.tags_every_s`` (re-tagging does not touch LastModifiedTime).

Describes and tags are optional (``Context.optional``): a job whose describe fails keeps its stored
row and the cursor stops before it (the next run lists it again); tags that cannot be read keep the
stored ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from collectors.base import Batch, Context, sweep_jobs
from sextant.schema import table

NAME = "sagemaker_training"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()
RUNNING = ("InProgress", "Stopping")

TRAINING_JOB = table("aws_sagemaker_training_job", "A SageMaker training job, as last described.", [
    ("training_job_name", "VARCHAR", "Training job name."),
    ("training_job_arn", "VARCHAR", "Training job ARN."),
    ("status", "VARCHAR", "TrainingJobStatus: InProgress, Completed, Failed, Stopping, Stopped."),
    ("secondary_status", "VARCHAR", "SecondaryStatus: Starting, Downloading, Training, Uploading, Interrupted, ..."),
    ("creation_time", "TIMESTAMPTZ", "When the job was created."),
    ("training_start_time", "TIMESTAMPTZ", "When the training instances started (after provisioning)."),
    ("training_end_time", "TIMESTAMPTZ", "When training ended (any terminal status); NULL while running."),
    ("last_modified_time", "TIMESTAMPTZ", "When the job last changed status."),
    ("instance_type", "VARCHAR", "ML instance type, e.g. ml.p3.2xlarge."),
    ("instance_count", "INTEGER", "Number of training instances."),
    ("volume_gb", "INTEGER", "ML storage volume per instance, in GB."),
    ("spot", "BOOLEAN", "True when managed spot training is enabled."),
    ("max_runtime_s", "BIGINT", "StoppingCondition.MaxRuntimeInSeconds, in seconds."),
    ("max_wait_s", "BIGINT", "StoppingCondition.MaxWaitTimeInSeconds (spot only), in seconds."),
    ("training_seconds", "BIGINT", "TrainingTimeInSeconds: wall-clock training time per instance, in seconds."),
    ("billable_seconds", "BIGINT", "BillableTimeInSeconds per instance, in seconds (spot savings already applied); "
                                   "cost = billable_seconds / 3600 x hourly price x instance_count."),
    ("failure_reason", "VARCHAR", "Why the job failed, when it did."),
    ("hyperparameters", "JSON", "Hyperparameters, as a JSON object of strings."),
    ("final_metrics", "JSON", "FinalMetricDataList as a JSON object {metric name: value}."),
    ("image", "VARCHAR", "Training image URI (AlgorithmSpecification.TrainingImage), or the algorithm name."),
    ("input_channels", "JSON", "Input channels: [{name, s3_uri, content_type}]."),
    ("team", "VARCHAR", "Value of the job's team tag ([collect] tag_keys, default `team`)."),
    ("project", "VARCHAR", "Value of the job's project tag ([collect] tag_keys, default `project`)."),
    ("tags", "JSON", "All tags of the job, as a JSON object."),
    ("observed_at", "TIMESTAMPTZ", "When the collector last described the job."),
], ["training_job_name"])

TRANSITION = table(
    "aws_sagemaker_training_job_status_transition",
    "A secondary-status transition of a training job (Starting, Downloading, Training, ...).", [
        ("training_job_name", "VARCHAR", "Training job name."),
        ("status", "VARCHAR", "Secondary status entered."),
        ("start_time", "TIMESTAMPTZ", "When the job entered the status."),
        ("end_time", "TIMESTAMPTZ", "When it left it; NULL for the current status."),
        ("message", "VARCHAR", "StatusMessage, e.g. 'Job interrupted: spot instance reclaimed'."),
    ], ["training_job_name", "status", "start_time"])

TABLES = (TRAINING_JOB, TRANSITION)


def collect(ctx: Context) -> Iterator[Batch]:
    jobs, transitions, described = [], [], []
    for job in sweep_jobs(ctx, kind="TrainingJob", table=TRAINING_JOB, list_call="list_training_jobs",
                          describe_call="describe_training_job",
                          again=lambda name, stored: stored[1] in RUNNING):  # running jobs are re-read every run
        jobs.append(_job_row(ctx, job.description, job.tags))
        described.append(job.name)
        for t in job.description.get("SecondaryStatusTransitions", []):
            transitions.append(ctx.rows(training_job_name=job.name, status=t["Status"], start_time=t["StartTime"],
                                        end_time=t.get("EndTime"), message=t.get("StatusMessage")))
    if described:
        ctx.delete(TRANSITION, "training_job_name", described)
    yield TRAINING_JOB, jobs
    yield TRANSITION, transitions
    ctx.refresh_tags(TRAINING_JOB, "training_job_name", "training_job_arn", lambda t: _tag_columns(ctx, t),
                     skip=set(described))


def _tag_columns(ctx: Context, tags: dict[str, str]) -> dict[str, str | None]:
    owners = ctx.owners(tags)
    return {"team": owners["team"], "project": owners["project"]}


def _job_row(ctx: Context, d: dict, tags: dict[str, str] | None) -> dict:
    res = d.get("ResourceConfig", {})
    stop = d.get("StoppingCondition", {})
    algo = d.get("AlgorithmSpecification", {})
    channels = [{"name": c.get("ChannelName"),
                 "s3_uri": ((c.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri"),
                 "content_type": c.get("ContentType")} for c in d.get("InputDataConfig", [])]
    return ctx.rows(
        training_job_name=d["TrainingJobName"], training_job_arn=d["TrainingJobArn"],
        status=d["TrainingJobStatus"], secondary_status=d.get("SecondaryStatus"),
        creation_time=d["CreationTime"], training_start_time=d.get("TrainingStartTime"),
        training_end_time=d.get("TrainingEndTime") if d["TrainingJobStatus"] not in RUNNING else None,
        last_modified_time=d.get("LastModifiedTime"),
        instance_type=res.get("InstanceType") or _first_group(res, "InstanceType"),
        instance_count=res.get("InstanceCount") or _first_group(res, "InstanceCount"),
        volume_gb=res.get("VolumeSizeInGB"), spot=bool(d.get("EnableManagedSpotTraining")),
        max_runtime_s=stop.get("MaxRuntimeInSeconds"), max_wait_s=stop.get("MaxWaitTimeInSeconds"),
        training_seconds=d.get("TrainingTimeInSeconds"), billable_seconds=d.get("BillableTimeInSeconds"),
        failure_reason=d.get("FailureReason"),
        hyperparameters=json.dumps(d.get("HyperParameters") or {}),
        final_metrics=json.dumps({m["MetricName"]: m.get("Value") for m in d.get("FinalMetricDataList", [])}),
        image=algo.get("TrainingImage") or algo.get("AlgorithmName"),
        input_channels=json.dumps(channels),
        **_tag_columns(ctx, tags or {}), tags=None if tags is None else json.dumps(tags), observed_at=ctx.now)


def _first_group(res: dict, key: str):
    """Heterogeneous clusters put instance settings in InstanceGroups instead."""
    groups = res.get("InstanceGroups") or []
    if key == "InstanceCount" and groups:
        return sum(g.get("InstanceCount", 0) for g in groups)
    return groups[0].get(key) if groups else None
