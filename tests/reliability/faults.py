"""Fault injection for the collectors' boto3 clients, through botocore's ``before-send`` event.

A ``before-send`` handler that returns an ``AWSResponse`` replaces the HTTP exchange, and one that
raises ``ConnectionClosedError`` / ``ReadTimeoutError`` looks to botocore exactly like a reset
connection or a read timeout. The request never reaches the account, so a faulted call cannot change
what AWS holds; botocore's retry handler sees each attempt, so faults hit attempts, not calls.

Error bodies are written in the protocol of the service (JSON, query XML, RPCv2 CBOR), so botocore
parses the error code (``ThrottlingException``, ``LimitExceededException``, ``AccessDenied...``) as it
would from AWS.

Used by the reliability tests, by ``python -m tests.reliability.faultcli`` (the real CLI with faults
from ``$SEXTANT_FAULTS``) and by ``bench/soak.py``.
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

from sextant.aws import IAM_PREFIX, Clients

# Transient faults the product must absorb: kind -> (HTTP status, error code) or an exception.
TRANSIENT = ("throttling", "limit_exceeded", "http500", "http503", "connection_reset", "read_timeout")
ERRORS = {
    "throttling": (400, "ThrottlingException"),
    "limit_exceeded": (400, "LimitExceededException"),
    "http500": (500, "InternalFailure"),
    "http503": (503, "ServiceUnavailable"),
}
# Permanent errors, per protocol family: code for JSON / CBOR services, code for query (XML) services.
PERMANENT = {
    "access_denied": (400, "AccessDeniedException", "AccessDenied"),
    "expired_token": (400, "ExpiredTokenException", "ExpiredToken"),
}


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _cbor_text(s: str) -> bytes:
    b = s.encode()
    n = len(b)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 256:
        head = bytes([0x78, n])
    else:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    return head + b


def _cbor_map(d: dict[str, str]) -> bytes:
    assert len(d) < 24
    return bytes([0xA0 | len(d)]) + b"".join(_cbor_text(k) + _cbor_text(v) for k, v in d.items())


def error_response(protocol: str, url: str, status: int, code: str, message: str) -> AWSResponse:
    """An AWS error response as the service's protocol writes it."""
    rid = str(uuid.uuid4())
    if protocol in ("query", "ec2"):
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
                f"<RequestId>{rid}</RequestId></ErrorResponse>").encode()
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
    elif protocol == "smithy-rpc-v2-cbor":
        body = _cbor_map({"__type": code, "message": message})
        headers = {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor", "x-amzn-RequestId": rid}
    else:  # json, rest-json
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": rid,
                   "x-amzn-ErrorType": code}
    return AWSResponse(url, status, headers, _Raw(body))


@dataclass
class FaultPlan:
    """What to inject. ``rate`` of attempts get a random transient fault from ``kinds`` (seeded RNG);
    ``permanent`` maps an IAM service prefix (``logs``, ``cloudwatch``, ``sagemaker``, ...) or
    ``*`` to a permanent error kind (``access_denied`` / ``expired_token``) for every attempt."""

    rate: float = 0.0
    seed: int = 0
    kinds: tuple[str, ...] = TRANSIENT
    permanent: dict[str, str] = field(default_factory=dict)
    only: tuple[str, ...] = ()  # transient faults only for these signing names (empty: all)
    permanent_after: int = 0  # permanent errors start after this many attempts (credentials expiring mid-run)

    @classmethod
    def from_json(cls, text: str) -> FaultPlan:
        d = json.loads(text)
        return cls(rate=float(d.get("rate", 0.0)), seed=int(d.get("seed", 0)),
                   kinds=tuple(d.get("kinds", TRANSIENT)), permanent=dict(d.get("permanent", {})),
                   only=tuple(d.get("only", ())), permanent_after=int(d.get("permanent_after", 0)))


class Injector:
    """The ``before-send`` handler; thread-safe; counts attempts and what it injected."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._lock = threading.Lock()
        self.attempts = 0
        self.injected: Counter[str] = Counter()

    def attach(self, client) -> None:
        model = client.meta.service_model
        protocol, name = model.resolved_protocol, IAM_PREFIX.get(model.signing_name, model.signing_name)

        def handler(request, **_):
            return self._on_send(protocol, name, request)

        client.meta.events.register("before-send", handler, unique_id=f"sextant-faults-{id(self)}")

    def _on_send(self, protocol: str, service: str, request):
        plan = self.plan
        with self._lock:
            self.attempts += 1
            perm = plan.permanent.get(service) or plan.permanent.get("*")
            if self.attempts <= plan.permanent_after:
                perm = None
            kind = None
            if perm is None and (not plan.only or service in plan.only) and self._rng.random() < plan.rate:
                kind = self._rng.choice(plan.kinds)
            if perm:
                self.injected[perm] += 1
            elif kind:
                self.injected[kind] += 1
        if perm:
            status, json_code, query_code = PERMANENT[perm]
            code = query_code if protocol in ("query", "ec2") else json_code
            msg = ("User: arn:aws:sts::123456789012:assumed-role/sextant/collector is not authorized to perform "
                   "this action" if perm == "access_denied" else "The security token included in the request "
                   "is expired")
            return error_response(protocol, request.url, status, code, msg)
        if kind is None:
            return None
        if kind == "connection_reset":
            raise ConnectionClosedError(endpoint_url=request.url)
        if kind == "read_timeout":
            raise ReadTimeoutError(endpoint_url=request.url)
        status, code = ERRORS[kind]
        return error_response(protocol, request.url, status, code, f"injected {kind}")

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"attempts": self.attempts, "injected": dict(self.injected),
                    "injected_total": sum(self.injected.values()),
                    "rate": round(sum(self.injected.values()) / self.attempts, 3) if self.attempts else 0.0}


@dataclass
class FaultyClients(Clients):
    """The product's client factory with an injector attached to every client it creates."""

    injector: Injector | None = None

    def client(self, service: str, region: str | None = None):
        key = (service, region or self.regions[0])
        fresh = key not in self._clients
        c = super().client(service, region)
        if fresh and self.injector is not None:
            self.injector.attach(c)
        return c


def clients_factory(injector: Injector):
    """A ``clients_for`` for ``collectors.runner.run_cycle``."""
    cache: dict[str, FaultyClients] = {}

    def make(account) -> FaultyClients:
        return cache.setdefault(account.name, FaultyClients(account, injector=injector))

    make.cache = cache  # type: ignore[attr-defined]
    return make


# What the emulated account (moto's server) answers for an operation it lacks: the web framework's generic page.
EMULATOR_NOT_IMPLEMENTED = (
    b"<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Internal Server Error</h1>\n"
    b"<p>The server encountered an internal error and was unable to complete your request. Either the server is "
    b"overloaded or there is an error in the application.</p>\n")
# Kinds of failure of one operation: (HTTP status, code for JSON / CBOR services, code for query services).
OPERATION_FAILURES = {
    "not_implemented": (500, "", ""),
    "access_denied": (400, "AccessDeniedException", "AccessDenied"),
    "data_unavailable": (400, "DataUnavailableException", "DataUnavailableException"),
    "signature_mismatch": (403, "InvalidSignatureException", "SignatureDoesNotMatch"),
}


class OperationFault:
    """Make one operation (``"sagemaker:ListTags"``, IAM style) fail with ``kind`` on every call, or only on its
    first call (``first_only``: one item's describe); a ``before-send`` handler on that operation alone, so the
    request never reaches the account. Counts the attempts of the operation and the faults injected. Attach it
    with :class:`FaultyClients` (``injector=``)."""

    def __init__(self, operation: str, kind: str, first_only: bool = False, message: str = "") -> None:
        self.service, self.operation = operation.split(":", 1)
        self.kind, self.first_only = kind, first_only
        self.message = message or f"injected {kind} on {operation}"
        self._lock = threading.Lock()
        self.attempts = 0
        self.injected = 0

    def attach(self, client) -> None:
        model = client.meta.service_model
        if IAM_PREFIX.get(model.signing_name, model.signing_name) != self.service \
                and model.endpoint_prefix != self.service:
            return
        protocol = model.resolved_protocol
        event = f"before-send.{model.service_id.hyphenize()}.{self.operation}"

        def handler(request, **_):
            with self._lock:
                self.attempts += 1
                if self.first_only and self.injected:
                    return None
                self.injected += 1
            status, json_code, query_code = OPERATION_FAILURES[self.kind]
            if self.kind == "not_implemented":
                return AWSResponse(request.url, status, {"Content-Type": "text/html; charset=utf-8"},
                                   _Raw(EMULATOR_NOT_IMPLEMENTED))
            code = query_code if protocol in ("query", "ec2") else json_code
            return error_response(protocol, request.url, status, code, self.message)

        client.meta.events.register(event, handler, unique_id=f"sextant-operation-fault-{id(self)}")
