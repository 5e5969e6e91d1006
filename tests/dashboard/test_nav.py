"""dashboard.nav.params and the sidebar's filters in the URL: a link carries the viewer's range and scope plus the
target's own parameters, and the page it opens reads the same filters back; a page's own default range applies only
when neither the link nor the viewer chose one. Small scripts through Streamlit's AppTest (no store)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

SCRIPT = """
import streamlit as st
from dashboard import filters, nav

st.session_state["_filters"] = filters.sidebar({"team": ["fraud", "search", "vision"], "account": ["111"],
                                                "region": ["us-east-1"], "project": []})
f = filters.current(default_range=st.session_state.get("page_default", "24h"))
st.session_state["seen"] = (f.range_key, f.teams, f.accounts, f.range_given)
st.session_state["link"] = nav.params(endpoint="fraud-prod", job=None)
"""


def _run(**query) -> AppTest:
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_link_carries_the_range_and_scope_and_the_targets_parameters():
    at = _run(range="7d", team=["fraud", "search"], account="111", tab="Savings")
    assert at.session_state["link"] == {"range": "7d", "account": "111", "team": ["fraud", "search"],
                                        "endpoint": "fraud-prod"}  # a page's own parameter (tab) stays behind


def test_the_page_a_link_opens_reads_the_same_filters_back():
    first = _run(range="30d", team=["vision"], region="us-east-1")
    opened = _run(**{k: v for k, v in first.session_state["link"].items() if k != "endpoint"})
    assert opened.session_state["seen"] == first.session_state["seen"] == ("30d", ("vision",), (), True)
    assert opened.session_state["link"] == first.session_state["link"]


def test_a_default_range_is_not_carried_and_a_pages_default_applies():
    at = _run()
    assert at.session_state["seen"][0] == "24h" and "range" not in at.session_state["link"]
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.session_state["page_default"] = "7d"
    at.run()
    assert at.session_state["seen"][0] == "7d" and at.query_params["range"] == "7d"
    assert at.selectbox(key="f_range").value == "7d"
    assert "range" not in at.session_state["link"]  # still the page's default, not the viewer's choice


def test_a_range_the_link_names_wins_over_the_pages_default():
    at = AppTest.from_string(SCRIPT, default_timeout=30)
    at.session_state["page_default"] = "7d"
    at.query_params["range"] = "1h"
    at.run()
    assert at.session_state["seen"][0] == "1h" and at.session_state["link"]["range"] == "1h"


def test_a_range_the_viewer_picks_is_kept_and_carried():
    at = _run()
    at.selectbox(key="f_range").set_value("90d").run()
    at.session_state["page_default"] = "7d"
    at.run()
    assert at.session_state["seen"][0] == "90d" and at.session_state["link"]["range"] == "90d"


def test_an_unknown_range_in_the_url_falls_back_to_the_default():
    at = _run(range="forever")
    assert at.session_state["seen"][0] == "24h" and at.query_params["range"] == "24h"
