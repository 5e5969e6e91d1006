"""What a collector module sees: its clients, its cursor, the store inside its run's transaction; and the
contract every collector module fulfils (:class:`Collector`).

**Partial failure.** A source's core listing must succeed, or the source fails and writes nothing. Everything
else it reads (tags, scaling activities, alarm history, a forecast, one item's describe) is *optional*: run it
through :meth:`Context.optional`. When it fails, the failure is recorded on the context, the call returns None,
and the collector leaves what that call would have refreshed as it is (the stored rows stay; its cursor does not
move); the runner then records the run as ``partial`` with the failed operation and what to do about it. An
operation the account does not implement is not called again in the run; a denied one is (IAM may deny one
resource and allow the next), but never retried.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from sextant.aws import Clients, error_fields, final_answer
from sextant.redact import redact
from sextant.schema import Table, ident
from sextant.settings import Settings
from sextant.store import UniqueKeys

Batch = tuple[Table, pd.DataFrame | list[dict[str, Any]] | UniqueKeys]
CursorKey = str | tuple[str, ...]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
T = TypeVar("T")
TAGS_CURSOR = "tags_read_at"  # when the source last re-read every resource's tags (settings.collect.tags_every_s)
LIST_TAGS = "sagemaker:ListTags"

log = logging.getLogger("sextant.collect")


@dataclass
class Failure:
    """An optional operation that failed in a run: the IAM action (``service:Operation``), how (``denied``, ``not
    implemented`` or None for any other error), the AWS error code and message (redacted), and how many calls
    failed."""

    operation: str
    kind: str | None
    code: str
    message: str
    calls: int = 1

    def text(self) -> str:
        """One line for the collection-run row: ``application-autoscaling:DescribeScalingActivities:
        AccessDeniedException (...)``."""
        count = f", {self.calls} calls" if self.calls > 1 else ""
        detail = self.message.split("<", 1)[0].strip()[:160]
        what = self.code or "error"
        if self.kind == "not implemented" and what.isdigit():  # an emulator's bare HTTP error page
            what = f"not implemented (HTTP {what})"
        return f"{self.operation}: {what}{count}" + (f" ({detail})" if detail else "")


class Cursor:
    """Where each incremental read of one source, account and region got to: positions in time, by key.

    The runner owns the state: it loads the cursor from ``sextant_watermark`` before ``collect`` and writes the
    positions moved during the run in the same transaction as the run's rows, so a failed run leaves every
    cursor where the stored data ends. A key is a string or a tuple of strings (joined with ``|``: the tuple
    ``(series_id, stat)`` is stored as ``"series_id|stat"``). Positions are timezone-aware datetimes, stored as
    ISO-8601; a stored date (``2026-11-25``) reads as its midnight UTC and digits alone as epoch milliseconds
    (how log cursors were written before), so stores written by earlier versions keep their cursors.

    A marker that is not a position in time (e.g. a fingerprint of what a discovery saw) is kept with
    :meth:`text` / :meth:`set_text`, under the same rules of ownership."""

    SEPARATOR = "|"

    def __init__(self, stored: Mapping[str, str] | None = None) -> None:
        self._stored = dict(stored or {})
        self._moved: dict[str, str] = {}

    @classmethod
    def key(cls, key: CursorKey) -> str:
        """The stored form of a key."""
        return key if isinstance(key, str) else cls.SEPARATOR.join(key)

    def get(self, key: CursorKey) -> datetime | None:
        """The position reached for ``key`` (this run's if it moved it), or None when nothing was read yet."""
        text = self.text(key)
        return None if text is None else _parse(text)

    def advance(self, key: CursorKey, value: datetime) -> None:
        """Record the position reached for ``key``: the next run starts from it. Usually forward; a backfill
        (``--since``) may set it back, and the next runs continue from there."""
        if value.tzinfo is None:
            raise ValueError(f"cursor {self.key(key)!r}: a naive datetime ({value}) has no defined instant")
        self._moved[self.key(key)] = value.astimezone(UTC).isoformat()

    def text(self, key: CursorKey) -> str | None:
        k = self.key(key)
        return self._moved.get(k, self._stored.get(k))

    def set_text(self, key: CursorKey, value: str) -> None:
        self._moved[self.key(key)] = value

    def moved(self) -> dict[str, str]:
        """Stored form of the keys this run moved: what the runner writes with the run's rows."""
        return dict(self._moved)


def _parse(text: str) -> datetime:
    if text.isdigit():
        return from_epoch_ms(int(text))
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class Refresh:
    """An operator's "refresh this endpoint now" (``actions.refresh``), which the runner passes to the metrics source
    alone (:func:`collectors.runner.run_refresh`): read every series of ``endpoints`` once, every statistic due
    whatever its cadence, and nothing else. The source fills in what it read; the other fields are its report."""

    endpoints: frozenset[str]
    series: int = 0  # series of those endpoints read
    queries: int = 0  # series x statistic queries requested
    requests: int = 0  # GetMetricData requests (NextToken pages not counted)
    datapoints: int = 0  # datapoints returned


def _no_store(sql: str, params: list[Any]) -> list[tuple]:
    raise RuntimeError("this Context has no store: give it run_sql (the runner gives its transaction's)")


@dataclass
class Context:
    """Per (source, account, region): clients, settings, the cursor, and the store inside this run's transaction."""

    clients: Clients
    account_id: str
    region: str
    settings: Settings
    cursor: Cursor = field(default_factory=Cursor)
    run_sql: Callable[[str, list[Any]], list[tuple]] = _no_store
    since: datetime | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    failures: dict[str, Failure] = field(default_factory=dict)
    refresh: Refresh | None = None  # set only for an operator's refresh of some endpoints' metrics

    def client(self, service: str) -> Any:
        return self.clients.client(service, self.region)

    # ------------------------------------------------------------------ partial failure
    def optional(self, operation: str, call: Callable[[], T]) -> T | None:
        """``call()``, or None when it fails with an AWS error: the failure is recorded (the run is then partial)
        and the caller keeps what it would have refreshed. ``operation`` is the IAM action the call makes
        (``sagemaker:ListTags``): it names the failure and its hint. After a "not implemented" answer the
        operation is not called again in this run."""
        known = self.failures.get(operation)
        if known is not None and known.kind == "not implemented":
            return None
        try:
            return call()
        except (ClientError, BotoCoreError, ResponseParserError) as exc:
            code, status, message = error_fields(exc)
            if known is not None:
                known.calls += 1
            else:
                failure = Failure(operation, final_answer(code, status, message), code or type(exc).__name__,
                                  redact(message or exc))
                self.failures[operation] = failure
                log.warning("%s/%s: an optional call failed, the other tables are still collected: %s",
                            self.account_id, self.region, failure.text())
            return None

    def failed(self, operation: str) -> bool:
        """Whether ``operation`` failed in this run (so what it refreshes, and its cursor, stay as they were)."""
        return operation in self.failures

    # ------------------------------------------------------------------ tags on a cadence
    def tags_due(self) -> bool:
        """Whether this run re-reads the tags of every resource, changed or not: tags change without touching a
        resource's modification time, so each source re-reads them every ``collect.tags_every_s`` (cursor
        ``tags_read_at``)."""
        last = self.cursor.get(TAGS_CURSOR)
        return last is None or (self.now - last).total_seconds() >= self.settings.collect.tags_every_s

    def tags_read(self) -> None:
        """Every resource's tags were re-read: move the cadence cursor, unless ListTags failed in this run."""
        if not self.failed(LIST_TAGS):
            self.cursor.advance(TAGS_CURSOR, self.now)

    def tags(self, arn: str) -> dict[str, str] | None:
        """The resource's tags (SageMaker ListTags, every page), or None when the call failed (recorded)."""
        sm = self.client("sagemaker")
        return self.optional(LIST_TAGS, lambda: tags_dict(list(paginate(sm, "list_tags", "Tags", ResourceArn=arn))))

    def refresh_tags(self, table: Table, key: str, arn: str, columns: Callable[[dict[str, str]], dict[str, Any]],
                     skip: set[str]) -> None:
        """When tags are due: re-read the tags of every stored row of ``table`` (``key`` names it, ``arn`` is its
        ARN column) not in ``skip`` (read in this run already), and update the columns ``columns(tags)`` gives
        (always including ``tags``, the JSON of all of them). Then move the cadence cursor."""
        if not self.tags_due():
            return
        rows = self.sql(f"SELECT {ident(key)}, {ident(arn)} FROM {ident(table.name)} "  # noqa: S608 - registry
                        "WHERE account_id = ? AND region = ?", [self.account_id, self.region])
        for name, resource_arn in rows:
            if name in skip or not resource_arn:
                continue
            tags = self.tags(resource_arn)
            if tags is None:
                if self.failures[LIST_TAGS].kind == "not implemented":
                    break
                continue
            values = {**columns(tags), "tags": json.dumps(tags)}
            sets = ", ".join(f"{ident(c)} = ?" for c in values)
            self.sql(f"UPDATE {ident(table.name)} SET {sets} WHERE account_id = ? AND region = ? "  # noqa: S608
                     f"AND {ident(key)} = ?", [*values.values(), self.account_id, self.region, name])
        self.tags_read()

    def sql(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run SQL on the store inside this run's transaction: read what is already collected, or write derived
        rows (a rollup's INSERT ... SELECT); it commits or rolls back with the run's batches."""
        return self.run_sql(sql, list(params or []))

    def delete(self, table: Table, column: str, values: Sequence[Any]) -> None:
        """Delete this account and region's rows of ``table`` whose ``column`` is one of ``values``."""
        sql = f"DELETE FROM {ident(table.name)} WHERE account_id = ? AND region = ? AND {ident(column)} IN (SELECT unnest(?))"  # noqa: E501, S608 - registry identifiers
        self.sql(sql, [self.account_id, self.region, list(values)])

    def owners(self, tags: Mapping[str, str] | None) -> dict[str, str | None]:
        """The team and project columns of a resource: the values of the tags ``[collect] tag_keys`` names
        (default ``team`` and ``project``), and the ``env`` tag."""
        tags = tags or {}
        team, project = self.settings.collect.tag_keys
        return {"team": tags.get(team), "project": tags.get(project), "env": tags.get("env")}

    def rows(self, **values: Any) -> dict[str, Any]:
        return {"account_id": self.account_id, "region": self.region, **values}


class Collector(Protocol):
    """A collector module: ``collectors/__init__.py`` lists them, the runner calls ``collect`` per account and
    region (once per account when ``GLOBAL``), after the sources named in ``DEPENDS_ON``."""

    # Read-only (properties) so that a module's constants match: NAME = "ecr", TABLES = (REPOSITORY, IMAGE).
    @property
    def NAME(self) -> str: ...  # the source's name: --source NAME, DEPENDS_ON, sextant_collection_run.source

    @property
    def GLOBAL(self) -> bool: ...  # True for global services (Cost Explorer): collected once per account

    @property
    def DEPENDS_ON(self) -> tuple[str, ...]: ...  # sources whose rows collect() reads: they run first

    @property
    def TABLES(self) -> tuple[Table, ...]: ...  # the tables it fills

    def collect(self, ctx: Context) -> Iterator[Batch]: ...


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every item under ``key`` across all pages, with botocore's paginator."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def epoch_ms(t: datetime | None) -> int | None:
    """Epoch milliseconds: stored and listed timestamps are compared as numbers (AWS gives milliseconds)."""
    return None if t is None else round(t.timestamp() * 1000)


def from_epoch_ms(ms: int) -> datetime:
    """The instant of an epoch-milliseconds timestamp (exact: no float on the way)."""
    return EPOCH + timedelta(milliseconds=ms)


def tags_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


JOB_PAGE_SIZE = 100
JOB_OVERLAP = timedelta(seconds=1)  # re-list the cursor's second: LastModifiedTimeAfter compares strictly


@dataclass(frozen=True)
class Job:
    """A SageMaker job a sweep described: its name, DescribeX answer and tags (None: they could not be read and
    none were stored)."""

    name: str
    description: dict[str, Any]
    tags: dict[str, str] | None


def sweep_jobs(ctx: Context, *, kind: str, table: Table, list_call: str, describe_call: str, state: str = "status",
               again: Callable[[str, tuple[Any, ...]], bool] = lambda name, stored: False) -> Iterator[Job]:
    """The incremental read every SageMaker job source shares (``kind`` "TrainingJob", "ProcessingJob", ...;
    ``list_call`` / ``describe_call`` the client methods, named in the caller so the IAM policy test sees them).

    List{kind}s with ``LastModifiedTimeAfter`` = the cursor ``last_modified`` (or ``--since``), 100 per page;
    describe (optional: ``sagemaker:Describe{kind}``) only the jobs whose LastModifiedTime differs from the stored
    row, plus the stored jobs ``again(name, stored)`` names (``stored`` = (last modified in epoch ms, *``state``
    columns)); read each described job's tags (optional: the stored ones stay when ListTags fails). The cursor
    advances to the newest modification described, and stops before a job whose describe failed, so the next run
    lists it again. A run in which nothing changed makes only the list calls."""
    sm = ctx.client("sagemaker")
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in kind).lstrip("_")  # TrainingJob -> training_job
    name_col = f"{snake}_name"
    where = [ctx.account_id, ctx.region]
    known = {row[0]: tuple(row[1:]) for row in ctx.sql(
        f"SELECT {ident(name_col)}, epoch_ms(last_modified_time), {state} FROM {ident(table.name)} "  # noqa: S608
        "WHERE account_id = ? AND region = ?", where)}
    cursor = ctx.cursor.get("last_modified")
    kwargs: dict[str, Any] = {"PaginationConfig": {"PageSize": JOB_PAGE_SIZE}}
    if ctx.since is not None:
        kwargs["LastModifiedTimeAfter"] = ctx.since
    elif cursor:
        kwargs["LastModifiedTimeAfter"] = cursor - JOB_OVERLAP
    to_describe: list[str] = []
    listed_at: dict[str, datetime] = {}
    newest = cursor
    for s in paginate(sm, list_call, f"{kind}Summaries", **kwargs):
        modified = s.get("LastModifiedTime") or s["CreationTime"]
        newest = max(newest or modified, modified)
        stored = known.get(s[f"{kind}Name"])
        if stored is None or stored[0] != epoch_ms(modified) or again(s[f"{kind}Name"], stored):
            to_describe.append(s[f"{kind}Name"])
            listed_at[s[f"{kind}Name"]] = modified
    listed = set(to_describe)
    to_describe += [name for name, stored in known.items() if name not in listed and again(name, stored)]
    stored_tags = dict(ctx.sql(
        f"SELECT {ident(name_col)}, tags FROM {ident(table.name)} WHERE account_id = ? AND region = ? "  # noqa: S608
        f"AND {ident(name_col)} IN (SELECT unnest(?))", [*where, to_describe])) if known and to_describe else {}
    operation = f"sagemaker:Describe{kind}"
    describe = getattr(sm, describe_call)
    for name in to_describe:
        d = ctx.optional(operation, lambda name=name: describe(**{f"{kind}Name": name}))
        if d is None:  # its stored row stays; the cursor stops before it, so the next run lists it again
            if name in listed_at:
                newest = min(newest, listed_at[name]) if newest else listed_at[name]
            continue
        tags = ctx.tags(d[f"{kind}Arn"])
        if tags is None and stored_tags.get(name) is not None:
            tags = json.loads(stored_tags[name])  # ListTags failed: the tags stored before stay
        yield Job(name, d, tags)
        modified = d.get("LastModifiedTime") or d["CreationTime"]
        if not ctx.failed(operation):
            newest = max(newest or modified, modified)
    if newest:
        ctx.cursor.advance("last_modified", newest)
