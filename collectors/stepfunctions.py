"""AWS Step Functions: state machines (ML orchestration) and their executions.

Incremental: state machines are listed every run (one call per page). Executions are listed newest first;
an execution already stored in a terminal state (SUCCEEDED, FAILED, TIMED_OUT, ABORTED) is not written again,
and listing stops after a page holding only such executions. A FAILED execution has its history read once,
newest event first, to name the failing state, the error and the cause. The history is optional
(``Context.optional``): when it cannot be read, the execution is left out (and read again next run).
"""

from __future__ import annotations

from collections.abc import Iterator

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "stepfunctions"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()

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

TABLES = (STATE_MACHINE, SFN_EXECUTION)


def collect(ctx: Context) -> Iterator[Batch]:
    sfn = ctx.client("stepfunctions")
    terminal = {r[0] for r in ctx.sql(
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
                    failure = ctx.optional("states:GetExecutionHistory",
                                           lambda e=e: _failure(sfn, e["executionArn"]))
                    if failure is None:
                        continue  # not stored as final: its history is read again next run
                    failing, error, cause = failure
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
