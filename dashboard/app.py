"""Sextant: the Streamlit shell. Run with ``streamlit run dashboard/app.py``."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import auth, data, filters, ui
from dashboard.nav import COLLECTION, PAGES, alias, page, spec_of
from dashboard.nav import params as nav_params
from dashboard.queries import collection, scope
from sextant import progress
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
    auth.sidebar(actor)
    st.session_state["_filters"] = filters.sidebar(scope.filter_options())
    with st.sidebar:
        auto = st.toggle("Auto-refresh", value=st.query_params.get("refresh") == "1", key="f_refresh",
                         help="Redraw the page when the collector publishes new data (checked every 30 s).")
        if auto:
            st.query_params["refresh"] = "1"
            _watch(data.snapshot())
        elif "refresh" in st.query_params:
            del st.query_params["refresh"]
        as_of = collection.data_as_of()
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
        _stale_banner(spec.sources)
    try:
        nav.run()
    except StoreVersionError as exc:  # a table this version reads is not in the store yet
        _outdated(exc)


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
