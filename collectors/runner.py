"""One collection cycle: every source, every account and region, each in its own transaction."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

import collectors
from collectors.base import Collector, Context, Cursor
from sextant.aws import Clients, region_problem
from sextant.settings import AccountSettings, Settings
from sextant.store import Writer, now_utc

log = logging.getLogger("sextant.collect")


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


@dataclass
class CycleResult:
    run_id: str
    results: list[SourceResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SourceResult]:
        return [r for r in self.results if r.status == "failed"]


def hint_for(exc: BaseException, source: str, service: str | None = None) -> str:
    """What to do about an error, in words an operator can act on."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        op = exc.operation_name
        service = service or "aws"
        if code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "UnrecognizedClientException"):
            return (f"grant {service}:{op} to the collector's role (docs/iam/collector-policy.json lists every "
                    f"action Sextant reads); other sources were still collected")
        if code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired"):
            return "credentials expired: refresh them (aws sso login / new session) and run again"
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


def run_cycle(settings: Settings, writer: Writer, sources: list[Collector] | None = None,
              account_filter: str | None = None,
              since: datetime | None = None, progress: Callable[[SourceResult], None] | None = None,
              clients_for: Callable[[AccountSettings], Clients] | None = None) -> CycleResult:
    """Collect every source for every configured account and region; a failing source never stops the others.

    In each account and region the sources run in :func:`collectors.run_order`: a source after those it reads."""
    sources = collectors.run_order(sources or collectors.SOURCES)
    cycle = CycleResult(run_id=uuid.uuid4().hex[:12])
    for account in settings.accounts:
        clients = (clients_for or Clients)(account)
        try:
            account_id = clients.account_id()
        except Exception as exc:  # the whole account is unreachable: record it for every source
            for source in sources:
                r = SourceResult(source.NAME, account.name, account.regions[0] if account.regions else "-",
                                 "failed", error=_message(exc), hint=hint_for(exc, source.NAME))
                _record(writer, cycle.run_id, r, now_utc(), {})
                cycle.results.append(r)
                progress and progress(r)
            continue
        if account_filter and account_filter not in (account_id, account.name):
            continue
        for region in clients.regions:
            problem = region_problem(region)
            for source in sources:
                if source.GLOBAL and region != clients.regions[0]:
                    continue
                if problem:  # a misspelt region fails its own sources only; the others are collected
                    r = SourceResult(source.NAME, account_id, region, "failed", error=f"unknown region {region!r}",
                                     hint=problem)
                    _record(writer, cycle.run_id, r, now_utc(), {})
                    cycle.results.append(r)
                    progress and progress(r)
                    continue
                r = _run_source(writer, clients, source, account_id, region, settings, since, cycle.run_id)
                cycle.results.append(r)
                progress and progress(r)
    return cycle


def _message(exc: BaseException) -> str:
    """One readable line: HTML error bodies (from proxies and emulators) are cut to their first line."""
    text = str(exc).split("<", 1)[0].strip().rstrip(":")
    return f"{type(exc).__name__}: {text}"[:500]


def _run_source(writer: Writer, clients: Clients, source: Collector, account_id: str, region: str, settings: Settings,
                since: datetime | None, run_id: str) -> SourceResult:
    started = now_utc()
    clients = clients.for_source()  # fresh retry quotas: one source's errors cannot starve the next
    before = clients.counter.snapshot()
    usd_before = clients.counter.estimated_usd()
    result = SourceResult(source.NAME, account_id, region, "succeeded")
    try:
        with writer.transaction() as con:
            def run_sql(sql: str, params: list[Any]) -> list[tuple]:
                return con.execute(sql, params).fetchall()

            ctx = Context(clients, account_id, region, settings, _load_cursor(writer, source, account_id, region),
                          run_sql=run_sql, since=since)
            for t, rows in source.collect(ctx):
                result.rows += writer.upsert(t, rows)
            writer.set_watermarks(account_id, region, source.NAME, ctx.cursor.moved())
            calls = clients.counter.diff(before)
            result.api_calls = sum(calls.values())
            result.cost_usd = clients.counter.estimated_usd() - usd_before
            _record(writer, run_id, result, started, calls)
    except duckdb.InterruptException as exc:
        # A Ctrl-C (or SIGTERM) that lands inside a DuckDB statement comes back as DuckDB's own exception, an
        # Exception: it is still a stop, not a failed source (the transaction above has rolled back).
        raise KeyboardInterrupt from exc
    except Exception as exc:
        log.warning("%s failed for %s/%s: %s", source.NAME, account_id, region, exc)
        calls = clients.counter.diff(before)
        result = SourceResult(source.NAME, account_id, region, "failed", 0, sum(calls.values()),
                              clients.counter.estimated_usd() - usd_before, _message(exc),
                              hint_for(exc, source.NAME, clients.counter.last_service()))
        with writer.transaction():
            _record(writer, run_id, result, started, calls)
    return result


def _load_cursor(writer: Writer, source: Collector, account_id: str, region: str) -> Cursor:
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


def _record(writer: Writer, run_id: str, r: SourceResult, started: datetime, calls: dict[str, int]) -> None:
    writer.record_run(account_id=r.account_id, region=r.region, run_id=run_id, source=r.source,
                      started_at=started, ended_at=now_utc(), status=r.status, rows=r.rows, api_calls=r.api_calls,
                      api_calls_by_operation=calls, estimated_cost_usd=round(r.cost_usd, 6), error=r.error,
                      hint=r.hint)
