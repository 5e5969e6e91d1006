"""docs/iam: the collector policy names exactly the read actions the collectors call; the operator policy
names the actions (and the reads they plan with) that the actions package calls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
import pytest
from botocore import xform_name

import actions as a
from actions.audit import AuditLog
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings
from tests.conftest import ROOT, wait_until
from tests.reliability.conftest import aws_env

DOCS = ROOT / "docs" / "iam"
# CallCounter keys use the endpoint prefix (CloudWatch already mapped); IAM uses the service prefix.
ENDPOINT_TO_IAM = {"api.sagemaker": "sagemaker", "api.ecr": "ecr", "monitoring": "cloudwatch"}
# botocore service name per IAM prefix.
IAM_TO_BOTOCORE = {"sagemaker": "sagemaker", "application-autoscaling": "application-autoscaling",
                   "cloudwatch": "cloudwatch", "logs": "logs", "ce": "ce", "ecr": "ecr", "events": "events",
                   "cloudformation": "cloudformation", "states": "stepfunctions", "sts": "sts", "iam": "iam"}
ALERT_ONLY = {"sns:Publish": ("sns", "Publish"), "ses:SendEmail": ("sesv2", "SendEmail")}
NO_PERMISSION_NEEDED = {"sts:GetCallerIdentity"}  # AWS: "No permissions are required to perform this operation."
READ_VERBS = ("Describe", "List", "Get", "BatchGet", "Filter", "Search", "Lookup")
MAIN = "123456789012"
OPERATOR = a.Actor("oncall@example.com", "operator")


def policy_actions(name: str) -> set[str]:
    doc = json.loads((DOCS / f"{name}-policy.json").read_text())
    assert doc["Version"] == "2012-10-17"
    out: set[str] = set()
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow" and "NotAction" not in st and "NotResource" not in st, st
        actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
        out |= set(actions)
    return out


def iam(calls: dict[str, int]) -> set[str]:
    out = set()
    for key in calls:
        prefix, op = key.split(":", 1)
        out.add(f"{ENDPOINT_TO_IAM.get(prefix, prefix)}:{op}")
    return out


def _operations() -> dict[str, list[str]]:
    """snake_case method name -> IAM actions, over every service Sextant talks to."""
    session = botocore.session.get_session()
    out: dict[str, list[str]] = {}
    for prefix, service in IAM_TO_BOTOCORE.items():
        for op in session.get_service_model(service).operation_names:
            out.setdefault(xform_name(op), []).append(f"{prefix}:{op}")
    return out


def referenced(paths: list[Path]) -> dict[str, list[str]]:
    """boto3 operations named in source code: as a string (paginate(c, "op"), get_paginator("op")) or a method
    call (client.op(...)). Only snake_case names with an underscore count (``re.search`` is not sagemaker:Search)."""
    ops = _operations()
    names: set[str] = set()
    for p in paths:
        text = p.read_text()
        names |= set(re.findall(r'"([a-z][a-z0-9]*_[a-z0-9_]+)"', text))
        names |= set(re.findall(r"\.([a-z][a-z0-9]*_[a-z0-9_]+)\(", text))
    return {n: ops[n] for n in names if n in ops}


def test_every_policy_action_exists_and_none_is_a_wildcard():
    session = botocore.session.get_session()
    for name in ("collector", "operator", "alerts"):
        for action in policy_actions(name):
            if action in ALERT_ONLY:  # the alerts' services outside IAM_TO_BOTOCORE (SES's IAM prefix is sesv2's too)
                service, op = ALERT_ONLY[action]
                assert op in session.get_service_model(service).operation_names, action
                continue
            prefix, op = action.split(":")
            assert "*" not in action, action
            assert op in session.get_service_model(IAM_TO_BOTOCORE[prefix]).operation_names or \
                action in {"iam:PassRole", "iam:CreateServiceLinkedRole"}, f"{name}: no such action {action}"


def test_the_collector_policy_is_read_only():
    writes = sorted(x for x in policy_actions("collector") if not x.split(":")[1].startswith(READ_VERBS))
    assert writes == []


def test_the_collector_policy_covers_every_operation_a_full_collection_calls(demo_store):
    called = iam(demo_store.calls()) - NO_PERMISSION_NEEDED
    allowed = policy_actions("collector")
    print(f"\niam: a full collection called {len(called)} distinct operations; the policy allows {len(allowed)}")
    assert sorted(called - allowed) == []
    assert len(called) >= 25, called  # the demo exercises nearly every collector path


def test_the_collector_policy_covers_every_operation_named_in_the_collectors_and_nothing_else():
    refs = referenced(sorted((ROOT / "collectors").glob("*.py")))
    allowed = policy_actions("collector")
    missing = {n: acts for n, acts in refs.items()
               if not set(acts) & (allowed | NO_PERMISSION_NEEDED) and n != "assume_role"}
    assert missing == {}, "operations in collectors/ that docs/iam/collector-policy.json does not allow"
    named = {act for acts in refs.values() for act in acts}
    assert sorted(allowed - named) == [], "actions in the policy that no collector calls"
    readme = (DOCS / "README.md").read_text()
    assert "sts:AssumeRole" in readme and "sts:GetCallerIdentity" in readme


# ----------------------------------------------------------------------------------- operator


def _every_action(live, env, audit) -> list[a.Outcome]:
    sm, sfn = live.client("sagemaker"), live.client("stepfunctions")

    def run(req):
        out = a.run_action(req, OPERATOR, env, audit, a.new_token())
        assert out.status == "succeeded", (req, out.message)
        return out

    def in_service(name):
        return wait_until(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 120,
                          f"{name} InService")

    def job(status, contains=""):
        jobs = sm.get_paginator("list_training_jobs").paginate().build_full_result()["TrainingJobSummaries"]
        return next(j["TrainingJobName"] for j in jobs if j["TrainingJobStatus"] == status
                    and contains in j["TrainingJobName"])

    outcomes = []
    in_service("nlp-summarizer-prod")
    now = sm.describe_endpoint(EndpointName="nlp-summarizer-prod")["ProductionVariants"][0]["DesiredInstanceCount"]
    outcomes.append(run(a.ScaleEndpoint(MAIN, "nlp-summarizer-prod", "AllTraffic", now + 1)))
    in_service("fraud-txn-scorer-prod")
    outcomes.append(run(a.ScaleEndpoint(MAIN, "fraud-txn-scorer-prod", "AllTraffic", 6)))
    in_service("vision-defect-detector-shadow")
    outcomes.append(run(a.ScaleToMinimum(MAIN, "vision-defect-detector-shadow", "AllTraffic")))
    outcomes.append(run(a.LaunchTraining(MAIN, job("Completed", "fraud"), instance_count=2, spot=True,
                                         max_runtime_s=7200, max_wait_s=10800)))
    outcomes.append(run(a.StopTrainingJob(MAIN, job("InProgress"))))
    outcomes.append(run(a.RerunPipeline(MAIN, "search-ranker-retrain", '{"AucThreshold": "0.9"}')))
    execs = sm.get_paginator("list_pipeline_executions").paginate(
        PipelineName="fraud-txn-weekly-retrain").build_full_result()["PipelineExecutionSummaries"]
    failed = next(e["PipelineExecutionArn"] for e in execs if e["PipelineExecutionStatus"] == "Failed")
    outcomes.append(run(a.RetryPipelineExecution(MAIN, failed)))
    outcomes.append(run(a.StopPipelineExecution(MAIN, failed)))
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    started = run(a.StartStateMachine(MAIN, machine, '{"failAt": "Evaluation"}'))
    outcomes.append(started)
    execution = started.result["execution_arn"]
    wait_until(lambda: sfn.describe_execution(executionArn=execution)["status"] == "FAILED", 120,
               "the execution to fail")
    outcomes.append(run(a.RedriveExecution(MAIN, execution)))
    topic = f"arn:aws:sns:us-east-1:{MAIN}:ml-oncall"  # the recommended alarms of a GPU endpoint, then their removal
    outcomes.append(run(a.CreateRecommendedAlarms(MAIN, "nlp-summarizer-prod", sns_topic_arn=topic,
                                                  p99_baseline_ms=250.0, had_traffic=True)))
    outcomes.append(run(a.DeleteManagedAlarms(MAIN, "nlp-summarizer-prod")))
    return outcomes


@pytest.mark.xdist_group("live")
def test_the_operator_policy_covers_every_call_of_every_action_and_nothing_more(live, tmp_path):
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))),
                Settings(store=tmp_path / "store", actions=ActionSettings(max_concurrent_training_jobs=50)))
    with aws_env(live):
        outcomes = _every_action(live, env, AuditLog(tmp_path / "audit.sqlite"))
    called = iam(env.clients.counter.snapshot()) - NO_PERMISSION_NEEDED
    planned = {c for o in outcomes for c in o.plan.calls}
    allowed = policy_actions("operator")
    print(f"\niam: {len(outcomes)} actions called {len(called)} distinct operations; the operator policy allows "
          f"{len(allowed)}")
    assert sorted(called - allowed) == [] and sorted(planned - allowed) == []

    refs = referenced(sorted((ROOT / "actions").glob("*.py")))
    missing = {n: acts for n, acts in refs.items() if not set(acts) & (allowed | NO_PERMISSION_NEEDED)}
    assert missing == {}, "operations in actions/ that docs/iam/operator-policy.json does not allow"
    # Beyond what the code calls, only what AWS checks on the side: tags on create (a training job's, an alarm's),
    # passing the execution role, and the Auto Scaling service-linked role on first registration.
    side = {"sagemaker:AddTags", "iam:PassRole", "iam:CreateServiceLinkedRole", "cloudwatch:TagResource"}
    named = {act for acts in refs.values() for act in acts}
    assert sorted(allowed - named - side) == []
    doc = json.loads((DOCS / "operator-policy.json").read_text())
    pass_role = next(s for s in doc["Statement"] if s["Action"] == "iam:PassRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    assert pass_role["Resource"] != "*"


def test_the_alerts_policy_allows_exactly_what_the_alerts_call():
    """The identity that runs the collector sends the alerts: SNS Publish, EventBridge PutEvents and SES SendEmail (the
    e-mail channel with via = "ses"), nothing more."""
    text = "\n".join(p.read_text() for p in sorted((ROOT / "alerts").rglob("*.py")))
    clients = set(re.findall(r'client\("([a-z0-9-]+)"', text))
    calls = set(re.findall(r"client\.([a-z_]+)\(", text))
    assert clients == {"sns", "events", "sesv2"} and calls == {"publish", "put_events", "send_email"}, (clients, calls)
    assert policy_actions("alerts") == {"sns:Publish", "events:PutEvents", "ses:SendEmail"}
