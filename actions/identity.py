"""Per-user identity to AWS: actions run as the account's operator role, assumed once per signed-in user.

When an account has ``operator_role_arn`` (sextant.toml ``[[accounts]]``), every action of a user assumes
that role with ``SourceIdentity`` = the user and ``RoleSessionName`` = the user, both sanitised to what AWS
accepts (``[\\w+=,.@-]``, 2-64 characters). CloudTrail then names the person on the AssumeRole event and
on every call made with those credentials (``userIdentity.sessionContext.sourceIdentity``; the session
name is the last part of the assumed-role ARN), and ``SourceIdentity`` stays with any role the person
chains to. The audit row records the role and the session name (:class:`actions.audit.AuditRow`).

The role is assumed from the account's own credentials (its profile, the environment, or its ``role_arn``
session: role chaining), through botocore's refreshable assume-role credentials, as
:class:`sextant.aws.Clients` does for role accounts: AssumeRole runs on the user's first call and again
before the credentials expire. One :class:`~sextant.aws.Clients` per (account's clients, user) is cached,
sharing the account's call counter and retry policy. Without ``operator_role_arn`` actions use the
account's clients unchanged and only the audit log knows who acted.

The operator role's trust policy must allow the dashboard's identity ``sts:AssumeRole`` *and*
``sts:SetSourceIdentity`` (docs/iam/README.md, docs/iam/operator-trust-policy.json).
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import weakref
from collections import OrderedDict
from dataclasses import dataclass, replace

import boto3

from sextant.aws import Clients, assumed_role_session
from sextant.settings import AccountSettings

AWS_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)  # RoleSessionName and SourceIdentity, as STS checks them
_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]+", re.ASCII)
CACHE_SIZE = 256  # users x accounts kept with live credentials; the least recently used beyond are dropped


def aws_name(user: str) -> str:
    """``user`` as AWS accepts it in ``SourceIdentity`` and ``RoleSessionName``.

    A name that already fits is kept as is (``jane.doe@example.com``). Otherwise accents are dropped, other
    characters become ``-``, and a short hash of the original name is appended, so two people whose names
    sanitise alike (``zoë@x`` and ``zoe@x``) or share a 64-character prefix stay apart in CloudTrail."""
    if AWS_NAME.fullmatch(user):
        return user
    folded = unicodedata.normalize("NFKD", user).encode("ascii", "ignore").decode("ascii")
    clean = _NOT_ALLOWED.sub("-", folded).strip("-")
    digest = hashlib.sha256(user.encode("utf-8", "replace")).hexdigest()[:8]
    return f"{clean[:64 - 9] or 'user'}-{digest}"


@dataclass(frozen=True)
class Identity:
    """As whom an action calls AWS: the operator role, and the session name and source identity of the user."""

    role_arn: str
    session_name: str
    source_identity: str


def identity_for(account: AccountSettings, user: str) -> Identity | None:
    """The per-user identity of ``user`` in ``account``; None when the account has no operator role."""
    if not account.operator_role_arn:
        return None
    name = aws_name(user)
    return Identity(account.operator_role_arn, name, name)


_cache: OrderedDict[tuple[int, Identity], tuple[weakref.ref[Clients], Clients]] = OrderedDict()
_cache_lock = threading.Lock()


def clients_for(base: Clients, user: str) -> tuple[Clients, Identity | None]:
    """The clients an action of ``user`` uses in ``base``'s account, and the identity they act as.

    Without an operator role: ``base`` itself. With one: clients whose credentials come from assuming the
    role as this user (cached per account and user; credentials refreshed by botocore)."""
    identity = identity_for(base.account, user)
    if identity is None:
        return base, None
    key = (id(base), identity)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0]() is base:
            _cache.move_to_end(key)
            return hit[1], identity
        clients = replace(base, _session=_assumed_session(base, identity), _clients={}, _account_id=None,
                          _lock=threading.Lock())
        _cache[key] = (weakref.ref(base), clients)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return clients, identity


def _assumed_session(base: Clients, identity: Identity) -> boto3.Session:
    """A session signing with the operator role's credentials for this user, refreshed before they expire (the
    account's own session calls AssumeRole; those STS calls are counted with the account's)."""
    return assumed_role_session(
        base.session(), identity.role_arn,
        {"RoleSessionName": identity.session_name, "SourceIdentity": identity.source_identity},
        base.counter, base.account.profile, base.regions[0])
