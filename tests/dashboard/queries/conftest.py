"""The fast tier: query functions on tiny stores built from rows in-process (no emulated account, no server).

``tiny_store(aws_sagemaker_endpoint=[{...}, ...], ...)`` creates a store at the current schema version (every
table of every collector, as the collector's migration makes it, once per test process, then copied) in a fresh
directory, upserts the given rows
(a list of dicts or a DataFrame per table; columns not given are NULL), publishes a snapshot and points
SEXTANT_STORE at it; it returns the store's path. ``cycle=(account, region, now)`` also runs the metrics collector's
end-of-cycle summary (``cloudwatch_metrics.summarize``) over those rows, as a collection at ``now`` would.
dashboard.data caches per store location and snapshot, and each call gets a new directory, so nothing leaks between
tests. ``f(...)`` builds a Filters.
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import collectors
from collectors.cloudwatch_metrics import summarize
from dashboard.filters import Filters
from sextant.schema import SYSTEM_TABLES
from sextant.store import Writer

_TABLES = {t.name: t for t in collectors.all_tables()}
_ROWS = {**{t.name: t for t in SYSTEM_TABLES}, **_TABLES}  # system tables (collection runs, sources) take rows too


_TEMPLATE: list[Path] = []  # this test process's migrated, empty store file


def _template() -> Path:
    """A store migrated once per test process (every table, as the collector's migration makes them): each tiny store
    starts as a copy of its file, since migrating some sixty tables took 0.2-0.3 s a store, most of a query test."""
    if not _TEMPLATE:
        root = Path(tempfile.mkdtemp(prefix="sextant-tiny-template-"))
        atexit.register(shutil.rmtree, root, True)
        writer = Writer(root / "store")
        try:
            writer.migrate(list(_TABLES.values()))
        finally:
            writer.close()  # checkpointed: the whole store is in the one file
        _TEMPLATE.append(root / "store" / "writer.duckdb")
    return _TEMPLATE[0]


@pytest.fixture
def tiny_store(tmp_path, monkeypatch):
    counter = itertools.count()

    def build(cycle: tuple[str, str, datetime] | None = None, **rows_by_table) -> str:
        location = tmp_path / f"store-{next(counter)}"
        location.mkdir(parents=True)
        shutil.copyfile(_template(), location / "writer.duckdb")
        writer = Writer(location)
        try:
            with writer.transaction():
                for name, rows in rows_by_table.items():
                    writer.upsert(_ROWS[name], rows)
            if cycle is not None:
                with writer.transaction() as con:
                    summarize(lambda sql, params: con.execute(sql, params).fetchall(), *cycle)
            writer.publish()
        finally:
            writer.close()
        monkeypatch.setenv("SEXTANT_STORE", str(location))
        return str(location)

    return build


END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def f(start: datetime | None = None, end: datetime = END, **scope) -> Filters:
    """Filters over [start, end) (24 h by default) with scope tuples (accounts=, regions=, teams=, projects=)."""
    return Filters(start or end - timedelta(days=1), end, **{k: tuple(v) for k, v in scope.items()})
