"""Sextant: the Streamlit shell. Run with ``streamlit run dashboard/app.py``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pandas as pd
import streamlit as st

from dashboard import auth, data, filters, prefetch, ui
from dashboard.nav import COLLECTION, PAGES, alias, page, spec_of
from dashboard.nav import params as nav_params
from dashboard.queries import collection, scope
from sextant import progress
from sextant.lake import LakeError
from sextant.settings import SettingsError, load
from sextant.store import StoreVersionError


@st.fragment(run_every=30)
def _watch(seen: str | None) -> None:
    """Reruns the whole page once a newer store snapshot is published; costs one small file read."""
    if data.snapshot() != seen:
        st.rerun(scope="app")


@st.fragment(run_every=3)
def _first_collection(seen: str | None) -> None:
    """While a first collection runs: how far it is; the whole page reruns when it publishes or ends."""
    state = progress.read(data.reader().location)
    if state is None or data.snapshot() != seen:
        st.rerun(scope="app")
        return
    last = f"; last finished: {state.last}" if state.last else ""
    started = ui.when(state.started_at, "%H:%M:%S")
    st.progress(state.fraction, text=f"First collection in progress: {state.done} of about {state.total} source runs "
                                     f"done, started {started}{last}. Pages fill in as sources finish; this page "
                                     "redraws by itself.")


def main() -> None:
    st.set_page_config(page_title="Sextant", page_icon=":material/explore:", layout="wide")
    actor = auth.sign_in_gate(load())  # with require_sign_in, an anonymous visitor sees a sign-in prompt only
    nav = st.navigation([*(page(p) for p in PAGES), alias()])
    try:
        data.reader().connection()  # the snapshot's schema version, checked once per snapshot
    except StoreVersionError as exc:
        _outdated(exc)
    except LakeError as exc:  # the catalog could not be attached at all: nothing read yet, so nothing to show
        logging.getLogger(__name__).warning("%s", exc)  # scrubbed of passwords (sextant.lake)
        label = getattr(data.reader(), "catalog_label", lambda: "DuckLake")()  # no user, password or DSN keyword
        st.error(f"The store's catalog ({ui.plain(label)}) cannot be reached, and this dashboard has read nothing "
                 "from it yet. The reason is in the dashboard's log; this page redraws by itself once it answers.",
                 icon=":material/cloud_off:")
        _until_back()
        st.stop()
    _catalog_banner()
    auth.sidebar(actor)
    st.session_state["_filters"] = filters.sidebar(_kept_or(scope.filter_options, {}))
    with st.sidebar:
        auto = st.toggle("Auto-refresh", value=st.query_params.get("refresh") == "1", key="f_refresh",
                         help="Redraw the page when the collector publishes new data (checked every 30 s).")
        if auto:
            st.query_params["refresh"] = "1"
            _watch(data.snapshot())
        elif "refresh" in st.query_params:
            del st.query_params["refresh"]
        as_of = _kept_or(collection.data_as_of, pd.DataFrame())
        if not as_of.empty:
            st.caption(f"Data as of ({ui.zone()}): " + ", ".join(
                f"{r.source} {ui.local(r.as_of):%H:%M}" for r in as_of.itertuples()))
    seen = data.snapshot()
    if progress.read(data.reader().location) is not None:
        _first_collection(seen)
        if seen is None:  # nothing to read yet: the progress is the page
            st.stop()
    spec = spec_of(nav)
    if spec is not None and spec.sources and seen is not None:
        _kept_or(lambda: _stale_banner(spec.sources), None)
    try:
        nav.run()
    except StoreVersionError as exc:  # a table this version reads is not in the store yet
        _outdated(exc)
    except data.CatalogUnreachable:  # the page asked for a result this dashboard had not read before the outage
        st.info(f"The rest of this page is {data.NOT_AVAILABLE}: this dashboard had not read it before. It shows "
                "here once the catalog answers again.", icon=":material/cloud_off:")
    prefetch.chart_library()  # the next page's charts: Plotly's renderer loaded while the viewer reads this one


_T = TypeVar("_T")


def _kept_or(read: Callable[[], _T], default: _T) -> _T:
    """``read()``, or ``default`` when it needs a result the dashboard had not read before the catalog became
    unreachable (the sidebar's filter values, the stale-data banner: the page still draws)."""
    try:
        return read()
    except data.CatalogUnreachable:
        return default


def _catalog_banner() -> None:
    """Says so above every page while the store's catalog (DuckLake's PostgreSQL or SQLite) is unreachable: what is
    shown meanwhile is what this dashboard read before. Redraws the page when the catalog answers again."""
    outage = data.outage()
    if outage is None:
        return
    shown = (f"showing the snapshot of {outage.snapshot_seen_at:%H:%M} UTC" if outage.snapshot_seen_at is not None
             else "nothing was read from it before")
    st.warning(f"The store's catalog ({ui.plain(outage.catalog)}) is unreachable since {outage.since:%H:%M} UTC: "
               f"{shown}.  \nWhat this dashboard had not read before is not available until the catalog answers; "
               "it is tried again every few seconds.", icon=":material/cloud_off:")
    _until_back()


@st.fragment(run_every=5)
def _until_back() -> None:
    """While the catalog is unreachable: redraws the whole page once it answers again (the reader retries it)."""
    try:
        data.snapshot()  # while the catalog is away, this also starts the reader's retry when one is due
    except LakeError:  # never attached, and still unreachable
        return
    back = data.outage() is None
    if back:
        st.rerun(scope="app")


def _stale_banner(sources: tuple[str, ...]) -> None:
    """Says so above the page when a source it shows has not been collected for over 6 x its cadence or failed last."""
    late = collection.stale_sources(sources, load(), datetime.now(UTC))
    if late.empty:
        return
    lines = [f"{ui.plain(r.source)} ({ui.plain(r.account_id)} {ui.plain(r.region)}): "
             + ("last run failed" if r.status == "failing" else "stale")
             + (f", last collected {ui.when(r.last_success)}, {filters.duration(r.age_s)} ago"
                if pd.notna(r.last_success) else ", never collected")
             + f"; expected every {filters.duration(r.expected_every_s)}" for r in late.itertuples()]
    with st.container(border=False):
        st.warning("This page shows data that is not fresh:  \n" + "  \n".join(lines), icon=":material/update:")
        st.page_link(page(COLLECTION), label="Collection status and what to do", icon=":material/sync:",
                     query_params=nav_params())


def _guarded() -> None:
    """The page, or one clear error block when the settings file is wrong (it names the file, key and fix)."""
    try:
        main()
    except SettingsError as exc:
        st.error(f"Sextant cannot start with these settings: {exc}", icon=":material/settings_alert:")
        st.stop()


def _outdated(exc: StoreVersionError) -> None:
    st.error(str(exc), icon=":material/upgrade:")
    st.stop()


_guarded()
