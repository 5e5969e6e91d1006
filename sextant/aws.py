"""The one client factory: a boto3 Session per account, clients per (service, region), every call counted.

- Credentials: the account's profile, or AssumeRole on its role ARN (with external id), or the
  standard AWS environment. ``AWS_ENDPOINT_URL`` is honoured by botocore itself. Assumed-role
  credentials are botocore's refreshable ones (the machinery behind ``role_arn`` profiles): AssumeRole
  runs on first use and again before they expire, so a long-lived ``Clients`` (the collector's loop,
  the dashboard's cache) never signs with expired credentials.
- Retries: botocore's adaptive mode (client-side rate limiting on throttles), except for answers no retry can
  change: a denied call (AccessDenied*, UnauthorizedOperation, refused credentials) and an operation the
  account does not implement (a ``needs-retry`` handler, :func:`final_answer`, stops those at the first attempt;
  botocore would retry a not-implemented HTTP 500 seven times).
- Counting: a ``before-call`` hook counts every API operation by service and operation; the
  counts feed the collection-run table and the self-cost figures.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import AssumeRoleCredentialFetcher, CredentialResolver, DeferredRefreshableCredentials
from botocore.exceptions import NoCredentialsError
from botocore.loaders import create_loader
from botocore.parsers import ResponseParserError
from botocore.utils import parse_timestamp

from sextant import prices
from sextant.settings import AccountSettings

RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=10, read_timeout=60,
                      user_agent_appid="sextant")


# Answers no retry can change (see final_answer). Denied: IAM refused the call, or the credentials themselves were
# refused (wrong, expired, unsigned). Not implemented: the account (an emulator, a partition without the service)
# lacks the operation.
DENIED_CODES = frozenset({
    "AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnauthorizedException", "AuthorizationError",
    "AuthFailure", "UnrecognizedClientException", "InvalidClientTokenId", "SignatureDoesNotMatch",
    "InvalidSignatureException", "IncompleteSignature", "MissingAuthenticationToken", "ExpiredToken",
    "ExpiredTokenException", "RequestExpired", "InvalidAccessKeyId", "OptInRequired"})
NOT_IMPLEMENTED_CODES = frozenset({
    "NotImplemented", "NotImplementedException", "UnknownOperationException", "UnknownOperation", "InvalidAction",
    "UnsupportedOperation", "UnsupportedOperationException"})
_NOT_IMPLEMENTED_TEXT = re.compile(r"not (yet )?(been )?implemented|NotImplementedError", re.IGNORECASE)
# moto's server answers an operation it lacks with the web framework's generic HTTP 500 page (no AWS error code,
# no JSON or XML body); AWS's own 5xx answers always carry an error code (InternalFailure, ServiceUnavailable, ...).
_EMULATOR_500 = "The server encountered an internal error and was unable to complete your request"


def final_answer(code: str, status: int | None = None, message: str = "") -> str | None:
    """``"denied"`` or ``"not implemented"`` when an AWS answer (error code, HTTP status, message) cannot change
    on a retry; None for every other answer (throttling, 5xx, timeouts: botocore's retry rules decide)."""
    if code in DENIED_CODES or code.startswith("AccessDenied"):
        return "denied"
    if code in NOT_IMPLEMENTED_CODES or status == 501:
        return "not implemented"
    if status is not None and status >= 500 and (
            _NOT_IMPLEMENTED_TEXT.search(message) or (code == str(status) and _EMULATOR_500 in message)):
        return "not implemented"
    return None


def error_fields(exc: BaseException) -> tuple[str, int | None, str]:
    """(error code, HTTP status, message) of a botocore ClientError (or of an answer botocore could not parse);
    ("", None, str(exc)) for anything else."""
    response = getattr(exc, "response", None)
    if isinstance(exc, ResponseParserError) and _EMULATOR_500 in str(exc):
        return "500", 500, str(exc)  # the emulator's HTTP 500 page where a query (XML) service expects XML
    if not isinstance(response, dict):
        return "", None, str(exc)
    error = response.get("Error") or {}
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return str(error.get("Code") or ""), status, str(error.get("Message") or "")


def _stop_final_retries(response: Any = None, **_: Any) -> bool | None:
    """A ``needs-retry`` handler, registered before botocore's own: False (do not retry) for a final answer,
    None otherwise (botocore's retry handler decides)."""
    if not response or not isinstance(response, tuple) or len(response) != 2:
        return None  # a connection error or timeout: no answer to judge
    http, parsed = response
    error = (parsed or {}).get("Error") or {}
    if not error:
        return None
    status = getattr(http, "status_code", None)
    if final_answer(str(error.get("Code") or ""), status, str(error.get("Message") or "")):
        return False
    return None


def register_retry_stop(client: Any) -> None:
    """Stop botocore's retries on ``client`` for final answers (:func:`final_answer`)."""
    event = f"needs-retry.{client.meta.service_model.service_id.hyphenize()}"
    client.meta.events.register_first(event, _stop_final_retries, unique_id=f"sextant-final-{event}")


# Signing names that differ from the IAM action prefix (hints name the permission to grant).
IAM_PREFIX = {"monitoring": "cloudwatch"}


@functools.cache
def _partitions() -> list[dict[str, Any]]:
    partitions: list[dict[str, Any]] = create_loader().load_data("partitions")["partitions"]
    return partitions


def region_problem(region: str) -> str | None:
    """Why ``region`` cannot be an AWS region (no partition's region pattern matches it), or None.

    A name that matches a partition's pattern but is not yet listed is accepted: regions launch
    more often than botocore is upgraded."""
    partitions = _partitions()
    if any(re.match(p["regionRegex"], region) for p in partitions):
        return None
    known = sorted(r for p in partitions for r in p["regions"])
    close = difflib.get_close_matches(region, known, n=1)
    return (f"{region!r} is not an AWS region" + (f" (did you mean {close[0]}?)" if close else "")
            + ": fix regions = [...] for this account in sextant.toml, e.g. regions = [\"us-east-1\"]")


class CallCounter:
    """Thread-safe counts of API calls by (service, operation), and of metrics requested."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.metrics_requested = 0
        self._last = threading.local()

    def hook(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.endpoint_prefix
        if service == "monitoring":
            service = "cloudwatch"
        signing = model.service_model.signing_name
        self._last.service = IAM_PREFIX.get(signing, signing)
        with self._lock:
            self.calls[(service, model.name)] += 1

    def metrics_hook(self, params: dict[str, Any], **_: Any) -> None:
        """GetMetricData is billed per metric requested: count the queries of each call (its API parameters)."""
        with self._lock:
            self.metrics_requested += len(params.get("MetricDataQueries", []))

    def register(self, client: Any) -> None:
        client.meta.events.register("before-call.*.*", self.hook)
        client.meta.events.register("provide-client-params.cloudwatch.GetMetricData", self.metrics_hook)

    def last_service(self) -> str | None:
        """IAM prefix of the last call made on this thread (names the permission in error hints)."""
        return getattr(self._last, "service", None)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f"{s}:{o}": n for (s, o), n in sorted(self.calls.items())}

    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())

    def writes(self) -> int:
        """Calls whose operation changes AWS state (everything but Describe/List/Get/Batch-get and STS)."""
        read = ("Describe", "List", "Get", "BatchGet", "Search", "Filter", "Lookup")
        with self._lock:
            return sum(n for (s, o), n in self.calls.items() if not o.startswith(read) and s != "sts")

    def estimated_usd(self) -> float:
        with self._lock:
            usd = sum(prices.PER_REQUEST.get(k, 0.0) * n for k, n in self.calls.items())
            return usd + self.metrics_requested * prices.PER_METRIC

    def diff(self, before: dict[str, int]) -> dict[str, int]:
        now = self.snapshot()
        return {k: n - before.get(k, 0) for k, n in now.items() if n - before.get(k, 0)}


def _parse_timestamp(value: Any) -> datetime:
    """Epoch numbers straight to UTC datetimes; botocore's default converts each to local time, which
    cost ~55 µs per datapoint (a 30-day metrics backfill spent most of its time there)."""
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    parsed: datetime = parse_timestamp(value)
    return parsed


def _fast_timestamps(session: boto3.Session) -> None:
    session._session.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_parse_timestamp)


def default_region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


class _Given:
    """A credential provider (what botocore's CredentialResolver calls) that gives the credentials it holds."""

    METHOD = "assume-role"

    def __init__(self, credentials: Any) -> None:
        self._credentials = credentials

    def load(self) -> Any:
        return self._credentials


def assumed_role_session(source: boto3.Session, role_arn: str, assume_args: dict[str, str], counter: CallCounter,
                         profile: str | None, region: str) -> boto3.Session:
    """A session signing with ``role_arn``'s credentials, which botocore refreshes before they expire.

    The source credentials (profile, environment or another role) call AssumeRole (with ``assume_args``: the
    session name, an external id, a source identity) on first use, then again when fewer than 15 minutes remain;
    the STS clients that make those calls are counted like any other, and a denied AssumeRole is not retried."""
    source_credentials = source.get_credentials()
    if source_credentials is None:
        raise NoCredentialsError()

    def sts_client(service: str, **kwargs: object) -> object:
        client = source.client(service, config=RETRY_CONFIG, **kwargs)
        counter.register(client)
        register_retry_stop(client)
        return client

    fetcher = AssumeRoleCredentialFetcher(sts_client, source_credentials, role_arn, extra_args=assume_args)
    credentials = DeferredRefreshableCredentials(refresh_using=fetcher.fetch_credentials, method="assume-role")
    core = botocore.session.Session(profile=profile)
    core.register_component("credential_provider", CredentialResolver([_Given(credentials)]))
    session = boto3.Session(botocore_session=core, region_name=region)
    _fast_timestamps(session)
    return session


@dataclass
class Clients:
    """Clients for one account, created lazily per (service, region) and shared by collectors and actions."""

    account: AccountSettings
    counter: CallCounter = field(default_factory=CallCounter)
    _session: boto3.Session | None = None
    _clients: dict[tuple[str, str], object] = field(default_factory=dict)
    _account_id: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def regions(self) -> tuple[str, ...]:
        return self.account.regions or (default_region(),)

    def session(self) -> boto3.Session:
        if self._session is None:
            base = boto3.Session(profile_name=self.account.profile, region_name=self.regions[0])
            if self.account.role_arn:
                base = self._assumed_role_session(base, self.account.role_arn)
            _fast_timestamps(base)
            self._session = base
        return self._session

    def _assumed_role_session(self, source: boto3.Session, role_arn: str) -> boto3.Session:
        assume_args = {"RoleSessionName": "sextant"}
        if self.account.external_id:
            assume_args["ExternalId"] = self.account.external_id
        return assumed_role_session(source, role_arn, assume_args, self.counter, self.account.profile,
                                    self.regions[0])

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.regions[0])
        with self._lock:
            if key not in self._clients:
                c = self.session().client(service, region_name=key[1], config=RETRY_CONFIG)
                self.counter.register(c)
                register_retry_stop(c)
                self._clients[key] = c
            return self._clients[key]

    def account_id(self) -> str:
        if self._account_id is None:
            self._account_id = self.client("sts").get_caller_identity()["Account"]
        return self._account_id

    def for_source(self) -> Clients:
        """The same session, account and call counter; the clients made so far are shared, the ones the
        source creates are its own.

        botocore keeps a retry quota (and, in adaptive mode, a rate limiter) per client: a source that
        met many errors would otherwise leave the next sources sharing its clients with no retries left,
        and a failing source must never stop the others."""
        self.session()  # one session, so one set of (refreshing) role credentials for every source
        with self._lock:
            return replace(self, _clients=dict(self._clients), _lock=threading.Lock())
