"""The dialog after an action, through Streamlit: it closes on success (a toast, the outcome under the button), the
page shows the change as pending for every session until the store shows it, and a scale of an autoscaled variant
says what it does to min/max and schedules the restore chosen (cancellable from the page)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from streamlit.testing.v1 import AppTest

from actions.audit import AuditLog
from actions.schedule import RestoreSchedule
from tests.conftest import Account, account_in_env, make_endpoint

MAIN = "123456789012"
PLAIN, SCALED = "dialog-closes", "dialog-autoscaled"
# The frontend closes a dialog when the app reruns and the dialog is not opened again: this page opens it until the
# action button has taken the success toast that the dialog leaves when it closes (then the page goes on as usual).
PAGE = """
import pandas as pd
import streamlit as st
import actions as a
from dashboard import action_ui
req = a.ScaleEndpoint("{main}", "{endpoint}", "AllTraffic", {count})
if not st.session_state.get("closed"):
    st.session_state["closed"] = "_action_toast_probe" in st.session_state
    if not st.session_state["closed"]:
        action_ui._confirm(req, "probe")
action_ui.action_button("Scale", req, "probe")
action_ui.pending_notice("{main}", "us-east-1", "{endpoint}",
                         pd.DataFrame([{{"variant_name": "AllTraffic", "current_instance_count": {seen},
                                        "desired_instance_count": {seen}}}]), ({lo}, {hi}), key="notice")
"""


def _text(element) -> str:
    return re.sub(r"\\(.)", r"\1", element.value)


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Iterator[Account]:
    with account_in_env(tmp_path_factory.mktemp("dialog"), DEMO_SPEEDUP="240") as acc:
        make_endpoint(acc, PLAIN, MAIN)
        make_endpoint(acc, SCALED, MAIN)
        acc.client("application-autoscaling").register_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=f"endpoint/{SCALED}/variant/AllTraffic",
            ScalableDimension="sagemaker:variant:DesiredInstanceCount", MinCapacity=1, MaxCapacity=3)
        yield acc


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("SEXTANT_LOCAL_ADMIN", "1")
    return tmp_path / "store"


def _page(endpoint, count, seen, lo="None", hi="None"):
    return AppTest.from_string(PAGE.format(main=MAIN, endpoint=endpoint, count=count, seen=seen, lo=lo, hi=hi),
                               default_timeout=60)


def _infos(at) -> list[str]:
    return [_text(i) for i in at.info]


def test_the_dialog_closes_on_success_and_every_session_sees_the_change_pending(acc, store):
    at = _page(PLAIN, 2, seen=1).run()
    assert not at.exception, at.exception
    assert not [i for i in _infos(at) if "pending" in i], "nothing pending before the action"
    at.button(key="probe_confirm").click().run()
    assert not at.exception, at.exception
    assert at.session_state["closed"] is True, "the dialog closed (the app reran without it)"
    assert not [b for b in at.button if b.key == "probe_confirm"], "no Confirm button left to press again"
    assert [t for t in at.toast if _text(t).startswith("done: scale")], [_text(t) for t in at.toast]
    assert [s for s in at.success if _text(s).startswith("done: scale")], "the outcome stays under the button"
    mine = [i for i in _infos(at) if "pending until the next collection confirms it" in i]
    assert len(mine) == 1 and mine[0].startswith("Scaling AllTraffic to 2 instances requested by "), _infos(at)
    assert re.search(r" at \d\d:\d\d UTC", mine[0])

    other = _page(PLAIN, 2, seen=1).run()  # another viewer's session: from the audit log
    assert [i for i in _infos(other) if i == mine[0]], _infos(other)
    collected = _page(PLAIN, 2, seen=2).run()  # the collection shows 2 instances: no longer pending
    assert not [i for i in _infos(collected) if "pending" in i], _infos(collected)
    assert list(AuditLog(store / "audit.sqlite").frame().result) == ["succeeded"]


def test_an_autoscaled_scale_says_it_pins_and_schedules_the_chosen_restore(acc, store):
    at = _page(SCALED, 3, seen=1, lo=1, hi=3).run()
    assert not at.exception, at.exception
    pins = [_text(w) for w in at.warning if "min = max = 3" in _text(w)]
    assert pins and "they were min 1 / max 3" in pins[0], [_text(w) for w in at.warning]
    radio = at.radio(key="probe_restore")
    assert radio.label == "Restore min/max to (1, 3) after" and list(radio.options) == ["1 h", "4 h", "24 h", "never"]
    assert radio.value == "never"
    radio.set_value("1 h").run()
    at.button(key="probe_confirm").click().run()
    assert not at.exception, at.exception
    assert [t for t in at.toast if "min/max go back to 1/3" in _text(t)], [_text(t) for t in at.toast]
    [restore] = RestoreSchedule(AuditLog(store / "audit.sqlite")).for_variant(MAIN, "us-east-1", SCALED)
    assert (restore.status, restore.min_capacity, restore.max_capacity) == ("scheduled", 1, 3)
    assert [i for i in _infos(at) if f"go back to 1/3 at {restore.due_at:%H:%M} UTC (restore #{restore.id}" in i]

    at.button(key=f"notice_cancel_{restore.id}").click().run()
    assert not at.exception, at.exception
    assert RestoreSchedule(AuditLog(store / "audit.sqlite")).get(restore.id).status == "cancelled"
    assert not [i for i in _infos(at) if "go back to" in i]
    actions = list(AuditLog(store / "audit.sqlite").frame().action)
    assert actions == ["cancel_restore", "schedule_restore", "scale_endpoint"]
