"""Small shared pieces of page UI: tables with CSV/Parquet downloads, empty states, money, AWS text made safe."""

from __future__ import annotations

import io
import math
import re
import string
from typing import Any

import pandas as pd
import streamlit as st

_TAG = re.compile(r"<[A-Za-z!/?][^<>]*(?:>|$)")  # a tag, or one cut off at the end
_ESCAPE = {ord(c): "\\" + c for c in string.punctuation}
_SPACE = re.compile(r"\s+")


def plain(value: object, missing: str = "–") -> str:
    """``value`` (a tag value, a name, a failure or alarm reason, a log line: anything AWS or a user supplied) as
    text for an element that renders Markdown (st.markdown, st.caption, st.subheader, st.warning, labels, help):
    HTML tags removed, every ASCII punctuation character escaped with a backslash (so no link, image, emphasis,
    code span, heading, table, autolink, ``:color[...]`` or ``:material/...:`` directive and no ``$`` math can form),
    line breaks and runs of white space folded into one space. None and NaN read as ``missing``."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return missing
    text = _SPACE.sub(" ", _TAG.sub("", str(value))).strip()
    return text.translate(_ESCAPE) if text else missing


def money(x: float | None, digits: int = 0) -> str:
    return "–" if x is None or pd.isna(x) else f"${x:,.{digits}f}"


def empty(message: str) -> None:
    """An empty state that says what to do next."""
    st.info(message, icon=":material/info:")


def table(df: pd.DataFrame, key: str, *, column_config: dict[str, Any] | None = None, height: int | None = None,
          on_select: str = "ignore", selection_mode: str = "single-row") -> Any:
    """A dataframe with CSV and Parquet downloads under it; returns the selection event when selectable."""
    kwargs = {"hide_index": True, "width": "stretch", "column_config": column_config or {}, "key": key}
    if height:
        kwargs["height"] = height
    if on_select != "ignore":
        kwargs.update(on_select=on_select, selection_mode=selection_mode)
    event = st.dataframe(df, **kwargs)
    c1, c2, _ = st.columns([1, 1, 6])
    # The files are built when a download is clicked (a callable ``data``), not on every rerun of every page: a
    # large result is not copied twice more into memory just in case.
    c1.download_button("CSV", lambda: csv_bytes(df), f"{key}.csv", "text/csv", key=f"{key}_csv",
                       icon=":material/download:")
    c2.download_button("Parquet", lambda: parquet_bytes(df), f"{key}.parquet", "application/vnd.apache.parquet",
                       key=f"{key}_parquet", icon=":material/download:")
    return event


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()
