"""dashboard.queries.pipelines on tiny stores: SageMaker and Step Functions executions in one frame, the summary,
steps and stored parameters."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from dashboard.queries import pipelines as pq
from tests.dashboard.queries.conftest import END, f

ACCOUNT = "111111111111"
REGION = "us-east-1"
ARN = "arn:aws:sagemaker:us-east-1:111111111111:pipeline/train/execution/"
SFN = "arn:aws:states:us-east-1:111111111111:"


def _run(ex, hours_before_end, status="Succeeded", minutes=30, pipeline="train", **kw):
    start = END - timedelta(hours=hours_before_end)
    return {"account_id": ACCOUNT, "region": REGION, "pipeline_name": pipeline, "execution_arn": ARN + ex,
            "status": status, "start_time": start,
            "end_time": start + timedelta(minutes=minutes) if status != "Executing" else None, **kw}


PIPELINES = [{"account_id": ACCOUNT, "region": REGION, "pipeline_name": "train", "team": "vision"},
             {"account_id": ACCOUNT, "region": REGION, "pipeline_name": "etl", "team": "data"}]
MACHINES = [{"account_id": ACCOUNT, "region": REGION, "state_machine_arn": SFN + "stateMachine:nightly",
             "state_machine_name": "nightly"}]


def _sfn(name, hours_before_end, status="SUCCEEDED", **kw):
    start = END - timedelta(hours=hours_before_end)
    return {"account_id": ACCOUNT, "region": REGION, "execution_arn": SFN + f"execution:nightly:{name}",
            "state_machine_arn": SFN + "stateMachine:nightly", "execution_name": name, "status": status,
            "start_date": start, "stop_date": start + timedelta(minutes=10), **kw}


def test_executions_of_both_kinds_in_one_frame_newest_first(tiny_store):
    tiny_store(aws_sagemaker_pipeline=PIPELINES, aws_sfn_state_machine=MACHINES,
               aws_sagemaker_pipeline_execution=[
                   _run("ok", 5), _run("running", 2, status="Executing"),
                   _run("failed", 3, status="Failed", failed_step="Train", failure_reason="generic"),
                   _run("old", 30)],  # started before the 24-h range
               aws_sagemaker_pipeline_execution_step=[{
                   "account_id": ACCOUNT, "region": REGION, "execution_arn": ARN + "failed", "step_name": "Train",
                   "status": "Failed", "failure_reason": "CUDA out of memory"}],
               aws_sfn_execution=[_sfn("n1", 1, status="TIMED_OUT", failing_state="Load", error="States.Timeout",
                                       cause="too slow")])
    runs = pq.pipeline_executions(f())
    assert runs.execution.tolist() == ["n1", "running", "failed", "ok"]
    assert runs.status.tolist() == ["Failed", "Running", "Failed", "Succeeded"]
    assert runs.kind.tolist() == ["Step Functions", "SageMaker", "SageMaker", "SageMaker"]
    by = runs.set_index("execution")
    assert by.loc["failed", "failure_reason"] == "CUDA out of memory"  # the failing step's reason wins
    assert by.loc["n1", "failure_reason"] == "States.Timeout: too slow"
    assert by.loc["ok", "duration_min"] == pytest.approx(30.0) and pd.isna(by.loc["running", "duration_min"])
    assert by.loc["ok", "team"] == "vision"


def test_a_team_filter_keeps_that_teams_pipelines_and_leaves_step_functions_out(tiny_store):
    tiny_store(aws_sagemaker_pipeline=PIPELINES, aws_sfn_state_machine=MACHINES,
               aws_sagemaker_pipeline_execution=[_run("t", 5), _run("e", 4, pipeline="etl")],
               aws_sfn_execution=[_sfn("n1", 1)])
    assert pq.pipeline_executions(f(teams=["data"])).execution.tolist() == ["e"]
    assert len(pq.pipeline_executions(f())) == 3


def test_summary_per_pipeline(tiny_store):
    tiny_store(aws_sagemaker_pipeline=PIPELINES,
               aws_sagemaker_pipeline_execution=[
                   _run("1", 10, minutes=10), _run("2", 9, minutes=30), _run("3", 8, status="Failed",
                                                                           failed_step="Train"),
                   _run("4", 7, status="Failed", failed_step="Train"), _run("5", 6, status="Executing")])
    s = pq.pipeline_summary(pq.pipeline_executions(f())).iloc[0]
    assert (s.executions, s.succeeded, s.failed) == (5, 2, 2)
    assert s.success_rate == pytest.approx(0.5) and s.median_min == pytest.approx(20.0)
    assert s.top_failing_step == "Train (2×)"
    assert pq.pipeline_summary(pd.DataFrame()).empty


def test_steps_of_a_sagemaker_execution_or_the_failing_state_of_a_step_functions_one(tiny_store):
    t = END - timedelta(hours=3)
    step = {"account_id": ACCOUNT, "region": REGION, "execution_arn": ARN + "x"}
    tiny_store(aws_sagemaker_pipeline_execution_step=[
                   {**step, "step_name": "Train", "status": "Succeeded", "start_time": t + timedelta(minutes=5),
                    "end_time": t + timedelta(minutes=35)},
                   {**step, "step_name": "Prepare", "status": "Succeeded", "start_time": t,
                    "end_time": t + timedelta(minutes=5)}],
               aws_sfn_execution=[_sfn("bad", 2, status="FAILED", failing_state="Load", error="E", cause="c")])
    steps = pq.pipeline_steps(ARN + "x")
    assert steps.step_name.tolist() == ["Prepare", "Train"] and steps.minutes.tolist() == [5.0, 30.0]
    sfn = pq.pipeline_steps(SFN + "execution:nightly:bad")
    assert sfn[["step_name", "status", "failure_reason"]].values.tolist() == [["Load", "Failed", "E: c"]]
    assert pq.pipeline_steps("unknown").empty


def test_execution_parameters_are_the_stored_json_or_an_empty_object(tiny_store):
    tiny_store(aws_sagemaker_pipeline_execution=[_run("p", 5, parameters=json.dumps({"epochs": "3"})),
                                                 _run("none", 4)])
    assert json.loads(pq.execution_parameters(ACCOUNT, REGION, ARN + "p")) == {"epochs": "3"}
    assert pq.execution_parameters(ACCOUNT, REGION, ARN + "none") == "{}"
    assert pq.execution_parameters("222222222222", REGION, ARN + "p") == "{}"  # another account's is not this one


def test_executions_of_an_empty_store(tiny_store):
    tiny_store()
    runs = pq.pipeline_executions(f())
    assert runs.empty and {"execution_arn", "status", "duration_min"} <= set(runs.columns)
