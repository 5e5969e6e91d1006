"""What a collector module sees: its clients, its cursors and where to put rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd

from sextant.aws import Clients
from sextant.settings import Settings
from sextant.schema import Table

Batch = tuple[Table, pd.DataFrame | list[dict[str, Any]]]


@dataclass
class Context:
    """Per (source, account, region): clients, settings, cursors read before and cursors to advance."""

    clients: Clients
    account_id: str
    region: str
    settings: Settings
    watermarks: dict[str, str]
    query: Callable[[str, list[Any]], list[tuple]] = lambda sql, params: []
    delete: Callable[[Table, str, list[Any]], None] = lambda table, column, values: None
    since: datetime | None = None
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    new_watermarks: dict[str, str] = field(default_factory=dict)

    def client(self, service: str):
        return self.clients.client(service, self.region)

    def advance(self, key: str, value: str) -> None:
        """Move a cursor; it is written in the same transaction as the rows of this run."""
        self.new_watermarks[key] = value

    def known(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """Read the store inside this run's transaction (what is already collected)."""
        return self.query(sql, params or [])

    def execute(self, sql: str, params: list[Any] | None = None) -> list[tuple]:
        """Write to the store with SQL (e.g. a rollup INSERT ... SELECT) inside this run's transaction."""
        return self.query(sql, params or [])

    def rows(self, **values: Any) -> dict[str, Any]:
        return {"account_id": self.account_id, "region": self.region, **values}


class Collector(Protocol):
    NAME: str
    TABLES: tuple[Table, ...]
    GLOBAL: bool  # True for global services (Cost Explorer): collected once per account

    def collect(self, ctx: Context) -> Iterator[Batch]: ...


def paginate(client, operation: str, key: str, **kwargs) -> Iterator[dict[str, Any]]:
    """Every item under ``key`` across all pages, with botocore's paginator."""
    for page in client.get_paginator(operation).paginate(**kwargs):
        yield from page.get(key, [])


def tags_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}
