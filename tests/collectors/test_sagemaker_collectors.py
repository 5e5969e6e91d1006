"""SageMaker training, registry and pipeline collectors against the emulated account: counts equal what AWS holds,
second runs make only the calls new data needs, a second account through AssumeRole, paging past 100."""

from __future__ import annotations

import boto3
import pytest

from sextant.settings import AccountSettings
from tests.collectors.conftest import Collection

# The emulated organisation's second account (demo/world.py); product code never imports demo.
SECOND_ACCOUNT = "210987654321"
CROSS_ACCOUNT_ROLE = f"arn:aws:iam::{SECOND_ACCOUNT}:role/SextantReadOnly"
EXTERNAL_ID = "sextant-demo"
TERMINAL = ("Succeeded", "Failed", "Stopped")


def _all(client, op: str, key: str, **kwargs) -> list[dict]:
    return client.get_paginator(op).paginate(**kwargs).build_full_result()[key]


def _ops(calls: dict[str, int], op: str) -> int:
    """Calls of one operation, whatever the service prefix the counter gives (api.sagemaker, states, ...)."""
    return sum(n for k, n in calls.items() if k.split(":", 1)[1] == op)


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}


def _count(collection: Collection, table: str) -> int:
    return collection.query(f"SELECT count(*) FROM {table}")[0][0]


def _ok(cycle) -> None:
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]


# --------------------------------------------------------------------------- training


def test_training_jobs_collected_equal_the_jobs_listed(collection, account):
    _ok(collection.run(["sagemaker_training"]))
    listed = {j["TrainingJobName"] for j in _all(account.client("sagemaker"), "list_training_jobs",
                                                  "TrainingJobSummaries")}
    stored = {r[0] for r in collection.query("SELECT training_job_name FROM aws_sagemaker_training_job")}
    assert listed and stored == listed
    transitions = collection.query(
        "SELECT count(DISTINCT training_job_name) FROM aws_sagemaker_training_job_status_transition")[0][0]
    assert transitions == len(listed)  # every job has its secondary-status history


def test_training_job_details_match_describe(collection, account):
    _ok(collection.run(["sagemaker_training"]))
    sm = account.client("sagemaker")
    name, status, itype, spot, billable, reason, hp = collection.query(
        "SELECT training_job_name, status, instance_type, spot, billable_seconds, failure_reason, hyperparameters "
        "FROM aws_sagemaker_training_job WHERE status = 'Failed' ORDER BY training_job_name LIMIT 1")[0]
    d = sm.describe_training_job(TrainingJobName=name)
    assert (status, itype, spot) == (d["TrainingJobStatus"], d["ResourceConfig"]["InstanceType"],
                                     bool(d.get("EnableManagedSpotTraining")))
    assert billable == d.get("BillableTimeInSeconds") and reason == d.get("FailureReason")
    assert hp is not None


def test_training_second_run_lists_once_and_describes_only_running_or_changed_jobs(collection):
    _ok(collection.run(["sagemaker_training"]))
    before_rows = dict(collection.query(
        "SELECT training_job_name, epoch_ms(last_modified_time) FROM aws_sagemaker_training_job"))
    running = {r[0] for r in collection.query(
        "SELECT training_job_name FROM aws_sagemaker_training_job WHERE status IN ('InProgress', 'Stopping')")}
    before = collection.calls()
    _ok(collection.run(["sagemaker_training"]))
    calls = _diff(collection.calls(), before)
    after_rows = dict(collection.query(
        "SELECT training_job_name, epoch_ms(last_modified_time) FROM aws_sagemaker_training_job"))
    changed = {n for n, m in after_rows.items() if before_rows.get(n) != m}
    assert _ops(calls, "ListTrainingJobs") == 1
    assert _ops(calls, "DescribeTrainingJob") == len(running | changed)
    assert _count(collection, "aws_sagemaker_training_job") == len(after_rows)


# --------------------------------------------------------------------------- registry


def test_registry_counts_equal_the_account(collection, account):
    _ok(collection.run(["sagemaker_registry"]))
    sm = account.client("sagemaker")
    groups = [g["ModelPackageGroupName"] for g in _all(sm, "list_model_package_groups",
                                                        "ModelPackageGroupSummaryList")]
    packages = {p["ModelPackageArn"]: p["ModelApprovalStatus"] for g in groups
                for p in _all(sm, "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=g)}
    models = {m["ModelName"] for m in _all(sm, "list_models", "Models")}
    assert groups and packages and models
    assert _count(collection, "aws_sagemaker_model_package_group") == len(groups)
    assert dict(collection.query("SELECT model_package_arn, approval_status FROM aws_sagemaker_model_package")) \
        == packages
    assert {r[0] for r in collection.query("SELECT model_name FROM aws_sagemaker_model")} == models


def test_an_endpoint_model_traces_to_a_registered_package_version(collection):
    _ok(collection.run(["sagemaker_endpoints", "sagemaker_registry"]))
    rows = collection.query(
        "SELECT v.endpoint_name, m.model_name, p.group_name, p.version, p.approval_status "
        "FROM aws_sagemaker_endpoint_variant v JOIN aws_sagemaker_model m USING (account_id, region, model_name) "
        "JOIN aws_sagemaker_model_package p ON p.model_package_arn = m.model_package_arn")
    assert rows, "no endpoint variant traces through its model to a package version"
    assert all(r[3] >= 1 for r in rows)


def test_registry_second_run_describes_nothing(collection):
    _ok(collection.run(["sagemaker_registry"]))
    before = collection.calls()
    _ok(collection.run(["sagemaker_registry"]))
    calls = _diff(collection.calls(), before)
    assert _ops(calls, "DescribeModelPackage") == 0
    assert _ops(calls, "DescribeModel") == 0
    assert _ops(calls, "ListTags") == 0


# --------------------------------------------------------------------------- pipelines and Step Functions


def test_pipelines_executions_and_steps_equal_the_account(collection, account):
    _ok(collection.run(["sagemaker_pipelines"]))
    sm = account.client("sagemaker")
    pipelines = [p["PipelineName"] for p in _all(sm, "list_pipelines", "PipelineSummaries")]
    assert pipelines and _count(collection, "aws_sagemaker_pipeline") == len(pipelines)
    for name in pipelines:
        listed = {e["PipelineExecutionArn"] for e in _all(sm, "list_pipeline_executions",
                                                           "PipelineExecutionSummaries", PipelineName=name)}
        stored = {r[0] for r in collection.query(
            "SELECT execution_arn FROM aws_sagemaker_pipeline_execution WHERE pipeline_name = ?", [name])}
        assert stored == listed
    arn, failed_step = collection.query(
        "SELECT execution_arn, failed_step FROM aws_sagemaker_pipeline_execution WHERE status = 'Failed' "
        "ORDER BY execution_arn LIMIT 1")[0]
    steps = _all(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn)
    assert _count_where(collection, "aws_sagemaker_pipeline_execution_step", "execution_arn", arn) == len(steps)
    assert failed_step == next(s["StepName"] for s in steps if s["StepStatus"] == "Failed")


def _count_where(collection: Collection, table: str, column: str, value) -> int:
    return collection.query(f"SELECT count(*) FROM {table} WHERE {column} = ?", [value])[0][0]


def test_failed_state_machine_executions_name_the_failing_state(collection, account):
    _ok(collection.run(["sagemaker_pipelines"]))
    sfn = account.client("stepfunctions")
    machines = _all(sfn, "list_state_machines", "stateMachines")
    assert machines and _count(collection, "aws_sfn_state_machine") == len(machines)
    executions = [e for m in machines for e in _all(sfn, "list_executions", "executions",
                                                   stateMachineArn=m["stateMachineArn"])]
    assert _count(collection, "aws_sfn_execution") == len(executions)
    failed = collection.query("SELECT failing_state, error, cause FROM aws_sfn_execution WHERE status = 'FAILED'")
    assert failed and all(state and error for state, error, _ in failed)


def test_pipelines_second_run_skips_terminal_executions(collection):
    _ok(collection.run(["sagemaker_pipelines"]))
    stored = dict(collection.query("SELECT execution_arn, status FROM aws_sagemaker_pipeline_execution"))
    sfn_stored = dict(collection.query("SELECT execution_arn, status FROM aws_sfn_execution"))
    before = collection.calls()
    _ok(collection.run(["sagemaker_pipelines"]))
    calls = _diff(collection.calls(), before)
    after = {r[0] for r in collection.query("SELECT execution_arn FROM aws_sagemaker_pipeline_execution")}
    sfn_after = dict(collection.query("SELECT execution_arn, status FROM aws_sfn_execution"))
    # only executions still running after the first run, or started since, are described again
    again = {a for a, status in stored.items() if status not in TERMINAL} | (after - set(stored))
    assert _ops(calls, "DescribePipelineExecution") == len(again)
    assert _ops(calls, "ListPipelineExecutionSteps") == len(again)
    # one page per pipeline; a pipeline whose first page holds a new or running execution (the live account
    # starts scheduled runs) reads one more page to be sure nothing older changed
    assert _ops(calls, "ListPipelineExecutions") <= _count(collection, "aws_sagemaker_pipeline") + len(again)
    newly_failed = {a for a, status in sfn_after.items() if status == "FAILED" and sfn_stored.get(a) != "FAILED"}
    assert _ops(calls, "GetExecutionHistory") == len(newly_failed)
    assert len(after) == _count(collection, "aws_sagemaker_pipeline_execution")


# --------------------------------------------------------------------------- second account, paging


def test_second_account_through_assume_role_shows_its_own_resources(account, tmp_path):
    collection = Collection(tmp_path / "store", accounts=(
        AccountSettings(name="forecasting", role_arn=CROSS_ACCOUNT_ROLE, external_id=EXTERNAL_ID),))
    _ok(collection.run(["sagemaker_endpoints", "sagemaker_training"]))
    creds = account.client("sts").assume_role(RoleArn=CROSS_ACCOUNT_ROLE, RoleSessionName="test",
                                              ExternalId=EXTERNAL_ID)["Credentials"]
    sm = boto3.client("sagemaker", region_name=account.env["AWS_REGION"], endpoint_url=account.url,
                      aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"])
    endpoints = {e["EndpointName"] for e in _all(sm, "list_endpoints", "Endpoints")}
    jobs = {j["TrainingJobName"] for j in _all(sm, "list_training_jobs", "TrainingJobSummaries")}
    main = {e["EndpointName"] for e in _all(account.client("sagemaker"), "list_endpoints", "Endpoints")}
    assert endpoints and endpoints.isdisjoint(main)
    assert collection.query("SELECT DISTINCT account_id FROM aws_sagemaker_endpoint") == [(SECOND_ACCOUNT,)]
    assert {r[0] for r in collection.query("SELECT endpoint_name FROM aws_sagemaker_endpoint")} == endpoints
    assert {r[0] for r in collection.query("SELECT training_job_name FROM aws_sagemaker_training_job")} == jobs


@pytest.mark.slow
def test_more_than_a_hundred_endpoints_and_training_jobs_are_collected_completely(fresh_account, tmp_path,
                                                                                  monkeypatch):
    for key, value in fresh_account.env.items():
        monkeypatch.setenv(key, value)
    sm = fresh_account.client("sagemaker")
    role = "arn:aws:iam::123456789012:role/SageMakerExecution"
    sm.create_model(ModelName="paging-model", ExecutionRoleArn=role,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/paging:1"})
    sm.create_endpoint_config(EndpointConfigName="paging-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "paging-model", "InstanceType": "ml.t2.medium",
        "InitialInstanceCount": 1}])
    for i in range(105):
        sm.create_endpoint(EndpointName=f"paging-endpoint-{i:03d}", EndpointConfigName="paging-config")
        sm.create_training_job(
            TrainingJobName=f"paging-job-{i:03d}", RoleArn=role,
            AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/paging:1",
                                    "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://paging/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
    endpoints = {e["EndpointName"] for e in _all(sm, "list_endpoints", "Endpoints")}
    jobs = {j["TrainingJobName"] for j in _all(sm, "list_training_jobs", "TrainingJobSummaries")}
    assert len(endpoints) > 100 and len(jobs) > 100
    collection = Collection(tmp_path / "store")
    _ok(collection.run(["sagemaker_endpoints", "sagemaker_training"]))
    assert {r[0] for r in collection.query("SELECT endpoint_name FROM aws_sagemaker_endpoint")} == endpoints
    assert {r[0] for r in collection.query("SELECT training_job_name FROM aws_sagemaker_training_job")} == jobs
    assert _ops(collection.calls(), "ListTrainingJobs") >= 2  # 100 per page: paged, not truncated


@pytest.mark.slow
def test_approval_status_change_updates_the_package_without_describe(fresh_account, tmp_path, monkeypatch):
    for key, value in fresh_account.env.items():
        monkeypatch.setenv(key, value)
    sm = fresh_account.client("sagemaker")
    collection = Collection(tmp_path / "store")
    _ok(collection.run(["sagemaker_registry"]))
    arn = collection.query("SELECT model_package_arn FROM aws_sagemaker_model_package "
                           "WHERE approval_status = 'PendingManualApproval' ORDER BY 1 LIMIT 1")[0][0]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    before = collection.calls()
    _ok(collection.run(["sagemaker_registry"]))
    calls = _diff(collection.calls(), before)
    assert collection.query("SELECT approval_status, image FROM aws_sagemaker_model_package "
                            "WHERE model_package_arn = ?", [arn])[0][0] == "Approved"
    assert collection.query("SELECT image FROM aws_sagemaker_model_package WHERE model_package_arn = ?",
                            [arn])[0][0]  # the rest of the row kept
    assert _ops(calls, "DescribeModelPackage") == 0
