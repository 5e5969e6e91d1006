"""SageMaker and Application Auto Scaling in the emulated account, checked with plain boto3 like a real client.

Read-only checks use the session-wide ``account``. Checks that change state share one private account
started with ``DEMO_SPEEDUP`` (simulated durations of API-started work divided by it), each on its own
resources, so that a 30-60 s endpoint update or a 3-minute training job finishes in seconds.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from demo import world as world_mod
from tests.conftest import Account, start_account, stop_account

SPEEDUP = "240"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"


# --------------------------------------------------------------------------- helpers


def _all(client, op: str, key: str, **kwargs) -> list[dict]:
    return client.get_paginator(op).paginate(**kwargs).build_full_result()[key]


def _tags(sm, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}


def _eventually(check: Callable[[], object], timeout: float = 20.0, every: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(every)


def _endpoints(sm) -> list[dict]:
    return [sm.describe_endpoint(EndpointName=e["EndpointName"]) for e in _all(sm, "list_endpoints", "Endpoints")]


def _config_variants(sm, endpoint: dict) -> list[dict]:
    return sm.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])["ProductionVariants"]


@pytest.fixture(scope="module")
def sm(account):
    return account.client("sagemaker")


@pytest.fixture(scope="module")
def aas(account):
    return account.client("application-autoscaling")


@pytest.fixture(scope="module")
def jobs(sm) -> list[dict]:
    return _all(sm, "list_training_jobs", "TrainingJobSummaries")


@pytest.fixture(scope="module")
def mutable(tmp_path_factory) -> Iterator[Account]:
    """A private live account whose API-started work runs ``SPEEDUP`` times faster."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEMO_SPEEDUP", SPEEDUP)
        acc = start_account(tmp_path_factory.mktemp("sagemaker"))
    yield acc
    stop_account(acc)


# --------------------------------------------------------------------------- endpoints and models


def test_endpoints_belong_to_teams_by_tag(sm):
    endpoints = _all(sm, "list_endpoints", "Endpoints")
    tags = [_tags(sm, e["EndpointArn"]) for e in endpoints]
    assert len(endpoints) >= 8
    assert all({"team", "project", "env"} <= t.keys() for t in tags)
    assert len({t["team"] for t in tags}) >= 3
    assert all(e["EndpointStatus"] == "InService" for e in endpoints)


def test_a_gpu_endpoint_runs_on_g5(sm):
    types = {v["InstanceType"] for e in _endpoints(sm) for v in _config_variants(sm, e)}
    assert any(t.startswith("ml.g5.") for t in types), types


def test_the_ab_endpoint_splits_traffic_80_20(sm):
    ab = [e for e in _endpoints(sm) if len(e["ProductionVariants"]) == 2]
    assert ab, "no endpoint with two variants"
    weights = sorted(v["CurrentWeight"] for v in ab[0]["ProductionVariants"])
    assert weights == pytest.approx([0.2, 0.8])
    assert all(v["DesiredWeight"] == v["CurrentWeight"] for v in ab[0]["ProductionVariants"])


def test_every_served_model_traces_to_an_approved_package_version(sm):
    for endpoint in _endpoints(sm):
        for variant in _config_variants(sm, endpoint):
            model = sm.describe_model(ModelName=variant["ModelName"])
            package_arn = model["PrimaryContainer"]["ModelPackageName"]
            package = sm.describe_model_package(ModelPackageName=package_arn)
            assert package["ModelApprovalStatus"] == "Approved", (endpoint["EndpointName"], package_arn)
            assert package["InferenceSpecification"]["Containers"][0]["Image"] == model["PrimaryContainer"]["Image"]
            assert "auc" in package["CustomerMetadataProperties"]
            assert {"team", "project"} <= _tags(sm, model["ModelArn"]).keys()


def test_the_incident_endpoint_went_through_three_configs(sm):
    incident = "fraud-txn-scorer-prod"
    configs = _all(sm, "list_endpoint_configs", "EndpointConfigs", NameContains=incident)
    assert len(configs) == 3
    current = sm.describe_endpoint(EndpointName=incident)["EndpointConfigName"]
    assert current == max(c["EndpointConfigName"] for c in configs)


def test_variants_are_settled(sm):
    for endpoint in _endpoints(sm):
        for variant in endpoint["ProductionVariants"]:
            assert variant["CurrentInstanceCount"] == variant["DesiredInstanceCount"] >= 1


# --------------------------------------------------------------------------- training jobs


def test_a_month_of_training_jobs_in_every_status(jobs):
    month_ago = datetime.now(UTC) - timedelta(days=30)
    recent = [j for j in jobs if j["CreationTime"] > month_ago]
    assert len(recent) >= 40
    assert {"Completed", "Failed", "Stopped", "InProgress"} <= set(Counter(j["TrainingJobStatus"] for j in recent))


def test_one_failure_is_a_gpu_out_of_memory(sm, jobs):
    failed = [sm.describe_training_job(TrainingJobName=j["TrainingJobName"]) for j in jobs
              if j["TrainingJobStatus"] == "Failed"]
    assert all(d["FailureReason"] for d in failed)
    assert any("out of memory" in d["FailureReason"].lower() for d in failed)


def test_spot_jobs_bill_less_than_they_train_and_one_was_interrupted(sm, jobs):
    month_ago = datetime.now(UTC) - timedelta(days=30)
    done = [sm.describe_training_job(TrainingJobName=j["TrainingJobName"]) for j in jobs
            if j["TrainingJobStatus"] in ("Completed", "Failed") and j["CreationTime"] > month_ago]
    spot = [d for d in done if d["EnableManagedSpotTraining"]]
    assert spot
    assert all(d["BillableTimeInSeconds"] < d["TrainingTimeInSeconds"] for d in spot)
    # AWS requires MaxWaitTimeInSeconds >= MaxRuntimeInSeconds on spot jobs
    assert all(d["StoppingCondition"]["MaxWaitTimeInSeconds"] >= d["StoppingCondition"]["MaxRuntimeInSeconds"]
               for d in spot)
    interrupted = [d for d in spot if any(t["Status"] == "Interrupted" for t in d["SecondaryStatusTransitions"])]
    assert interrupted
    on_demand = [d for d in done if not d["EnableManagedSpotTraining"]]
    assert all(d["BillableTimeInSeconds"] == d["TrainingTimeInSeconds"] for d in on_demand)


def test_a_described_job_carries_its_full_configuration(sm, jobs):
    d = sm.describe_training_job(TrainingJobName=next(j["TrainingJobName"] for j in jobs
                                                      if j["TrainingJobStatus"] == "Completed"))
    assert d["ResourceConfig"]["InstanceType"].startswith("ml.") and d["ResourceConfig"]["VolumeSizeInGB"] > 0
    assert d["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"].startswith("s3://")
    assert d["AlgorithmSpecification"]["TrainingImage"].split("/")[0].endswith(".amazonaws.com")
    assert {m["MetricName"] for m in d["FinalMetricDataList"]} == {"train:loss", "validation:auc"}
    assert d["TrainingStartTime"] < d["TrainingEndTime"] <= d["LastModifiedTime"]
    assert d["SecondaryStatus"] == "Completed"
    assert {"team", "project", "env"} <= _tags(sm, d["TrainingJobArn"]).keys()


def test_last_modified_time_after_returns_only_newer_jobs(sm, jobs):
    cutoff = sorted(j["LastModifiedTime"] for j in jobs)[len(jobs) // 2]
    newer = _all(sm, "list_training_jobs", "TrainingJobSummaries", LastModifiedTimeAfter=cutoff)
    assert {j["TrainingJobName"] for j in newer} == {j["TrainingJobName"] for j in jobs
                                                      if j["LastModifiedTime"] > cutoff}


def test_list_training_jobs_sorts_and_pages(sm, jobs):
    first = sm.list_training_jobs(MaxResults=7, SortBy="CreationTime", SortOrder="Descending")
    second = sm.list_training_jobs(MaxResults=7, SortBy="CreationTime", SortOrder="Descending",
                                   NextToken=first["NextToken"])
    times = [j["CreationTime"] for j in first["TrainingJobSummaries"] + second["TrainingJobSummaries"]]
    assert len(times) == 14 and times == sorted(times, reverse=True)
    assert times[0] == max(j["CreationTime"] for j in jobs)


def test_status_equals_filters_after_max_results_as_aws_documents(sm):
    page = sm.list_training_jobs(MaxResults=20)["TrainingJobSummaries"]
    filtered = sm.list_training_jobs(MaxResults=20, StatusEquals="Completed")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in filtered] == [j["TrainingJobName"] for j in page
                                                        if j["TrainingJobStatus"] == "Completed"]


# --------------------------------------------------------------------------- pipelines


def test_three_pipelines_with_a_month_of_executions(sm):
    pipelines = _all(sm, "list_pipelines", "PipelineSummaries")
    assert len(pipelines) == 3
    counts = {p["PipelineName"]: len(_all(sm, "list_pipeline_executions", "PipelineExecutionSummaries",
                                         PipelineName=p["PipelineName"])) for p in pipelines}
    assert sum(counts.values()) >= 30 and min(counts.values()) >= 10, counts
    definition = sm.describe_pipeline(PipelineName=pipelines[0]["PipelineName"])["PipelineDefinition"]
    assert '"Steps"' in definition
    assert {"team", "project"} <= _tags(sm, pipelines[0]["PipelineArn"]).keys()


def test_failed_executions_name_the_failed_step(sm):
    failed = [x for p in _all(sm, "list_pipelines", "PipelineSummaries")
              for x in _all(sm, "list_pipeline_executions", "PipelineExecutionSummaries",
                            PipelineName=p["PipelineName"]) if x["PipelineExecutionStatus"] == "Failed"]
    assert failed
    for x in failed:
        steps = _all(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps",
                     PipelineExecutionArn=x["PipelineExecutionArn"])
        bad = [s for s in steps if s["StepStatus"] == "Failed"]
        assert len(bad) == 1 and bad[0]["FailureReason"], steps
        assert sm.describe_pipeline_execution(PipelineExecutionArn=x["PipelineExecutionArn"])["FailureReason"]


def test_executions_list_newest_first(sm):
    xs = _all(sm, "list_pipeline_executions", "PipelineExecutionSummaries", PipelineName="search-ranker-retrain")
    starts = [x["StartTime"] for x in xs]
    assert starts == sorted(starts, reverse=True)


# --------------------------------------------------------------------------- processing jobs


@pytest.fixture(scope="module")
def processing(sm) -> list[dict]:
    return _all(sm, "list_processing_jobs", "ProcessingJobSummaries")


def _describe_processing(sm, jobs: list[dict], status: str) -> list[dict]:
    return [sm.describe_processing_job(ProcessingJobName=j["ProcessingJobName"]) for j in jobs
            if j["ProcessingJobStatus"] == status]


def test_a_month_of_processing_jobs_in_every_status(processing):
    month_ago = datetime.now(UTC) - timedelta(days=31)
    recent = [j for j in processing if j["CreationTime"] > month_ago]
    assert len(recent) >= 100
    assert {"Completed", "Failed", "Stopped", "InProgress"} <= {j["ProcessingJobStatus"] for j in recent}
    by_hand = [j["ProcessingJobName"] for j in recent if not j["ProcessingJobName"].startswith("pipelines-")]
    assert any("-features-" in n for n in by_hand) and any("-evaluation-" in n for n in by_hand)


def test_failed_processing_jobs_say_why(sm, processing):
    failed = _describe_processing(sm, processing, "Failed")
    assert len(failed) >= 3 and all(d["FailureReason"] for d in failed)
    assert all(j.get("FailureReason") for j in processing if j["ProcessingJobStatus"] == "Failed")  # listed too
    assert any(d.get("ExitMessage") for d in failed)  # the container's error, beside "see the logs"
    never_started = [d for d in failed if "ProcessingStartTime" not in d]
    assert never_started and all(d["FailureReason"].startswith("ResourceLimitExceeded") for d in never_started)


def test_a_described_processing_job_carries_its_resources_times_and_data(sm, processing):
    d = _describe_processing(sm, processing[:20], "Completed")[0]
    cluster = d["ProcessingResources"]["ClusterConfig"]
    assert cluster["InstanceType"].startswith("ml.") and cluster["InstanceCount"] >= 1 and cluster["VolumeSizeInGB"]
    assert d["CreationTime"] < d["ProcessingStartTime"] < d["ProcessingEndTime"] <= d["LastModifiedTime"]
    assert d["ProcessingInputs"][0]["S3Input"]["S3Uri"].startswith("s3://")
    assert d["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"].startswith("s3://")
    assert d["AppSpecification"]["ImageUri"].split("/")[0].endswith(".amazonaws.com")
    assert {"team", "project", "env"} <= _tags(sm, d["ProcessingJobArn"]).keys()


def test_running_processing_jobs_have_started_and_not_ended(sm, processing):
    running = _describe_processing(sm, processing, "InProgress")
    assert running
    for d in running:
        assert d["ProcessingStartTime"] < datetime.now(UTC)
        assert "ProcessingEndTime" not in d and "FailureReason" not in d


def test_pipeline_step_jobs_carry_their_execution_and_rule_jobs_their_training_job(sm, processing):
    executions = {x["PipelineExecutionArn"]: x for p in _all(sm, "list_pipelines", "PipelineSummaries")
                  for x in _all(sm, "list_pipeline_executions", "PipelineExecutionSummaries",
                                PipelineName=p["PipelineName"])}
    steps = [j for j in processing if j["ProcessingJobName"].startswith("pipelines-")]
    assert len(steps) >= 50
    for j in steps:
        tags = _tags(sm, j["ProcessingJobArn"])
        assert tags["sagemaker:pipeline-execution-arn"] in executions, j["ProcessingJobName"]
        assert f"-{tags['sagemaker:pipeline-step-name']}-" in j["ProcessingJobName"]
    failed = next(j for j in steps if j["ProcessingJobStatus"] == "Failed")
    arn = _tags(sm, failed["ProcessingJobArn"])["sagemaker:pipeline-execution-arn"]
    step = _tags(sm, failed["ProcessingJobArn"])["sagemaker:pipeline-step-name"]
    ran = _all(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn)
    assert next(s for s in ran if s["StepName"] == step)["StepStatus"] == "Failed"
    rule = sm.describe_processing_job(ProcessingJobName=next(j["ProcessingJobName"] for j in processing
                                                             if "-ProfilerReport-" in j["ProcessingJobName"]))
    training = sm.describe_training_job(TrainingJobName=rule["TrainingJobArn"].split("/")[-1])
    assert training["TrainingStartTime"] < rule["ProcessingStartTime"] < training["TrainingEndTime"]


def test_last_modified_time_after_returns_only_newer_processing_jobs(sm, processing):
    cutoff = sorted(j["LastModifiedTime"] for j in processing)[len(processing) // 2]
    newer = _all(sm, "list_processing_jobs", "ProcessingJobSummaries", LastModifiedTimeAfter=cutoff)
    assert {j["ProcessingJobName"] for j in newer} == {j["ProcessingJobName"] for j in processing
                                                        if j["LastModifiedTime"] > cutoff}


# --------------------------------------------------------------------------- autoscaling


def test_autoscaled_variants_have_targets_and_target_tracking_policies(aas, sm):
    targets = aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert len(targets) >= 4
    for t in targets:
        _, endpoint, _, variant = t["ResourceId"].split("/")
        assert t["ScalableDimension"] == DIMENSION and 1 <= t["MinCapacity"] <= t["MaxCapacity"]
        live = sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"]
        count = next(v["CurrentInstanceCount"] for v in live if v["VariantName"] == variant)
        assert t["MinCapacity"] <= count <= t["MaxCapacity"]
    policies = aas.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert {p["ResourceId"] for p in policies} == {t["ResourceId"] for t in targets}
    config = policies[0]["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "SageMakerVariantInvocationsPerInstance"
    assert config["TargetValue"] > 0


def test_scaling_activities_tell_the_history_newest_first(aas):
    activities = _all(aas, "describe_scaling_activities", "ScalingActivities", ServiceNamespace="sagemaker",
                      ResourceId="endpoint/search-ranker-prod/variant/champion")
    assert len(activities) >= 20
    starts = [a["StartTime"] for a in activities]
    assert starts == sorted(starts, reverse=True)
    assert {a["StatusCode"] for a in activities} == {"Successful"}
    assert all(a["Description"].startswith("Setting desired instance count to ") for a in activities)
    assert any("AlarmHigh" in a["Cause"] for a in activities) and any("AlarmLow" in a["Cause"] for a in activities)


# --------------------------------------------------------------------------- what moto lacked


def test_operations_moto_lacks_answer_at_once(account):
    fast = boto3.client("sagemaker", region_name=account.env["AWS_REGION"], endpoint_url=account.url,
                        aws_access_key_id=account.env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=account.env["AWS_SECRET_ACCESS_KEY"],
                        config=Config(retries={"max_attempts": 10, "mode": "standard"}))
    assert fast.list_monitoring_schedules()["MonitoringScheduleSummaries"] == []
    started = time.monotonic()
    with pytest.raises(ClientError) as err:
        fast.list_inference_components()
    assert time.monotonic() - started < 1.0
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_the_second_account_shows_its_own_resources(account):
    creds = account.client("sts").assume_role(RoleArn=world_mod.CROSS_ACCOUNT_ROLE, RoleSessionName="sextant",
                                              ExternalId=world_mod.EXTERNAL_ID)["Credentials"]
    other = boto3.client("sagemaker", region_name=world_mod.REGION, endpoint_url=account.url,
                         aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"])
    names = {e["EndpointName"] for e in _all(other, "list_endpoints", "Endpoints")}
    assert names and all(n.startswith("forecast-") for n in names)
    assert all(e["EndpointArn"].split(":")[4] == world_mod.SECOND_ACCOUNT
               for e in _all(other, "list_endpoints", "Endpoints"))
    jobs = _all(other, "list_training_jobs", "TrainingJobSummaries")
    assert jobs and all(j["TrainingJobName"].startswith("forecasting-") for j in jobs)


# --------------------------------------------------------------------------- actions (private account)


def _status(sm, endpoint: str) -> str:
    return sm.describe_endpoint(EndpointName=endpoint)["EndpointStatus"]


def test_scaling_a_variant_keeps_its_weights(mutable):
    sm = mutable.client("sagemaker")
    sm.update_endpoint_weights_and_capacities(EndpointName="search-ranker-prod", DesiredWeightsAndCapacities=[
        {"VariantName": "challenger", "DesiredInstanceCount": 2}])
    during = sm.describe_endpoint(EndpointName="search-ranker-prod")
    assert during["EndpointStatus"] == "Updating"
    with pytest.raises(ClientError, match="in-progress"):
        sm.update_endpoint_weights_and_capacities(EndpointName="search-ranker-prod", DesiredWeightsAndCapacities=[
            {"VariantName": "challenger", "DesiredInstanceCount": 3}])
    assert _eventually(lambda: _status(sm, "search-ranker-prod") == "InService")
    variants = {v["VariantName"]: v for v in sm.describe_endpoint(EndpointName="search-ranker-prod")
                ["ProductionVariants"]}
    assert variants["challenger"]["CurrentInstanceCount"] == variants["challenger"]["DesiredInstanceCount"] == 2
    assert variants["challenger"]["CurrentWeight"] == pytest.approx(0.2)
    assert variants["champion"]["CurrentWeight"] == pytest.approx(0.8)


def test_update_endpoint_switches_config_to_a_g5_and_returns_to_service(mutable):
    sm = mutable.client("sagemaker")
    old = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName="nlp-summarizer-dev")
                                      ["EndpointConfigName"])["ProductionVariants"][0]
    sm.create_endpoint_config(EndpointConfigName="nlp-summarizer-dev-config-g5", ProductionVariants=[
        {**{k: old[k] for k in ("VariantName", "ModelName")}, "InstanceType": "ml.g5.xlarge",
         "InitialInstanceCount": 2, "InitialVariantWeight": 1.0}])
    sm.update_endpoint(EndpointName="nlp-summarizer-dev", EndpointConfigName="nlp-summarizer-dev-config-g5")
    assert _status(sm, "nlp-summarizer-dev") == "Updating"
    assert _eventually(lambda: _status(sm, "nlp-summarizer-dev") == "InService")
    after = sm.describe_endpoint(EndpointName="nlp-summarizer-dev")
    assert after["EndpointConfigName"] == "nlp-summarizer-dev-config-g5"
    assert after["ProductionVariants"][0]["CurrentInstanceCount"] == 2


def test_update_endpoint_refuses_a_new_instance_type_on_an_autoscaled_variant(mutable):
    sm = mutable.client("sagemaker")
    old = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(
        EndpointName="nlp-intent-classifier-prod")["EndpointConfigName"])["ProductionVariants"][0]
    sm.create_endpoint_config(EndpointConfigName="nlp-intent-c5-4x", ProductionVariants=[
        {**old, "InstanceType": "ml.c5.4xlarge"}])
    with pytest.raises(ClientError, match="automatic scaling"):
        sm.update_endpoint(EndpointName="nlp-intent-classifier-prod", EndpointConfigName="nlp-intent-c5-4x")
    assert _status(sm, "nlp-intent-classifier-prod") == "InService"


def test_current_instance_families_are_accepted_and_unknown_ones_refused(mutable):
    sm = mutable.client("sagemaker")
    model = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName="nlp-summarizer-prod")
                                        ["EndpointConfigName"])["ProductionVariants"][0]["ModelName"]
    for i, itype in enumerate(["ml.p4d.24xlarge", "ml.p5.48xlarge", "ml.inf2.xlarge", "ml.trn1.2xlarge"]):
        sm.create_endpoint_config(EndpointConfigName=f"probe-{i}", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": itype, "InitialInstanceCount": 1}])
    with pytest.raises(ClientError, match="instanceType"):
        sm.create_endpoint_config(EndpointConfigName="probe-bogus", ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": model, "InstanceType": "ml.bogus.xlarge",
             "InitialInstanceCount": 1}])


def test_stopping_an_in_progress_job_ends_stopped(mutable):
    sm = mutable.client("sagemaker")
    # StatusEquals filters the page MaxResults selected, so ask for the newest jobs
    running = sm.list_training_jobs(StatusEquals="InProgress", MaxResults=20, SortOrder="Descending")[
        "TrainingJobSummaries"]
    assert running
    name = running[0]["TrainingJobName"]
    sm.stop_training_job(TrainingJobName=name)
    assert sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    assert _eventually(lambda: sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopped")
    d = sm.describe_training_job(TrainingJobName=name)
    assert d["SecondaryStatus"] == "Stopped" and d["TrainingTimeInSeconds"] > 0
    with pytest.raises(ClientError, match="status Stopped"):
        sm.stop_training_job(TrainingJobName=name)


def test_a_training_job_created_through_the_api_finishes_by_itself(mutable):
    sm = mutable.client("sagemaker")
    account = world_mod.MAIN_ACCOUNT
    sm.create_training_job(
        TrainingJobName="api-launched-job", RoleArn=world_mod.role_arn(account),
        AlgorithmSpecification={"TrainingImage": world_mod.ecr_uri(account, "nlp/distilbert-intent-train", "1.5.1"),
                                "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "validation:f1", "Regex": "f1=([0-9.]+)"}]},
        HyperParameters={"epochs": "3"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://sagemaker-{account}-data/nlp/train/"}}}],
        OutputDataConfig={"S3OutputPath": f"s3://sagemaker-{account}-models/nlp/"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50},
        StoppingCondition={"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200},
        EnableManagedSpotTraining=True)
    assert sm.describe_training_job(TrainingJobName="api-launched-job")["TrainingJobStatus"] == "InProgress"
    assert _eventually(lambda: sm.describe_training_job(TrainingJobName="api-launched-job")
                       ["TrainingJobStatus"] == "Completed")
    d = sm.describe_training_job(TrainingJobName="api-launched-job")
    assert [t["Status"] for t in d["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert 0 < d["BillableTimeInSeconds"] < d["TrainingTimeInSeconds"]
    assert [m["MetricName"] for m in d["FinalMetricDataList"]] == ["validation:f1"]


def test_start_pipeline_execution_is_idempotent_and_runs_its_steps(mutable):
    sm = mutable.client("sagemaker")
    token = "sextant-run-0001-abcdefghijklmnopqrstuvwxyz"
    first = sm.start_pipeline_execution(PipelineName="vision-batch-eval", ClientRequestToken=token)
    again = sm.start_pipeline_execution(PipelineName="vision-batch-eval", ClientRequestToken=token)
    assert first["PipelineExecutionArn"] == again["PipelineExecutionArn"]
    arn = first["PipelineExecutionArn"]
    xs = _all(sm, "list_pipeline_executions", "PipelineExecutionSummaries", PipelineName="vision-batch-eval")
    assert [x["PipelineExecutionArn"] for x in xs].count(arn) == 1
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Executing"
    assert _eventually(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=arn)
                       ["PipelineExecutionStatus"] == "Succeeded", timeout=30)
    steps = _all(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn,
                 SortOrder="Ascending")
    assert [s["StepName"] for s in steps] == ["FetchImages", "BatchTransform", "ScoreDrift", "Report"]
    assert {s["StepStatus"] for s in steps} == {"Succeeded"}


def test_retrying_a_failed_execution_reruns_it_under_the_same_arn(mutable):
    sm = mutable.client("sagemaker")
    failed = next(x for x in _all(sm, "list_pipeline_executions", "PipelineExecutionSummaries",
                                  PipelineName="search-ranker-retrain") if x["PipelineExecutionStatus"] == "Failed")
    arn, token = failed["PipelineExecutionArn"], "retry-token-0001-abcdefghijklmnopqrstuvwxyz"
    assert sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=token)["PipelineExecutionArn"] \
        == arn
    assert sm.retry_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken=token)["PipelineExecutionArn"] \
        == arn
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Executing"
    assert _eventually(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=arn)
                       ["PipelineExecutionStatus"] == "Succeeded", timeout=30)
    steps = _all(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn)
    assert {s["StepStatus"] for s in steps} == {"Succeeded"}
    assert max(s["AttemptCount"] for s in steps) == 2


def test_stopping_an_execution_ends_stopped(mutable):
    sm = mutable.client("sagemaker")
    steps = [{"Name": f"Shard{i:02d}", "Type": "Processing", "Arguments": {}} for i in range(40)]
    sm.create_pipeline(PipelineName="long-backfill", RoleArn=world_mod.role_arn(world_mod.MAIN_ACCOUNT),
                       PipelineDefinition=json.dumps({"Version": "2020-12-01", "Steps": steps}))
    arn = sm.start_pipeline_execution(PipelineName="long-backfill")["PipelineExecutionArn"]
    sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="stop-0001-abcdefghijklmnopqrstuvwxyz")
    assert sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"] == "Stopping"
    assert _eventually(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=arn)
                       ["PipelineExecutionStatus"] == "Stopped")
    steps = _all(sm, "list_pipeline_execution_steps", "PipelineExecutionSteps", PipelineExecutionArn=arn)
    assert steps[0]["StepStatus"] == "Stopped" and len(steps) < 40
    with pytest.raises(ClientError, match="cannot be stopped"):
        sm.stop_pipeline_execution(PipelineExecutionArn=arn, ClientRequestToken="stop-0002-abcdefghijklmnopqrstuvwxyz")


def test_raising_the_minimum_capacity_scales_the_variant_and_is_an_activity(mutable):
    sm, aas = mutable.client("sagemaker"), mutable.client("application-autoscaling")
    rid = "endpoint/search-query-embed-prod/variant/AllTraffic"
    before = sm.describe_endpoint(EndpointName="search-query-embed-prod")["ProductionVariants"][0]
    target = aas.describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rid])["ScalableTargets"][0]
    new_min = before["DesiredInstanceCount"] + 2
    aas.register_scalable_target(ServiceNamespace="sagemaker", ResourceId=rid, ScalableDimension=DIMENSION,
                                 MinCapacity=new_min, MaxCapacity=max(target["MaxCapacity"], new_min))
    assert _eventually(lambda: sm.describe_endpoint(EndpointName="search-query-embed-prod")["ProductionVariants"][0]
                       ["CurrentInstanceCount"] == new_min)
    latest = aas.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=rid)["ScalingActivities"][0]
    assert latest["Description"] == f"Setting desired instance count to {new_min}."
    assert latest["Cause"] == f"minimum capacity was set to {new_min}"
