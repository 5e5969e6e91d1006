"""The confirmation dialog through Streamlit: a dry run, then Confirm in the same dialog, acts once; a duplicate,
an unknown outcome or an action the audit log could not fully record is a warning, never a green success."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from actions.audit import AuditLog
from tests.conftest import Account, account_in_env, make_endpoint, wait_until

MAIN = "123456789012"
ENDPOINT = "dialog-dry-run"
DIALOG = f"""
import actions as a
from dashboard import action_ui
action_ui._confirm(a.ScaleEndpoint("{MAIN}", "{ENDPOINT}", "AllTraffic", 2), "probe")
"""


def _text(element) -> str:
    """What the user reads: the element's Markdown source with its escapes (AWS text is escaped) undone."""
    return re.sub(r"\\(.)", r"\1", element.value)


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Iterator[Account]:
    with account_in_env(tmp_path_factory.mktemp("dialog"), DEMO_SPEEDUP="240") as acc:
        make_endpoint(acc, ENDPOINT, MAIN)
        yield acc


def _in_service(acc) -> None:
    """The dialog plans against AWS's state: a scale is offered only on an endpoint InService (a loaded machine can
    still be creating it when the test starts)."""
    sm = acc.client("sagemaker")
    wait_until(lambda: sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService", 120,
               "the endpoint InService")


def _desired(acc) -> int:
    variant = acc.client("sagemaker").describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]
    return int(variant["DesiredInstanceCount"])


@pytest.mark.emulated
def test_dry_run_then_confirm_in_the_same_dialog_acts_once(acc, tmp_path, monkeypatch):
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SEXTANT_LOCAL_ADMIN", "1")
    _in_service(acc)
    # the dialog's clients are a cached resource per account: an earlier test in this process cached them for
    # another emulated account (since stopped)
    st.cache_resource.clear()
    at = AppTest.from_string(DIALOG, default_timeout=60).run()
    assert not at.exception, at.exception
    at.toggle(key="probe_dry").set_value(True).run()
    assert at.button(key="probe_confirm").label == "Dry run"
    at.button(key="probe_confirm").click().run()
    assert [_text(s) for s in at.success if "dry run: would" in _text(s)], [_text(s) for s in at.success]
    assert _desired(acc) == 1

    at.toggle(key="probe_dry").set_value(False).run()
    assert at.button(key="probe_confirm").label == "Confirm"
    at.button(key="probe_confirm").click().run()
    assert not at.exception, at.exception
    assert at.session_state["_action_outcome_probe"][0] == "succeeded"  # the dialog closed on success
    assert at.session_state["_action_toast_probe"].startswith("done: scale")
    assert not [b for b in at.button if b.key == "probe_confirm"]  # re-planned: Updating, no Confirm to click again
    audit = AuditLog(tmp_path / "store" / "audit.sqlite").frame()
    assert list(audit.result) == ["succeeded", "dry_run"]
    assert _desired(acc) == 2


BUTTON = f"""
import actions as a
from dashboard import action_ui
action_ui.action_button("Scale", a.ScaleEndpoint("{MAIN}", "{ENDPOINT}", "AllTraffic", 2), "probe")
"""


@pytest.mark.parametrize("last, shown", [
    (("duplicate", "already done (audit #3, succeeded): this confirmation acts once", 4), "warning"),
    (("succeeded", "done: scale. The action RAN in AWS, but its audit row #5 could not be completed", 5,
      "audit #5 could not be completed"), "warning"),
    (("unknown", "the outcome is unknown, check AWS before acting again", 6, None), "warning"),
    (("succeeded", "done: scale", 7, None), "success"),
    (("failed", "Not run: the audit log could not record this action", None, "intent not written"), "error"),
])
def test_the_last_outcome_is_green_only_when_it_happened_as_asked(tmp_path, monkeypatch, last, shown):
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SEXTANT_LOCAL_ADMIN", "1")
    at = AppTest.from_string(BUTTON, default_timeout=60)
    at.session_state["_action_outcome_probe"] = last
    at.run()
    assert not at.exception, at.exception
    boxes = {"success": at.success, "warning": at.warning, "error": at.error}
    assert [_text(e) for e in boxes[shown] if last[1] in _text(e)], {k: [_text(e) for e in v] for k, v in boxes.items()}
    assert sum(len(v) for v in boxes.values()) == 1
    if last[2] is None:
        assert "not in the audit log" in _text(boxes[shown][0])
