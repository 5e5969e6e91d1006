"""Pipelines page: failed executions with their failing step; an execution's steps."""

from __future__ import annotations


def _runs(at):
    return next(d.value for d in at.dataframe if "execution_arn" in d.value.columns)


def test_failed_executions_show_their_failing_step(app, demo_store):
    at = app("pages/pipelines.py", range="30d")
    runs = _runs(at)
    failed = runs[(runs.status == "Failed") & (runs.kind == "SageMaker")].set_index("execution_arn").failed_step
    stored = dict(demo_store.query(
        "SELECT execution_arn, failed_step FROM aws_sagemaker_pipeline_execution WHERE status = 'Failed' "
        "AND start_time >= now() - INTERVAL 30 DAY"))
    assert len(stored) > 0
    assert failed.to_dict() == stored


def test_step_functions_failures_name_the_failing_state(app, demo_store):
    runs = _runs(app("pages/pipelines.py", range="30d"))
    sfn = runs[(runs.kind == "Step Functions") & (runs.status == "Failed")]
    stored = dict(demo_store.query("SELECT execution_arn, failing_state FROM aws_sfn_execution "
                                   "WHERE status = 'FAILED' AND start_date >= now() - INTERVAL 30 DAY"))
    assert sfn.set_index("execution_arn").failed_step.to_dict() == stored


def test_execution_detail_lists_steps_with_the_failure_reason(app, demo_store):
    arn, step = demo_store.query("SELECT execution_arn, failed_step FROM aws_sagemaker_pipeline_execution "
                                 "WHERE status = 'Failed' ORDER BY start_time DESC LIMIT 1")[0]
    at = app("pages/pipelines.py", execution=arn)
    steps = next(d.value for d in at.dataframe if "step_name" in d.value.columns).set_index("step_name")
    assert steps.loc[step, "status"] == "Failed"
    assert steps.loc[step, "failure_reason"]
    assert (steps.drop(index=step).status == "Succeeded").all()


def test_the_rerun_parameters_box_is_keyed_per_execution(app, demo_store, monkeypatch):
    """Text typed for execution A is not shown when execution B is opened (the box belonged to the page before)."""
    monkeypatch.setenv("SEXTANT_LOCAL_ADMIN", "1")
    a, b = [r[0] for r in demo_store.query("SELECT execution_arn FROM aws_sagemaker_pipeline_execution "
                                           "ORDER BY start_time DESC LIMIT 2")]
    at = app("pages/pipelines.py", execution=a)
    box = next(t for t in at.text_input if t.key.startswith("pl_rerun_params"))
    assert a in box.key
    box.set_value('{"typed": "for A"}').run()
    at.query_params["execution"] = b
    at.run()
    assert not at.exception, at.exception
    [box_b] = [t for t in at.text_input if t.key.startswith("pl_rerun_params")]
    assert b in box_b.key and "for A" not in box_b.value
