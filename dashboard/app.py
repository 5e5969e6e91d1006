"""Sextant: the Streamlit shell. Run with ``streamlit run dashboard/app.py``."""

from __future__ import annotations

import streamlit as st

from dashboard import auth, data, filters
from dashboard.nav import PAGES, page
from dashboard.queries import collection, scope
from sextant.settings import SettingsError, load
from sextant.store import StoreVersionError


@st.fragment(run_every=30)
def _watch(seen: str | None) -> None:
    """Reruns the whole page once a newer store snapshot is published; costs one small file read."""
    if data.snapshot() != seen:
        st.rerun(scope="app")


def main() -> None:
    st.set_page_config(page_title="Sextant", page_icon=":material/explore:", layout="wide")
    actor = auth.sign_in_gate(load())  # with require_sign_in, an anonymous visitor sees a sign-in prompt only
    nav = st.navigation([page(p) for p in PAGES])
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
            st.caption("Data as of (UTC): " + ", ".join(
                f"{r.source} {r.as_of:%H:%M}" for r in as_of.itertuples()))
    try:
        nav.run()
    except StoreVersionError as exc:  # a table this version reads is not in the store yet
        _outdated(exc)


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
