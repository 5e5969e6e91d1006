"""One collection cycle: every source, every account and region, each in its own transaction."""

from __future__ import annotations

import hashlib
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

import collectors
from collectors.base import Collector, Context, Cursor, Failure, Refresh
from sextant.aws import Clients, region_problem
from sextant.lake import busy
from sextant.redact import redact
from sextant.settings import AccountSettings, Settings
from sextant.store import StoreWriter, now_utc

log = logging.getLogger("sextant.collect")
METRICS = "cloudwatch_metrics"  # the source an operator's refresh runs (run_refresh)


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (``--shard K/N``): N collector processes divide the work by (account, region), each
    unit owned by exactly one shard. The unit keeps an account's region together because its sources read one
    another (metrics need the endpoints listed first). The owner is a stable hash of the account's name in the
    settings and the region, the same on every machine and in every process."""

    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        k, sep, n = text.partition("/")
        if not sep or not k.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(k) <= int(n):
            raise ValueError(f"invalid shard {text!r}: use K/N with 1 <= K <= N, e.g. --shard 2/4")
        return cls(int(k), int(n))

    def owns(self, account: str, region: str) -> bool:
        digest = hashlib.blake2b(f"{account}\x00{region}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") % self.count == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclass
class SourceResult:
    source: str
    account_id: str
    region: str
    status: str
    rows: int = 0
    api_calls: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    hint: str | None = None
    attempts: int = 1  # transactions tried: more than 1 when a commit conflicted with another writer's and was retried


@dataclass
class CycleResult:
    run_id: str
    results: list[SourceResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def partial(self) -> list[SourceResult]:
        """Sources whose core rows landed but an optional operation failed (tags, activities, a forecast...)."""
        return [r for r in self.results if r.status == "partial"]


# Credentials refused by AWS itself: no IAM policy can cause or fix these.
CREDENTIALS_REFUSED = ("InvalidClientTokenId", "UnrecognizedClientException", "SignatureDoesNotMatch",
                       "IncompleteSignature", "InvalidSignatureException", "MissingAuthenticationToken",
                       "InvalidAccessKeyId", "AuthFailure")
EXPIRED = ("ExpiredToken", "ExpiredTokenException", "RequestExpired")
CHECK_CREDENTIALS = ("check AWS_PROFILE / the environment's keys, or the profile / role_arn for the account in "
                     "sextant.toml; for SSO run `aws sso login`")


def hint_for(exc: BaseException, source: str, service: str | None = None) -> str:
    """What to do about an error, in words an operator can act on."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        op = exc.operation_name
        service = service or "aws"
        if code in EXPIRED:
            return "credentials expired: refresh them (aws sso login / new session) and run again"
        if op == "GetCallerIdentity" or code in CREDENTIALS_REFUSED:
            # sts:GetCallerIdentity needs no permission and cannot be denied by IAM: a refusal means the credentials
            # themselves are wrong, expired or not valid in this partition.
            return ("AWS refused the credentials (sts:GetCallerIdentity cannot be denied by IAM, so they are wrong, "
                    f"expired or for another partition): {CHECK_CREDENTIALS}")
        if op == "AssumeRole" and code.startswith("AccessDenied"):
            return ("the collector's credentials may not assume the account's role: check role_arn and external_id "
                    "in sextant.toml, the role's trust policy, and that the caller is allowed sts:AssumeRole on it")
        if code.startswith("AccessDenied") or code == "UnauthorizedOperation":
            return (f"grant {service}:{op} to the collector's role (docs/iam/collector-policy.json lists every "
                    f"action Sextant reads); other sources were still collected")
        if code in ("ThrottlingException", "LimitExceededException", "Throttling", "TooManyRequestsException"):
            return "throttled after retries: lower the collection frequency in sextant.toml [collect]"
        return f"{service}:{op} failed with {code}"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials found: set AWS_PROFILE, or a profile / role_arn for the account in sextant.toml"
    if isinstance(exc, NoRegionError):
        return "no region: set AWS_REGION or regions = [...] for the account in sextant.toml"
    if isinstance(exc, BotoCoreError):
        return f"{type(exc).__name__}: check the network path to AWS (or AWS_ENDPOINT_URL) and the region name"
    return f"unexpected error in the {source} collector: see the log"


def partial_hint(f: Failure) -> str:
    """What to do about one failed optional operation; the source's other tables were collected."""
    kept = "its table keeps the rows collected before"
    if f.kind == "denied":
        if f.code in CREDENTIALS_REFUSED or f.code in EXPIRED:
            return f"{f.operation} was refused with the credentials' error {f.code}: {CHECK_CREDENTIALS}"
        return (f"grant {f.operation} to the collector's role (docs/iam/collector-policy.json lists every action "
                f"Sextant reads); {kept}")
    if f.kind == "not implemented":
        return f"the account does not implement {f.operation} (an emulator or a partition without it); {kept}"
    if f.code == "DataUnavailableException":
        return (f"{f.operation}: AWS has too little history for this account yet (a new account); it answers once "
                "enough cost history exists, nothing to do")
    if f.code in ("ThrottlingException", "LimitExceededException", "Throttling", "TooManyRequestsException"):
        return f"{f.operation} was throttled after retries: lower the collection frequency in sextant.toml [collect]"
    return f"{f.operation} failed with {f.code}; {kept}, and the next run tries again"


def run_cycle(settings: Settings, writer: StoreWriter, sources: list[Collector] | None = None,
              account_filter: str | None = None,
              since: datetime | None = None, progress: Callable[[SourceResult], None] | None = None,
              clients_for: Callable[[AccountSettings], Clients] | None = None, shard: Shard | None = None,
              region_filter: str | None = None) -> CycleResult:
    """Collect every source for every configured account and region; a failing source never stops the others.

    In each account and region the sources run in :func:`collectors.run_order`: a source after those it reads. With
    ``shard``, only the (account, region) units that shard owns; with ``region_filter``, only that region."""
    sources = collectors.run_order(sources or collectors.SOURCES)
    cycle = CycleResult(run_id=uuid.uuid4().hex[:12])
    began = now_utc()
    label = str(shard) if shard else None

    def mine(account: AccountSettings, region: str) -> bool:
        return (shard is None or shard.owns(account.name, region)) and region_filter in (None, region)

    for account in settings.accounts:
        clients = (clients_for or Clients)(account)
        if not any(mine(account, region) for region in clients.regions):
            continue
        try:
            account_id = clients.account_id()
        except Exception as exc:  # the whole account is unreachable: record it for every source
            log.warning("account %s unreachable: %s", account.name, _message(exc))
            region = next(r for r in clients.regions if mine(account, r))  # once, by the first region of this shard
            for source in sources:
                r = SourceResult(source.NAME, account.name, region, "failed", error=_message(exc),
                                 hint=redact(hint_for(exc, source.NAME, "sts")))
                _record(writer, cycle.run_id, r, now_utc(), {}, label)
                cycle.results.append(r)
                progress and progress(r)
            continue
        if account_filter and account_filter not in (account_id, account.name):
            continue
        for region in clients.regions:
            if not mine(account, region):
                continue
            problem = region_problem(region)
            for source in sources:
                if source.GLOBAL and region != clients.regions[0]:  # (the first region's shard collects it)
                    continue
                if problem:  # a misspelt region fails its own sources only; the others are collected
                    r = SourceResult(source.NAME, account_id, region, "failed", error=f"unknown region {region!r}",
                                     hint=problem)
                    _record(writer, cycle.run_id, r, now_utc(), {}, label)
                    cycle.results.append(r)
                    progress and progress(r)
                    continue
                r = _run_source(writer, clients, source, account_id, region, settings, since, cycle.run_id,
                                shard=label, cycle_began=began)
                cycle.results.append(r)
                progress and progress(r)
    return cycle


@dataclass
class RefreshRun:
    """What an operator's refresh of one endpoint's metrics read (:func:`run_refresh`)."""

    account_id: str
    region: str
    endpoint: str
    status: str  # succeeded | partial | failed
    series: int = 0
    queries: int = 0
    requests: int = 0  # GetMetricData requests
    datapoints: int = 0
    api_calls: int = 0
    cost_usd: float = 0.0
    error: str | None = None


def run_refresh(settings: Settings, writer: StoreWriter, clients: Clients, account_id: str, region: str,
                endpoint: str) -> RefreshRun:
    """Read every metric series of ``endpoint`` now, whatever its cadence (the metrics source with ``ctx.refresh``),
    in its own transaction like any source run: points, rollups, cursors and series rows land together or not at
    all. It is not a collection cycle: no ``sextant_collection_run`` row (a refresh of one endpoint must not make the
    source look fresh); the caller records what it read and cost. The caller publishes."""
    [metrics] = collectors.by_name([METRICS])
    refresh = Refresh(frozenset({endpoint}))
    r = _run_source(writer, clients, metrics, account_id, region, settings, None, "", refresh)
    return RefreshRun(account_id, region, endpoint, r.status, refresh.series, refresh.queries, refresh.requests,
                      refresh.datapoints, r.api_calls, r.cost_usd, r.error)


def _message(exc: BaseException) -> str:
    """One readable line, credentials and signature dumps removed (:func:`sextant.redact.redact`): HTML error bodies
    (from proxies and emulators) are cut to their first line."""
    text = redact(exc).split("<", 1)[0].strip().rstrip(":")
    return redact(f"{type(exc).__name__}: {text}"[:500])


CONFLICT_RETRIES = 5  # attempts after the first when a shared store's commit conflicts with another writer's
CONFLICT_BACKOFF_S = 0.5  # the first wait; doubled each attempt, with full jitter


def _conflict(exc: BaseException) -> bool:
    """A commit refused because another writer committed to the same table first (DuckLake's optimistic
    concurrency), or found the catalog busy with another's commit (a SQLite catalog is locked while one commits): the
    source runs again, on what the other writer committed."""
    return isinstance(exc, duckdb.TransactionException) and busy(exc)


# Tables every source run writes besides its own. Watermarks are replaced (deleted and appended): locked exclusively.
# Run rows have a new key each time (the cycle's run id), so their upsert deletes nothing: an append, and appends
# never conflict with one another, so a shared lock (against a writer that would delete run rows).
REPLACED_SYSTEM_TABLES = ("sextant_watermark",)
APPENDED_SYSTEM_TABLES = ("sextant_collection_run",)
RUNNING_ELSEWHERE = "running elsewhere: another collector process is collecting this source for this account and region"
COLLECTED_ELSEWHERE = ("collected elsewhere: another collector process collected this source for this account and "
                       "region since this cycle began")
RUNNING_ELSEWHERE_HINT = ("two collectors were given the same work (the same --shard K/N twice, or overlapping "
                          "--account / --region); this one skipped it, nothing was lost")


def _run_source(writer: StoreWriter, clients: Clients, source: Collector, account_id: str, region: str,
                settings: Settings, since: datetime | None, run_id: str,
                refresh: Refresh | None = None, shard: str | None = None,
                cycle_began: datetime | None = None) -> SourceResult:
    """One source in one account and region, in one transaction; recorded as a collection run (not a refresh).

    Never twice at once: when another collector process runs this source for this account and region (the writer's
    ``run_guard``: a PostgreSQL advisory lock, or a file lock beside a local catalog), or has collected it since this
    cycle began (two collectors started with the same work would otherwise each collect what the other had just
    finished), the source is skipped, recorded as ``skipped`` with why, and is not a failure. An operator's refresh is
    not guarded (the table locks order it).

    On a shared store, a commit that conflicts with another collector's is retried (the whole source: what it read
    is written again on top of the other's commit) up to CONFLICT_RETRIES times, with exponential backoff and jitter;
    after that the source fails with the conflict, and the next cycle collects it. On PostgreSQL, the table locks
    (``writer.table_locks``) make such conflicts rare: a writer waits for the tables instead."""
    if refresh is not None:
        return _retrying(writer, clients, source, account_id, region, settings, since, run_id, refresh, shard)
    why = RUNNING_ELSEWHERE
    with writer.run_guard(source.NAME, account_id, region) as mine:
        if mine and not (cycle_began and _collected_since(writer, source.NAME, account_id, region, run_id,
                                                          cycle_began)):
            return _retrying(writer, clients, source, account_id, region, settings, since, run_id, refresh, shard)
        why = COLLECTED_ELSEWHERE if mine else RUNNING_ELSEWHERE
    log.warning("%s for %s/%s skipped: %s", source.NAME, account_id, region, why)
    result = SourceResult(source.NAME, account_id, region, "skipped", error=why, hint=RUNNING_ELSEWHERE_HINT)
    with writer.table_locks((), APPENDED_SYSTEM_TABLES), writer.transaction():
        _record(writer, run_id, result, now_utc(), {}, shard)
    return result


def _collected_since(writer: StoreWriter, source: str, account_id: str, region: str, run_id: str,
                     began: datetime) -> bool:
    """Whether another cycle (another collector process) collected ``source`` for that account and region since
    ``began``: its run row ended after it."""
    return bool(writer.con.execute(
        "SELECT 1 FROM sextant_collection_run WHERE source = ? AND account_id = ? AND region = ? AND run_id <> ? "
        "AND ended_at >= ? AND status IN ('succeeded', 'partial') LIMIT 1",
        [source, account_id, region, run_id, began]).fetchall())


def _retrying(writer: StoreWriter, clients: Clients, source: Collector, account_id: str, region: str,
              settings: Settings, since: datetime | None, run_id: str, refresh: Refresh | None,
              shard: str | None) -> SourceResult:
    for attempt in range(CONFLICT_RETRIES + 1):
        result = _attempt_source(writer, clients, source, account_id, region, settings, since, run_id, refresh, shard,
                                 last=attempt == CONFLICT_RETRIES)
        if result is not None:
            result.attempts = attempt + 1
            return result
        wait = random.uniform(0, CONFLICT_BACKOFF_S * 2 ** attempt)
        log.info("%s for %s/%s conflicted with another writer's commit: again in %.1f s", source.NAME, account_id,
                 region, wait)
        time.sleep(wait)
    raise AssertionError("unreachable: the last attempt returns its result")


def _attempt_source(writer: StoreWriter, clients: Clients, source: Collector, account_id: str, region: str,
                    settings: Settings, since: datetime | None, run_id: str, refresh: Refresh | None,
                    shard: str | None, last: bool) -> SourceResult | None:
    """One attempt of :func:`_run_source`; None when its commit conflicted and another attempt is due."""
    started = now_utc()
    clients = clients.for_source()  # fresh retry quotas: one source's errors cannot starve the next
    before = clients.counter.snapshot()
    usd_before = clients.counter.estimated_usd()
    result = SourceResult(source.NAME, account_id, region, "succeeded")
    try:
        with writer.table_locks(_replaced_tables(source), APPENDED_SYSTEM_TABLES), writer.transaction() as con:
            def run_sql(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
                rows: list[tuple[Any, ...]] = con.execute(sql, params).fetchall()
                return rows

            ctx = Context(clients, account_id, region, settings, _load_cursor(writer, source, account_id, region),
                          run_sql=run_sql, since=since, refresh=refresh)
            for t, rows in source.collect(ctx):
                result.rows += writer.upsert(t, rows)
            writer.set_watermarks(account_id, region, source.NAME, ctx.cursor.moved())
            calls = clients.counter.diff(before)
            result.api_calls = sum(calls.values())
            result.cost_usd = clients.counter.estimated_usd() - usd_before
            if ctx.failures:
                failures = list(ctx.failures.values())
                result.status = "partial"
                result.error = redact("; ".join(f.text() for f in failures))[:1000]
                result.hint = redact(" | ".join(dict.fromkeys(partial_hint(f) for f in failures)))[:1000]
                log.warning("%s partial for %s/%s: %s", source.NAME, account_id, region, result.error)
            if refresh is None:
                _record(writer, run_id, result, started, calls, shard)
    except Exception as exc:
        if _interrupted(exc):
            # A Ctrl-C (or SIGTERM) that lands inside a DuckDB statement comes back as an Exception: DuckDB's own
            # InterruptException, or, inside a DuckLake catalog's PostgreSQL query, "Query interrupted". It is still
            # a stop, not a failed source (the transaction above has rolled back).
            raise KeyboardInterrupt from exc
        if _conflict(exc) and not last:
            return None
        log.warning("%s failed for %s/%s: %s", source.NAME, account_id, region, _message(exc))
        calls = clients.counter.diff(before)
        result = SourceResult(source.NAME, account_id, region, "failed", 0, sum(calls.values()),
                              clients.counter.estimated_usd() - usd_before, _message(exc),
                              redact(hint_for(exc, source.NAME, clients.counter.last_service())))
        if refresh is None:
            with writer.table_locks((), APPENDED_SYSTEM_TABLES), writer.transaction():
                _record(writer, run_id, result, started, calls, shard)
    return result


def _interrupted(exc: BaseException) -> bool:
    """Whether ``exc`` is an interrupt that surfaced inside a DuckDB statement (see :func:`_attempt_source`)."""
    return isinstance(exc, duckdb.InterruptException) or str(exc).strip().lower().endswith("query interrupted")


def _replaced_tables(source: Collector) -> list[str]:
    """The tables a source's transaction may delete from: its own (an upsert replaces rows by primary key; its SQL
    may delete) and the watermarks."""
    return sorted({t.name for t in source.TABLES} | set(REPLACED_SYSTEM_TABLES))


def _load_cursor(writer: StoreWriter, source: Collector, account_id: str, region: str) -> Cursor:
    """The source's cursor as stored; on its first run, with the positions it inherits from the source that filled
    its tables before (``collectors.INHERITED_CURSORS``), written under its own name with this run's rows."""
    stored = writer.watermarks(account_id, region, source.NAME)
    cursor = Cursor(stored)
    former, keys = collectors.INHERITED_CURSORS.get(source.NAME, ("", ()))
    if keys:
        old = writer.watermarks(account_id, region, former)
        for key in keys:
            if key not in stored and key in old:
                cursor.set_text(key, old[key])
    return cursor


def _record(writer: StoreWriter, run_id: str, r: SourceResult, started: datetime, calls: dict[str, int],
            shard: str | None = None) -> None:
    writer.record_run(account_id=r.account_id, region=r.region, run_id=run_id, source=r.source,
                      started_at=started, ended_at=now_utc(), status=r.status, rows=r.rows, api_calls=r.api_calls,
                      api_calls_by_operation=calls, estimated_cost_usd=round(r.cost_usd, 6), error=r.error,
                      hint=r.hint, shard=shard)
