"""Refresh an endpoint's metrics now: an operator's explicit, audited request that the collector read every metric
series of one endpoint once, whatever their cadence, so that on-call can confirm a fix within a minute.

The dashboard never writes the store, and the collector is its one writer. So a refresh is a *request*: the dashboard
appends its intent to the audit log (``refresh_endpoint_metrics``, result ``requested``) and queues it in one small
table, ``refresh_request``, in the audit database (SQLite, beside ``audit`` and ``restore_schedule``). ``sextant
collect`` looks at the queue every few seconds, between cycles as well as after each source of a cycle
(:func:`serve_refreshes`, given to the collector loop as a callback: collectors import no actions); it claims each
request (once, whoever else serves the queue), reads that endpoint's series in one GetMetricData batch, publishes the
store, marks the request ``done`` with the datapoints read, the calls made and their list price, and completes the
audit intent with the same (``succeeded`` or ``failed``).

**Validated and priced before it is queued.** The endpoint must be in the store for that account and region (the
collector reads only series it knows); the plan says how many series and metric queries that is and what the read
costs at GetMetricData's list price (:data:`sextant.prices.PER_METRIC` per metric requested). Viewers are refused,
with their audit row; a dry run (or ``[actions] dry_run``) leaves a ``dry_run`` row and queues nothing.

**Duplicates collapse.** A request for an endpoint that is still waiting, or that was made within the last minute
(and did not fail), serves the new one too: the new one gets a ``duplicate`` audit row naming it, and nothing more is
queued (at most one waiting request per endpoint, enforced by the table). A request no collector has taken within
:data:`MAX_WAIT` expires (its intent completes as ``failed``, saying so), rather than being served hours later.

**Transitions, enforced by the database.** ``queued`` → ``running`` | ``expired``; ``running`` → ``done`` |
``failed``; nothing else, no DELETE, and what was asked (by whom, for what, when) never changes. A claimed request
is never claimed again, even if its collector dies before it records the outcome: a refresh reads at most once.
"""

from __future__ import annotations

import logging
import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Protocol

from actions.audit import AuditLog, AuditRow, AuditTable
from actions.restore import audit_for
from actions.roles import Actor
from actions.service import ACCOUNT_RE, REGION_RE, ActionError, Outcome, Plan, _name
from sextant import prices
from sextant.aws import region_problem
from sextant.redact import redact
from sextant.settings import Settings
from sextant.store import Reader

log = logging.getLogger(__name__)

ACTION = "refresh_endpoint_metrics"
COLLAPSE_WITHIN = timedelta(minutes=1)  # a request within this of another one for the same endpoint is the same
MAX_WAIT = timedelta(minutes=10)  # a request no collector took within this expires
MAX_QUERIES = 500  # GetMetricData's queries per request (the collector packs them so)

TABLE = """
CREATE TABLE IF NOT EXISTS refresh_request (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    requested_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    audit_id INTEGER NOT NULL UNIQUE,
    queries_estimated INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    series INTEGER,
    queries INTEGER,
    requests INTEGER,
    datapoints INTEGER,
    api_calls INTEGER,
    cost_usd REAL,
    message TEXT
);
CREATE INDEX IF NOT EXISTS refresh_request_status ON refresh_request(status, requested_at);
CREATE INDEX IF NOT EXISTS refresh_request_endpoint ON refresh_request(account_id, region, endpoint, requested_at);
CREATE UNIQUE INDEX IF NOT EXISTS refresh_request_one_waiting ON refresh_request(account_id, region, endpoint)
    WHERE status = 'queued';
"""
_FIXED = ("id", "requested_at", "actor", "role", "account_id", "region", "endpoint", "audit_id", "queries_estimated")
_SAME = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _FIXED)
TRIGGERS = f"""
CREATE TRIGGER IF NOT EXISTS refresh_request_transitions BEFORE UPDATE ON refresh_request
WHEN NOT ({_SAME} AND (
      (OLD.status = 'queued' AND NEW.status IN ('running', 'expired'))
   OR (OLD.status = 'running' AND NEW.status IN ('done', 'failed'))))
BEGIN SELECT RAISE(ABORT, 'a refresh request moves only queued -> running | expired, running -> done | failed');
END;
CREATE TRIGGER IF NOT EXISTS refresh_request_no_delete BEFORE DELETE ON refresh_request
BEGIN SELECT RAISE(ABORT, 'refresh requests are kept'); END;
"""
STATUSES = ("queued", "running", "done", "failed", "expired")
WAITING = ("queued", "running")


def now_utc() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("a request time must carry its zone")
    return t.astimezone(UTC).isoformat(timespec="milliseconds")


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


def usd(amount: float) -> str:
    """A small dollar amount readably: $0.00001, $0.0003, $1.25 (to the millionth of a dollar below a cent)."""
    if amount == 0:
        return "$0"
    if amount < 0.01:
        text = f"{amount:.6f}".rstrip("0").rstrip(".")
        return f"${text}" if text != "0" else "under $0.000001"
    return f"${amount:,.2f}"


# --------------------------------------------------------------------------- what the store says


@dataclass(frozen=True)
class StoreEndpoint:
    """An endpoint as the store has it: its metric series, their series x statistic pairs (a metric query each),
    and the newest time through which any of them was read (None: never)."""

    account_id: str
    region: str
    endpoint: str
    series: int
    queries: int
    polled_at: datetime | None


STORE_ENDPOINT_SQL = """
SELECT count(s.series_id), coalesce(sum(CASE WHEN coalesce(s.stats, '') = '' THEN 0
                                             ELSE len(string_split(s.stats, ',')) END), 0), max(s.last_polled_at)
FROM aws_sagemaker_endpoint e
LEFT JOIN aws_cloudwatch_metric_series s
       ON s.account_id = e.account_id AND s.region = e.region AND s.endpoint_name = e.endpoint_name
WHERE e.account_id = ? AND e.region = ? AND e.endpoint_name = ?
GROUP BY e.endpoint_name
"""

Lookup = Callable[[str, str, str], StoreEndpoint | None]


def store_lookup(reader: Reader) -> Lookup:
    """The store's answer for (account id, region, endpoint), read from the newest published snapshot."""

    def lookup(account_id: str, region: str, endpoint: str) -> StoreEndpoint | None:
        cur = reader.cursor()
        if cur is None:
            raise ActionError("the store has nothing published yet: wait for the first collection to finish")
        try:
            row = cur.execute(STORE_ENDPOINT_SQL, [account_id, region, endpoint]).fetchone()
        finally:
            cur.close()
        if row is None:
            return None
        series, queries, polled = row
        if isinstance(polled, datetime) and polled.tzinfo is None:
            polled = polled.replace(tzinfo=UTC)
        return StoreEndpoint(account_id, region, endpoint, int(series), int(queries), polled)

    return lookup


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class RefreshEndpoint:
    """Read every metric series of one endpoint now: ``account_id`` (12 digits), ``endpoint``, ``region``."""

    ACTION: ClassVar[str] = ACTION
    account_id: str
    endpoint: str
    region: str

    @property
    def target(self) -> str:
        return self.endpoint

    def validate(self, settings: Settings) -> None:
        """Clear messages, nothing read: the fields' shapes and the accounts actions may touch."""
        if not isinstance(self.account_id, str) or not ACCOUNT_RE.fullmatch(self.account_id):
            raise ActionError(f"account {self.account_id!r} is not a 12-digit AWS account id")
        allowed = settings.actions.allowed_accounts
        if allowed and self.account_id not in allowed:
            raise ActionError(f"account {self.account_id} is not in [actions] allowed_accounts")
        if not isinstance(self.region, str) or not REGION_RE.fullmatch(self.region) or region_problem(self.region):
            raise ActionError(f"region {str(self.region)[:40]!r} is not an AWS region")
        _name(self.endpoint, "endpoint")

    def parameters(self) -> dict[str, Any]:
        return {"account_id": str(self.account_id)[:20], "region": str(self.region)[:40],
                "endpoint": str(self.endpoint)[:100]}


def estimate(found: StoreEndpoint) -> Plan:
    """What a refresh of ``found`` reads and what it costs (no AWS call)."""
    n = found.queries
    requests = max(1, math.ceil(n / MAX_QUERIES)) if n else 0
    cost = n * prices.PER_METRIC
    last = f"{found.polled_at:%H:%M} UTC" if found.polled_at else "never"
    notes = [f"Estimated cost: {usd(cost)} — {n} metric {'query' if n == 1 else 'queries'} × "
             f"{usd(prices.PER_METRIC)} (GetMetricData list price per metric requested); a statistic never read "
             "before is backfilled, one more query.",
             "The collector (sextant collect) reads it within about 20 seconds and publishes the store; the charts "
             "then show it."]
    if not n:
        notes.insert(0, "The store knows no metric series of this endpoint yet: the refresh looks for them "
                        "(ListMetrics) and reads those it finds.")
    return Plan(f"read the {found.series} metric series of {found.endpoint} now ({n} metric queries in "
                f"{requests} GetMetricData request{'' if requests == 1 else 's'}), whatever their cadence",
                {"series": found.series, "metric_queries": n, "last_read": last},
                {"series": found.series, "metric_queries": n, "last_read": "within a minute"},
                cost_estimate=cost, calls=["cloudwatch:GetMetricData (by the collector, not this dashboard)"],
                notes=notes)


def plan_refresh(request: RefreshEndpoint, actor: Actor, settings: Settings, lookup: Lookup) -> Plan:
    """Authorize, validate and price (the store read only); raises ActionError with a clear message."""
    if not actor.can_act():
        raise ActionError(f"{actor.name} is a {actor.role}: only operators and admins can refresh metrics")
    request.validate(settings)
    try:
        found = lookup(request.account_id, request.region, request.endpoint)
    except ActionError:
        raise
    except Exception as exc:
        raise ActionError(redact(f"the store could not be read ({type(exc).__name__}: {exc})")[:400]) from None
    if found is None:
        raise ActionError(f"endpoint {request.endpoint} is not in the store for account {request.account_id} in "
                          f"{request.region}: only collected endpoints can be refreshed")
    return estimate(found)


# --------------------------------------------------------------------------- the queue


@dataclass(frozen=True)
class RefreshRequest:
    """One queued refresh of an endpoint's metrics."""

    id: int
    requested_at: datetime
    actor: str
    role: str
    account_id: str
    region: str
    endpoint: str
    audit_id: int  # the intent row (refresh_endpoint_metrics, requested), completed when served
    queries_estimated: int
    status: str  # queued | running | done | failed | expired
    started_at: datetime | None = None
    finished_at: datetime | None = None
    series: int | None = None
    queries: int | None = None
    requests: int | None = None
    datapoints: int | None = None
    api_calls: int | None = None
    cost_usd: float | None = None
    message: str | None = None

    @classmethod
    def of(cls, row: sqlite3.Row) -> RefreshRequest:
        d: dict[str, Any] = dict(row)
        for k in ("requested_at", "started_at", "finished_at"):
            d[k] = _time(d[k])
        return cls(**d)

    @property
    def waiting(self) -> bool:
        return self.status in WAITING


class RefreshQueue(AuditTable):
    """The ``refresh_request`` table in the audit database of ``audit``."""

    SCHEMA = TABLE + TRIGGERS

    def add(self, *, actor: str, role: str, account_id: str, region: str, endpoint: str, audit_id: int,
            queries_estimated: int, now: datetime | None = None) -> RefreshRequest:
        """Queue a request; a second waiting one for the same endpoint is refused by the table (IntegrityError)."""
        with self._connect() as con:
            row_id = con.execute(
                "INSERT INTO refresh_request (requested_at, actor, role, account_id, region, endpoint, audit_id, "
                "queries_estimated, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued')",
                [_iso(now or now_utc()), actor[:320], role[:20], account_id, region, endpoint, audit_id,
                 queries_estimated]).lastrowid
        found = self.get(int(row_id or 0))
        if found is None:
            raise RuntimeError("the refresh request was not written")
        return found

    def get(self, request_id: int) -> RefreshRequest | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM refresh_request WHERE id = ?", [request_id]).fetchone()
        return RefreshRequest.of(row) if row else None

    def latest(self, account_id: str, region: str, endpoint: str) -> RefreshRequest | None:
        """The newest request for the endpoint, or None."""
        with self._connect() as con:
            row = con.execute("SELECT * FROM refresh_request WHERE account_id = ? AND region = ? AND endpoint = ? "
                              "ORDER BY id DESC LIMIT 1", [account_id, region, endpoint]).fetchone()
        return RefreshRequest.of(row) if row else None

    def same(self, account_id: str, region: str, endpoint: str, now: datetime | None = None) -> RefreshRequest | None:
        """The request a new one for the endpoint collapses into: one still queued, or one made within
        COLLAPSE_WITHIN that has not failed or expired."""
        since = _iso((now or now_utc()) - COLLAPSE_WITHIN)
        with self._connect() as con:
            row = con.execute(
                "SELECT * FROM refresh_request WHERE account_id = ? AND region = ? AND endpoint = ? AND "
                "(status = 'queued' OR (status IN ('running', 'done') AND requested_at >= ?)) ORDER BY id DESC "
                "LIMIT 1", [account_id, region, endpoint, since]).fetchone()
        return RefreshRequest.of(row) if row else None

    def queued(self, limit: int = 50) -> list[RefreshRequest]:
        """Requests waiting for a collector, oldest first."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM refresh_request WHERE status = 'queued' ORDER BY id LIMIT ?",
                               [limit]).fetchall()
        return [RefreshRequest.of(r) for r in rows]

    def claim(self, request_id: int, now: datetime | None = None) -> bool:
        """Take a queued request to serve it; False when another collector (or its expiry) came first."""
        with self._connect() as con:
            n = con.execute("UPDATE refresh_request SET status = 'running', started_at = ? "
                            "WHERE id = ? AND status = 'queued'", [_iso(now or now_utc()), request_id]).rowcount
        return n == 1

    def expire(self, request_id: int, message: str, now: datetime | None = None) -> bool:
        """A queued request no collector took in time; False when one took it meanwhile."""
        with self._connect() as con:
            n = con.execute("UPDATE refresh_request SET status = 'expired', finished_at = ?, message = ? "
                            "WHERE id = ? AND status = 'queued'",
                            [_iso(now or now_utc()), message[:1000], request_id]).rowcount
        return n == 1

    def finish(self, request_id: int, ok: bool, read: ReadResult, message: str | None,
               now: datetime | None = None) -> None:
        """Record how a claimed request ended (``done`` or ``failed``) and what its read did, once."""
        with self._connect() as con:
            n = con.execute(
                "UPDATE refresh_request SET status = ?, finished_at = ?, series = ?, queries = ?, requests = ?, "
                "datapoints = ?, api_calls = ?, cost_usd = ?, message = ? WHERE id = ? AND status = 'running'",
                ["done" if ok else "failed", _iso(now or now_utc()), read.series, read.queries, read.requests,
                 read.datapoints, read.api_calls, read.cost_usd, None if message is None else message[:1000],
                 request_id]).rowcount
        if n != 1:
            raise RuntimeError(f"refresh request #{request_id} is not running")


# --------------------------------------------------------------------------- asking


def request_refresh(request: RefreshEndpoint, actor: Actor, settings: Settings, audit: AuditLog, lookup: Lookup, *,
                    dry_run: bool = False, now: datetime | None = None) -> Outcome:
    """Ask the collector to read the endpoint's series now: authorized, validated, priced and audited.

    ``succeeded``: queued (its intent row says ``requested`` until the collector completes it; ``result`` holds
    ``request_id``); ``duplicate``: a request for the endpoint made within a minute, or still waiting, serves this
    one (``result`` names it); ``dry_run``: what would be read and its cost, nothing queued; ``refused`` (a viewer),
    ``invalid`` (bad input, or an endpoint the store does not have) or ``failed`` (the store or the audit database
    could not be read or written): nothing queued. Each leaves one audit row (``audit_problem`` says when it could
    not be written). No AWS call is made here."""
    now = now or now_utc()
    params = request.parameters()

    def row(result: str, *, error: str | None = None, plan: Plan | None = None,
            after: dict[str, Any] | None = None, dry: bool = False) -> int:
        return audit.append(AuditRow(str(actor.name)[:320], str(actor.role)[:20], ACTION,
                                     str(request.endpoint)[:200], params["account_id"], params["region"], params,
                                     plan.before if plan else None, after, result, dry, error=error))

    def record(outcome: Outcome, **kw: Any) -> Outcome:
        outcome.message = redact(outcome.message)[:1000]
        try:
            outcome.audit_id = row(outcome.status, error=None if outcome.ok else outcome.message,
                                   plan=outcome.plan, **kw)
        except Exception as exc:
            outcome.audit_problem = redact(f"not audited: {type(exc).__name__}: {exc}")[:300]
            outcome.message = redact(f"{outcome.message} (the audit log could not record this: {exc})")[:1200]
        return outcome

    if not actor.can_act():
        return record(Outcome("refused", f"{actor.name} is a {actor.role}: only operators and admins can refresh "
                                         "metrics"))
    try:
        plan = plan_refresh(request, actor, settings, lookup)
    except ActionError as exc:
        return record(Outcome("invalid", str(exc)))
    if dry_run or settings.actions.dry_run:
        return record(Outcome("dry_run", f"dry run: would {plan.summary}", plan), dry=True)
    try:
        queue = RefreshQueue(audit)
        earlier = queue.same(request.account_id, request.region, request.endpoint, now)
    except Exception as exc:
        return record(Outcome("failed", f"not requested: the refresh queue could not be read ({type(exc).__name__}: "
                                        f"{exc})", plan))
    if earlier is not None:
        return record(_collapsed(earlier, plan), after={"collapsed_into": earlier.id})
    try:
        intent = row("requested", plan=plan)
    except Exception as exc:
        reason = redact(f"{type(exc).__name__}: {exc}")[:300]
        return Outcome("failed", f"Not requested: the audit log could not record it ({reason}).", plan,
                       audit_problem=f"intent not written: {reason}")
    try:
        queued = queue.add(actor=actor.name, role=actor.role, account_id=request.account_id, region=request.region,
                           endpoint=request.endpoint, audit_id=intent,
                           queries_estimated=int(plan.before["metric_queries"]), now=now)
    except sqlite3.IntegrityError:  # another request for it was queued a moment ago: that one serves both
        other = queue.same(request.account_id, request.region, request.endpoint, now)
        outcome = _collapsed(other, plan) if other else Outcome("failed", "not requested: the queue refused it", plan)
        _complete(audit, intent, "succeeded" if other else "failed", outcome,
                  {"collapsed_into": other.id} if other else None)
        return outcome
    except Exception as exc:
        outcome = Outcome("failed", redact(f"not requested: the refresh could not be queued ({type(exc).__name__}: "
                                           f"{exc})")[:600], plan, audit_id=intent)
        _complete(audit, intent, "failed", outcome, None)
        return outcome
    return Outcome("succeeded", f"refresh of {request.endpoint} requested at {now:%H:%M:%S} UTC (request "
                                f"#{queued.id}): {plan.summary}", plan, audit_id=intent,
                   result={"request_id": queued.id})


def _collapsed(earlier: RefreshRequest, plan: Plan) -> Outcome:
    state = {"queued": "waiting for the collector", "running": "being read now", "done": "read"}.get(
        earlier.status, earlier.status)
    return Outcome("duplicate", f"a refresh of {earlier.endpoint} was already requested at "
                                f"{earlier.requested_at:%H:%M:%S} UTC by {earlier.actor} (request #{earlier.id}, "
                                f"{state}): it serves this one too", plan, result={"request_id": earlier.id})


def _complete(audit: AuditLog, intent: int, result: str, outcome: Outcome, after: dict[str, Any] | None) -> None:
    try:
        audit.complete(intent, result, error=None if result == "succeeded" else outcome.message, state_after=after)
    except Exception as exc:
        outcome.audit_problem = redact(f"audit #{intent} could not be completed: {type(exc).__name__}: {exc}")[:300]


# --------------------------------------------------------------------------- serving (the collector's side)


class ReadResult(Protocol):
    """What reading one endpoint's series did (the collector's ``runner.RefreshRun``)."""

    @property
    def status(self) -> str: ...  # succeeded | partial | failed

    @property
    def series(self) -> int: ...

    @property
    def queries(self) -> int: ...

    @property
    def requests(self) -> int: ...  # GetMetricData requests (NextToken pages not counted)

    @property
    def datapoints(self) -> int: ...

    @property
    def api_calls(self) -> int: ...

    @property
    def cost_usd(self) -> float: ...

    @property
    def error(self) -> str | None: ...


class MetricsReader(Protocol):
    """The collector's side, passed in by ``sextant collect`` (collectors import no actions)."""

    def serves(self, account_id: str, region: str) -> bool: ...  # this collector collects that account and region

    def read(self, account_id: str, region: str, endpoint: str) -> ReadResult: ...  # read, write, publish


@dataclass(frozen=True)
class _NotRead:
    status: str = "failed"
    series: int = 0
    queries: int = 0
    requests: int = 0
    datapoints: int = 0
    api_calls: int = 0
    cost_usd: float = 0.0
    error: str | None = None


def serve_refreshes(settings: Settings, reader: MetricsReader, audit: AuditLog | None = None,
                    now: datetime | None = None) -> list[str]:
    """Serve the queued refresh requests this collector can: expire those older than MAX_WAIT, then claim each one
    (oldest first), read its endpoint's series, and record the outcome in the request and its audit intent. One line
    per request served or expired; an error of one never stops the others. Reads only the audit database when nothing
    is queued."""
    audit = audit or audit_for(settings)
    queue = RefreshQueue(audit)
    lines = []
    for r in queue.queued():
        at = now or now_utc()
        if at - r.requested_at > MAX_WAIT:
            minutes = int(MAX_WAIT.total_seconds() // 60)
            why = (f"expired: no collector read it within {minutes} minutes (is `sextant collect --every ...` "
                   "running for this account and region?)")
            if queue.expire(r.id, why, at):
                _complete_served(audit, r, "failed", why, None)
                lines.append(f"  refresh #{r.id} {r.account_id}/{r.region} {r.endpoint}: {why}")
            continue
        try:
            if not reader.serves(r.account_id, r.region):
                continue  # another collector's account or region
        except Exception:
            continue
        if not queue.claim(r.id, at):
            continue
        lines.append(_serve(queue, audit, reader, r))
    return lines


def _serve(queue: RefreshQueue, audit: AuditLog, reader: MetricsReader, r: RefreshRequest) -> str:
    read: ReadResult
    try:
        read = reader.read(r.account_id, r.region, r.endpoint)
    except Exception as exc:  # the collector could not even start the read
        read = _NotRead(error=redact(f"{type(exc).__name__}: {exc}")[:600])
    ok = read.status in ("succeeded", "partial")
    message = (f"read {read.datapoints} datapoints of {read.series} series ({read.queries} metric queries, "
               f"{read.requests} GetMetricData request{'' if read.requests == 1 else 's'}, {read.api_calls} API "
               f"calls, {usd(read.cost_usd)})")
    if read.error:
        message += f"; {'partial: ' if ok else 'failed: '}{read.error}"
    message = redact(message)[:1000]
    try:
        queue.finish(r.id, ok, read, message)
    except Exception as exc:  # the audit row still records the outcome
        message += redact(f" (the request row could not be updated: {exc})")[:300]
    after = {"request_id": r.id, "series": read.series, "queries": read.queries, "requests": read.requests,
             "datapoints": read.datapoints, "api_calls": read.api_calls, "cost_usd": round(read.cost_usd, 8)}
    _complete_served(audit, r, "succeeded" if ok else "failed", None if ok and not read.error else message, after)
    return f"  refresh #{r.id} {r.account_id}/{r.region} {r.endpoint}: {message}"


def _complete_served(audit: AuditLog, r: RefreshRequest, result: str, error: str | None,
                     after: dict[str, Any] | None) -> None:
    try:
        audit.complete(r.audit_id, result, error=error, state_after=after)
    except Exception as exc:  # the request row holds the outcome; the intent stays "requested"
        log.warning("refresh #%s was %s but its audit row #%s could not be completed: %s", r.id, result,
                    r.audit_id, redact(exc))
