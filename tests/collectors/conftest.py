"""Fixtures for collector tests: run the real CLI code path against the emulated account into a tmp store."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

import collectors
from collectors import runner
from sextant.aws import Clients
from sextant.settings import AccountSettings, Settings
from sextant.store import Reader, Writer
from tests.lake_fixtures import postgres, s3_bucket, s3_endpoint, shared_store  # noqa: F401 - fixtures (copy_store)


class Collection:
    """A store in tmp_path, collected from the emulated account; rerunnable, with the call counter exposed."""

    def __init__(self, location: Path, accounts: tuple[AccountSettings, ...] = (AccountSettings(),)) -> None:
        self.settings = Settings(store=location, accounts=accounts)
        self.clients: dict[str, Clients] = {}

    def _clients(self, account: AccountSettings) -> Clients:
        return self.clients.setdefault(account.name, Clients(account))

    def run(self, sources: list[str] | None = None, **kwargs) -> runner.CycleResult:
        writer = Writer(self.settings.store)
        try:
            collectors.migrate(writer)
            cycle = runner.run_cycle(self.settings, writer, collectors.by_name(sources),
                                     clients_for=self._clients, **kwargs)
            writer.publish()
        finally:
            writer.close()
        return cycle

    def calls(self, account: str = "default") -> dict[str, int]:
        return self.clients[account].counter.snapshot()

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        reader = Reader(self.settings.store)
        try:
            return reader.connection().execute(sql, params or []).fetchall()
        finally:
            reader.close()

    def set_back(self, gap: timedelta) -> None:
        """The store as if the last metrics poll had run ``gap`` ago: its cursors, newest points and poll times."""
        from collectors import cloudwatch_metrics as cwm
        w = Writer(self.settings.store)
        try:
            with w.transaction():
                rows = w.con.execute("SELECT account_id, region, key, value FROM sextant_watermark "
                                     "WHERE source = ? AND contains(key, '|')", [cwm.NAME]).fetchall()
                w.con.executemany("UPDATE sextant_watermark SET value = ? WHERE account_id = ? AND region = ? "
                                  "AND source = ? AND key = ?",
                                  [((datetime.fromisoformat(v) - gap).isoformat(), a, r, cwm.NAME, k)
                                   for a, r, k, v in rows])
                [(newest,)] = w.con.execute("SELECT max(ts) FROM aws_cloudwatch_metric_point").fetchall()
                w.con.execute("DELETE FROM aws_cloudwatch_metric_point WHERE ts > ?", [newest - gap])
                w.con.execute("UPDATE aws_cloudwatch_metric_series SET last_polled_at = last_polled_at - ?", [gap])
            w.publish()
        finally:
            w.close()


def all_items(client, op: str, key: str, **kwargs) -> list[dict]:
    """Every item of a paginated AWS listing, read straight from the emulated account."""
    return client.get_paginator(op).paginate(**kwargs).build_full_result()[key]


def ops(calls: dict[str, int], op: str) -> int:
    """Calls of one operation, whatever the service prefix the counter gives (api.sagemaker, states, ...)."""
    return sum(n for k, n in calls.items() if k.split(":", 1)[1] == op)


def diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    """Calls made between two snapshots of the call counter."""
    return {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}


def ok(cycle: runner.CycleResult) -> None:
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]


def count(collection: Collection, table: str) -> int:
    return collection.query(f"SELECT count(*) FROM {table}")[0][0]


@pytest.fixture
def collection(account, tmp_path) -> Collection:
    """A fresh store collected from the session's emulated account (call .run() to collect)."""
    return Collection(tmp_path / "store")
