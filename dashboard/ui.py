"""Small shared pieces of page UI: tables with CSV/Parquet downloads, empty states, money."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st


def money(x: float | None, digits: int = 0) -> str:
    return "–" if x is None or pd.isna(x) else f"${x:,.{digits}f}"


def empty(message: str) -> None:
    """An empty state that says what to do next."""
    st.info(message, icon=":material/info:")


def table(df: pd.DataFrame, key: str, *, column_config: dict | None = None, height: int | None = None,
          on_select: str = "ignore", selection_mode: str = "single-row"):
    """A dataframe with CSV and Parquet downloads under it; returns the selection event when selectable."""
    kwargs = {"hide_index": True, "width": "stretch", "column_config": column_config or {}, "key": key}
    if height:
        kwargs["height"] = height
    if on_select != "ignore":
        kwargs.update(on_select=on_select, selection_mode=selection_mode)
    event = st.dataframe(df, **kwargs)
    c1, c2, _ = st.columns([1, 1, 6])
    c1.download_button("CSV", df.to_csv(index=False).encode(), f"{key}.csv", "text/csv", key=f"{key}_csv",
                       icon=":material/download:")
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    c2.download_button("Parquet", buf.getvalue(), f"{key}.parquet", "application/vnd.apache.parquet",
                       key=f"{key}_parquet", icon=":material/download:")
    return event
