"""The shell: auto-refresh follows the URL, so a shared link keeps it."""

from __future__ import annotations


def test_auto_refresh_toggle_is_on_when_the_link_says_so(app):
    at = app("pages/endpoints.py", refresh="1")
    assert at.toggle(key="f_refresh").value is True
    assert at.query_params["refresh"] == "1"


def test_auto_refresh_is_off_by_default(app):
    at = app("pages/endpoints.py")
    assert at.toggle(key="f_refresh").value is False
