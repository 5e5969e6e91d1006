"""The dashboard's only door to data: the newest published store snapshot, read-only, cached.

Pages never see SQL or boto3: they call the typed functions in ``dashboard.queries``, which run
parameterized SQL here. Results are cached per (snapshot, query, parameters), so a new snapshot
published by the collector invalidates them without a TTL guess, and a page view costs zero AWS calls.

On DuckLake, a catalog that cannot be reached (``outage()``) leaves the dashboard serving what it has read: each
query's newest cached result, and :class:`CatalogUnreachable` for one it never read (the page frame says so in words).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa
import streamlit as st
from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx

from sextant.settings import DEFAULT_CONFIG, Settings, load
from sextant.store import Reader, StoreVersionError, open_reader

if TYPE_CHECKING:
    from sextant.lake import LakeReader

STORE_ENV = ("SEXTANT_STORE", "SEXTANT_STORE_BACKEND", "SEXTANT_CATALOG", "SEXTANT_DATA_PATH")


StoreKey = tuple[str, str, str, str]  # (backend, location, catalog, data path): which store, whatever its backend


@functools.lru_cache(maxsize=8)
def _reader(store: StoreKey) -> Reader:
    # one Reader per store for the process (it is thread-safe: a lock around the snapshot switch and a cursor per
    # thread); a plain lru_cache, since it is looked up on every query and st.cache_resource hashes its arguments
    backend, location, catalog, data_path = store
    return open_reader(Settings(store=Path(location), store_backend=backend, catalog=catalog, data_path=data_path))


@functools.lru_cache(maxsize=16)
def _store_key(env: tuple[str | None, ...], config: str, cwd: str, config_mtime: int | None) -> StoreKey:
    settings = load()
    return (settings.store_backend, str(Path(settings.store).resolve()), settings.catalog, settings.data_path)


def store_key() -> StoreKey:
    """Which store the settings name. It depends only on the environment's SEXTANT_STORE* variables and the settings
    file, so the settings are parsed again only when one of those changes, not on each of a page's queries."""
    config = os.environ.get("SEXTANT_CONFIG") or DEFAULT_CONFIG
    try:
        mtime = os.stat(config).st_mtime_ns
    except OSError:
        mtime = None
    env = tuple(os.environ.get(name) for name in STORE_ENV)
    return _store_key(env, config, os.getcwd(), mtime)


def reader() -> Reader:
    """The reader of the configured store: the DuckDB file's published snapshots or a DuckLake catalog
    (``[store] backend``)."""
    return _reader(store_key())


def snapshot() -> str | None:
    return reader().current()


NOT_AVAILABLE = "not available while the store's catalog is unreachable"


class CatalogUnreachable(RuntimeError):
    """A result asked for while the store's catalog is unreachable, that this dashboard had not read before."""


def outage() -> LakeReader.Outage | None:
    """Since when the store's catalog has been unreachable, and what is served meanwhile (None: it answers; the
    DuckDB file store has no catalog)."""
    return getattr(reader(), "outage", None)


_NULLABLE = {pa.bool_(): pd.BooleanDtype(), pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(),
             pa.int32(): pd.Int32Dtype(), pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(),
             pa.uint16(): pd.UInt16Dtype(), pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype()}


_DF_ONLY = {"interval", "list", "array", "struct", "map", "union", "uuid", "bit", "enum", "time", "timetz"}


def frame(cur) -> pd.DataFrame:
    """The result of an executed cursor as a DataFrame with the column types DuckDB's ``.df()`` gives, in half its
    time on the small results pages read (through Arrow). Where Arrow's conversion differs, it is corrected: DATE
    as datetime64[us], HUGEINT (a sum of integers) and DECIMAL as float64, integers and booleans with NULLs as
    pandas' nullable types, text columns without a value as object; results with nested, interval and other rare
    types take ``.df()`` itself. tests/dashboard/test_data.py holds the two conversions equal, type by type."""
    if any(d[1].id in _DF_ONLY for d in cur.description or ()):
        return cur.df()
    table = cur.to_arrow_table()
    fields = list(table.schema)
    casts = {f.name: pa.float64() if pa.types.is_decimal(f.type) else pa.timestamp("us")
             for f in fields if pa.types.is_decimal(f.type) or pa.types.is_date(f.type)}
    if casts:
        table = table.cast(pa.schema([pa.field(f.name, casts.get(f.name, f.type)) for f in fields]))
    df = table.to_pandas()
    for f in table.schema:
        nulls = table.column(f.name).null_count
        if f.type in _NULLABLE and nulls:
            df[f.name] = table.column(f.name).to_pandas(types_mapper=_NULLABLE.get)
        elif nulls == table.num_rows and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
            df[f.name] = pd.Series([None] * table.num_rows, dtype=object)  # no value at all: object, as .df()
    return df


_NO_TABLE = re.compile(r"Table with name (\w+) does not exist")


@st.cache_data(max_entries=512, show_spinner=False)
def _cached(store: StoreKey, snapshot_name: str, sql: str, params: tuple) -> pd.DataFrame:
    location = store[1]
    r = _reader(store)
    if getattr(r, "outage", None) is not None:  # not in the cache, and the catalog is away: no round trip to try
        raise CatalogUnreachable(f"{NOT_AVAILABLE}: this dashboard had not read it before")
    try:
        return frame(r.thread_cursor().execute(sql, list(params)))
    except duckdb.CatalogException as exc:
        # A table a newer collector adds (a new source) is missing until a collector of this version has migrated
        # the store: additive changes need no version bump, and the page says what to run instead of failing.
        missing = _NO_TABLE.search(str(exc))
        if missing is None:
            raise
        raise StoreVersionError(f"the store at {location} has no table {missing.group(1)} yet: run `sextant collect` "
                                "(or `python -m collectors run --once`) once with this version to add it") from None


# (store, sql, parameters) -> the newest snapshot under which the query's result was cached: while the catalog is
# unreachable, a query answers with that result. DuckLake makes a snapshot per commit, so the last snapshot read holds
# only the queries made since the last commit; what a page showed a commit earlier is still this dashboard's to show.
_KEPT: dict[tuple[StoreKey, str, tuple[Any, ...]], str] = {}
_KEPT_MAX = 4096
_KEPT_LOCK = threading.Lock()


def _catalog_failed(r: Reader, exc: BaseException) -> bool:
    """After ``exc`` from a query: whether the catalog is unreachable (the reader then serves what it has)."""
    failed = getattr(r, "catalog_failed", None)
    return bool(failed is not None and failed(exc))


def _kept(store: StoreKey, sql: str, params: tuple[Any, ...], snapshot_name: str | None) -> pd.DataFrame:
    """While the catalog is unreachable: the query's newest cached result; :class:`CatalogUnreachable` if none."""
    try:
        name = _KEPT.get((store, sql, params), snapshot_name)
    except TypeError:  # an unhashable parameter (a list): its result is looked for under the last snapshot only
        name = snapshot_name
    if name is None:
        raise CatalogUnreachable(f"{NOT_AVAILABLE}: nothing was read before it became unreachable")
    result: pd.DataFrame = _cached(store, name, sql, params)  # a hit, or CatalogUnreachable without a round trip
    return result


def query(sql: str, params: list | tuple = ()) -> pd.DataFrame:
    """Run a read query on the newest snapshot; an empty frame when nothing is collected yet. While the store's
    catalog is unreachable: the result this dashboard read last, or :class:`CatalogUnreachable`."""
    store = store_key()
    r = _reader(store)
    name = r.current()  # the snapshot's name (DuckLake: its snapshot id): a commit is a new cache key
    args = tuple(params)
    if getattr(r, "outage", None) is not None:  # current() named the snapshot kept, without a round trip
        return _kept(store, sql, args, name)
    if name is None:
        return pd.DataFrame()
    try:
        result: pd.DataFrame = _cached(store, name, sql, args)
    except duckdb.Error as exc:
        if not _catalog_failed(r, exc):
            raise
        return _kept(store, sql, args, name)
    key = (store, sql, args)
    try:
        if _KEPT.get(key) != name:
            with _KEPT_LOCK:  # a page's queries run on several threads (gather): one eviction at a time
                if len(_KEPT) >= _KEPT_MAX:
                    _KEPT.pop(next(iter(_KEPT)), None)  # the oldest entry
                _KEPT.pop(key, None)
                _KEPT[key] = name
    except TypeError:  # an unhashable parameter
        pass
    return result


_MEMO: dict[tuple[StoreKey, str, str], object] = {}  # (store, snapshot, what) -> a small fact about the snapshot


def per_snapshot(what: str, compute):
    """A small fact about the newest snapshot (its table names, whether it holds a bill), computed once per
    snapshot: pages check such facts dozens of times, and a Streamlit cache lookup costs ~1 ms each. A plain
    dict keyed by snapshot name, so a new snapshot is a new key; ``compute`` gets this thread's cursor. While the
    catalog is unreachable: the fact of the newest snapshot it was computed for."""
    store = store_key()
    r = _reader(store)
    name = r.current()
    if name is None:
        return None
    key = (store, name, what)
    if key not in _MEMO:
        if getattr(r, "outage", None) is not None:
            return _kept_fact(store, what)
        if len(_MEMO) >= 64:  # snapshots are replaced, never revisited
            _MEMO.clear()
        try:
            _MEMO[key] = compute(r.thread_cursor())
        except duckdb.Error as exc:
            if not _catalog_failed(r, exc):
                raise
            return _kept_fact(store, what)
    return _MEMO[key]


def _kept_fact(store: StoreKey, what: str) -> object:
    kept = [value for (s, _, w), value in list(_MEMO.items()) if s == store and w == what]  # newest last
    if not kept:
        raise CatalogUnreachable(f"{NOT_AVAILABLE}: this dashboard had not read it before")
    return kept[-1]


# A page's independent queries run side by side: DuckDB releases the GIL while it executes, each thread reads through
# its own cursor (Reader.thread_cursor), and the small queries pages make spend most of their time in serial phases
# (planning, fetching the result) that a second core overlaps. A few threads for the whole process: more would only
# queue on the two cores of the reference machine.
_POOL = ThreadPoolExecutor(max_workers=3, thread_name_prefix="sextant-query")


def gather(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent read calls concurrently; their results in order (the first exception is raised). Each worker
    thread carries the calling script's Streamlit context, so the query cache behaves as on the script thread."""
    ctx = get_script_run_ctx(suppress_warning=True)

    def run(call: Callable[[], Any]) -> Any:
        if ctx is not None:
            add_script_run_ctx(ctx=ctx)
        return call()

    futures = [_POOL.submit(run, c) for c in calls[1:]]
    first = calls[0]() if calls else None  # the caller's thread works too
    return [first, *(f.result() for f in futures)] if calls else []
