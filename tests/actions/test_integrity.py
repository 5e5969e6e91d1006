"""Actions are always audited and never escape: an intent row before the AWS write and its completion after;
no intent, no call; every exception path leaves one audit row; caps hold under concurrency; a dry run uses no
token; planted credentials reach no outcome and no audit row. Against the emulated account."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

import actions as a
from actions import service
from actions.audit import AuditLog
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings
from tests.conftest import Account, start_account, stop_account, wait_until

pytestmark = pytest.mark.emulated  # a private account per module (the fixture `acc`)

MAIN = "123456789012"
OPERATOR = a.Actor("oncall@example.com", "operator")
VIEWER = a.Actor("viewer@example.com", "viewer")
SETTINGS = Settings(actions=ActionSettings(max_instances_per_variant=12, max_concurrent_training_jobs=500))
WRITE = "UpdateEndpointWeightsAndCapacities"
# A session token as STS issues them (base64, hundreds of characters), planted in a SigV4 error's canonical request.
TOKEN = "IQoJb3JpZ2luX2VjEPLANTED" + "Zx9aQ7rT2mW4kP8vB1nC6dF3hJ5lS0" * 12
SIGNATURE_ERROR = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details.\n\nThe Canonical String for this "
    "request should have been\n'POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:api.sagemaker.us-east-1."
    f"amazonaws.com\nx-amz-date:20261202T180000Z\nx-amz-security-token:{TOKEN}\n\ncontent-type;host;x-amz-date;"
    "x-amz-security-token\n'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261202T180000Z\n"
    "20261202/us-east-1/sagemaker/aws4_request\n5f2b'\n")


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Iterator[Account]:
    """A private account at real speed (API-started training jobs stay InProgress for the test's length)."""
    with pytest.MonkeyPatch.context() as mp:
        acc = start_account(tmp_path_factory.mktemp("integrity"))
        for k, v in acc.env.items():
            mp.setenv(k, v)
        yield acc
    stop_account(acc)


@pytest.fixture
def env(acc) -> a.Env:
    return a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit.sqlite", timeout=0.5)


_endpoints = iter(range(1000))


@pytest.fixture
def endpoint(acc) -> str:
    """A fresh one-instance endpoint of this test's own."""
    name = f"integrity-{next(_endpoints)}"
    sm = acc.client("sagemaker")
    sm.create_model(ModelName=name, ExecutionRoleArn=f"arn:aws:iam::{MAIN}:role/sagemaker-execution",
                    PrimaryContainer={"Image": f"{MAIN}.dkr.ecr.us-east-1.amazonaws.com/{name}:1"})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
         "InitialVariantWeight": 1.0}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_until(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 60,
               f"{name} InService")
    return name


def _count(acc, endpoint: str) -> int:
    variant = acc.client("sagemaker").describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
    return int(variant["DesiredInstanceCount"])


def _writes(env: a.Env) -> int:
    return env.clients.counter.snapshot().get(f"api.sagemaker:{WRITE}", 0)


def _on_write(env: a.Env, handler) -> None:
    """Run ``handler`` just before the scale's AWS write leaves (a botocore event hook)."""
    env.clients.client("sagemaker", "us-east-1").meta.events.register(f"before-call.sagemaker.{WRITE}", handler)


def _raise(exc: BaseException):
    def handler(**_):
        raise exc
    return handler


def _rows(audit: AuditLog) -> list[dict]:
    return audit.frame().to_dict("records")


# ----------------------------------------------------------------------------- intent before the write
def test_the_intent_row_is_written_before_the_aws_write_and_completed_after_it(acc, env, audit, endpoint):
    seen: list[list[str]] = []
    _on_write(env, lambda **_: seen.append([r["result"] for r in _rows(audit)]))
    out = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert seen == [["requested"]], "at the moment of the write, its intent was in the audit log"
    [row] = _rows(audit)
    assert (row["id"], row["result"], row["aws_request_id"]) == (out.audit_id, "succeeded", out.request_id)
    assert row["completed_at"] and row["completed_at"] >= row["at"]
    assert _count(acc, endpoint) == 2


def test_a_locked_audit_store_means_the_action_does_not_run(acc, env, audit, endpoint):
    """Another writer holds the audit database (as for 40 s in the red-team run): no intent, no AWS write."""
    holder = sqlite3.connect(audit.path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        out = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 3), OPERATOR, env, audit, a.new_token())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert out.status == "failed" and out.message.startswith("Not run") and "locked" in out.message, out.message
    assert out.audit_problem and out.audit_id is None
    assert _writes(env) == 0 and _count(acc, endpoint) == 1
    assert audit.count() == 0


def test_a_completion_that_cannot_be_written_is_marked_unknown_and_the_outcome_says_the_action_ran(
        acc, env, audit, endpoint, monkeypatch):
    complete = audit.complete
    calls = []

    def first_fails(row_id, result, *args, **kwargs):
        calls.append(result)
        if len(calls) == 1:
            raise sqlite3.OperationalError("disk I/O error")
        return complete(row_id, result, *args, **kwargs)

    monkeypatch.setattr(audit, "complete", first_fails)
    out = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, env, audit, a.new_token())
    assert calls == ["succeeded", "unknown"]
    assert out.status == "succeeded" and "The action RAN in AWS" in out.message and out.audit_problem, out.message
    assert f"audit row #{out.audit_id}" in out.message and "'unknown'" in out.message
    [row] = _rows(audit)
    assert row["result"] == "unknown" and "disk I/O error" in row["error"] and "succeeded" in row["error"]
    assert row["aws_request_id"] == out.request_id
    assert _count(acc, endpoint) == 2


def test_a_completion_with_the_audit_store_locked_leaves_the_intent_and_says_the_action_ran(
        acc, env, audit, endpoint):
    holder = sqlite3.connect(audit.path, isolation_level=None, check_same_thread=False)

    def lock_after_the_write(**_):
        holder.execute("BEGIN EXCLUSIVE")

    env.clients.client("sagemaker", "us-east-1").meta.events.register(f"after-call.sagemaker.{WRITE}",
                                                                        lock_after_the_write)
    try:
        out = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, env, audit, a.new_token())
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert out.status == "succeeded" and "The action RAN in AWS" in out.message, out.message
    assert "'requested'" in out.message and "locked" in out.message
    [row] = _rows(audit)
    assert row["result"] == "requested" and row["id"] == out.audit_id
    assert _count(acc, endpoint) == 2
    # The token stays used: the same confirmation cannot act a second time after an unrecorded outcome.
    again = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, env, audit,
                         row["token"])
    assert again.status == "duplicate" and _writes(env) == 1


# ----------------------------------------------------------------------------- one row on every path
class Boom(Exception):
    pass


def _deep(n: int):
    value: object = "x"
    for _ in range(n):
        value = {"a": value}
    return value


PATHS = {
    "invalid": (lambda ep: a.ScaleEndpoint(MAIN, ep, "All Traffic", 2), OPERATOR, None, "invalid"),
    "refused": (lambda ep: a.ScaleEndpoint(MAIN, ep, "AllTraffic", 2), VIEWER, None, "refused"),
    "aws_error": (lambda ep: a.ScaleEndpoint(MAIN, ep, "AllTraffic", 2), OPERATOR,
                  ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, WRITE),
                  "failed"),
    "recursion_in_json_text": (lambda ep: a.RerunPipeline(MAIN, "search-ranker-retrain",
                                                          "[" * 50_000 + "]" * 50_000), OPERATOR, None, "invalid"),
    "recursion_in_a_deep_object": (lambda ep: a.LaunchTraining(MAIN, "any-job", hyperparameters=_deep(100_000)),
                                   OPERATOR, None, "invalid"),
    "recursion_in_a_deep_input": (lambda ep: a.StartStateMachine(
        MAIN, f"arn:aws:states:us-east-1:{MAIN}:stateMachine:ml-release-orchestrator", _deep(100_000)),
        OPERATOR, None, "invalid"),
    "value_error_5000_digits_in_json": (lambda ep: a.LaunchTraining(MAIN, "any-job",
                                                                    hyperparameters='{"lr": ' + "9" * 5000 + "}"),
                                        OPERATOR, None, "invalid"),
    "value_error_5000_digits_as_a_count": (lambda ep: a.ScaleEndpoint(MAIN, ep, "AllTraffic", 10**5000), OPERATOR,
                                           None, "invalid"),
    "recursion_error_at_the_write": (lambda ep: a.ScaleEndpoint(MAIN, ep, "AllTraffic", 2), OPERATOR,
                                     RecursionError("maximum recursion depth exceeded"), "unknown"),
    "unexpected_exception_at_the_write": (lambda ep: a.ScaleEndpoint(MAIN, ep, "AllTraffic", 2), OPERATOR,
                                          Boom("injected"), "unknown"),
    "no_answer_to_the_write": (lambda ep: a.ScaleEndpoint(MAIN, ep, "AllTraffic", 2), OPERATOR,
                               ReadTimeoutError(endpoint_url="https://api.sagemaker.us-east-1.amazonaws.com/"),
                               "unknown"),
    "connection_refused_at_the_write": (lambda ep: a.ScaleEndpoint(MAIN, ep, "AllTraffic", 2), OPERATOR,
                                        EndpointConnectionError(endpoint_url="https://x/"), "failed"),
}


@pytest.mark.parametrize("path", list(PATHS))
def test_every_exception_path_leaves_exactly_one_audit_row(acc, env, audit, endpoint, path):
    build, actor, inject, status = PATHS[path]
    if inject is not None:
        _on_write(env, _raise(inject))
    out = a.run_action(build(endpoint), actor, env, audit, a.new_token())
    assert out.status == status, out.message
    assert "Traceback" not in out.message and len(out.message) > 15, out.message
    rows = _rows(audit)
    assert len(rows) == 1 and rows[0]["id"] == out.audit_id and rows[0]["result"] == status
    assert rows[0]["error"] == out.message
    if status == "unknown":
        assert "check AWS" in out.message and out.audit_problem is None


def test_an_unexpected_exception_while_planning_leaves_one_failed_row_and_no_write(env, audit, monkeypatch):
    monkeypatch.setattr(a.ScaleEndpoint, "plan", lambda self, env: (_ for _ in ()).throw(KeyError("Variants")))
    out = a.run_action(a.ScaleEndpoint(MAIN, "any", "AllTraffic", 2), OPERATOR, env, audit, a.new_token())
    assert out.status == "failed" and "KeyError" in out.message and "before any AWS write" in out.message
    assert audit.count() == 1 and env.clients.counter.writes() == 0
    with pytest.raises(a.ActionError, match="KeyError"):
        a.plan(a.ScaleEndpoint(MAIN, "any", "AllTraffic", 2), OPERATOR, env)


# ----------------------------------------------------------------------------- caps under concurrency
def test_six_concurrent_launches_with_one_slot_left_start_one_job(acc, audit):
    sm = acc.client("sagemaker")
    jobs = sm.get_paginator("list_training_jobs").paginate().build_full_result()["TrainingJobSummaries"]
    source = next(j["TrainingJobName"] for j in jobs if j["TrainingJobStatus"] == "Completed")
    running = sum(1 for j in jobs if j["TrainingJobStatus"] == "InProgress")
    settings = Settings(actions=ActionSettings(max_concurrent_training_jobs=running + 1))
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), settings)
    start = threading.Barrier(6)
    outcomes: list[a.Outcome] = []

    def launch() -> None:
        start.wait()
        outcomes.append(a.run_action(a.LaunchTraining(MAIN, source, instance_count=1), OPERATOR, env, audit,
                                     a.new_token()))

    threads = [threading.Thread(target=launch) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    statuses = sorted(o.status for o in outcomes)
    assert statuses == ["invalid"] * 5 + ["succeeded"], [o.message for o in outcomes]
    assert all("max_concurrent_training_jobs" in o.message for o in outcomes if o.status == "invalid")
    assert env.clients.counter.snapshot().get("api.sagemaker:CreateTrainingJob") == 1
    assert audit.count() == 6


def test_another_dashboard_process_acting_on_the_same_guardrail_is_waited_for(acc, env, audit, endpoint,
                                                                               monkeypatch):
    """Dashboard processes on one machine share a lock file per account and guardrail beside the audit log."""
    monkeypatch.setattr(service, "CAP_WAIT_S", 0.5)
    lock = audit.path.with_name(f"{audit.path.name}.{MAIN}.instances.lock")
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        out = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, env, audit, a.new_token())
        assert out.status == "invalid" and "another dashboard process" in out.message, out.message
        assert _writes(env) == 0 and audit.count() == 1
    finally:
        holder.kill()
        holder.wait()
    out = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message


HOLD_LOCK = "import fcntl, sys, time; f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX); " \
            "print('locked', flush=True); time.sleep(60)"


# ----------------------------------------------------------------------------- dry run, then Confirm
def test_dry_run_then_confirm_in_one_dialog_acts_once(acc, env, audit, endpoint):
    token = a.new_token()  # one dialog: one token
    req = a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2)
    dry = a.run_action(req, OPERATOR, env, audit, token, dry_run=True)
    assert dry.status == "dry_run" and _writes(env) == 0
    confirm = a.run_action(req, OPERATOR, env, audit, token)
    assert confirm.status == "succeeded", confirm.message
    again = a.run_action(req, OPERATOR, env, audit, token)
    assert again.status == "duplicate" and f"audit #{confirm.audit_id}" in again.message
    assert _writes(env) == 1 and _count(acc, endpoint) == 2
    assert [r["result"] for r in _rows(audit)] == ["duplicate", "succeeded", "dry_run"]


def test_a_failed_attempt_leaves_the_token_usable(acc, env, audit, endpoint):
    token = a.new_token()
    req = a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2)
    handler = _raise(ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, WRITE))
    _on_write(env, handler)
    assert a.run_action(req, OPERATOR, env, audit, token).status == "failed"
    env.clients.client("sagemaker", "us-east-1").meta.events.unregister(f"before-call.sagemaker.{WRITE}", handler)
    assert a.run_action(req, OPERATOR, env, audit, token).status == "succeeded"
    assert _count(acc, endpoint) == 2


# ----------------------------------------------------------------------------- redaction
def _assert_clean(text: str, where: str) -> None:
    for planted in (TOKEN, TOKEN[:30], TOKEN[-30:]):
        assert planted not in text, f"the planted session token is in {where}"


def test_a_planted_session_token_in_a_signature_error_is_in_no_outcome_and_no_audit_row(acc, env, audit, endpoint):
    error = ClientError({"Error": {"Code": "SignatureDoesNotMatch", "Message": SIGNATURE_ERROR}}, WRITE)
    _on_write(env, _raise(error))
    at_write = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, env, audit, a.new_token())
    assert at_write.status == "failed" and "SignatureDoesNotMatch" in at_write.message

    reads = a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)
    reads.clients.client("sagemaker", "us-east-1").meta.events.register(
        "before-call.sagemaker.DescribeEndpoint",
        _raise(ClientError({"Error": {"Code": "SignatureDoesNotMatch", "Message": SIGNATURE_ERROR}},
                           "DescribeEndpoint")))
    at_plan = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, reads, audit, a.new_token())
    assert at_plan.status == "failed"
    with pytest.raises(a.ActionError) as shown:  # what the dialog shows before Confirm
        a.plan(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, reads)
    unexpected = a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)
    unexpected.clients.client("sagemaker", "us-east-1").meta.events.register(
        f"before-call.sagemaker.{WRITE}", _raise(RuntimeError(f"x-amz-security-token={TOKEN}")))
    at_unexpected = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", 2), OPERATOR, unexpected, audit,
                                 a.new_token())
    assert at_unexpected.status == "unknown"

    for out in (at_write, at_plan, at_unexpected):
        _assert_clean(out.message + str(out.audit_problem), f"the outcome of audit #{out.audit_id}")
    _assert_clean(str(shown.value), "the plan's error")
    rows = sqlite3.connect(audit.path).execute("SELECT * FROM audit").fetchall()
    assert len(rows) == 3
    _assert_clean(repr(rows), "the audit log")
    for f in audit.path.parent.glob("audit.sqlite*"):
        _assert_clean(f.read_bytes().decode("latin-1"), f.name)
