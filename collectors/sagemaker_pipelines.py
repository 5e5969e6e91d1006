"""SageMaker Pipelines (pipelines, executions, steps) and Step Functions state machines and executions.

Incremental: pipelines and state machines are listed every run (one call per page). Executions are
listed newest first; an execution already stored in a terminal state (Succeeded, Failed, Stopped;
SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is never described or listed for steps again, and listing
stops after a page holding only such executions. A new or still-running pipeline execution is
described and its steps and parameters listed. A FAILED Step Functions execution has its history
read once, newest event first, to name the failing state, the error and the cause.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from collectors.base import Batch, Context, paginate, tags_dict
from sextant.schema import table

NAME = "sagemaker_pipelines"
GLOBAL = False
PIPELINE_TERMINAL = {"Succeeded", "Failed", "Stopped"}
SFN_TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

PIPELINE = table("aws_sagemaker_pipeline", "A SageMaker Pipelines pipeline.", [
    ("pipeline_name", "VARCHAR", "Pipeline name."),
    ("pipeline_arn", "VARCHAR", "Pipeline ARN."),
    ("display_name", "VARCHAR", "Pipeline display name."),
    ("description", "VARCHAR", "Pipeline description."),
    ("creation_time", "TIMESTAMPTZ", "When the pipeline was created."),
    ("last_modified_time", "TIMESTAMPTZ", "When the pipeline definition last changed."),
    ("last_execution_time", "TIMESTAMPTZ", "When the pipeline last started an execution."),
    ("team", "VARCHAR", "Value of the pipeline's `team` tag."),
    ("project", "VARCHAR", "Value of the pipeline's `project` tag."),
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

STATE_MACHINE = table("aws_sfn_state_machine", "A Step Functions state machine (ML orchestration).", [
    ("state_machine_name", "VARCHAR", "State machine name."),
    ("state_machine_arn", "VARCHAR", "State machine ARN."),
    ("type", "VARCHAR", "STANDARD or EXPRESS."),
    ("creation_date", "TIMESTAMPTZ", "When the state machine was created."),
], ["state_machine_arn"])

SFN_EXECUTION = table("aws_sfn_execution", "An execution of a Step Functions state machine.", [
    ("execution_arn", "VARCHAR", "Execution ARN."),
    ("state_machine_arn", "VARCHAR", "State machine ARN."),
    ("execution_name", "VARCHAR", "Execution name."),
    ("status", "VARCHAR", "RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE."),
    ("start_date", "TIMESTAMPTZ", "When the execution started."),
    ("stop_date", "TIMESTAMPTZ", "When it stopped; NULL while running."),
    ("failing_state", "VARCHAR", "State that failed (from the execution history), for FAILED executions."),
    ("error", "VARCHAR", "Error name of the failure, e.g. States.TaskFailed."),
    ("cause", "VARCHAR", "Cause of the failure, as reported by the failing task."),
], ["execution_arn"])

TABLES = (PIPELINE, EXECUTION, STEP, STATE_MACHINE, SFN_EXECUTION)


def _ms(t: datetime | None) -> int | None:
    """Epoch milliseconds: stored and listed timestamps are compared as numbers (AWS gives milliseconds)."""
    return None if t is None else round(t.timestamp() * 1000)


def _reason(text: str | None) -> str | None:
    return text if text and text != "None" else None


def collect(ctx: Context) -> Iterator[Batch]:
    yield from _pipelines(ctx)
    yield from _step_functions(ctx)


def _pipelines(ctx: Context) -> Iterator[Batch]:
    sm = ctx.client("sagemaker")
    known_tags = {name: (modified, tags) for name, modified, tags in ctx.known(
        "SELECT pipeline_name, epoch_ms(last_modified_time), tags FROM aws_sagemaker_pipeline "
        "WHERE account_id = ? AND region = ?", [ctx.account_id, ctx.region])}
    terminal = {r[0] for r in ctx.known(
        "SELECT execution_arn FROM aws_sagemaker_pipeline_execution WHERE account_id = ? AND region = ? "
        "AND status IN ('Succeeded', 'Failed', 'Stopped')", [ctx.account_id, ctx.region])}
    pipelines, executions, steps = [], [], []
    for p in paginate(sm, "list_pipelines", "PipelineSummaries"):
        name = p["PipelineName"]
        stored = known_tags.get(name)
        if stored and stored[0] == _ms(p.get("LastModifiedTime")):
            tags = json.loads(stored[1])
        else:
            tags = tags_dict(sm.list_tags(ResourceArn=p["PipelineArn"]).get("Tags"))
        pipelines.append(ctx.rows(
            pipeline_name=name, pipeline_arn=p["PipelineArn"], display_name=p.get("PipelineDisplayName"),
            description=p.get("PipelineDescription"), creation_time=p.get("CreationTime"),
            last_modified_time=p.get("LastModifiedTime"), last_execution_time=p.get("LastExecutionTime"),
            team=tags.get("team"), project=tags.get("project"), tags=json.dumps(tags)))
        pages = sm.get_paginator("list_pipeline_executions").paginate(
            PipelineName=name, SortBy="CreationTime", SortOrder="Descending")
        for page in pages:
            summaries = page.get("PipelineExecutionSummaries", [])
            for s in summaries:
                if s["PipelineExecutionArn"] in terminal:
                    continue
                row, step_rows = _execution(ctx, sm, name, s)
                executions.append(row)
                steps += step_rows
            if summaries and all(s["PipelineExecutionArn"] in terminal for s in summaries):
                break  # newest first: everything older is stored and final
    yield PIPELINE, pipelines
    yield EXECUTION, executions
    yield STEP, steps


def _execution(ctx: Context, sm, pipeline: str, summary: dict) -> tuple[dict, list[dict]]:
    arn = summary["PipelineExecutionArn"]
    d = sm.describe_pipeline_execution(PipelineExecutionArn=arn)
    steps = []
    for s in paginate(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn):
        steps.append(ctx.rows(
            execution_arn=arn, pipeline_name=pipeline, step_name=s["StepName"], step_type=s.get("StepType"),
            status=s.get("StepStatus"), start_time=s.get("StartTime"), end_time=s.get("EndTime"),
            failure_reason=_reason(s.get("FailureReason")), attempt_count=s.get("AttemptCount")))
    params = {p["Name"]: p.get("Value") for p in paginate(
        sm, "list_pipeline_parameters_for_execution", "PipelineParameters", PipelineExecutionArn=arn)}
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


def _step_functions(ctx: Context) -> Iterator[Batch]:
    sfn = ctx.client("stepfunctions")
    terminal = {r[0] for r in ctx.known(
        "SELECT execution_arn FROM aws_sfn_execution WHERE account_id = ? AND region = ? "
        "AND status IN ('SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED')", [ctx.account_id, ctx.region])}
    machines, executions = [], []
    for m in paginate(sfn, "list_state_machines", "stateMachines"):
        machines.append(ctx.rows(state_machine_name=m["name"], state_machine_arn=m["stateMachineArn"],
                                 type=m.get("type"), creation_date=m.get("creationDate")))
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=m["stateMachineArn"]):
            summaries = page.get("executions", [])
            for e in summaries:
                if e["executionArn"] in terminal:
                    continue
                failing = error = cause = None
                if e["status"] == "FAILED":
                    failing, error, cause = _failure(sfn, e["executionArn"])
                executions.append(ctx.rows(
                    execution_arn=e["executionArn"], state_machine_arn=m["stateMachineArn"],
                    execution_name=e.get("name"), status=e["status"], start_date=e.get("startDate"),
                    stop_date=e.get("stopDate"), failing_state=failing, error=error, cause=cause))
            if summaries and all(e["executionArn"] in terminal for e in summaries):
                break  # ListExecutions is newest first
    yield STATE_MACHINE, machines
    yield SFN_EXECUTION, executions


def _failure(sfn, execution_arn: str) -> tuple[str | None, str | None, str | None]:
    """(failing state, error, cause) from the history: the state entered just before the failed task."""
    events = list(paginate(sfn, "get_execution_history", "events", executionArn=execution_arn,
                           reverseOrder=True, includeExecutionData=False))
    events.sort(key=lambda e: e["id"], reverse=True)  # newest first, whatever order the pages came in
    run = next((ev["executionFailedEventDetails"] for ev in events if "executionFailedEventDetails" in ev), {})
    error, cause = run.get("error"), run.get("cause")
    for i, ev in enumerate(events):
        task = next((v for k, v in ev.items() if k.endswith("FailedEventDetails") and k != "executionFailedEventDetails"
                     and isinstance(v, dict)), None)
        if task is None:
            continue
        state = next((e["stateEnteredEventDetails"].get("name") for e in events[i + 1:]
                      if "stateEnteredEventDetails" in e), None)
        return state, error or task.get("error"), cause or task.get("cause")
    state = next((e["stateEnteredEventDetails"].get("name") for e in events if "stateEnteredEventDetails" in e), None)
    return state, error, cause
