"""Fixtures for the alerts: a tiny store (every collector table and the alerts' tables, rows given in-process) held
open by its one writer, as the collector holds it at the end of a cycle."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import alerts
import collectors
from sextant.schema import SYSTEM_TABLES
from sextant.settings import AlertSettings, Settings
from sextant.store import Writer
from tests.dashboard.queries.conftest import _template

_TABLES = {t.name: t for t in [*SYSTEM_TABLES, *collectors.all_tables(), *alerts.TABLES]}
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


class AlertStore:
    """A writer on a tiny store, the settings alerts are evaluated with, and helpers to read what they wrote."""

    def __init__(self, location: Path) -> None:
        # a copy of the store every table of which the migration made once per test process (the alerts' tables are
        # system tables): tests.dashboard.queries.conftest._template
        location.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_template(), location / "writer.duckdb")
        self.writer = Writer(location)
        self.settings = Settings(store=location)

    def put(self, table: str, rows: list[dict[str, Any]]) -> None:
        with self.writer.transaction():
            self.writer.upsert(_TABLES[table], rows)

    def configure(self, **alert_settings: Any) -> None:
        self.settings = replace(self.settings, alerts=AlertSettings(**alert_settings))

    def evaluate(self, now: datetime) -> alerts.Evaluation:
        return alerts.evaluate(self.writer, self.settings, now)

    def rows(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        return self.writer.con.execute(sql, params or []).fetchall()

    def alert(self, rule: str) -> dict[str, Any]:
        cur = self.writer.con.execute("SELECT * FROM sextant_alert WHERE rule = ?", [rule])
        [row] = cur.fetchall()
        return dict(zip([d[0] for d in cur.description], row, strict=True))


@pytest.fixture
def store(tmp_path) -> Iterator[AlertStore]:
    s = AlertStore(tmp_path / "store")
    yield s
    s.writer.close()


def traffic(endpoint: str, invocations: float, errors_5xx: float, window: int = 60, **extra: Any) -> dict[str, Any]:
    return {"account_id": "123456789012", "region": "us-east-1", "endpoint_name": endpoint, "window_minutes": window,
            "through": T0, "invocations": invocations, "errors_5xx": errors_5xx, **extra}
