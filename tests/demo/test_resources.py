"""Logs, ECR, EventBridge, CloudFormation, Step Functions, S3 and the cross-account role, through plain boto3."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from demo import resources
from demo import world as world_mod

LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (INFO|WARN|ERROR) \[[\w-]+\] \S")
SEVERITIES = {"CRITICAL", "HIGH", "MEDIUM", "LOW", "INFORMATIONAL", "UNDEFINED"}


@pytest.fixture(scope="module")
def world():
    return world_mod.build_world(7)


def _ms(t: datetime) -> int:
    return int(t.timestamp() * 1000)


def _filter(logs, group: str, **kwargs) -> list[dict]:
    pages = logs.get_paginator("filter_log_events").paginate(logGroupName=group, **kwargs)
    return [e for page in pages for e in page["events"]]


def _endpoint_group(name: str) -> str:
    return f"/aws/sagemaker/Endpoints/{name}"


def _assumed_session(account, external_id: str | None = world_mod.EXTERNAL_ID) -> boto3.Session:
    kwargs = {"RoleArn": world_mod.CROSS_ACCOUNT_ROLE, "RoleSessionName": "sextant-test"}
    if external_id is not None:
        kwargs["ExternalId"] = external_id
    creds = account.client("sts").assume_role(**kwargs)["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=world_mod.REGION)


# --------------------------------------------------------------------------- CloudWatch Logs


def test_every_endpoint_has_a_log_group_with_a_stream_per_instance(account, world):
    logs = account.client("logs")
    groups = {g["logGroupName"] for g in logs.get_paginator("describe_log_groups").paginate(
        logGroupNamePrefix="/aws/sagemaker/Endpoints/").build_full_result()["logGroups"]}
    main = [e for e in world.endpoints if e.account == world_mod.MAIN_ACCOUNT]
    assert groups == {_endpoint_group(e.name) for e in main}
    for e in main:
        streams = logs.describe_log_streams(logGroupName=_endpoint_group(e.name))["logStreams"]
        assert streams, e.name
        for s in streams:
            variant, _, instance = s["logStreamName"].partition("/")
            assert variant in {v.name for v in e.variants}
            assert re.fullmatch(r"i-0[0-9a-f]{16}", instance)


def test_log_lines_carry_their_timestamp_and_a_parseable_level(account, world):
    logs = account.client("logs")
    e = world.endpoint("search-ranker-prod")
    stream = logs.describe_log_streams(logGroupName=_endpoint_group(e.name))["logStreams"][0]["logStreamName"]
    events = logs.get_log_events(logGroupName=_endpoint_group(e.name), logStreamName=stream,
                                 startFromHead=True, limit=200)["events"]
    assert events
    for ev in events:
        m = LINE.match(ev["message"])
        assert m, ev["message"]
        stamp = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert _ms(stamp) == ev["timestamp"]


def test_the_incident_window_shows_errors_and_the_day_before_none(account, world):
    logs = account.client("logs")
    e = world.incident_endpoint()
    inc = e.incident
    group = _endpoint_group(e.name)
    errors = _filter(logs, group, startTime=_ms(inc.start), endTime=_ms(inc.end), filterPattern="ERROR")
    assert len(errors) > 50
    assert all(" ERROR " in ev["message"] and _ms(inc.start) <= ev["timestamp"] <= _ms(inc.end) for ev in errors)
    text = "\n".join(ev["message"] for ev in errors)
    assert "Model server timed out after 60s" in text and " 503 " in text and "out of memory" in text
    day_before = dict(startTime=_ms(inc.start - timedelta(days=1)), endTime=_ms(inc.end - timedelta(days=1)))
    assert _filter(logs, group, **day_before)  # the endpoint was logging then...
    assert _filter(logs, group, filterPattern="ERROR", **day_before) == []  # ...without errors


def test_the_bad_deploy_and_the_rollback_are_logged_at_their_timeline_times(account, world):
    logs = account.client("logs")
    e = world.incident_endpoint()
    states = world.timeline.states(e.account, e.name, e.variants[0].name)
    deploy = next(s for s in states if s.cause == "deploy")
    rollback = next(s for s in states if s.cause == "rollback")
    group = _endpoint_group(e.name)
    loading = _filter(logs, group, startTime=_ms(deploy.time), endTime=_ms(deploy.time + timedelta(minutes=1)),
                      filterPattern=f'"Loading model {e.package_group}-v{e.incident.bad_version}"')
    assert len(loading) == deploy.count
    back = _filter(logs, group, startTime=_ms(rollback.time), endTime=_ms(rollback.time + timedelta(minutes=1)),
                   filterPattern='"Rolling back to"')
    assert len(back) == rollback.count and all(rollback.config_name in ev["message"] for ev in back)


def test_filter_log_events_interleaves_streams_by_time(account, world):
    events = _filter(account.client("logs"), _endpoint_group("search-ranker-prod"),
                     startTime=_ms(world.anchor - timedelta(days=1)), endTime=_ms(world.anchor))
    assert len({ev["logStreamName"] for ev in events}) > 1
    assert [ev["timestamp"] for ev in events] == sorted(ev["timestamp"] for ev in events)


def test_the_idle_endpoint_only_answers_health_pings_for_two_weeks(account, world):
    e = world.idle_endpoint()
    now = datetime.now(UTC)
    events = _filter(account.client("logs"), _endpoint_group(e.name), startTime=_ms(now - timedelta(days=14)),
                     endTime=_ms(now))
    assert len(events) >= 14 * 24 * 60 // resources.PING_EVERY * 0.95
    assert all('"GET /ping HTTP/1.1" 200' in ev["message"] for ev in events)


def test_the_oom_training_job_logs_a_cuda_out_of_memory_traceback(account, world):
    job = next(j for j in world.training_jobs if j.failure_reason == world_mod.OOM_REASON)
    events = _filter(account.client("logs"), "/aws/sagemaker/TrainingJobs", logStreamNamePrefix=job.name + "/")
    assert {ev["logStreamName"] for ev in events} == {f"{job.name}/algo-1-{int(job.start.timestamp())}"}
    assert any("Traceback (most recent call last):" in ev["message"] for ev in events)
    assert any("CUDA out of memory" in ev["message"] and " ERROR " in ev["message"] for ev in events)
    assert events[-1]["timestamp"] == _ms(job.end)


def test_the_spot_interrupted_job_logs_the_interruption(account, world):
    job = next(j for j in world.training_jobs if j.failure_reason == world_mod.SPOT_REASON)
    events = _filter(account.client("logs"), "/aws/sagemaker/TrainingJobs", logStreamNamePrefix=job.name + "/")
    assert any("interruption notice" in ev["message"] for ev in events)
    assert world_mod.SPOT_REASON in events[-1]["message"]


def test_a_completed_job_logs_every_epoch_up_to_the_last(account, world):
    job = next(j for j in reversed(world.training_jobs)
               if j.status == "Completed" and j.epochs <= 60 and j.account == world_mod.MAIN_ACCOUNT)
    events = _filter(account.client("logs"), "/aws/sagemaker/TrainingJobs", logStreamNamePrefix=job.name + "/",
                     filterPattern="train_loss")
    epochs = [int(re.search(r"epoch (\d+)/(\d+)", ev["message"]).group(1)) for ev in events]
    assert epochs == list(range(1, job.epochs + 1))
    aucs = [float(re.search(r"val_auc=([\d.]+)", ev["message"]).group(1)) for ev in events]
    assert aucs[0] < aucs[-1] and abs(aucs[-1] - job.final_metrics["validation:auc"]) < 0.02


def test_log_history_is_the_same_whether_written_at_once_or_minute_by_minute(world):
    """The live tick appends exactly what seeding would have written: lines are a function of time."""
    e = world.incident_endpoint()
    a = e.incident.start - timedelta(minutes=20)
    b = a + timedelta(minutes=45)
    whole = resources.endpoint_log_events(world, e, a, b)
    pieces: dict[str, list] = {}
    t = a
    while t < b:
        for stream, events in resources.endpoint_log_events(world, e, t, t + timedelta(minutes=1)).items():
            pieces.setdefault(stream, []).extend(events)
        t += timedelta(minutes=1)
    assert whole == pieces


@pytest.mark.slow
def test_endpoint_logs_stay_live(account, world):
    logs = account.client("logs")
    started = _ms(datetime.now(UTC).replace(second=0, microsecond=0))
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        fresh = [ev for e in world.endpoints if e.account == world_mod.MAIN_ACCOUNT
                 for ev in _filter(logs, _endpoint_group(e.name), startTime=started)]
        if fresh:
            return
        time.sleep(10)
    pytest.fail("no endpoint log line was appended in four minutes")


# --------------------------------------------------------------------------- ECR


def test_ecr_holds_every_image_the_world_references(account, world):
    ecr = account.client("ecr")
    wanted = {world_mod.ecr_uri(j.account, *j.image.split("/", 1)[1].rsplit(":", 1))
              for j in world.training_jobs if j.account == world_mod.MAIN_ACCOUNT}
    wanted |= {world_mod.ecr_uri(e.account, e.serve_repo, f"1.{v.model_version}.0")
               for e in world.endpoints if e.account == world_mod.MAIN_ACCOUNT for v in e.variants}
    wanted |= {p.image for p in world.packages if p.account == world_mod.MAIN_ACCOUNT}
    have = set()
    for repo in ecr.describe_repositories()["repositories"]:
        for img in ecr.get_paginator("describe_images").paginate(repositoryName=repo["repositoryName"]) \
                .build_full_result()["imageDetails"]:
            have |= {f"{repo['repositoryUri']}:{tag}" for tag in img.get("imageTags", [])}
    assert wanted <= have


def test_image_scan_findings_have_severities_and_counts(account):
    ecr = account.client("ecr")
    seen: set[str] = set()
    for repo in ecr.describe_repositories()["repositories"]:
        name = repo["repositoryName"]
        for img in ecr.describe_images(repositoryName=name)["imageDetails"]:
            found = ecr.describe_image_scan_findings(repositoryName=name, imageId={"imageDigest": img["imageDigest"]})
            assert found["imageScanStatus"]["status"] == "COMPLETE"
            findings = found["imageScanFindings"]["findings"]
            assert all(re.fullmatch(r"CVE-\d{4}-\d{4,}", f["name"]) for f in findings)
            counts: dict[str, int] = {}
            for f in findings:
                counts[f["severity"]] = counts.get(f["severity"], 0) + 1
            assert found["imageScanFindings"]["findingSeverityCounts"] == counts
            assert img["imageScanFindingsSummary"]["findingSeverityCounts"] == counts
            seen |= set(counts)
    assert {"CRITICAL", "HIGH"} <= seen <= SEVERITIES


def test_scan_findings_are_per_image(account):
    ecr = account.client("ecr")
    repo = "fraud/txn-scorer-serve"
    digests = [i["imageDigest"] for i in ecr.describe_images(repositoryName=repo)["imageDetails"]]
    results = {json.dumps(ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": d})
                          ["imageScanFindings"]["findings"]) for d in digests}
    assert len(digests) > 1 and len(results) > 1


# --------------------------------------------------------------------------- EventBridge, CloudFormation


def test_the_event_rule_routes_sagemaker_state_changes_to_a_topic(account):
    events = account.client("events")
    rule = events.describe_rule(Name="sagemaker-state-changes")
    pattern = json.loads(rule["EventPattern"])
    assert pattern["source"] == ["aws.sagemaker"]
    assert "SageMaker Endpoint State Change" in pattern["detail-type"]
    targets = events.list_targets_by_rule(Rule="sagemaker-state-changes")["Targets"]
    topics = {t["TopicArn"] for t in account.client("sns").list_topics()["Topics"]}
    assert targets and all(t["Arn"] in topics for t in targets)


def test_stacks_own_their_endpoints(account, world):
    cfn = account.client("cloudformation")
    for stack in sorted({e.stack for e in world.endpoints if e.stack}):
        listed = cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        described = cfn.describe_stack_resources(StackName=stack)["StackResources"]
        for resources_ in (listed, described):
            endpoints = {r["PhysicalResourceId"].split("/")[-1] for r in resources_
                         if r["ResourceType"] == "AWS::SageMaker::Endpoint"}
            assert endpoints == {e.name for e in world.endpoints if e.stack == stack}
            assert {"AWS::SageMaker::EndpointConfig", "AWS::SageMaker::Model"} <= {r["ResourceType"]
                                                                                  for r in resources_}
        created = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        assert created["StackStatus"] == "CREATE_COMPLETE"
        assert {r["Timestamp"] for r in described} == {created["CreationTime"]}
        assert created["CreationTime"] == min(e.created for e in world.endpoints if e.stack == stack)


def test_stack_physical_ids_are_arns_and_create_no_duplicates(account, world):
    cfn = account.client("cloudformation")
    arns = [r["PhysicalResourceId"] for r in cfn.list_stack_resources(StackName="search-serving")
            ["StackResourceSummaries"] if r["ResourceType"] == "AWS::SageMaker::Endpoint"]
    assert all(a.startswith(f"arn:aws:sagemaker:{world_mod.REGION}:{world_mod.MAIN_ACCOUNT}:endpoint/") for a in arns)
    names = [e["EndpointName"] for e in account.client("sagemaker").get_paginator("list_endpoints").paginate()
             .build_full_result()["Endpoints"]]
    assert len(names) == len(set(names))


def test_the_training_stack_lists_its_jobs(account, world):
    listed = account.client("cloudformation").list_stack_resources(StackName="vision-training")
    jobs = {r["PhysicalResourceId"] for r in listed["StackResourceSummaries"]}
    assert jobs == {j.name for j in world.training_jobs if j.stack == "vision-training"}


# --------------------------------------------------------------------------- Step Functions


def _state_machine_arn() -> str:
    return f"arn:aws:states:{world_mod.REGION}:{world_mod.MAIN_ACCOUNT}:stateMachine:ml-release-orchestrator"


def test_the_release_state_machine_has_the_worlds_executions(account, world):
    sfn = account.client("stepfunctions")
    definition = json.loads(sfn.describe_state_machine(stateMachineArn=_state_machine_arn())["definition"])
    assert list(definition["States"]) == ["DataPrep", "Training", "Evaluation", "Deployment", "Monitoring"]
    execs = sfn.get_paginator("list_executions").paginate(stateMachineArn=_state_machine_arn()) \
        .build_full_result()["executions"]
    seeded = [x for x in execs if x["startDate"] < world.anchor]
    assert sorted((x["startDate"], x["status"]) for x in seeded) == sorted(
        (s.start, s.status.upper()) for s in world.state_machine_executions)


def test_a_failed_execution_history_names_the_failing_state(account, world):
    sfn = account.client("stepfunctions")
    spec = next(s for s in world.state_machine_executions if s.status == "Failed")
    execs = sfn.list_executions(stateMachineArn=_state_machine_arn(), statusFilter="FAILED")["executions"]
    arn = next(x["executionArn"] for x in execs if x["startDate"] == spec.start)
    events = sfn.get_execution_history(executionArn=arn)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"]
    assert entered == [s.name for s in spec.steps]
    failed = next(e for e in events if e["type"] == "TaskFailed")["taskFailedEventDetails"]
    last = events[-1]
    assert last["type"] == "ExecutionFailed" and last["executionFailedEventDetails"]["cause"] == failed["cause"]
    assert failed["cause"] == next(s.failure_reason for s in spec.steps if s.status == "Failed")
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "FAILED" and described["stopDate"] == spec.end


def test_an_old_failed_execution_cannot_be_redriven(account, world):
    sfn = account.client("stepfunctions")
    old = [x for x in sfn.list_executions(stateMachineArn=_state_machine_arn(), statusFilter="FAILED")["executions"]
           if x["stopDate"] < datetime.now(UTC) - timedelta(days=14)]
    assert old, "seed 7 has a failed release older than 14 days"
    with pytest.raises(ClientError) as err:
        sfn.redrive_execution(executionArn=old[0]["executionArn"])
    assert err.value.response["Error"]["Code"] == "ExecutionNotRedrivable"


def _wait_status(sfn, arn: str, status: str, seconds: float) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] == status or time.monotonic() > deadline:
            return described
        time.sleep(0.5)


def test_start_execution_runs_and_redrive_restarts_at_the_failed_state(fresh_account):
    sfn = fresh_account.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_state_machine_arn(), name="release-test",
                              input=json.dumps({"model": "fraud-txn-scorer", "failAt": "DataPrep"}))["executionArn"]
    assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    described = _wait_status(sfn, arn, "FAILED", 10)
    assert described["status"] == "FAILED" and described["redriveCount"] == 0
    sfn.redrive_execution(executionArn=arn)
    described = sfn.describe_execution(executionArn=arn)
    assert described["status"] == "RUNNING" and described["redriveCount"] == 1
    events = sfn.get_execution_history(executionArn=arn)["events"]
    redriven = next(i for i, e in enumerate(events) if e["type"] == "ExecutionRedriven")
    assert events[redriven + 1]["stateEnteredEventDetails"]["name"] == "DataPrep"
    with pytest.raises(ClientError) as err:  # only a FAILED execution can be redriven
        sfn.redrive_execution(executionArn=arn)
    assert err.value.response["Error"]["Code"] == "ExecutionNotRedrivable"


@pytest.mark.slow
def test_an_execution_started_through_the_api_succeeds(fresh_account):
    sfn = fresh_account.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=_state_machine_arn(), name="release-ok",
                              input=json.dumps({"model": "nlp-intent"}))["executionArn"]
    described = _wait_status(sfn, arn, "SUCCEEDED", 45)
    assert described["status"] == "SUCCEEDED" and "stopDate" in described
    events = sfn.get_execution_history(executionArn=arn)["events"]
    assert [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"] == [
        "DataPrep", "Training", "Evaluation", "Deployment", "Monitoring"]
    assert events[-1]["type"] == "ExecutionSucceeded"


# --------------------------------------------------------------------------- S3, STS


def test_each_account_has_a_data_bucket_with_team_prefixes(account, world):
    s3 = account.client("s3")
    bucket = f"sagemaker-{world_mod.MAIN_ACCOUNT}-data"
    assert bucket in {b["Name"] for b in s3.list_buckets()["Buckets"]}
    prefixes = {p["Prefix"] for p in s3.list_objects_v2(Bucket=bucket, Delimiter="/")["CommonPrefixes"]}
    assert prefixes == {f"{t.team}/" for t in world.teams if t.account == world_mod.MAIN_ACCOUNT}


def test_assume_role_with_the_external_id_gives_the_second_accounts_view(account, world):
    session = _assumed_session(account)
    kwargs = {"endpoint_url": account.url}
    assert session.client("sts", **kwargs).get_caller_identity()["Account"] == world_mod.SECOND_ACCOUNT
    buckets = {b["Name"] for b in session.client("s3", **kwargs).list_buckets()["Buckets"]}
    assert buckets == {f"sagemaker-{world_mod.SECOND_ACCOUNT}-data"}
    groups = {g["logGroupName"] for g in session.client("logs", **kwargs).describe_log_groups(
        logGroupNamePrefix="/aws/sagemaker/Endpoints/")["logGroups"]}
    assert groups == {_endpoint_group(e.name) for e in world.endpoints if e.account == world_mod.SECOND_ACCOUNT}


def test_the_cross_account_role_trusts_the_main_account_with_an_external_id(account):
    session = _assumed_session(account)
    role = session.client("iam", endpoint_url=account.url).get_role(
        RoleName=world_mod.CROSS_ACCOUNT_ROLE.rsplit("/", 1)[1])["Role"]
    statement = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert statement["Principal"]["AWS"] == f"arn:aws:iam::{world_mod.MAIN_ACCOUNT}:root"
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == world_mod.EXTERNAL_ID


@pytest.mark.parametrize("external_id", ["not-the-id", None])
def test_assume_role_without_the_right_external_id_is_denied(account, external_id):
    with pytest.raises(ClientError) as err:
        _assumed_session(account, external_id)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
