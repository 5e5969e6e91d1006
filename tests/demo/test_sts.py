"""The emulated STS checks names and SourceIdentity as AWS does, and its CloudTrail records who assumed what."""

from __future__ import annotations

import json
import uuid

import pytest
from botocore.exceptions import ClientError

from demo.sts_fill import OPERATOR_ROLE

MAIN = "123456789012"


def _events(account, **attribute) -> list[dict]:
    (key, value), = attribute.items()
    pages = account.client("cloudtrail").get_paginator("lookup_events").paginate(
        LookupAttributes=[{"AttributeKey": key, "AttributeValue": value}], PaginationConfig={"PageSize": 2})
    return [json.loads(e["CloudTrailEvent"]) for p in pages for e in p["Events"]]


def test_assume_role_returns_and_records_the_source_identity(account):
    person = f"p{uuid.uuid4().hex[:8]}@example.com"
    sts = account.client("sts")
    for _ in range(3):
        res = sts.assume_role(RoleArn=OPERATOR_ROLE, RoleSessionName=person, SourceIdentity=person)
        assert res["SourceIdentity"] == person
        assert res["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{MAIN}:assumed-role/sextant-operator/{person}"
    events = _events(account, Username=person)  # three events over two pages, newest first
    assert len(events) == 3 and [e["eventTime"] for e in events] == sorted((e["eventTime"] for e in events),
                                                                          reverse=True)
    assert {e["eventName"] for e in events} == {"AssumeRole"}
    assert events[0]["requestParameters"] == {"roleArn": OPERATOR_ROLE, "roleSessionName": person,
                                              "sourceIdentity": person, "durationSeconds": 3600}
    assert events[0]["responseElements"]["sourceIdentity"] == person
    assert any(e["requestParameters"]["roleSessionName"] == person for e in _events(account, EventName="AssumeRole"))


def test_assume_role_without_source_identity_still_works_and_is_recorded(account):
    name = f"s{uuid.uuid4().hex[:8]}"
    res = account.client("sts").assume_role(RoleArn=OPERATOR_ROLE, RoleSessionName=name)
    assert "SourceIdentity" not in res
    [event] = _events(account, Username=name)
    assert "sourceIdentity" not in event["requestParameters"]


@pytest.mark.parametrize("field, value", [("RoleSessionName", "jane doe"), ("RoleSessionName", "a/b"),
                                          ("SourceIdentity", "zoë@example.com"), ("SourceIdentity", "a:b"),
                                          ("SourceIdentity", "lr\n")])  # lengths: botocore checks them itself
def test_names_sts_would_refuse_are_refused(account, field, value):
    kwargs = {"RoleArn": OPERATOR_ROLE, "RoleSessionName": "ok-session", field: value}
    with pytest.raises(ClientError, match="ValidationError"):
        account.client("sts").assume_role(**kwargs)


def test_a_role_whose_trust_does_not_allow_set_source_identity_refuses_one(account):
    name = f"plain-{uuid.uuid4().hex[:8]}"
    account.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{MAIN}:root"},
                                                "Action": "sts:AssumeRole"}]}))
    arn = f"arn:aws:iam::{MAIN}:role/{name}"
    sts = account.client("sts")
    with pytest.raises(ClientError, match="AccessDenied.*sts:SetSourceIdentity"):
        sts.assume_role(RoleArn=arn, RoleSessionName="jane", SourceIdentity="jane")
    assert sts.assume_role(RoleArn=arn, RoleSessionName="jane")["Credentials"]["AccessKeyId"]
