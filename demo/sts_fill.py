"""STS as AWS checks it, and CloudTrail's record of who assumed what.

moto's AssumeRole ignores ``SourceIdentity`` and checks no name (only the session name's length). This fill:

- validates ``RoleSessionName`` and ``SourceIdentity`` as STS does (``[\\w+=,.@-]``, 2-64 characters) and
  answers ``ValidationError`` otherwise;
- refuses a ``SourceIdentity`` on a role whose trust policy does not allow ``sts:SetSourceIdentity``
  (``AccessDenied``, as AWS does); roles that do not exist are assumed as moto always did;
- returns ``SourceIdentity`` in the AssumeRole response, as AWS does;
- records every AssumeRole call as a CloudTrail management event (``requestParameters`` with ``roleArn``,
  ``roleSessionName``, ``sourceIdentity``, ``externalId``) and answers CloudTrail ``LookupEvents`` (absent
  from moto) from those records, filtered by one lookup attribute and by time, newest first. That is how an
  operator checks, in a real account, that CloudTrail names the person behind an action.
- seeds the operator role ``sextant-operator`` in the main account, trusting the main account with
  ``sts:AssumeRole`` and ``sts:SetSourceIdentity`` (docs/iam/operator-trust-policy.json).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from demo import world as world_mod
from demo.world import World

OPERATOR_ROLE_NAME = "sextant-operator"
OPERATOR_ROLE = f"arn:aws:iam::{world_mod.MAIN_ACCOUNT}:role/{OPERATOR_ROLE_NAME}"
NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
MAX_EVENTS = 10_000  # CloudTrail keeps 90 days; the emulated account keeps the newest events
_events: deque[dict[str, Any]] = deque(maxlen=MAX_EVENTS)
_lock = threading.Lock()


def trust_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{world_mod.MAIN_ACCOUNT}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}]}


def _validate(what: str, value: str | None) -> None:
    from moto.sts.exceptions import STSValidationError

    if value is not None and not NAME.fullmatch(value):
        raise STSValidationError(f"1 validation error detected: Value '{value}' at '{what}' failed to satisfy "
                                 "constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* "
                                 "and have length between 2 and 64")


def _role(role_arn: str) -> Any:
    from moto.iam.models import iam_backends

    parts = role_arn.split(":")
    if len(parts) < 6 or "/" not in parts[5]:
        return None
    account, name = parts[4], parts[5].rsplit("/", 1)[1]
    try:
        roles = iam_backends[account]["aws"].roles.values()
    except Exception:
        return None
    return next((r for r in roles if r.name == name), None)


def _allows_source_identity(role: Any) -> bool:
    doc = role.assume_role_policy_document
    doc = json.loads(doc) if isinstance(doc, str) else doc
    for stmt in doc.get("Statement", []):
        actions = stmt.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if stmt.get("Effect") == "Allow" and ("sts:SetSourceIdentity" in actions or "sts:*" in actions):
            return True
    return False


def _assume_role(original: Any) -> Any:
    def assume_role(self: Any) -> Any:
        from moto.core.exceptions import AccessDeniedError

        role_arn = self._get_param("RoleArn")
        session_name = self._get_param("RoleSessionName")
        source_identity = self._get_param("SourceIdentity")
        _validate("roleSessionName", session_name)
        _validate("sourceIdentity", source_identity)
        role = _role(role_arn) if isinstance(role_arn, str) else None
        caller = self.current_account
        if source_identity is not None and role is not None and not _allows_source_identity(role):
            raise AccessDeniedError(f"arn:aws:iam::{caller}:root", f"sts:SetSourceIdentity on resource: {role_arn}")
        result = original(self)
        if source_identity is not None and isinstance(result.result, dict):
            result.result["SourceIdentity"] = source_identity
        _record(self, caller, role_arn, session_name, source_identity, result)
        return result

    assume_role._demo_original = original  # type: ignore[attr-defined]
    return assume_role


def _record(response: Any, caller: str, role_arn: str, session_name: str, source_identity: str | None,
            result: Any) -> None:
    now = datetime.now(UTC)
    assumed = result.result.get("AssumedRoleUser", {}) if isinstance(result.result, dict) else {}
    request = {"roleArn": role_arn, "roleSessionName": session_name,
               "durationSeconds": response._get_int_param("DurationSeconds", 3600)}
    if source_identity is not None:
        request["sourceIdentity"] = source_identity
    external_id = response._get_param("ExternalId")
    if external_id is not None:
        request["externalId"] = external_id
    access_key = response.get_access_key()
    event = {
        "eventVersion": "1.08",
        "userIdentity": {"type": "AWSAccount", "accountId": caller, "accessKeyId": access_key},
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole", "awsRegion": response.region, "sourceIPAddress": "127.0.0.1",
        "requestParameters": request,
        "responseElements": {
            "assumedRoleUser": {"arn": assumed.get("Arn"), "assumedRoleId": assumed.get("AssumedRoleId")},
            **({"sourceIdentity": source_identity} if source_identity else {})},
        "eventID": str(uuid.uuid4()), "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True,
        "recipientAccountId": caller, "eventCategory": "Management",
    }
    with _lock:
        _events.append({"accounts": {caller, role_arn.split(":")[4] if role_arn.count(":") >= 5 else caller},
                        "time": now, "username": session_name if source_identity is None else source_identity,
                        "access_key": access_key, "event": event})


def _lookup_events(self: Any) -> str:
    """CloudTrail LookupEvents over the recorded events of the caller's account."""
    from moto.core.exceptions import JsonRESTError

    attributes = self._get_param("LookupAttributes") or []
    if len(attributes) > 1:
        raise JsonRESTError("InvalidLookupAttributesException", "You cannot specify more than one lookup attribute")
    start, end = self._get_param("StartTime"), self._get_param("EndTime")
    limit = min(int(self._get_param("MaxResults") or 50), 50)
    offset = int(self._get_param("NextToken") or 0)
    account = self.current_account
    with _lock:
        events = [e for e in reversed(_events) if account in e["accounts"]]

    def keep(e: dict[str, Any]) -> bool:
        ts = e["time"].timestamp()
        if start is not None and ts < float(start) or end is not None and ts > float(end):
            return False
        for a in attributes:
            key, value = a.get("AttributeKey"), a.get("AttributeValue")
            have = {"EventName": e["event"]["eventName"], "EventSource": e["event"]["eventSource"],
                    "Username": e["username"], "AccessKeyId": e["access_key"], "EventId": e["event"]["eventID"],
                    "ResourceName": e["event"]["requestParameters"]["roleArn"], "ReadOnly": "true",
                    "ResourceType": "AWS::IAM::Role"}.get(key)
            if have != value:
                return False
        return True

    matched = [e for e in events if keep(e)]
    page = matched[offset:offset + limit]
    out: dict[str, Any] = {"Events": [{
        "EventId": e["event"]["eventID"], "EventName": "AssumeRole", "ReadOnly": "true",
        "AccessKeyId": e["access_key"], "EventTime": e["time"].timestamp(), "EventSource": "sts.amazonaws.com",
        "Username": e["username"],
        "Resources": [{"ResourceType": "AWS::IAM::Role", "ResourceName": e["event"]["requestParameters"]["roleArn"]}],
        "CloudTrailEvent": json.dumps(e["event"])} for e in page]}
    if offset + limit < len(matched):
        out["NextToken"] = str(offset + limit)
    return json.dumps(out)


def install(world: World) -> None:
    from moto.cloudtrail.responses import CloudTrailResponse
    from moto.sts.responses import TokenResponse

    if not hasattr(TokenResponse.assume_role, "_demo_original"):
        TokenResponse.assume_role = _assume_role(TokenResponse.assume_role)  # type: ignore[method-assign]
    CloudTrailResponse.lookup_events = _lookup_events  # type: ignore[attr-defined]


def seed(world: World) -> None:
    from moto.iam.models import iam_backends

    iam = iam_backends[world_mod.MAIN_ACCOUNT]["aws"]
    if OPERATOR_ROLE_NAME not in {r.name for r in iam.roles.values()}:
        iam.create_role(OPERATOR_ROLE_NAME, json.dumps(trust_policy()), "/", None,
                        "Sextant's actions, assumed once per signed-in user with SourceIdentity", [], "3600")
