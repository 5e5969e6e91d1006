"""``python -m collectors migrate --to FILE``: copy an embedded store into the shared backend, and verify it.

The source is the store the usual settings name (the embedded DuckDB file): its newest published snapshot, read-only,
so a collector may keep running on it meanwhile (what it publishes later is not copied: stop it, or run the command
again, before pointing collectors at the shared store). The target is the DuckLake store that the settings file FILE
names (``[store] backend = "ducklake"``); its tables are created as a collector's migration creates them.

Each table is copied in one transaction of its own (its target rows deleted, the source's inserted), so an
interrupted copy leaves every table whole, either as it was or as the source; running the command again copies
again. Then each table is verified: its row count and a checksum of its keys (the sum of each row's key hash) must
be equal on both sides. The audit log stays where it is (beside the embedded store).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb

import collectors
from sextant.lake import LakeWriter
from sextant.schema import SYSTEM_TABLES, Table, ident, literal
from sextant.settings import Settings
from sextant.store import check_version, open_reader

SOURCE = "sextant_migrate_source"  # the source snapshot's alias in the target's connection


class MigrateError(RuntimeError):
    """The migration cannot start: the message says why and what to do. Nothing was written."""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int  # rows in the source (and, verified, in the target)
    verified: bool
    detail: str = ""  # what differs, when not verified


def tables() -> list[Table]:
    """Every table of a store: the collectors' and the system tables (runs, watermarks, alerts)."""
    names = {t.name for t in collectors.all_tables()}
    return [*collectors.all_tables(), *(t for t in SYSTEM_TABLES if t.name not in names)]


def source_snapshot(settings: Settings) -> Path:
    """The newest published snapshot of the embedded store ``settings`` names."""
    if settings.store_backend != "duckdb":
        raise MigrateError(f"the source settings name a {settings.store_backend} store: migrate copies the embedded "
                           "store (backend duckdb) into a shared one")
    reader = open_reader(settings)
    try:
        name = reader.current()
    finally:
        reader.close()
    if name is None:
        raise MigrateError(f"nothing published at {settings.store}: run a collection first (`sextant collect`)")
    return Path(settings.store) / "snapshots" / name


def _checks(con: duckdb.DuckDBPyConnection, relation: str, t: Table) -> tuple[int, int]:
    keys = ", ".join(ident(c) for c in t.primary_key)
    row = con.execute(f"SELECT count(*), coalesce(sum(hash({keys})), 0) FROM {relation}").fetchone()  # noqa: S608
    return (int(row[0]), int(row[1])) if row else (0, 0)


def copy(source: Settings, target: Settings, say: Callable[[str], object] = print) -> list[Copied]:
    """Copy the embedded store of ``source`` into the shared store of ``target``, table by table, and verify each."""
    if target.store_backend != "ducklake":
        raise MigrateError("the target settings name the embedded store: set [store] backend = \"ducklake\" (with its "
                           "catalog and data_path) in the file given to --to")
    snap = source_snapshot(source)
    writer = LakeWriter.open(target)
    try:
        con = writer.con
        con.execute(f"ATTACH {literal(str(snap))} AS {SOURCE} (READ_ONLY)")  # ATTACH takes no bound parameter
        cur = con.cursor()  # a connection of its own: USE there leaves the writer's in the lake
        try:
            cur.execute(f"USE {SOURCE}")
            check_version(cur, snap)
        finally:
            cur.close()
        collectors.migrate(writer)
        have = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ?",
                                          [SOURCE]).fetchall()}
        # a store written before a column was added (additive changes need no version bump) has not got it: the
        # copy leaves it blank, as a collector's migration of that store would
        source_columns: dict[str, set[str]] = {}
        for table, column in con.execute("SELECT table_name, column_name FROM duckdb_columns() "
                                         "WHERE database_name = ?", [SOURCE]).fetchall():
            source_columns.setdefault(table, set()).add(column)
        out = []
        for t in tables():
            src = f"{SOURCE}.main.{ident(t.name)}"
            cols = ", ".join(ident(c.name) for c in t.columns if c.name in source_columns.get(t.name, ()))
            with writer.transaction() as tx:
                tx.execute(f"DELETE FROM {ident(t.name)}")  # noqa: S608 - registry identifiers
                if t.name in have:
                    tx.execute(f"INSERT INTO {ident(t.name)} ({cols}) SELECT {cols} FROM {src}")  # noqa: S608
            want = _checks(con, src, t) if t.name in have else (0, 0)
            got = _checks(con, ident(t.name), t)
            detail = "" if got == want else f"{want[0]} rows in the source, {got[0]} in the target" + (
                "" if got[0] != want[0] else " (same count, other keys)")
            out.append(Copied(t.name, want[0], got == want, detail))
            say(f"{'ok ' if got == want else 'ERR'} {t.name}: {want[0]:,} rows" + (f": {detail}" if detail else ""))
        con.execute(f"DETACH {SOURCE}")
        writer.publish()
        return out
    finally:
        writer.close()
