"""What a collector module sees: its clients, its cursor, the store inside its run's transaction; and the
contract every collector module fulfils (:class:`Collector`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from sextant.aws import Clients
from sextant.schema import Table, ident
from sextant.settings import Settings
from sextant.store import UniqueKeys

Batch = tuple[Table, pd.DataFrame | list[dict[str, Any]] | UniqueKeys]
CursorKey = str | tuple[str, ...]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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

    def client(self, service: str) -> Any:
        return self.clients.client(service, self.region)

    def sql(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple]:
        """Run SQL on the store inside this run's transaction: read what is already collected, or write derived
        rows (a rollup's INSERT ... SELECT); it commits or rolls back with the run's batches."""
        return self.run_sql(sql, list(params or []))

    def delete(self, table: Table, column: str, values: Sequence[Any]) -> None:
        """Delete this account and region's rows of ``table`` whose ``column`` is one of ``values``."""
        sql = f"DELETE FROM {ident(table.name)} WHERE account_id = ? AND region = ? AND {ident(column)} IN (SELECT unnest(?))"  # noqa: E501, S608 - registry identifiers
        self.sql(sql, [self.account_id, self.region, list(values)])

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
