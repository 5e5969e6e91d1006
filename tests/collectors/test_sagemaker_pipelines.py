"""sagemaker_pipelines collector: pipelines, executions and steps equal the account; a second run skips the
executions stored in a terminal state."""

from __future__ import annotations

from tests.collectors.conftest import Collection, all_items, count, diff, ok, ops

TERMINAL = ("Succeeded", "Failed", "Stopped")


def _count_where(collection: Collection, table: str, column: str, value) -> int:
    return collection.query(f"SELECT count(*) FROM {table} WHERE {column} = ?", [value])[0][0]


def test_pipelines_executions_and_steps_equal_the_account(collection, account):
    ok(collection.run(["sagemaker_pipelines"]))
    sm = account.client("sagemaker")
    pipelines = [p["PipelineName"] for p in all_items(sm, "list_pipelines", "PipelineSummaries")]
    assert pipelines and count(collection, "aws_sagemaker_pipeline") == len(pipelines)
    for name in pipelines:
        listed = {e["PipelineExecutionArn"] for e in all_items(sm, "list_pipeline_executions",
                                                                "PipelineExecutionSummaries", PipelineName=name)}
        stored = {r[0] for r in collection.query(
            "SELECT execution_arn FROM aws_sagemaker_pipeline_execution WHERE pipeline_name = ?", [name])}
        assert stored == listed
    arn, failed_step = collection.query(
        "SELECT execution_arn, failed_step FROM aws_sagemaker_pipeline_execution WHERE status = 'Failed' "
        "ORDER BY execution_arn LIMIT 1")[0]
    steps = all_items(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn)
    assert _count_where(collection, "aws_sagemaker_pipeline_execution_step", "execution_arn", arn) == len(steps)
    assert failed_step == next(s["StepName"] for s in steps if s["StepStatus"] == "Failed")


def test_pipelines_second_run_skips_terminal_executions(collection):
    ok(collection.run(["sagemaker_pipelines"]))
    stored = dict(collection.query("SELECT execution_arn, status FROM aws_sagemaker_pipeline_execution"))
    before = collection.calls()
    ok(collection.run(["sagemaker_pipelines"]))
    calls = diff(collection.calls(), before)
    after = {r[0] for r in collection.query("SELECT execution_arn FROM aws_sagemaker_pipeline_execution")}
    # only executions still running after the first run, or started since, are described again
    again = {a for a, status in stored.items() if status not in TERMINAL} | (after - set(stored))
    assert ops(calls, "DescribePipelineExecution") == len(again)
    assert ops(calls, "ListPipelineExecutionSteps") == len(again)
    # one page per pipeline; a pipeline whose first page holds a new or running execution (the live account
    # starts scheduled runs) reads one more page to be sure nothing older changed
    assert ops(calls, "ListPipelineExecutions") <= count(collection, "aws_sagemaker_pipeline") + len(again)
    assert len(after) == count(collection, "aws_sagemaker_pipeline_execution")
