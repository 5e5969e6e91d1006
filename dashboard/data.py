"""The dashboard's only door to data: the newest published store snapshot, read-only, cached.

Pages never see SQL or boto3: they call the typed functions in ``dashboard.queries``, which run
parameterized SQL here. Results are cached per (snapshot, query, parameters), so a new snapshot
published by the collector invalidates them without a TTL guess, and a page view costs zero AWS calls.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from collectors.settings import load
from collectors.store import Reader


@st.cache_resource
def _reader(location: str) -> Reader:
    return Reader(Path(location))


def reader() -> Reader:
    return _reader(str(Path(load().store).resolve()))


def snapshot() -> str | None:
    return reader().current()


@st.cache_data(max_entries=512, show_spinner=False)
def _cached(location: str, snapshot_name: str, sql: str, params: tuple) -> pd.DataFrame:
    return _reader(location).thread_cursor().execute(sql, list(params)).df()


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
