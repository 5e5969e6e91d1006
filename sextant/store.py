"""The store: schema, migrations, upserts, watermarks, collection runs, and snapshot publishing.

Design (docs/ARCHITECTURE.md): DuckDB lets one process hold a database file read-write and then
nobody else may open it. So the collector process alone owns ``writer.duckdb``; after each
cycle it checkpoints and publishes an immutable copy, ``snapshots/<n>.duckdb``, by writing the
file under a temporary name, renaming it, and atomically replacing ``CURRENT`` with its name
(temporary files a killed publish left are removed when the next writer opens the store).
Dashboard processes open the newest snapshot read-only and switch when ``CURRENT`` changes,
so readers never take a lock the writer needs and never see a half-written batch.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from sextant.schema import SCHEMA_VERSION, SYSTEM_TABLES, SourceDoc, Table, ident
from sextant.settings import Settings

log = logging.getLogger(__name__)

KEEP_SNAPSHOTS = 3


class StoreVersionError(RuntimeError):
    """The published snapshot was written at another schema version; the message says what to run."""


def check_version(con: duckdb.DuckDBPyConnection, where: Path | str) -> None:
    """Raise :class:`StoreVersionError` unless the store is at ``SCHEMA_VERSION`` (checked once per snapshot)."""
    try:
        rows = con.execute("SELECT max(version) FROM sextant_schema").fetchall()
        version = rows[0][0] if rows else None
    except duckdb.CatalogException:
        version = None
    if version == SCHEMA_VERSION:
        return
    if version is not None and version > SCHEMA_VERSION:
        raise StoreVersionError(f"the store at {where} was written by a newer Sextant (schema version {version}, "
                                f"this one reads {SCHEMA_VERSION}): upgrade Sextant")
    raise StoreVersionError(f"the store at {where} is at schema version {version or 'none'}, this Sextant reads "
                            f"version {SCHEMA_VERSION}: run `sextant collect` (or `python -m collectors run --once`) "
                            "once to migrate it; the collected data is kept")


class StoreBusy(RuntimeError):
    """Another collector process holds the store for writing."""


@dataclass(frozen=True)
class UniqueKeys:
    """A batch whose rows have distinct primary keys by construction (e.g. one point per query and period
    start). ``Writer.upsert`` then skips its duplicate-key check, the costliest step of a large append;
    the collector that wraps a batch in it owns that guarantee."""

    rows: pd.DataFrame


def now_utc() -> datetime:
    return datetime.now(UTC)


def system_table(name: str) -> Table:
    """The system table (``sextant.schema.SYSTEM_TABLES``) of that name."""
    return next(t for t in SYSTEM_TABLES if t.name == name)


DUCKDB_HEADER_BYTES = 3 * 4096  # a new database file's main and two database headers


class BaseWriter:
    """What every store writer does on its read-write connection ``con``: create the tables, upsert inside
    transactions, keep the watermarks and the collection runs. A backend provides ``con``, ``location`` (a local
    directory for the collector's own files: the first-collection progress, the audit log by default), ``published``
    and ``publish``."""

    con: duckdb.DuckDBPyConnection
    location: Path
    # DuckDB tables carry their PRIMARY KEY and INSERT OR REPLACE replaces by it. DuckLake has no PRIMARY KEY
    # constraint: a backend without one (False) replaces rows by deleting the batch's keys and appending the batch,
    # as unindexed tables do here, and declares the key columns NOT NULL as a PRIMARY KEY would.
    primary_keys: bool = True
    # How the upsert deletes the stored rows of a batch's keys. DuckDB's own tables: by rowid (fetched by row id, not
    # scanned). DuckLake: DELETE ... USING, whose time filter prunes Parquet row groups; a rowid IN (...) delete scans
    # every row id of the table (measured on 30 M points: 0.28-0.32 s against 0.01-0.05 s).
    delete_by_rowid: bool = True

    def close(self) -> None:
        self.con.close()

    def _before_transaction(self) -> None:
        """A backend's hook before each transaction (DuckLake on S3 refreshes its credentials)."""

    # ------------------------------------------------------------------ between writer processes
    @contextmanager
    def table_locks(self, exclusive: Iterable[str], shared: Iterable[str] = ()) -> Iterator[None]:
        """Hold, around a transaction, a lock per table it writes: ``exclusive`` for the tables it may delete from
        (an upsert replaces rows by deleting them), ``shared`` for those it only appends to. A backend with several
        writer processes on one catalog implements it (``sextant.lake.LakeWriter`` on PostgreSQL); the DuckDB file
        has one writer process (its file lock), so it holds nothing."""
        yield

    @contextmanager
    def run_guard(self, source: str, account_id: str, region: str) -> Iterator[bool]:
        """True while this process alone runs ``source`` for that account and region; False (at once, never waiting)
        when another collector process already runs it. The DuckDB file admits one writer process: always True."""
        yield True

    # ------------------------------------------------------------------ schema
    def migrate(self, tables: Sequence[Table], sources: Sequence[SourceDoc] = ()) -> None:
        """Create missing tables and columns; record every description in the data dictionary and, when given,
        the sources' registry."""
        all_tables = list(SYSTEM_TABLES) + list(tables)
        with self.transaction():
            for t in all_tables:
                self.con.execute(f"CREATE TABLE IF NOT EXISTS {ident(t.name)} ({self._definition(t)})")
                have = {r[0] for r in self.con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                    "AND schema_name = current_schema() AND table_name = ?", [t.name]).fetchall()}
                for c in t.columns:
                    if c.name not in have:
                        self.con.execute(f"ALTER TABLE {ident(t.name)} ADD COLUMN {ident(c.name)} {c.type}")
            self._replace_all(system_table("sextant_table_doc"),
                              [(t.name, t.description, ", ".join(t.primary_key)) for t in all_tables])
            self._replace_all(system_table("sextant_column_doc"),
                              [(t.name, c.name, i, c.type, c.description)
                               for t in all_tables for i, c in enumerate(t.columns, 1)])
            if sources:
                self._replace_all(system_table("sextant_source"),
                                  [(s.name, list(s.tables), list(s.depends_on), s.global_service) for s in sources])
            self._put(system_table("sextant_schema"), [(SCHEMA_VERSION, now_utc())])
            if not self.con.execute("SELECT 1 FROM sextant_alert_lease LIMIT 1").fetchall():  # alerts/lifecycle.py
                self.con.execute("INSERT INTO sextant_alert_lease VALUES ('evaluation', NULL)")

    def _replace_all(self, t: Table, rows: Sequence[Sequence[Any]]) -> None:
        """Replace every row of a small system table, in one INSERT (on DuckLake each INSERT statement writes its
        own file: one per row would leave hundreds)."""
        self.con.execute(f"DELETE FROM {ident(t.name)}")  # noqa: S608 - registry identifier
        if not rows:
            return
        batch = pa.Table.from_pylist([dict(zip(t.column_names, r, strict=True)) for r in rows])
        self.con.register("_rows", batch)
        try:
            cols = ", ".join(ident(c) for c in t.column_names)
            self.con.execute(f"INSERT INTO {ident(t.name)} ({cols}) SELECT {cols} FROM _rows")  # noqa: S608
        finally:
            self.con.unregister("_rows")

    def _definition(self, t: Table) -> str:
        """The column list of ``CREATE TABLE``: with its PRIMARY KEY where the backend has one and the table is
        indexed; key columns NOT NULL where it has none (DuckLake), as a PRIMARY KEY would make them."""
        if not self.primary_keys:
            key = set(t.primary_key) if t.indexed else set()
            return ", ".join(f"{ident(c.name)} {c.type}{' NOT NULL' if c.name in key else ''}" for c in t.columns)
        cols = ", ".join(f"{ident(c.name)} {c.type}" for c in t.columns)
        pk = ", ".join(ident(c) for c in t.primary_key)
        return f"{cols}, PRIMARY KEY ({pk})" if t.indexed else cols

    def _put(self, t: Table, rows: Sequence[Sequence[Any]]) -> None:
        """Insert or replace whole rows (in ``t``'s column order) of a system table by primary key; the last row of
        a key wins."""
        if not rows:
            return
        if not self.primary_keys:
            self._append_replacing(t, pd.DataFrame([list(r) for r in rows], columns=t.column_names))
            return
        marks = ", ".join("?" for _ in t.column_names)
        cols = ", ".join(ident(c) for c in t.column_names)
        self.con.executemany(f"INSERT OR REPLACE INTO {ident(t.name)} ({cols}) VALUES ({marks})",  # noqa: S608
                             [list(r) for r in rows])

    # ------------------------------------------------------------------ writes
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self._before_transaction()
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def upsert(self, t: Table, rows: pd.DataFrame | list[dict[str, Any]] | UniqueKeys) -> int:
        """Insert or replace rows by primary key; columns are matched by name; returns the row count.

        Indexed tables use INSERT OR REPLACE on their PRIMARY KEY. Unindexed ones (``Table.indexed``)
        delete the stored rows with the batch's keys (within the batch's time window) and append the
        batch, in the caller's transaction, so the result is the same: one row per key, the newest wins.
        Rows wrapped in :class:`UniqueKeys` are trusted to have distinct keys (no duplicate check)."""
        unique = isinstance(rows, UniqueKeys)
        if isinstance(rows, UniqueKeys):
            df = rows.rows
        elif isinstance(rows, pd.DataFrame):
            df = rows
        else:
            df = pd.DataFrame(rows, columns=t.column_names)
        if df.empty:
            return 0
        missing = [c for c in t.column_names if c not in df.columns]
        if missing:
            df = df.assign(**{c: None for c in missing})
        df = df[t.column_names]
        if not t.indexed or not self.primary_keys:
            return self._append_replacing(t, df, unique)
        df = df.drop_duplicates(subset=list(t.primary_key), keep="last")
        self.con.register("_batch", df)
        try:
            cols = ", ".join(ident(c) for c in t.column_names)
            self.con.execute(f"INSERT OR REPLACE INTO {ident(t.name)} ({cols}) SELECT {cols} FROM _batch")  # noqa: S608
        finally:
            self.con.unregister("_batch")
        return len(df)

    def _append_replacing(self, t: Table, df: pd.DataFrame, unique: bool = False) -> int:
        """The upsert of an unindexed table: delete stored rows with the batch's keys, then append the batch.

        The batch is handed to DuckDB as Arrow (scanning pandas object columns costs seconds per million
        rows). Duplicate keys inside the batch are detected with a 64-bit hash of the key (a collision only
        sends the batch down the exact pandas path), unless the caller vouches for them (``unique``).
        With a ``time_column`` the batch is appended sorted by it, so every row group covers a narrow time
        range and zone maps can skip it; the DELETE then joins only the batch rows inside the time range the
        table already holds in the batch's window (for a poll, the few minutes it re-reads), not the whole
        batch against the whole window."""
        keys = ", ".join(ident(c) for c in t.primary_key)
        cols = ", ".join(ident(c) for c in t.column_names)
        batch = pa.Table.from_pandas(df, preserve_index=False)
        self.con.register("_batch", batch)
        try:
            if not unique and not self.con.execute(
                    f"SELECT count(DISTINCT hash({keys})) = count(*) FROM _batch").fetchone()[0]:  # noqa: S608
                self.con.unregister("_batch")
                df = df.drop_duplicates(subset=list(t.primary_key), keep="last")
                self.con.register("_batch", pa.Table.from_pandas(df, preserve_index=False))
            on = " AND ".join(f"x.{ident(c)} = b.{ident(c)}" for c in t.primary_key)
            name = ident(t.name)
            tc = ident(t.time_column) if t.time_column else None
            lo, hi = (df[t.time_column].min(), df[t.time_column].max()) if tc else (None, None)
            if tc and not (pd.isna(lo) or pd.isna(hi)):
                stored = self.con.execute(
                    f"SELECT min({tc}), max({tc}) FROM {name} WHERE {tc} BETWEEN ? AND ?", [lo, hi]).fetchone()  # noqa: S608
                if stored[0] is not None and self.delete_by_rowid:
                    self.con.execute(
                        f"DELETE FROM {name} WHERE rowid IN (SELECT x.rowid FROM {name} x SEMI JOIN "  # noqa: S608
                        f"(SELECT {keys} FROM _batch WHERE {tc} BETWEEN $1 AND $2) b ON {on} "
                        f"WHERE x.{tc} BETWEEN $1 AND $2)", list(stored))
                elif stored[0] is not None:
                    self.con.execute(
                        f"DELETE FROM {name} x USING (SELECT {keys} FROM _batch WHERE {tc} BETWEEN $1 AND $2) b "  # noqa: S608
                        f"WHERE {on} AND x.{tc} BETWEEN $1 AND $2", list(stored))
            elif self.delete_by_rowid:  # no time to bound the replace by: the batch's keys are replaced anywhere
                self.con.execute(f"DELETE FROM {name} WHERE rowid IN (SELECT x.rowid FROM {name} x "  # noqa: S608
                                 f"SEMI JOIN _batch b ON {on})")
            else:
                self.con.execute(f"DELETE FROM {name} x USING _batch b WHERE {on}")  # noqa: S608
            order = f" ORDER BY {tc}" if tc else ""
            self.con.execute(f"INSERT INTO {name} ({cols}) SELECT {cols} FROM _batch{order}")  # noqa: S608
        finally:
            self.con.unregister("_batch")
        return len(df)

    def watermark(self, account_id: str, region: str, source: str, key: str) -> str | None:
        row = self.con.execute(
            "SELECT value FROM sextant_watermark WHERE account_id = ? AND region = ? AND source = ? AND key = ?",
            [account_id, region, source, key]).fetchone()
        return row[0] if row else None

    def watermarks(self, account_id: str, region: str, source: str) -> dict[str, str]:
        return dict(self.con.execute(
            "SELECT key, value FROM sextant_watermark WHERE account_id = ? AND region = ? AND source = ?",
            [account_id, region, source]).fetchall())

    def set_watermarks(self, account_id: str, region: str, source: str, values: dict[str, str]) -> None:
        if values:
            self._put(system_table("sextant_watermark"),
                      [(account_id, region, source, k, v, now_utc()) for k, v in values.items()])

    def record_run(self, **row: Any) -> None:
        row = dict(row)
        row["api_calls_by_operation"] = json.dumps(row.get("api_calls_by_operation") or {})
        t = system_table("sextant_collection_run")
        self._put(t, [[row.get(c) for c in t.column_names]])


class Writer(BaseWriter):
    """The DuckDB-file backend: the single read-write connection of the collector process, on
    ``<location>/writer.duckdb``, published as whole-file snapshots."""

    def __init__(self, location: Path) -> None:
        self.location = location
        location.mkdir(parents=True, exist_ok=True)
        (location / "snapshots").mkdir(exist_ok=True)
        self.path = location / "writer.duckdb"
        self.set_aside: Path | None = None
        try:
            self.con = duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreBusy(f"another collector is writing to {location}; stop it or use --store") from None
            # DuckDB took the file lock and then refused the file: no live writer is creating it
            self.set_aside = self._set_aside_unborn_file()
            if self.set_aside is None:
                raise
            self.con = duckdb.connect(str(self.path))
        self.removed_at_start = self._remove_partial_files()

    def _set_aside_unborn_file(self) -> Path | None:
        """A writer file shorter than DuckDB's three header blocks was cut off while being created (a kill during
        the first connect): it cannot hold a committed row, and DuckDB refuses to open it. Rename it aside
        (``writer.duckdb.unborn-<time>``, kept for a post-mortem) so a fresh file is created; a file of any other
        size is left for DuckDB to open or refuse."""
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return None
        if size >= DUCKDB_HEADER_BYTES or self.path.with_name(self.path.name + ".wal").exists():
            return None
        aside = self.path.with_name(f"{self.path.name}.unborn-{now_utc():%Y%m%dT%H%M%S%f}")
        self.path.rename(aside)
        log.warning("store: %s was cut off while being created (%d bytes); set aside as %s", self.path, size,
                    aside.name)
        return aside

    def _remove_partial_files(self) -> list[Path]:
        """Delete what a publish killed mid-copy left behind (``snapshots/.*.tmp``, ``.CURRENT.*``). Only the
        writer publishes, and this one holds the file lock: no such file can belong to a live publish."""
        leftovers = [*(self.location / "snapshots").glob(".*.tmp"), *self.location.glob(".CURRENT.*")]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    # ------------------------------------------------------------------ publish
    def published(self) -> str | None:
        """The name of the snapshot readers open (``CURRENT``), or None when nothing was published yet."""
        try:
            return (self.location / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def publish(self) -> Path:
        """Checkpoint and publish an immutable snapshot for readers; returns its path."""
        self.con.execute("CHECKPOINT")
        snaps = self.location / "snapshots"
        name = f"{time.time_ns()}.duckdb"
        tmp = snaps / f".{name}.{uuid.uuid4().hex}.tmp"
        shutil.copyfile(self.path, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, snaps / name)
        cur_tmp = self.location / f".CURRENT.{uuid.uuid4().hex}"
        cur_tmp.write_text(name)
        os.replace(cur_tmp, self.location / "CURRENT")
        self._prune(snaps, keep=name)
        return snaps / name

    @staticmethod
    def _prune(snaps: Path, keep: str) -> None:
        """Delete all but the newest ``KEEP_SNAPSHOTS`` snapshots (readers holding an old one keep their open file,
        POSIX) and any temporary copy left over (publishing is synchronous: none is in flight now)."""
        done = sorted(snaps.glob("*.duckdb"), key=lambda p: (len(p.name), p.name))  # nanosecond names, in time order
        for old in done[:-KEEP_SNAPSHOTS]:
            if old.name != keep:
                old.unlink(missing_ok=True)
        for stale in snaps.glob(".*.tmp"):
            stale.unlink(missing_ok=True)


class Reader:
    """Read-only access to the newest published snapshot; switches when a newer one is published."""

    def __init__(self, location: Path) -> None:
        self.location = Path(location)
        self._name: str | None = None
        self._con: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    def current(self) -> str | None:
        try:
            return (self.location / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def connection(self) -> duckdb.DuckDBPyConnection | None:
        """The connection to the newest snapshot, or None when nothing was published yet."""
        name = self.current()
        if name is None:
            return None
        with self._lock:
            if name != self._name or self._con is None:
                # The previous connection is left to the garbage collector: cursors other threads
                # still hold keep it (and its unlinked file) alive until they finish.
                con = duckdb.connect(str(self.location / "snapshots" / name), read_only=True)
                try:
                    check_version(con, self.location)
                except StoreVersionError:
                    con.close()
                    raise
                self._con = con
                self._name = name
            return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection | None:
        """A new cursor on the newest snapshot (the caller closes it), or None when nothing was published."""
        con = self.connection()
        return con.cursor() if con is not None else None

    def thread_cursor(self) -> duckdb.DuckDBPyConnection | None:
        """This thread's cursor on the newest snapshot, kept between calls: opening a cursor costs ~2.5 ms,
        more than most dashboard queries. A cursor serves one thread at a time, so each thread has its own;
        it is replaced when a newer snapshot is published, and goes with its thread."""
        con = self.connection()
        if con is None:
            return None
        local = self._local
        if getattr(local, "con", None) is not con:
            local.cur = con.cursor()
            local.con = con
        return local.cur

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
            self._con = None


class StoreWriter(Protocol):
    """The writer's interface, whatever the backend (:class:`Writer`, ``sextant.lake.LakeWriter``)."""

    location: Path
    con: duckdb.DuckDBPyConnection

    def migrate(self, tables: Sequence[Table], sources: Sequence[SourceDoc] = ()) -> None: ...
    def transaction(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]: ...
    def table_locks(self, exclusive: Iterable[str], shared: Iterable[str] = ()) -> AbstractContextManager[None]: ...
    def run_guard(self, source: str, account_id: str, region: str) -> AbstractContextManager[bool]: ...
    def upsert(self, t: Table, rows: pd.DataFrame | list[dict[str, Any]] | UniqueKeys) -> int: ...
    def watermark(self, account_id: str, region: str, source: str, key: str) -> str | None: ...
    def watermarks(self, account_id: str, region: str, source: str) -> dict[str, str]: ...
    def set_watermarks(self, account_id: str, region: str, source: str, values: dict[str, str]) -> None: ...
    def record_run(self, **row: Any) -> None: ...
    def published(self) -> str | None: ...
    def publish(self) -> object: ...
    def close(self) -> None: ...


def open_writer(settings: Settings) -> StoreWriter:
    """The writer of the store the settings name: the DuckDB file under ``settings.store``, or the DuckLake store of
    ``[store] catalog`` and ``data_path`` (``backend = "ducklake"``)."""
    if settings.store_backend == "ducklake":
        from sextant.lake import LakeWriter
        return LakeWriter.open(settings)
    return Writer(settings.store)


def open_reader(settings: Settings) -> Reader:
    """The reader of the store the settings name (see :func:`open_writer`)."""
    if settings.store_backend == "ducklake":
        from sextant.lake import LakeReader
        return LakeReader.open(settings)
    return Reader(settings.store)
