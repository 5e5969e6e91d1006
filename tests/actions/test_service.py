"""Actions against the emulated account: each changes AWS as described, guarded, idempotent, audited; each calls
the region and account of the resource it acts on; role credentials refresh; one token acts once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import botocore.credentials
import pytest
from botocore.exceptions import ClientError

import actions as a
from actions import service
from actions.audit import AuditLog
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings
from tests.conftest import Account, start_account, stop_account, wait_until

MAIN = "123456789012"
OPERATOR = a.Actor("oncall@example.com", "operator")
VIEWER = a.Actor("viewer@example.com", "viewer")
PRICES = {("Host", "ml.m5.xlarge"): 0.23, ("Host", "ml.g5.xlarge"): 1.408, ("Host", "ml.g4dn.2xlarge"): 0.94}


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Iterator[Account]:
    """A private live account whose API-started work runs 240× faster; its env is the test's AWS env."""
    with pytest.MonkeyPatch.context() as mp:
        acc = start_account(tmp_path_factory.mktemp("actions"), env={"DEMO_SPEEDUP": "240"})
        for k, v in acc.env.items():
            mp.setenv(k, v)
        yield acc
    stop_account(acc)


@pytest.fixture
def env(acc) -> a.Env:
    settings = Settings(actions=ActionSettings(max_instances_per_variant=12, max_concurrent_training_jobs=50,
                                               allowed_instance_types=("ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge",
                                                                       "ml.g4dn.xlarge", "ml.p3.2xlarge",
                                                                       "ml.g5.xlarge", "ml.g5.2xlarge")))
    return a.Env(Clients(AccountSettings(regions=("us-east-1",))), settings,
                 lambda t, kind: PRICES.get((kind, t)))


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit.sqlite")


def _variant(acc, endpoint, region=None):
    sm = acc.client("sagemaker", **({"region_name": region} if region else {}))
    return sm.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]


def test_scale_a_plain_variant_changes_its_desired_count_and_shows_the_cost(acc, env, audit):
    before = _variant(acc, "nlp-summarizer-prod")["DesiredInstanceCount"]
    req = a.ScaleEndpoint(MAIN, "nlp-summarizer-prod", "AllTraffic", before + 1)
    plan = a.plan(req, OPERATOR, env)
    assert plan.cost_per_day_delta == pytest.approx(1.408 * 24)
    out = a.run_action(req, OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert out.request_id
    assert _variant(acc, "nlp-summarizer-prod")["DesiredInstanceCount"] == before + 1


def test_scale_an_autoscaled_variant_moves_the_scalable_target_not_the_count(acc, env, audit):
    req = a.ScaleEndpoint(MAIN, "fraud-txn-scorer-prod", "AllTraffic", 6)
    out = a.run_action(req, OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    target = acc.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=["endpoint/fraud-txn-scorer-prod/variant/AllTraffic"])
    t = target["ScalableTargets"][0]
    assert (t["MinCapacity"], t["MaxCapacity"]) == (6, 8)
    assert wait_until(lambda: _variant(acc, "fraud-txn-scorer-prod")["DesiredInstanceCount"] == 6, 60,
                      "the autoscaler to move the count to 6")


def test_scale_idle_endpoint_to_its_minimum_in_one_step(acc, env, audit):
    req = a.ScaleToMinimum(MAIN, "vision-defect-detector-shadow", "AllTraffic")
    plan = a.plan(req, OPERATOR, env)
    assert plan.after["instance_count"] == 1 and plan.cost_per_day_delta < 0
    assert a.run_action(req, OPERATOR, env, audit, a.new_token()).status == "succeeded"
    assert _variant(acc, "vision-defect-detector-shadow")["DesiredInstanceCount"] == 1


def _some_job(acc, status="Completed", contains=""):
    jobs = acc.client("sagemaker").get_paginator("list_training_jobs").paginate().build_full_result()
    return next(j["TrainingJobName"] for j in jobs["TrainingJobSummaries"]
                if j["TrainingJobStatus"] == status and contains in j["TrainingJobName"])


def test_launch_training_clones_a_job_with_overrides_and_a_double_submit_launches_once(acc, env, audit):
    src = _some_job(acc, contains="fraud")
    req = a.LaunchTraining(MAIN, src, instance_type="ml.m5.2xlarge", instance_count=2, spot=True,
                           max_runtime_s=7200, max_wait_s=10800, hyperparameters='{"learning_rate": 0.002}')
    token = a.new_token()
    first = a.run_action(req, OPERATOR, env, audit, token)
    second = a.run_action(req, OPERATOR, env, audit, token)
    assert first.status == "succeeded", first.message
    assert second.status == "duplicate"
    name = first.result["training_job_name"]
    d = acc.client("sagemaker").describe_training_job(TrainingJobName=name)
    assert d["ResourceConfig"]["InstanceType"] == "ml.m5.2xlarge" and d["ResourceConfig"]["InstanceCount"] == 2
    assert d["EnableManagedSpotTraining"] is True
    assert d["HyperParameters"]["learning_rate"] == "0.002"
    clones = [j for j in acc.client("sagemaker").list_training_jobs(NameContains="clone", MaxResults=100)
              ["TrainingJobSummaries"] if j["TrainingJobName"] == name]
    assert len(clones) == 1
    assert [r for r in audit.frame().result] == ["duplicate", "succeeded"]


def test_stop_a_running_training_job(acc, env, audit):
    job = _some_job(acc, "InProgress")
    out = a.run_action(a.StopTrainingJob(MAIN, job), OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    status = acc.client("sagemaker").describe_training_job(TrainingJobName=job)["TrainingJobStatus"]
    assert status in ("Stopping", "Stopped")


def test_rerun_pipeline_with_edited_parameters_is_idempotent_on_its_token(acc, env, audit):
    sm = acc.client("sagemaker")
    before = len(sm.list_pipeline_executions(PipelineName="search-ranker-retrain", MaxResults=100)
                 ["PipelineExecutionSummaries"])
    req = a.RerunPipeline(MAIN, "search-ranker-retrain", json.dumps({"AucThreshold": "0.9"}))
    token = a.new_token()
    assert a.run_action(req, OPERATOR, env, audit, token).status == "succeeded"
    assert a.run_action(req, OPERATOR, env, audit, token).status == "duplicate"
    after = sm.list_pipeline_executions(PipelineName="search-ranker-retrain", MaxResults=100)
    assert len(after["PipelineExecutionSummaries"]) == before + 1


def test_retry_a_failed_pipeline_execution_and_stop_a_running_one(acc, env, audit):
    sm = acc.client("sagemaker")
    execs = sm.get_paginator("list_pipeline_executions").paginate(
        PipelineName="fraud-txn-weekly-retrain").build_full_result()["PipelineExecutionSummaries"]
    failed = next(e["PipelineExecutionArn"] for e in execs if e["PipelineExecutionStatus"] == "Failed")
    out = a.run_action(a.RetryPipelineExecution(MAIN, failed), OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert sm.describe_pipeline_execution(PipelineExecutionArn=failed)["PipelineExecutionStatus"] == "Executing"
    out = a.run_action(a.StopPipelineExecution(MAIN, failed), OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert sm.describe_pipeline_execution(PipelineExecutionArn=failed)["PipelineExecutionStatus"] in (
        "Stopping", "Stopped")


def test_start_and_redrive_a_step_functions_execution(acc, env, audit):
    sfn = acc.client("stepfunctions")
    arn = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    out = a.run_action(a.StartStateMachine(MAIN, arn, '{"failAt": "Evaluation"}'), OPERATOR, env, audit,
                       a.new_token())
    assert out.status == "succeeded", out.message
    execution = out.result["execution_arn"]
    wait_until(lambda: sfn.describe_execution(executionArn=execution)["status"] == "FAILED", 90,
               "the execution to fail")
    out = a.run_action(a.RedriveExecution(MAIN, execution), OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert sfn.describe_execution(executionArn=execution)["status"] in ("RUNNING", "SUCCEEDED")


def test_dry_run_plans_and_audits_but_changes_nothing(acc, env, audit):
    before = _variant(acc, "nlp-intent-classifier-prod")["DesiredInstanceCount"]
    writes = env.clients.counter.writes()
    out = a.run_action(a.ScaleEndpoint(MAIN, "nlp-intent-classifier-prod", "AllTraffic", before + 1), OPERATOR, env,
                       audit, a.new_token(), dry_run=True)
    assert out.status == "dry_run" and "would" in out.message
    assert env.clients.counter.writes() == writes
    assert _variant(acc, "nlp-intent-classifier-prod")["DesiredInstanceCount"] == before
    assert audit.frame().iloc[0].dry_run == 1


def _every_action():
    arn = f"arn:aws:sagemaker:us-east-1:{MAIN}:pipeline/search-ranker-retrain/execution/abc"
    return [a.ScaleEndpoint(MAIN, "nlp-summarizer-prod", "AllTraffic", 2),
            a.ScaleToMinimum(MAIN, "vision-defect-detector-shadow", "AllTraffic"),
            a.LaunchTraining(MAIN, "any-job"), a.RerunPipeline(MAIN, "search-ranker-retrain"),
            a.RetryPipelineExecution(MAIN, arn), a.StopPipelineExecution(MAIN, arn),
            a.StopTrainingJob(MAIN, "any-job"),
            a.StartStateMachine(MAIN, f"arn:aws:states:us-east-1:{MAIN}:stateMachine:ml-release-orchestrator"),
            a.RedriveExecution(MAIN, f"arn:aws:states:us-east-1:{MAIN}:execution:ml-release-orchestrator:x")]


@pytest.mark.parametrize("req", _every_action(), ids=lambda r: r.ACTION)
def test_a_viewer_is_refused_every_action_with_one_audit_row_and_no_aws_call(env, audit, req):
    calls = env.clients.counter.total()
    with pytest.raises(a.ActionError, match="viewer"):
        a.plan(req, VIEWER, env)
    out = a.run_action(req, VIEWER, env, audit, a.new_token())
    assert out.status == "refused"
    assert env.clients.counter.total() == calls
    rows = audit.frame()
    assert len(rows) == 1 and rows.iloc[0].result == "refused" and rows.iloc[0].actor == VIEWER.name


NASTY = ["", " ", "a" * 64, "-leading", "x'; DROP TABLE audit; --", "name with space", "ünïcödé", "e\nx",
         "🚀", "../../etc/passwd", "a_b", "robert'); DELETE FROM audit;--"]


def _invalid_requests():
    out = []
    for bad in NASTY:
        out += [a.ScaleEndpoint(MAIN, bad, "AllTraffic", 2), a.ScaleEndpoint(MAIN, "nlp-summarizer-prod", bad, 2),
                a.StopTrainingJob(MAIN, bad), a.RerunPipeline(MAIN, bad)]
    for count in (-1, 0, 13, 10**9, 2.5, "3", True, None):
        out.append(a.ScaleEndpoint(MAIN, "nlp-summarizer-prod", "AllTraffic", count))
    out += [
        a.ScaleEndpoint(MAIN, "no-such-endpoint", "AllTraffic", 2),
        a.ScaleEndpoint(MAIN, "nlp-summarizer-prod", "NoSuchVariant", 2),
        a.ScaleEndpoint("999", "nlp-summarizer-prod", "AllTraffic", 2),
        a.ScaleEndpoint("12345678901x", "nlp-summarizer-prod", "AllTraffic", 2),
        a.LaunchTraining(MAIN, "no-such-job"),
        a.LaunchTraining(MAIN, "any-job", instance_type="ml.p4d.24xlarge"),
        a.LaunchTraining(MAIN, "any-job", instance_type="m5.large"),
        a.LaunchTraining(MAIN, "any-job", instance_type="ml.m5.xlarge'; --"),
        a.LaunchTraining(MAIN, "any-job", instance_count=0),
        a.LaunchTraining(MAIN, "any-job", instance_count=100),
        a.LaunchTraining(MAIN, "any-job", max_runtime_s=-5),
        a.LaunchTraining(MAIN, "any-job", max_runtime_s=7200, max_wait_s=60),
        a.LaunchTraining(MAIN, "any-job", hyperparameters="{not json"),
        a.LaunchTraining(MAIN, "any-job", hyperparameters="[1, 2]"),
        a.LaunchTraining(MAIN, "any-job", hyperparameters='{"lr": {"nested": 1}}'),
        a.LaunchTraining(MAIN, "any-job", hyperparameters='{"bad key!": 1}'),
        a.LaunchTraining(MAIN, "any-job", hyperparameters="null"),
        a.LaunchTraining(MAIN, "any-job", spot="yes"),
        a.RerunPipeline(MAIN, "search-ranker-retrain", "{'single': 'quotes'}"),
        a.RerunPipeline(MAIN, "no-such-pipeline"),
        a.RetryPipelineExecution(MAIN, "not-an-arn"),
        a.RetryPipelineExecution(MAIN, "arn:aws:sagemaker:us-east-1:111111111111:pipeline/x/execution/y"),
        a.StopPipelineExecution(MAIN, "arn:aws:sagemaker:us-east-1:123456789012:pipeline/x/execution/'OR 1=1"),
        a.StartStateMachine(MAIN, "arn:aws:states:us-east-1:123456789012:stateMachine:nope", "{bad"),
        a.RedriveExecution(MAIN, "arn:aws:states:us-east-1:123456789012:execution:nope:nope"),
        a.StopTrainingJob(MAIN, "no-such-job"),
    ]
    return out


def test_fifty_invalid_inputs_get_a_clear_message_no_aws_write_and_one_audit_row_each(acc, env, audit):
    requests = _invalid_requests()
    assert len(requests) >= 50
    writes = env.clients.counter.writes()
    for i, req in enumerate(requests, 1):
        out = a.run_action(req, OPERATOR, env, audit, a.new_token())
        assert out.status == "invalid", (req, out.status, out.message)
        assert len(out.message) > 15 and "Traceback" not in out.message, out.message
        assert audit.count() == i
    assert env.clients.counter.writes() == writes


def test_the_audit_log_cannot_be_changed_or_deleted(audit):
    import sqlite3

    audit.append(a.AuditRow("x", "admin", "scale_endpoint", "t", MAIN, "us-east-1", {}, None, None, "succeeded",
                            False))
    con = sqlite3.connect(audit.path)
    for sql in ("UPDATE audit SET actor = 'someone else'", "DELETE FROM audit"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            con.execute(sql)
    assert audit.count() == 1


# ----------------------------------------------------------------------------- the resource's region and account
EU = "eu-west-1"
SETTINGS = Settings(actions=ActionSettings(max_instances_per_variant=12))
TWO_REGIONS = AccountSettings(regions=("us-east-1", EU))


def _create_endpoint(sm, name: str, count: int = 1) -> None:
    """A model, an endpoint config and an endpoint of ``count`` ml.m5.large instances, waited InService."""
    sm.create_model(ModelName=name, ExecutionRoleArn=f"arn:aws:iam::{MAIN}:role/sagemaker-execution",
                    PrimaryContainer={"Image": f"{MAIN}.dkr.ecr.us-east-1.amazonaws.com/{name}:1"})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": count,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    _wait_in_service(sm, name)


def _wait_in_service(sm, name: str) -> None:
    wait_until(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 60,
               f"{name} InService")


def test_an_action_on_a_resource_in_the_second_region_calls_that_region(acc, audit):
    name = "regional-twin"  # one endpoint of this name in each region: a call to the wrong one would succeed
    for region in ("us-east-1", EU):
        _create_endpoint(acc.client("sagemaker", region_name=region), name)
    clients = Clients(TWO_REGIONS)
    first_region = []
    for service_name in ("sagemaker", "application-autoscaling"):
        clients.client(service_name, "us-east-1").meta.events.register(
            "before-call", lambda model, **_: first_region.append(model.name))

    out = a.run_action(a.ScaleEndpoint(MAIN, name, "AllTraffic", 3, region=EU), OPERATOR,
                       a.Env(clients, SETTINGS), audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert _variant(acc, name, EU)["DesiredInstanceCount"] == 3
    assert _variant(acc, name, "us-east-1")["DesiredInstanceCount"] == 1
    assert first_region == [], "no call of the action went to us-east-1"
    row = audit.frame().iloc[0]
    assert (row.result, row.region, row.account_id) == ("succeeded", EU, MAIN)


def test_a_request_without_a_region_on_a_two_region_account_is_refused_with_no_aws_call(audit):
    clients = Clients(TWO_REGIONS)
    out = a.run_action(a.ScaleEndpoint(MAIN, "nlp-summarizer-prod", "AllTraffic", 2), OPERATOR,
                       a.Env(clients, SETTINGS), audit, a.new_token())
    assert out.status == "invalid" and "several regions" in out.message, out.message
    assert clients.counter.total() == 0
    assert audit.frame().iloc[0].result == "invalid"


@pytest.mark.parametrize("region, reason", [
    ("ap-south-1", "not one of this account's regions"),
    ("eu-west-one", "not an AWS region"),
    ("EU", "not an AWS region"),
    ("eu-west-1'; --", "not an AWS region"),
    (float("nan"), "not an AWS region"),  # a page row with no region
])
def test_a_region_that_is_not_the_accounts_or_not_a_region_is_refused_with_no_aws_call(audit, region, reason):
    clients = Clients(TWO_REGIONS)
    out = a.run_action(a.StopTrainingJob(MAIN, "any-job", region=region), OPERATOR, a.Env(clients, SETTINGS),
                       audit, a.new_token())
    assert out.status == "invalid" and reason in out.message, out.message
    assert clients.counter.total() == 0


def test_an_arn_names_the_region_and_must_agree_with_the_request(audit):
    clients = Clients(TWO_REGIONS)
    arn = f"arn:aws:states:{EU}:{MAIN}:execution:ml-release-orchestrator:x"
    assert a.RedriveExecution(MAIN, arn).region_in(clients) == EU
    assert a.RedriveExecution(MAIN, arn, region=EU).region_in(clients) == EU
    machine = f"arn:aws:states:us-east-1:{MAIN}:stateMachine:ml-release-orchestrator"
    for req in (a.RedriveExecution(MAIN, arn, region="us-east-1"), a.StartStateMachine(MAIN, machine, region=EU),
                a.StartStateMachine("210987654321", machine)):
        out = a.run_action(req, OPERATOR, a.Env(clients, SETTINGS), audit, a.new_token())
        assert out.status == "invalid", (req, out.message)
    assert clients.counter.total() == 0


def test_an_env_without_a_region_makes_no_call():
    env = a.Env(Clients(TWO_REGIONS), SETTINGS)
    with pytest.raises(RuntimeError, match="region"):
        env.client("sagemaker")
    assert env.at(EU).region == EU and env.region is None


# ----------------------------------------------------------------------------- role-based accounts
class _Clock:
    """botocore's clock for credentials, frozen and moved by the test (the emulated STS keeps the real one)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def test_an_action_on_a_role_based_account_succeeds_after_its_first_credentials_expired(acc, audit, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(botocore.credentials, "_local_now", clock)  # the assume-role fetcher's cache reads it
    name = "role-scaled"
    _create_endpoint(acc.client("sagemaker"), name)
    clients = Clients(AccountSettings(name="ops", role_arn=f"arn:aws:iam::{MAIN}:role/sextant-operator",
                                      regions=("us-east-1",)))
    env = a.Env(clients, SETTINGS)
    credentials = clients.session().get_credentials()
    monkeypatch.setattr(credentials, "_time_fetcher", clock)  # the credentials' own clock (bound at their creation)

    def assume_role_calls() -> int:
        return clients.counter.snapshot().get("sts:AssumeRole", 0)

    def scale(count: int) -> a.Outcome:
        _wait_in_service(acc.client("sagemaker"), name)
        return a.run_action(a.ScaleEndpoint(MAIN, name, "AllTraffic", count), OPERATOR, env, audit, a.new_token())

    out = scale(2)
    issued_by = datetime.now(UTC)  # the first credentials were issued before this, for 3,600 s
    assert out.status == "succeeded", out.message
    assert assume_role_calls() == 1
    identity = clients.client("sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{MAIN}:assumed-role/sextant-operator/sextant"
    first_key = credentials.get_frozen_credentials().access_key
    assert scale(3).status == "succeeded"
    assert assume_role_calls() == 1, "valid credentials are reused"

    # An hour later by botocore's clock the first credentials have expired. The emulated STS dates new ones by the
    # real clock, so let a little real time pass first: they are then still valid at the moved clock.
    time.sleep(1.5)
    clock.now = issued_by + timedelta(seconds=3600.5)
    assert credentials.refresh_needed(0), "the first credentials are expired at the moved clock"
    out = scale(1)
    assert out.status == "succeeded", out.message
    assert assume_role_calls() >= 2, "the credentials were refreshed, not reused"
    assert credentials.get_frozen_credentials().access_key != first_key
    assert _variant(acc, name)["DesiredInstanceCount"] == 1


def test_a_role_account_assumes_its_role_with_its_external_id(acc):
    from demo import world

    def account_id(external_id: str | None) -> str:
        clients = Clients(AccountSettings(name="ml", role_arn=world.CROSS_ACCOUNT_ROLE, external_id=external_id,
                                          regions=("us-east-1",)))
        return clients.account_id()

    assert account_id(world.EXTERNAL_ID) == world.SECOND_ACCOUNT
    with pytest.raises(ClientError, match="AccessDenied"):
        account_id("another-id")


# ----------------------------------------------------------------------------- idempotency tokens
def test_eight_concurrent_submits_of_one_token_act_once(acc, audit):
    name = "concurrent-submits"
    _create_endpoint(acc.client("sagemaker"), name)
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)
    req, token = a.ScaleEndpoint(MAIN, name, "AllTraffic", 2), a.new_token()
    start = threading.Barrier(8)
    outcomes: list[a.Outcome] = []

    def submit() -> None:
        start.wait()
        outcomes.append(a.run_action(req, OPERATOR, env, audit, token))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert sorted(o.status for o in outcomes) == ["duplicate"] * 7 + ["succeeded"], [o.message for o in outcomes]
    assert env.clients.counter.snapshot().get("api.sagemaker:UpdateEndpointWeightsAndCapacities") == 1
    assert audit.count() == 8


def test_the_per_token_locks_do_not_grow_with_the_number_of_actions(audit):
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)
    tokens = [a.new_token() for _ in range(50)]
    for token in tokens:
        a.run_action(a.StopTrainingJob(MAIN, "any-job"), VIEWER, env, audit, token)
    assert audit.count() == 50
    assert len(service._token_locks) < len(tokens)
    assert not any(token in service._token_locks for token in tokens)
