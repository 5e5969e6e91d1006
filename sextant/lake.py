"""The store on DuckLake: a catalog (PostgreSQL, SQLite or a DuckDB file) and the data as Parquet files in a directory
or on S3; every commit is a snapshot.

The writer and the reader have the DuckDB-file store's interface (``sextant.store``): the writer migrates, upserts in
transactions, keeps the watermarks and the collection runs exactly as :class:`sextant.store.BaseWriter` does, and
``publish`` costs nothing (each commit already is what readers see); the reader attaches the catalog read-only and
names the current snapshot by DuckLake's snapshot id, so the dashboard's cache key changes with each commit and a
reader sees a commit on its next query.

Extensions come from the PyPI wheels pinned to DuckDB's version (``duckdb-extension-ducklake`` and the catalog's and
storage's: ``-postgres-scanner``, ``-sqlite-scanner``, ``-httpfs``), loaded by path with automatic installation off,
so a missing wheel fails with the package to install instead of a download attempt. The catalog and the data path
are given to DuckDB as a secret (``TYPE ducklake``), with parameters; S3 credentials come from boto3's standard chain
(profile, environment, role, instance metadata), resolved at connect time into an in-memory DuckDB secret and never
written anywhere; ``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) names an S3-compatible endpoint. A PostgreSQL
password is libpq's business (``PGPASSWORD``, ``~/.pgpass``): the settings refuse one, and error texts are scrubbed
of any that still slips into a DSN.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import logging
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import duckdb

from sextant.schema import SourceDoc, Table, literal
from sextant.settings import Settings
from sextant.store import BaseWriter, Reader, check_version

ALIAS = "lake"  # the attached catalog's name; every connection then runs USE lake, so SQL names bare tables
_SECRET = "sextant_lake"
_S3_SECRET = "sextant_s3"
S3_REFRESH_S = 300  # a long-lived connection re-reads boto3's credentials this often (role credentials expire)
_PASSWORD = re.compile(r"(?i)(\bpassword\s*=\s*)('[^']*'|\S+)|(://[^/@\s:]*:)[^/@\s]*@")


class LakeUnavailable(RuntimeError):
    """An extension wheel the DuckLake store needs is not installed; the message names the package."""


class LakeError(RuntimeError):
    """The catalog or the data path refused or failed; the text is scrubbed of passwords."""


def scrub(text: object) -> str:
    """``text`` without a password a DSN may carry (``password=...``, ``scheme://user:password@``)."""
    return _PASSWORD.sub(lambda m: f"{m.group(1)}[redacted]" if m.group(1) else f"{m.group(3)}[redacted]@", str(text))


# The PyPI package of each extension (the -postgres / -sqlite wheels hold the scanner under another name).
WHEELS = {"ducklake": "duckdb-extension-ducklake", "postgres_scanner": "duckdb-extension-postgres-scanner",
          "sqlite_scanner": "duckdb-extension-sqlite-scanner", "httpfs": "duckdb-extension-httpfs"}


def extension_path(name: str) -> Path:
    """The ``.duckdb_extension`` file of extension ``name`` inside its PyPI wheel, for this DuckDB version."""
    wheel = f"{WHEELS[name]}=={duckdb.__version__}"
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise LakeUnavailable(f"the DuckLake store needs the DuckDB extension {name}: pip install '{wheel}' "
                              "(requirements.txt pins it)")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
        if path.is_file():
            return path
    raise LakeUnavailable(f"the installed package for the DuckDB extension {name} has no build for DuckDB "
                          f"{duckdb.__version__}: pip install '{wheel}'")


def _literal(text: str) -> str:
    """A SQL string literal, for the one statement that takes no parameter: LOAD of an installed file's path."""
    if any(ord(ch) < 32 for ch in text):
        raise LakeUnavailable(f"refusing to load an extension from a path with control characters: {text!r}")
    return literal(text)


def load_extensions(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> None:
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    for name in names:
        con.execute(f"LOAD {_literal(str(extension_path(name)))}")


@dataclass(frozen=True)
class LakeConfig:
    """Where a DuckLake store is: its catalog (``kind:target``) and its data path, and the local directory of the
    collector's own files."""

    catalog: str  # postgres:<DSN> | sqlite:<absolute path> | duckdb:<absolute path>
    data_path: str  # an absolute directory ending in / or s3://bucket/prefix/
    location: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> LakeConfig:
        location = Path(settings.store).resolve()
        catalog = settings.catalog or f"sqlite:{location / 'lake' / 'catalog.sqlite'}"
        kind, _, target = catalog.partition(":")
        if kind in ("sqlite", "duckdb"):
            catalog = f"{kind}:{Path(target).expanduser().resolve()}"
        data = settings.data_path or str(location / "lake" / "data")
        if not data.startswith("s3://"):
            data = str(Path(data).expanduser().resolve())
        return cls(catalog, data.rstrip("/") + "/", location)

    @property
    def kind(self) -> str:
        return self.catalog.partition(":")[0]

    @property
    def target(self) -> str:
        return self.catalog.partition(":")[2]

    @property
    def on_s3(self) -> bool:
        return self.data_path.startswith("s3://")

    @property
    def metadata_path(self) -> str:
        """DuckLake's METADATA_PATH: ``postgres:<DSN>``, ``sqlite:<path>``, or a DuckDB file's path."""
        return self.target if self.kind == "duckdb" else self.catalog

    @property
    def where(self) -> str:
        """How messages name the store (never with a password)."""
        return scrub(f"the DuckLake catalog {self.catalog} (data in {self.data_path})")

    def extensions(self) -> tuple[str, ...]:
        scanner = {"postgres": ("postgres_scanner",), "sqlite": ("sqlite_scanner",)}.get(self.kind, ())
        return ("ducklake", *scanner, *(("httpfs",) if self.on_s3 else ()))

    def local_catalog_missing(self) -> bool:
        return self.kind in ("sqlite", "duckdb") and not Path(self.target).exists()


def s3_secret(con: duckdb.DuckDBPyConnection) -> None:
    """(Re)create the in-memory S3 secret from boto3's standard credential chain and the endpoint settings."""
    import boto3  # the data path on S3 only: a local lake needs no AWS SDK at connect time

    session = boto3.Session()
    options: dict[str, Any] = {"REGION": session.region_name or "us-east-1"}
    credentials = session.get_credentials()
    if credentials is not None:
        frozen = credentials.get_frozen_credentials()
        options |= {"KEY_ID": frozen.access_key, "SECRET": frozen.secret_key}
        if frozen.token:
            options["SESSION_TOKEN"] = frozen.token
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        url = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options |= {"ENDPOINT": url.netloc, "URL_STYLE": "path", "USE_SSL": url.scheme == "https"}
    keys = ", ".join(f"{key} ?" for key in options)  # fixed option names; every value a parameter
    con.execute(f"CREATE OR REPLACE SECRET {_S3_SECRET} (TYPE s3, {keys})", list(options.values()))


class _Uninitialized(Exception):
    """The catalog holds no DuckLake yet (a reader finds nothing published)."""


def connect(config: LakeConfig, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """A new DuckDB connection with the store attached as ``lake`` and in use. Raises :class:`LakeUnavailable`
    (a missing extension), :class:`_Uninitialized` (read-only, and no DuckLake in the catalog yet) or
    :class:`LakeError` (scrubbed)."""
    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    try:
        load_extensions(con, config.extensions())
        if config.on_s3:
            s3_secret(con)
        options = {"METADATA_PATH": config.metadata_path} | ({} if read_only else {"DATA_PATH": config.data_path})
        keys = ", ".join(f"{key} ?" for key in options)
        con.execute(f"CREATE OR REPLACE SECRET {_SECRET} (TYPE ducklake, {keys})", list(options.values()))
        con.execute(f"ATTACH 'ducklake:{_SECRET}' AS {ALIAS}{' (READ_ONLY)' if read_only else ''}")
        con.execute(f"USE {ALIAS}")
        return con
    except duckdb.Error as exc:
        con.close()
        text = str(exc)
        if read_only and ("does not exist" in text and "creating a new DuckLake is explicitly disabled" in text):
            raise _Uninitialized from None
        advice = ""
        if config.kind == "duckdb" and ("lock" in text.lower() or "already attached" in text):
            advice = ("; a DuckDB-file catalog admits one process (and one attach) at a time: for a collector and a "
                      "dashboard side by side use a sqlite: (one machine) or postgres: catalog")
        raise LakeError(f"cannot open {config.where}: {scrub(text)}{advice}") from None
    except BaseException:  # a missing extension wheel, an AWS profile that does not exist, an interrupt
        con.close()
        raise


class _S3Refresh:
    """Re-create a long-lived connection's S3 secret from boto3's chain every ``S3_REFRESH_S`` seconds."""

    def __init__(self, config: LakeConfig) -> None:
        self.on = config.on_s3
        self.at = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self, con: duckdb.DuckDBPyConnection) -> None:
        if not self.on or time.monotonic() - self.at < S3_REFRESH_S:
            return
        with self._lock:
            if time.monotonic() - self.at >= S3_REFRESH_S:
                cur = con.cursor()  # a cursor of its own: other threads may be using theirs (secrets are shared)
                try:
                    s3_secret(cur)
                finally:
                    cur.close()
                self.at = time.monotonic()


BUSY_RETRIES = 8  # attempts after the first when the catalog is busy with another process's commit
BUSY_BACKOFF_S = 0.25  # the first wait; doubled each attempt, with full jitter (at most ~64 s in all)
_T = TypeVar("_T")


def busy(exc: BaseException) -> bool:
    """Another process holds the catalog for its commit (SQLite: "database is locked"), or committed first to what
    this transaction changes (DuckLake: a conflict): the same work, done again a moment later, succeeds."""
    text = str(exc).lower()
    return "database is locked" in text or "conflict" in text


def retry_busy(work: Callable[[], _T]) -> _T:
    """``work()``, again with exponential backoff and jitter while it fails with :func:`busy`, BUSY_RETRIES times at
    most (N collectors started at once on a new store all create its catalog and tables)."""
    for attempt in range(BUSY_RETRIES):
        try:
            return work()
        except (duckdb.Error, LakeError) as exc:
            if not busy(exc):
                raise
        time.sleep(random.uniform(0, BUSY_BACKOFF_S * 2 ** attempt))
    return work()


def wal_journal(path: Path) -> None:
    """Put a SQLite catalog in WAL mode (kept in the file): readers then never block the writer's commit nor wait for
    it. In SQLite's default rollback journal, measured here with one writer and one reader, 17 of 40 commits failed
    "database is locked" and readers failed or waited seconds; in WAL, none failed (bench/lake_cycle.py)."""
    con = sqlite3.connect(path, timeout=30)
    try:
        con.execute("PRAGMA journal_mode=WAL").fetchall()
    finally:
        con.close()


def snapshot_id(con: duckdb.DuckDBPyConnection) -> int:
    rows = con.execute(f"SELECT id FROM {ALIAS}.current_snapshot()").fetchall()  # noqa: S608 - a constant
    return int(rows[0][0]) if rows else 0  # fetched whole: a pending result would hold the catalog's read lock


_LOCKS = "sextant_locks"  # the catalog's PostgreSQL database attached once more (TYPE postgres): advisory locks
log = logging.getLogger(__name__)


def lock_key(kind: str, *names: str) -> int:
    """A stable signed 64-bit key (PostgreSQL's advisory lock key) for a table (``kind`` "table") or a source's run
    in an account and region (``kind`` "run"): blake2b of the names, the same in every process and on every machine."""
    digest = hashlib.blake2b("\x00".join(("sextant", kind, *names)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresLocks:
    """PostgreSQL advisory locks on the catalog's own database, taken through DuckDB's postgres extension (already
    loaded for the catalog): the database is attached once more as ``sextant_locks`` (READ COMMITTED, so a lock held
    for minutes holds back no vacuum), and each lock lives in the PostgreSQL transaction of a DuckDB cursor of its
    own: transaction-level locks (``pg_advisory_xact_lock``), released by that cursor's ROLLBACK or, if the process
    dies, by PostgreSQL when its connection drops. A cursor in a DuckDB transaction keeps one PostgreSQL connection,
    so the locks stay with it.

    The lock key is an integer this code computes (:func:`lock_key`), written into the PostgreSQL statement: the
    extension sends ``postgres_query``'s parameters through COPY, which takes none."""

    def __init__(self, con: duckdb.DuckDBPyConnection, config: LakeConfig) -> None:
        self.con, self.config = con, config
        self._attached = False
        self._lock = threading.Lock()

    def _attach(self) -> None:
        with self._lock:
            if not self._attached:
                try:  # ATTACH takes no parameter: the DSN as one quoted literal (it holds no password: settings.py)
                    self.con.execute(f"ATTACH IF NOT EXISTS {literal(self.config.target)} AS {_LOCKS} "
                                     "(TYPE postgres, ISOLATION_LEVEL 'READ COMMITTED')")
                except duckdb.Error as exc:
                    raise LakeError(f"cannot open {self.config.where} (to take the collectors' locks): "
                                    f"{scrub(exc)}") from None
                self._attached = True

    def _query(self, cur: duckdb.DuckDBPyConnection, function: str, key: int) -> object:
        statement = f"SELECT {function}({int(key)})::text AS got"
        rows = cur.execute("SELECT got FROM postgres_query(?, ?)", [_LOCKS, statement]).fetchall()
        return rows[0][0] if rows else None

    @contextmanager
    def _session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor in a DuckDB transaction (so one PostgreSQL connection and transaction); rolled back at the end,
        which releases every lock taken in it."""
        self._attach()
        cur = self.con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            finally:
                cur.execute("ROLLBACK")
        finally:
            cur.close()

    @contextmanager
    def tables(self, exclusive: Iterable[str], shared: Iterable[str] = ()) -> Iterator[None]:
        """Every table's lock, waiting for each, in one fixed order (by key) in every process, so two collectors that
        want the same tables queue instead of deadlocking. Exclusive where the transaction may delete, shared where it
        only appends (appends never conflict with one another; an append and a delete on one table do)."""
        exclusive = set(exclusive)
        order = sorted(exclusive | set(shared), key=lambda name: lock_key("table", name))
        if not order:
            yield
            return
        waited = time.monotonic()
        with self._session() as cur:
            for name in order:
                function = "pg_advisory_xact_lock" + ("" if name in exclusive else "_shared")
                try:
                    self._query(cur, function, lock_key("table", name))
                except duckdb.Error as exc:
                    raise LakeError(f"cannot take the lock of table {name} in {self.config.where}: {scrub(exc)}"
                                    ) from None
            waited = time.monotonic() - waited
            if waited > 1:
                log.info("waited %.1f s for the locks of %s (another collector was writing them)", waited,
                         ", ".join(order))
            yield

    @contextmanager
    def creating(self) -> Iterator[None]:
        """The catalog's creation lock: one collector at a time attaches (and so may create) the DuckLake."""
        with self._session() as cur:
            self._query(cur, "pg_advisory_xact_lock", lock_key("catalog", "create"))
            yield

    @contextmanager
    def run(self, source: str, account_id: str, region: str) -> Iterator[bool]:
        with self._session() as cur:
            got = self._query(cur, "pg_try_advisory_xact_lock", lock_key("run", source, account_id, region))
            yield got == "true"


class FileLocks:
    """A local catalog's guard against running one source twice at once: an OS file lock (``fcntl.flock``, released
    by the kernel when the process ends) per source, account and region, in ``locks/`` beside the catalog file (what
    every collector of that catalog shares). Tables need no lock here: a DuckDB-file catalog admits one process, and
    on SQLite a commit that meets another's change to the same table is refused and retried by the runner."""

    def __init__(self, config: LakeConfig) -> None:
        self.folder = Path(config.target).parent / "locks"

    @contextmanager
    def tables(self, exclusive: Iterable[str], shared: Iterable[str] = ()) -> Iterator[None]:
        yield

    @contextmanager
    def run(self, source: str, account_id: str, region: str) -> Iterator[bool]:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"run-{lock_key('run', source, account_id, region) & (2 ** 64 - 1):016x}.lock"
        fd = os.open(self.folder / name, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True  # closing the descriptor releases the lock
        finally:
            os.close(fd)


@contextmanager
def _one_creator(config: LakeConfig) -> Iterator[None]:
    """On PostgreSQL, hold the catalog's creation lock while a writer attaches: N collectors started together on a new
    catalog all create DuckLake's tables, and all but one failed ("duplicate key value violates unique constraint
    pg_type_typname_nsp_index", measured with two). Taken on a connection of its own (the writer's does not exist yet).
    SQLite serializes the creation itself."""
    if config.kind != "postgres":
        yield
        return
    con = duckdb.connect(config={"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"})
    try:
        load_extensions(con, ("postgres_scanner",))
        with PostgresLocks(con, config).creating():
            yield
    finally:
        con.close()


class LakeWriter(BaseWriter):
    """The collector's connection to a DuckLake store. Tables have no PRIMARY KEY (DuckLake has none): upserts delete
    the batch's keys and append it, inside the caller's transaction; each commit is a snapshot readers see."""

    primary_keys = False
    delete_by_rowid = False

    def __init__(self, config: LakeConfig) -> None:
        self.config = config
        self.location = config.location
        self.location.mkdir(parents=True, exist_ok=True)
        if config.kind in ("sqlite", "duckdb"):
            Path(config.target).parent.mkdir(parents=True, exist_ok=True)
        if config.kind == "sqlite":
            wal_journal(Path(config.target))
        if not config.on_s3:
            Path(config.data_path).mkdir(parents=True, exist_ok=True)
        try:
            with _one_creator(config):
                self.con = retry_busy(lambda: connect(config, read_only=False))
        except _Uninitialized:  # not raised read-write: DuckLake creates the catalog
            raise LakeError(f"cannot create {config.where}") from None
        self._refresh_s3 = _S3Refresh(config)
        self.locks = PostgresLocks(self.con, config) if config.kind == "postgres" else FileLocks(config)

    @classmethod
    def open(cls, settings: Settings) -> LakeWriter:
        return cls(LakeConfig.from_settings(settings))

    # Per-table locks around a transaction's writes (PostgreSQL catalogs). DuckLake detects conflicts per table (an
    # append against a delete, either way round), never per key: two collectors upserting one table conflict even on
    # disjoint keys, and retrying alone starved a writer. False turns them off (to measure what they save).
    table_locking = True

    @contextmanager
    def table_locks(self, exclusive: Iterable[str], shared: Iterable[str] = ()) -> Iterator[None]:
        if not self.table_locking:
            yield
            return
        with self.locks.tables(list(exclusive), list(shared)):
            yield

    @contextmanager
    def run_guard(self, source: str, account_id: str, region: str) -> Iterator[bool]:
        with self.locks.run(source, account_id, region) as mine:
            yield mine

    def migrate(self, tables: Sequence[Table], sources: Sequence[SourceDoc] = ()) -> None:
        """As the DuckDB store's, retried while another collector migrates the same catalog at the same moment."""
        retry_busy(lambda: BaseWriter.migrate(self, tables, sources))

    def _before_transaction(self) -> None:
        self._refresh_s3(self.con)  # role credentials expire: a collector runs for days

    def snapshot(self) -> int:
        """DuckLake's current snapshot id (every commit makes one)."""
        return snapshot_id(self.con)

    def published(self) -> str | None:
        """The snapshot readers see, or None while nothing was collected (no collection run recorded yet): the
        collector then shows a first collection's progress, as with the DuckDB store."""
        try:
            row = self.con.execute("SELECT count(*) FROM (SELECT 1 FROM sextant_collection_run LIMIT 1)").fetchone()
        except duckdb.CatalogException:
            return None
        return str(self.snapshot()) if row and row[0] else None

    def publish(self) -> str:
        """Nothing to copy: each commit is already a snapshot. Returns the current snapshot id (as the name
        readers key their cache by)."""
        return str(self.snapshot())


@dataclass(frozen=True)
class Maintenance:
    """What one :func:`maintain` did (also its row of ``sextant_maintenance_run``)."""

    started_at: datetime
    ended_at: datetime
    status: str  # succeeded | failed
    snapshots_before: int
    snapshots_after: int
    files_before: int
    files_after: int
    files_tracked_after: int
    error: str | None = None


def _catalog_counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    """(snapshots, files the current snapshot reads, files the catalog tracks) of the attached DuckLake: data and
    delete files."""
    meta = f"__ducklake_metadata_{ALIAS}"
    row = con.execute(f"""
        SELECT (SELECT count(*) FROM {meta}.ducklake_snapshot),
               (SELECT count(*) FROM {meta}.ducklake_data_file WHERE end_snapshot IS NULL)
               + (SELECT count(*) FROM {meta}.ducklake_delete_file WHERE end_snapshot IS NULL),
               (SELECT count(*) FROM {meta}.ducklake_data_file)
               + (SELECT count(*) FROM {meta}.ducklake_delete_file)""").fetchone()  # noqa: S608 - constant names
    return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)


def maintenance_due(writer: LakeWriter, every_s: int, now: datetime) -> bool:
    """True when no maintenance started within ``every_s`` seconds of ``now`` (by any collector of the store)."""
    row = writer.con.execute("SELECT max(started_at) FROM sextant_maintenance_run").fetchone()
    last = row[0] if row else None
    return last is None or (now - last).total_seconds() >= every_s


def maintain(writer: LakeWriter, keep_snapshots_s: int) -> Maintenance:
    """DuckLake's own maintenance, its CHECKPOINT: write inlined rows out as Parquet, expire the snapshots older than
    ``keep_snapshots_s`` (a page reading an older one would fail: no read lasts that long), merge adjacent small files,
    rewrite files with many deletes, and delete the files no remaining snapshot reads and that were let go of more than
    ``keep_snapshots_s`` ago. Recorded in ``sextant_maintenance_run``, failed or not; a failure is returned, not
    raised (the collected data is untouched: CHECKPOINT commits what it finishes)."""
    started = datetime.now(UTC)
    con = writer.con
    snaps0, files0, _ = _catalog_counts(con)
    interval = f"{int(keep_snapshots_s)} seconds"
    error = None
    try:
        retry_busy(lambda: con.execute(f"CALL {ALIAS}.set_option('expire_older_than', ?)", [interval]))
        retry_busy(lambda: con.execute(f"CALL {ALIAS}.set_option('delete_older_than', ?)", [interval]))
        retry_busy(lambda: con.execute(f"CHECKPOINT {ALIAS}"))
    except duckdb.Error as exc:
        error = scrub(exc)[:1000]
    snaps1, files1, tracked1 = _catalog_counts(con)
    done = Maintenance(started, datetime.now(UTC), "failed" if error else "succeeded", snaps0, snaps1, files0, files1,
                       tracked1, error)
    with writer.transaction() as tx:
        tx.execute("INSERT INTO sextant_maintenance_run VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   [done.started_at, done.ended_at, done.status, done.snapshots_before, done.snapshots_after,
                    done.files_before, done.files_after, done.files_tracked_after, done.error])
    return done


class LakeReader(Reader):
    """Read-only access to a DuckLake store: one attach per process, a cursor per thread (each in the lake), the
    snapshot id read before each query so that a commit shows on the next one. The schema version is checked once
    per snapshot.

    A catalog that cannot be reached (PostgreSQL down, a SQLite catalog file gone or locked) does not end the reader.
    DuckLake keeps no table data of its own: every query, even one at an older version (``AT (VERSION => n)``), asks
    the catalog first and fails at once while it is away (measured on duckdb 1.5.5: PostgreSQL stopped, "Unable to
    connect to Postgres"; a SQLite catalog locked by another process fails after a 5 s busy wait). So the reader
    records an :class:`Outage` and keeps naming the last snapshot it read, which is what the dashboard's cache is
    keyed by; it tries the catalog again at most every ``RETRY_CATALOG_S`` seconds in a thread of its own, never on a
    page's thread, and ends the outage by itself when the catalog answers (the attached connection reconnects: no new
    attach is needed)."""

    RETRY_ATTACH_S = 1.0  # a catalog with no DuckLake yet is looked for again at most this often
    RETRY_CATALOG_S = 5.0  # an unreachable catalog is tried again at most this often (in the background)

    @dataclass(frozen=True)
    class Outage:
        """The catalog is unreachable: since when, and what the reader keeps serving."""

        since: datetime  # the first failed round trip (UTC)
        snapshot: str | None  # the last snapshot read, still named by current() (None: none read yet)
        snapshot_seen_at: datetime | None  # when the catalog last named it current (UTC): the store as of then
        catalog: str  # which catalog, never with credentials (see catalog_label)
        reason: str  # the error, scrubbed of passwords (for logs, not pages)

    def __init__(self, config: LakeConfig) -> None:
        super().__init__(config.location)
        self.config = config
        self._checked: str | None = None
        self._tried = float("-inf")
        self._refresh_s3 = _S3Refresh(config)
        self.outage: LakeReader.Outage | None = None  # set while the catalog is unreachable
        self._last: tuple[str, float] | None = None  # (snapshot id, time.time() it was read): what an outage serves
        self._retry_at = float("-inf")
        self._probing = False
        self._attach_error: str | None = None  # why the last first-attach failed (scrubbed), until the next try

    @classmethod
    def open(cls, settings: Settings) -> LakeReader:
        return cls(LakeConfig.from_settings(settings))

    def catalog_label(self) -> str:
        """The catalog as pages name it: PostgreSQL's host, port and database (never a user, password or other DSN
        keyword), or a local catalog's file."""
        kind, target = self.config.kind, self.config.target
        if kind != "postgres":
            return f"{kind}:{target}"
        if "://" in target:
            url = urlsplit(target)
            fields = {"host": url.hostname or "", "port": str(url.port or ""), "dbname": url.path.lstrip("/")}
        else:
            fields = {k.lower(): v.strip("'") for k, v in re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", target)}
        host = fields.get("host") or fields.get("hostaddr") or "localhost"
        port = f":{fields['port']}" if fields.get("port") else ""
        return scrub(f"postgres {host}{port}/{fields.get('dbname') or fields.get('user') or ''}")

    # ------------------------------------------------------------------ an unreachable catalog
    def _lost(self, exc: BaseException) -> None:
        """A round trip to the catalog failed: start an outage (the first failure only), serving the last snapshot."""
        with self._lock:
            if self.outage is not None:
                return
            last = self._last
            self.outage = self.Outage(datetime.now(UTC), last[0] if last else None,
                                      datetime.fromtimestamp(last[1], UTC) if last else None, self.catalog_label(),
                                      scrub(exc)[:500])
            self._retry_at = time.monotonic() + self.RETRY_CATALOG_S
        import logging  # the failure path only

        logging.getLogger(__name__).warning("the store's catalog is unreachable; serving snapshot %s until it is back: "
                                            "%s", self.outage.snapshot, self.outage.reason)

    def _serving(self) -> str | None:
        """During an outage: the snapshot kept, and a background try of the catalog when one is due."""
        outage = self.outage
        if outage is None:
            return self._last[0] if self._last else None
        if time.monotonic() >= self._retry_at and not self._probing:
            with self._lock:
                if not self._probing and time.monotonic() >= self._retry_at:
                    self._probing = True
                    self._retry_at = time.monotonic() + self.RETRY_CATALOG_S
                    threading.Thread(target=self._probe, name="sextant-catalog-retry", daemon=True).start()
        return outage.snapshot

    def _probe(self) -> None:
        """One try of the catalog, on a cursor of its own: success ends the outage."""
        try:
            con = self._con
            if con is None:
                return
            cur = con.cursor()  # outside the lake: USE lake itself asks the catalog
            try:
                snapshot_id(cur)
            finally:
                cur.close()
        except duckdb.Error:
            return
        finally:
            self._probing = False
        self.outage = None

    def catalog_failed(self, exc: BaseException) -> bool:
        """After a query failed with ``exc``: True (and an outage begins, if none has) when the catalog does not
        answer now; False when it does, so the failure was the query's own. One round trip, on the error path only."""
        if self.outage is not None:
            return True
        con = self._con
        if con is None:
            return False
        cur = con.cursor()  # a cursor of its own, outside the lake (USE lake itself asks the catalog)
        try:
            snapshot_id(cur)
        except duckdb.Error as probe:
            self._lost(probe)
            return True
        finally:
            cur.close()
        return False

    # ------------------------------------------------------------------ the connection
    def _attached(self) -> duckdb.DuckDBPyConnection | None:
        if self._con is not None:
            self._refresh_s3(self._con)
            return self._con
        with self._lock:  # the first attach: a catalog that cannot be reached now raises LakeError (nothing to serve)
            if self._con is None:
                if self.config.local_catalog_missing():
                    return None
                if time.monotonic() - self._tried < self.RETRY_ATTACH_S:
                    if self._attach_error is not None:  # the last try failed: the same answer until the next try
                        raise LakeError(self._attach_error) from None
                    return None
                self._tried = time.monotonic()
                try:
                    self._con = connect(self.config, read_only=True)
                except _Uninitialized:
                    self._attach_error = None
                    return None
                except LakeError as exc:
                    self._attach_error = str(exc)
                    raise
                self._attach_error = None
            return self._con

    def _cursor(self, con: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
        cur = con.cursor()
        cur.execute(f"USE {ALIAS}")  # a cursor starts in the in-memory database, not in the connection's USE
        return cur

    def _own(self) -> duckdb.DuckDBPyConnection | None:
        con = self._attached()
        if con is None:
            return None
        local = self._local
        if getattr(local, "con", None) is not con:
            try:
                local.cur = self._cursor(con)
            except duckdb.Error as exc:  # USE lake asks the catalog
                self._lost(exc)
                return None
            local.con = con
        cur: duckdb.DuckDBPyConnection = local.cur
        return cur

    def current(self) -> str | None:
        """DuckLake's current snapshot id, or None while the catalog holds no store yet. While the catalog is
        unreachable: the last snapshot read (see :attr:`outage`), without a round trip."""
        if self.outage is not None:
            return self._serving()
        cur = self._own()
        if cur is None:
            return self._serving() if self.outage is not None else None
        try:
            name = str(snapshot_id(cur))
        except duckdb.Error as exc:
            self._lost(exc)
            return self._serving()
        self._last = (name, time.time())
        self._local.seen = name
        return name

    def connection(self) -> duckdb.DuckDBPyConnection | None:
        """The attached connection (``USE lake``), its schema version checked once per snapshot. The snapshot is the
        one this thread's last ``current()`` named (the dashboard asks for it just before each query: reading it again
        would cost another catalog round trip per query), or else read now. While the catalog is unreachable, the
        connection as it is (the snapshot kept was checked when it was read)."""
        cur = self._own()
        if cur is None:
            return None
        if self.outage is not None:
            return self._con
        name = getattr(self._local, "seen", None)
        self._local.seen = None
        try:
            if name is None:
                name = str(snapshot_id(cur))
            if name != self._checked:
                check_version(cur, self.config.where)  # raises StoreVersionError (every time, until it is right)
                self._checked = name
        except duckdb.Error as exc:
            self._lost(exc)
        return self._con

    def cursor(self) -> duckdb.DuckDBPyConnection | None:
        con = self.connection()
        return self._cursor(con) if con is not None else None

    def thread_cursor(self) -> duckdb.DuckDBPyConnection | None:
        """This thread's cursor in the lake, kept between calls (each query sees the newest commit)."""
        if self.connection() is None:
            return None
        return self._own()
