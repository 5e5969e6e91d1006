"""The refresh control through Streamlit, on a tiny store: operators get a button whose dialog shows the series,
metric queries and estimated cost; after confirming, the dialog closes and the page says "Refresh requested at
HH:MM:SS UTC — the charts update when the collector has read it" until the published store shows the refresh;
viewers see no control."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from streamlit.testing.v1 import AppTest

import actions as a
import collectors
from actions.audit import AuditLog
from actions.refresh import RefreshQueue
from collectors import cloudwatch_metrics as cwm
from collectors.sagemaker_endpoints import ENDPOINT
from sextant.settings import Settings
from sextant.store import Writer

MAIN, REGION, NAME = "123456789012", "us-east-1", "fraud-scorer-prod"
METRICS = (("AWS/SageMaker", "Invocations"), ("AWS/SageMaker", "ModelLatency"),
           ("/aws/sagemaker/Endpoints", "GPUUtilization"))  # 1 + 4 + 2 metric queries
PAGE = """
import streamlit as st
import actions as a
from dashboard import action_ui
req = a.RefreshEndpoint("{main}", "{name}", "{region}")
if {dialog} and not st.session_state.get("closed"):
    st.session_state["closed"] = "_refresh_toast_probe" in st.session_state
    if not st.session_state["closed"]:
        action_ui._refresh_dialog(req, "probe")
action_ui.refresh_control("{main}", "{region}", "{name}", key="probe")
"""


def _text(element) -> str:
    return re.sub(r"\\(.)", r"\1", element.value)


def _write(store, polled: datetime) -> None:
    w = Writer(store)
    try:
        collectors.migrate(w)
        with w.transaction():
            w.upsert(ENDPOINT, [{"account_id": MAIN, "region": REGION, "endpoint_name": NAME}])
            w.upsert(cwm.SERIES, [
                {"account_id": MAIN, "region": REGION, "series_id": cwm.series_id(ns, m, {"EndpointName": NAME}),
                 "namespace": ns, "metric_name": m, "endpoint_name": NAME, "stats": ",".join(cwm.stats_for(ns, m)),
                 "last_polled_at": polled} for ns, m in METRICS])
        w.publish()
    finally:
        w.close()


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("SEXTANT_CONFIG", str(tmp_path / "none.toml"))
    _write(tmp_path / "store", datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    return tmp_path / "store"


@dataclass
class Read:
    status: str = "succeeded"
    series: int = 3
    queries: int = 7
    requests: int = 1
    datapoints: int = 70
    api_calls: int = 1
    cost_usd: float = 7e-05
    error: str | None = None


class Collector:
    """The collector's side: writes the endpoint's series as read now, and publishes."""

    def __init__(self, store) -> None:
        self.store = store

    def serves(self, account_id: str, region: str) -> bool:
        return True

    def read(self, account_id: str, region: str, endpoint: str) -> Read:
        _write(self.store, datetime.now(UTC))
        return Read()


def _page(dialog: bool = True) -> AppTest:
    return AppTest.from_string(PAGE.format(main=MAIN, region=REGION, name=NAME, dialog=dialog), default_timeout=30)


def test_an_operator_confirms_a_refresh_and_sees_it_requested_until_the_store_shows_it(store, monkeypatch):
    monkeypatch.setenv("SEXTANT_LOCAL_ADMIN", "1")
    at = _page().run()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics == {"Series": "3", "Metric queries": "7", "Estimated cost": "$0.00007"}, metrics
    assert [c for c in at.caption if _text(c).startswith("Estimated cost: $0.00007 — 7 metric queries × $0.00001")]
    assert RefreshQueue(AuditLog(store / "audit.sqlite")).latest(MAIN, REGION, NAME) is None, "asked nothing yet"

    at.button(key="probe_confirm").click().run()
    assert not at.exception, at.exception
    assert at.session_state["closed"] is True, "the dialog closed"
    [toast] = [_text(t) for t in at.toast]
    assert toast.startswith(f"refresh of {NAME} requested at ")
    r = RefreshQueue(AuditLog(store / "audit.sqlite")).latest(MAIN, REGION, NAME)
    assert r is not None and r.status == "queued" and r.actor == "local-admin"
    notice = f"Refresh requested at {r.requested_at:%H:%M:%S} UTC — the charts update when the collector has read it"
    assert [_text(i) for i in at.info] == [notice]

    a.serve_refreshes(Settings(store=store), Collector(store), AuditLog(store / "audit.sqlite"))
    at = _page(dialog=False).run()
    assert not at.exception, at.exception
    assert not at.info, "the store shows the refresh: no notice"
    assert [c for c in at.caption if _text(c).startswith("Metrics refreshed: requested at ")], \
        [_text(c) for c in at.caption]


def test_a_viewer_sees_no_refresh_control(store, monkeypatch):
    monkeypatch.delenv("SEXTANT_LOCAL_ADMIN", raising=False)
    at = _page(dialog=False).run()
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.key == "probe"]
