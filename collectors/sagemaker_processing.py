"""SageMaker processing jobs: feature extraction, evaluation, pipeline steps, Debugger rules.

Incremental: ListProcessingJobs with ``LastModifiedTimeAfter`` = the newest LastModifiedTime stored (cursor
``last_modified``), 100 per page. Only jobs whose LastModifiedTime differs from the stored one are described
(DescribeProcessingJob + ListTags), so a run where nothing changed makes only the list call. A job stored as
running without a start time is described again until its instances have started (whether AWS touches
LastModifiedTime at that moment is not documented). Processing jobs cannot be deleted, so rows are never removed.
Every job's tags are read again once per ``collect.tags_every_s`` (re-tagging does not touch LastModifiedTime).
Describes and tags are optional (``Context.optional``): a job whose describe fails keeps its stored row and the
cursor stops before it; tags that cannot be read keep the stored ones.

Billable time is computed, not read: SageMaker bills processing per instance-second while the instances run, so
``billable_seconds`` = instance count x (ProcessingEndTime - ProcessingStartTime). Which training job or pipeline
execution started a job comes from DescribeProcessingJob's TrainingJobArn and the tags Pipelines puts on the
jobs of its steps (``sagemaker:pipeline-execution-arn``, ``sagemaker:pipeline-step-name``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from collectors.base import Batch, Context, sweep_jobs
from sextant.schema import table

NAME = "sagemaker_processing"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()
RUNNING = ("InProgress", "Stopping")
PIPELINE_EXECUTION_TAG = "sagemaker:pipeline-execution-arn"
PIPELINE_STEP_TAG = "sagemaker:pipeline-step-name"

PROCESSING_JOB = table("aws_sagemaker_processing_job", "A SageMaker processing job, as last described.", [
    ("processing_job_name", "VARCHAR", "Processing job name."),
    ("processing_job_arn", "VARCHAR", "Processing job ARN."),
    ("status", "VARCHAR", "ProcessingJobStatus: InProgress, Completed, Failed, Stopping, Stopped."),
    ("failure_reason", "VARCHAR", "Why the job failed, when it did."),
    ("exit_message", "VARCHAR", "ExitMessage: the container's last words (the error that ended a failed job)."),
    ("creation_time", "TIMESTAMPTZ", "When the job was created."),
    ("processing_start_time", "TIMESTAMPTZ", "When the processing instances started; NULL before (or never, for "
                                             "a job that failed first)."),
    ("processing_end_time", "TIMESTAMPTZ", "When the job ended (any terminal status); NULL while running."),
    ("last_modified_time", "TIMESTAMPTZ", "When the job last changed."),
    ("instance_type", "VARCHAR", "ML instance type, e.g. ml.m5.xlarge."),
    ("instance_count", "INTEGER", "Number of processing instances."),
    ("volume_gb", "INTEGER", "ML storage volume per instance, in GB."),
    ("max_runtime_s", "BIGINT", "StoppingCondition.MaxRuntimeInSeconds, in seconds."),
    ("duration_seconds", "BIGINT", "Run time of the instances, processing_end_time - processing_start_time, in "
                                   "seconds; NULL while running or when the instances never started."),
    ("billable_seconds", "BIGINT", "Billed instance-seconds: instance_count x (processing_end_time - "
                                   "processing_start_time), as SageMaker bills processing per instance-second "
                                   "while the instances run; 0 when the job ended before they started; NULL "
                                   "while running. cost = billable_seconds / 3600 x the hourly Processing "
                                   "price of instance_type."),
    ("inputs", "JSON", "ProcessingInputs: [{name, s3_uri}] (s3_uri NULL for dataset definitions)."),
    ("outputs", "JSON", "ProcessingOutputConfig.Outputs: [{name, s3_uri}] (s3_uri NULL for Feature Store)."),
    ("image", "VARCHAR", "Container image URI (AppSpecification.ImageUri)."),
    ("role_arn", "VARCHAR", "IAM role the job ran as."),
    ("training_job_arn", "VARCHAR", "TrainingJobArn: the training job that started this job (a Debugger rule), "
                                    "else NULL."),
    ("pipeline_execution_arn", "VARCHAR", "The pipeline execution whose step started this job (its "
                                          "sagemaker:pipeline-execution-arn tag), else NULL."),
    ("pipeline_step_name", "VARCHAR", "The pipeline step that started this job (its sagemaker:pipeline-step-name "
                                      "tag), else NULL."),
    ("team", "VARCHAR", "Value of the job's team tag ([collect] tag_keys, default `team`)."),
    ("project", "VARCHAR", "Value of the job's project tag ([collect] tag_keys, default `project`)."),
    ("env", "VARCHAR", "Value of the job's `env` tag."),
    ("tags", "JSON", "All tags of the job, as a JSON object."),
    ("observed_at", "TIMESTAMPTZ", "When the collector last described the job."),
], ["processing_job_name"])

TABLES = (PROCESSING_JOB,)


def collect(ctx: Context) -> Iterator[Batch]:
    # a job stored as running without a start time is read again until its instances have started
    sweep = sweep_jobs(ctx, kind="ProcessingJob", table=PROCESSING_JOB, list_call="list_processing_jobs",
                       describe_call="describe_processing_job",
                       state="status, processing_start_time IS NOT NULL",
                       again=lambda name, stored: stored[1] in RUNNING and not stored[2])
    jobs = [_job_row(ctx, job.description, job.tags) for job in sweep]
    yield PROCESSING_JOB, jobs
    ctx.refresh_tags(PROCESSING_JOB, "processing_job_name", "processing_job_arn", lambda t: _tag_columns(ctx, t),
                     skip={j["processing_job_name"] for j in jobs})


def _tag_columns(ctx: Context, tags: dict[str, str]) -> dict[str, str | None]:
    return {"pipeline_execution_arn": tags.get(PIPELINE_EXECUTION_TAG),
            "pipeline_step_name": tags.get(PIPELINE_STEP_TAG), **ctx.owners(tags)}


def _job_row(ctx: Context, d: dict, tags: dict[str, str] | None) -> dict:
    cluster = (d.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    count = cluster.get("InstanceCount")
    status = d["ProcessingJobStatus"]
    start = d.get("ProcessingStartTime")
    end = d.get("ProcessingEndTime") if status not in RUNNING else None
    duration = int((end - start).total_seconds()) if start and end else None
    if duration is not None:
        billable = duration * (count or 0)
    else:
        billable = 0 if end is not None else None  # ended without starting: nothing billed
    inputs = [{"name": i.get("InputName"), "s3_uri": (i.get("S3Input") or {}).get("S3Uri")}
              for i in d.get("ProcessingInputs", [])]
    outputs = [{"name": o.get("OutputName"), "s3_uri": (o.get("S3Output") or {}).get("S3Uri")}
               for o in (d.get("ProcessingOutputConfig") or {}).get("Outputs", [])]
    return ctx.rows(
        processing_job_name=d["ProcessingJobName"], processing_job_arn=d["ProcessingJobArn"], status=status,
        failure_reason=d.get("FailureReason"), exit_message=d.get("ExitMessage"),
        creation_time=d["CreationTime"], processing_start_time=start, processing_end_time=end,
        last_modified_time=d.get("LastModifiedTime"),
        instance_type=cluster.get("InstanceType"), instance_count=count, volume_gb=cluster.get("VolumeSizeInGB"),
        max_runtime_s=(d.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
        duration_seconds=duration, billable_seconds=billable,
        inputs=json.dumps(inputs), outputs=json.dumps(outputs),
        image=(d.get("AppSpecification") or {}).get("ImageUri"), role_arn=d.get("RoleArn"),
        training_job_arn=d.get("TrainingJobArn"), **_tag_columns(ctx, tags or {}),
        tags=None if tags is None else json.dumps(tags), observed_at=ctx.now)
