"""The dashboard's only door to data: the newest published store snapshot, read-only, cached.

Pages never see SQL or boto3: they call the typed functions in ``dashboard.queries``, which run
parameterized SQL here. Results are cached per (snapshot, query, parameters), so a new snapshot
published by the collector invalidates them without a TTL guess, and a page view costs zero AWS calls.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import pandas as pd
import streamlit as st

from collectors.settings import DEFAULT_CONFIG, load
from collectors.store import Reader


@st.cache_resource
def _reader(location: str) -> Reader:
    return Reader(Path(location))


@functools.lru_cache(maxsize=16)
def _store_location(env_store: str | None, config: str, cwd: str, config_mtime: int | None) -> str:
    return str(Path(load().store).resolve())


def reader() -> Reader:
    """The reader of the configured store. Where the store is depends only on SEXTANT_STORE and the settings
    file, so the settings are parsed again only when one of those changes, not on each of a page's queries."""
    config = os.environ.get("SEXTANT_CONFIG") or DEFAULT_CONFIG
    try:
        mtime = os.stat(config).st_mtime_ns
    except OSError:
        mtime = None
    return _reader(_store_location(os.environ.get("SEXTANT_STORE"), config, os.getcwd(), mtime))


def snapshot() -> str | None:
    return reader().current()


@st.cache_data(max_entries=512, show_spinner=False)
def _cached(location: str, snapshot_name: str, sql: str, params: tuple) -> pd.DataFrame:
    # through Arrow: half the time of DuckDB's own .df() on the small results pages read (dates as datetime64, as
    # .df() gives them)
    table = _reader(location).thread_cursor().execute(sql, list(params)).to_arrow_table()
    return table.to_pandas(date_as_object=False)


def query(sql: str, params: list | tuple = ()) -> pd.DataFrame:
    """Run a read query on the newest snapshot; an empty frame when nothing is collected yet."""
    r = reader()
    name = r.current()
    if name is None:
        return pd.DataFrame()
    return _cached(str(r.location), name, sql, tuple(params))


@st.cache_resource(max_entries=8, show_spinner=False)
def _tables(location: str, snapshot_name: str) -> frozenset[str]:
    # cache_resource, not cache_data: the frozenset is returned as is, not unpickled on every hit (pages make
    # dozens of has_table checks, and a cache_data hit costs ~1-3 ms)
    cur = _reader(location).thread_cursor()
    return frozenset(r[0] for r in cur.execute("SELECT table_name FROM duckdb_tables()").fetchall())


def tables() -> frozenset[str]:
    """Names of the snapshot's tables: one query per snapshot, however many ``has_table`` checks a page makes."""
    r = reader()
    name = r.current()
    return frozenset() if name is None else _tables(str(r.location), name)


def has_table(name: str) -> bool:
    return name in tables()
