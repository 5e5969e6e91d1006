"""Per-user identity to AWS: with an operator role, an action assumes it with SourceIdentity and a session name
derived from the signed-in user (seen by the emulated STS, and in its CloudTrail), once per user, and the audit
row records the role and session; without one, actions use the account's credentials as before."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

import actions as a
from actions import identity
from actions.identity import AWS_NAME, aws_name, clients_for
from demo.sts_fill import OPERATOR_ROLE
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings
from tests.conftest import Account, account_in_env, make_endpoint, wait_until

pytestmark = pytest.mark.emulated  # a private account per module (the fixture `acc`)

MAIN = "123456789012"
JANE = a.Actor("jane.doe@example.com", "operator")
ZOE = a.Actor("Zoë O'Brien <zoe@example.com>", "admin")
SETTINGS = Settings(actions=ActionSettings(max_instances_per_variant=12))
ENDPOINT = "per-user-identity"


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Iterator[Account]:
    with account_in_env(tmp_path_factory.mktemp("identity"), DEMO_SPEEDUP="240") as acc:
        make_endpoint(acc, ENDPOINT, MAIN)
        yield acc


@pytest.fixture
def audit(tmp_path) -> a.AuditLog:
    return a.AuditLog(tmp_path / "audit.sqlite")


def _assume_role_events(acc) -> list[dict]:
    """The emulated account's CloudTrail AssumeRole events, newest first."""
    pages = acc.client("cloudtrail").get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": "AssumeRole"}])
    return [json.loads(e["CloudTrailEvent"]) for p in pages for e in p["Events"]]


def _in_service(acc) -> None:
    sm = acc.client("sagemaker")
    wait_until(lambda: sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService", 60,
               "the endpoint InService")


def _scale(acc, env: a.Env, actor: a.Actor, audit: a.AuditLog, count: int) -> a.Outcome:
    _in_service(acc)
    return a.run_action(a.ScaleEndpoint(MAIN, ENDPOINT, "AllTraffic", count), actor, env, audit, a.new_token())


def test_an_action_assumes_the_operator_role_with_the_users_source_identity(acc, audit):
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",), operator_role_arn=OPERATOR_ROLE)), SETTINGS)
    before = len(_assume_role_events(acc))
    out = _scale(acc, env, JANE, audit, 2)
    assert out.status == "succeeded", out.message
    events = _assume_role_events(acc)
    assert len(events) == before + 1
    call = events[0]["requestParameters"]
    assert call == {"roleArn": OPERATOR_ROLE, "roleSessionName": "jane.doe@example.com",
                    "sourceIdentity": "jane.doe@example.com", "durationSeconds": 3600}
    row = audit.frame().iloc[0]
    assert (row.result, row.actor, row.aws_role, row.aws_session) == (
        "succeeded", JANE.name, OPERATOR_ROLE, "jane.doe@example.com")
    # The write was signed with the user's session of the operator role.
    user_clients, _ = clients_for(env.clients, JANE.name)
    arn = user_clients.client("sts").get_caller_identity()["Arn"]
    assert arn == f"arn:aws:sts::{MAIN}:assumed-role/sextant-operator/jane.doe@example.com"
    assert env.clients.counter.snapshot().get("sts:AssumeRole") == 1, "the account's counter counts it"

    # The same user again: cached credentials, no second AssumeRole. Another user: their own session.
    assert _scale(acc, env, JANE, audit, 3).status == "succeeded"
    assert len(_assume_role_events(acc)) == before + 1
    out = _scale(acc, env, ZOE, audit, 1)
    assert out.status == "succeeded", out.message
    zoe = _assume_role_events(acc)[0]["requestParameters"]
    assert zoe["sourceIdentity"] == zoe["roleSessionName"] == aws_name(ZOE.name)
    assert zoe["sourceIdentity"].startswith("Zoe-O-Brien-zoe@example.com-")
    assert audit.frame().iloc[0].aws_session == aws_name(ZOE.name)


def test_the_dialogs_plan_reads_as_the_user_too(acc):
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",), operator_role_arn=OPERATOR_ROLE)), SETTINGS)
    before = len(_assume_role_events(acc))
    _in_service(acc)
    a.plan(a.ScaleEndpoint(MAIN, ENDPOINT, "AllTraffic", 4), a.Actor("plan.reader@example.com", "operator"), env)
    assert _assume_role_events(acc)[0]["requestParameters"]["sourceIdentity"] == "plan.reader@example.com"
    assert len(_assume_role_events(acc)) == before + 1


def test_without_an_operator_role_actions_use_the_accounts_credentials(acc, audit):
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)
    before = len(_assume_role_events(acc))
    out = _scale(acc, env, JANE, audit, 2)
    assert out.status == "succeeded", out.message
    assert len(_assume_role_events(acc)) == before
    row = audit.frame().iloc[0]
    assert row.aws_role is None and row.aws_session is None


def test_a_role_the_user_may_not_assume_is_one_failed_row_and_no_write(acc, audit):
    iam = acc.client("iam")
    iam.create_role(RoleName="no-source-identity", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MAIN}:root"},
                                                "Action": "sts:AssumeRole"}]}))
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",),
                                        operator_role_arn=f"arn:aws:iam::{MAIN}:role/no-source-identity")), SETTINGS)
    out = _scale(acc, env, JANE, audit, 5)
    assert out.status == "failed" and "AccessDenied" in out.message and "SetSourceIdentity" in out.message
    assert audit.count() == 1 and env.clients.counter.writes() == 0


@pytest.mark.parametrize("user", ["jane.doe@example.com", "x", "", "Zoë", "a b", "名前", "x" * 200,
                                  "bob+ops=1,team@corp.example", "--", "a:b/c", "\n"])
def test_aws_names_fit_sts_rules_and_keep_people_apart(user):
    name = aws_name(user)
    assert AWS_NAME.fullmatch(name), name
    if AWS_NAME.fullmatch(user):
        assert name == user
    assert aws_name(user + "!") != name and aws_name(user.upper() + "é") != name


def test_per_user_clients_are_cached_per_account_and_user_and_bounded(acc):
    base = Clients(AccountSettings(regions=("us-east-1",), operator_role_arn=OPERATOR_ROLE))
    first, ident = clients_for(base, "jane@example.com")
    assert ident is not None and ident.source_identity == "jane@example.com"
    assert clients_for(base, "jane@example.com")[0] is first
    assert clients_for(base, "joe@example.com")[0] is not first
    other = Clients(AccountSettings(regions=("us-east-1",), operator_role_arn=OPERATOR_ROLE))
    assert clients_for(other, "jane@example.com")[0] is not first
    assert first.counter is base.counter
    for i in range(identity.CACHE_SIZE + 10):
        clients_for(base, f"user{i}@example.com")
    assert len(identity._cache) <= identity.CACHE_SIZE
    plain = Clients(AccountSettings(regions=("us-east-1",)))
    assert clients_for(plain, "jane@example.com") == (plain, None)
