"""SageMaker Pipelines: pipelines, their executions and the steps of each execution.

Incremental: pipelines are listed every run (one call per page). Executions are listed newest first; an
execution already stored in a terminal state (Succeeded, Failed, Stopped) is never described or listed for
steps again, and listing stops after a page holding only such executions. A new or still-running execution
is described and its steps and parameters listed. A pipeline's tags are read when it changes, and every
pipeline's once per ``collect.tags_every_s``. (Step Functions, often used beside it: ``stepfunctions``.)

Describes and tags are optional (``Context.optional``): an execution one of whose reads fails is not stored (so
it is read again next run); tags that cannot be read keep the stored ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from collectors.base import Batch, Context, epoch_ms, paginate
from sextant.schema import table

NAME = "sagemaker_pipelines"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()
PIPELINE_TERMINAL = {"Succeeded", "Failed", "Stopped"}

PIPELINE = table("aws_sagemaker_pipeline", "A SageMaker Pipelines pipeline.", [
    ("pipeline_name", "VARCHAR", "Pipeline name."),
    ("pipeline_arn", "VARCHAR", "Pipeline ARN."),
    ("display_name", "VARCHAR", "Pipeline display name."),
    ("description", "VARCHAR", "Pipeline description."),
    ("creation_time", "TIMESTAMPTZ", "When the pipeline was created."),
    ("last_modified_time", "TIMESTAMPTZ", "When the pipeline definition last changed."),
    ("last_execution_time", "TIMESTAMPTZ", "When the pipeline last started an execution."),
    ("team", "VARCHAR", "Value of the pipeline's team tag ([collect] tag_keys, default `team`)."),
    ("project", "VARCHAR", "Value of the pipeline's project tag ([collect] tag_keys, default `project`)."),
    ("tags", "JSON", "All tags of the pipeline, as a JSON object."),
], ["pipeline_name"])

EXECUTION = table("aws_sagemaker_pipeline_execution", "An execution of a SageMaker pipeline.", [
    ("pipeline_name", "VARCHAR", "Pipeline name."),
    ("execution_arn", "VARCHAR", "Pipeline execution ARN."),
    ("display_name", "VARCHAR", "Execution display name."),
    ("status", "VARCHAR", "PipelineExecutionStatus: Executing, Stopping, Stopped, Failed, Succeeded."),
    ("start_time", "TIMESTAMPTZ", "When the execution started."),
    ("end_time", "TIMESTAMPTZ", "When it reached a terminal status (last step end, else LastModifiedTime); "
                                "NULL while running."),
    ("failure_reason", "VARCHAR", "Why the execution failed, when it did."),
    ("parameters", "JSON", "Pipeline parameters of the execution, as a JSON object."),
    ("failed_step", "VARCHAR", "Name of the first step that failed, when one did."),
    ("observed_at", "TIMESTAMPTZ", "When the collector last described the execution."),
], ["execution_arn"])

STEP = table("aws_sagemaker_pipeline_execution_step", "A step of a SageMaker pipeline execution.", [
    ("execution_arn", "VARCHAR", "Pipeline execution ARN."),
    ("pipeline_name", "VARCHAR", "Pipeline name."),
    ("step_name", "VARCHAR", "Step name."),
    ("step_type", "VARCHAR", "Step type: Training, Processing, Condition, RegisterModel, ..."),
    ("status", "VARCHAR", "StepStatus: Starting, Executing, Stopping, Stopped, Failed, Succeeded."),
    ("start_time", "TIMESTAMPTZ", "When the step started."),
    ("end_time", "TIMESTAMPTZ", "When the step ended."),
    ("failure_reason", "VARCHAR", "Why the step failed, when it did."),
    ("attempt_count", "INTEGER", "How many times the step ran (retries)."),
], ["execution_arn", "step_name"])

TABLES = (PIPELINE, EXECUTION, STEP)


def _reason(text: str | None) -> str | None:
    return text if text and text != "None" else None


def collect(ctx: Context) -> Iterator[Batch]:
    sm = ctx.client("sagemaker")
    known_tags = {name: (modified, tags) for name, modified, tags in ctx.sql(
        "SELECT pipeline_name, epoch_ms(last_modified_time), tags FROM aws_sagemaker_pipeline "
        "WHERE account_id = ? AND region = ?", [ctx.account_id, ctx.region])}
    terminal = {r[0] for r in ctx.sql(
        "SELECT execution_arn FROM aws_sagemaker_pipeline_execution WHERE account_id = ? AND region = ? "
        "AND status IN ('Succeeded', 'Failed', 'Stopped')", [ctx.account_id, ctx.region])}
    tags_due = ctx.tags_due()
    pipelines, executions, steps = [], [], []
    for p in paginate(sm, "list_pipelines", "PipelineSummaries"):
        name = p["PipelineName"]
        stored = known_tags.get(name)
        stored_tags = json.loads(stored[1]) if stored and stored[1] is not None else None
        tags = stored_tags
        if tags_due or not stored or stored[0] != epoch_ms(p.get("LastModifiedTime")):
            tags = ctx.tags(p["PipelineArn"])
            if tags is None:  # ListTags failed: the tags stored before stay
                tags = stored_tags
        pipelines.append(ctx.rows(
            pipeline_name=name, pipeline_arn=p["PipelineArn"], display_name=p.get("PipelineDisplayName"),
            description=p.get("PipelineDescription"), creation_time=p.get("CreationTime"),
            last_modified_time=p.get("LastModifiedTime"), last_execution_time=p.get("LastExecutionTime"),
            team=ctx.owners(tags)["team"], project=ctx.owners(tags)["project"],
            tags=None if tags is None else json.dumps(tags)))
        pages = sm.get_paginator("list_pipeline_executions").paginate(
            PipelineName=name, SortBy="CreationTime", SortOrder="Descending")
        for page in pages:
            summaries = page.get("PipelineExecutionSummaries", [])
            for s in summaries:
                if s["PipelineExecutionArn"] in terminal:
                    continue
                read = _execution(ctx, sm, name, s)
                if read is None:
                    continue  # not stored as final: read again next run
                row, step_rows = read
                executions.append(row)
                steps += step_rows
            if summaries and all(s["PipelineExecutionArn"] in terminal for s in summaries):
                break  # newest first: everything older is stored and final
    yield PIPELINE, pipelines
    yield EXECUTION, executions
    yield STEP, steps
    if tags_due:
        ctx.tags_read()


def _execution(ctx: Context, sm, pipeline: str, summary: dict) -> tuple[dict, list[dict]] | None:
    """The execution's row and its steps' rows, or None when one of its reads failed (recorded on ``ctx``)."""
    arn = summary["PipelineExecutionArn"]
    d = ctx.optional("sagemaker:DescribePipelineExecution",
                     lambda: sm.describe_pipeline_execution(PipelineExecutionArn=arn))
    listed = None if d is None else ctx.optional("sagemaker:ListPipelineExecutionSteps", lambda: list(paginate(
        sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn)))
    listed_params = None if listed is None else ctx.optional(
        "sagemaker:ListPipelineParametersForExecution", lambda: list(paginate(
            sm, "list_pipeline_parameters_for_execution", "PipelineParameters", PipelineExecutionArn=arn)))
    if d is None or listed is None or listed_params is None:
        return None
    steps = [ctx.rows(
        execution_arn=arn, pipeline_name=pipeline, step_name=s["StepName"], step_type=s.get("StepType"),
        status=s.get("StepStatus"), start_time=s.get("StartTime"), end_time=s.get("EndTime"),
        failure_reason=_reason(s.get("FailureReason")), attempt_count=s.get("AttemptCount")) for s in listed]
    params = {p["Name"]: p.get("Value") for p in listed_params}
    status = d.get("PipelineExecutionStatus") or summary.get("PipelineExecutionStatus")
    ends = [s["end_time"] for s in steps if s["end_time"] is not None]
    end = (max(ends) if ends else d.get("LastModifiedTime")) if status in PIPELINE_TERMINAL else None
    failed = sorted((s for s in steps if s["status"] == "Failed"),
                    key=lambda s: (s["start_time"] is None, s["start_time"]))
    reason = _reason(d.get("FailureReason")) or _reason(summary.get("PipelineExecutionFailureReason"))
    if reason is None and failed:
        reason = failed[0]["failure_reason"]
    row = ctx.rows(
        pipeline_name=pipeline, execution_arn=arn,
        display_name=d.get("PipelineExecutionDisplayName") or summary.get("PipelineExecutionDisplayName"),
        status=status, start_time=summary.get("StartTime") or d.get("CreationTime"), end_time=end,
        failure_reason=reason, parameters=json.dumps(params), failed_step=failed[0]["step_name"] if failed else None,
        observed_at=ctx.now)
    return row, steps
