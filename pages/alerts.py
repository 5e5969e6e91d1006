"""Alerts: what is firing now and why, what resolved lately, every rule with its last evaluation, and whether the
channels deliver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from dashboard import filters, nav, ui
from dashboard.queries import alerts as aq
from sextant.settings import load

RECENT = timedelta(days=7)

st.title("Alerts")
f = filters.current()
settings = load().alerts
now = datetime.now(UTC)
shown = aq.alerts(f, now - RECENT)
rules = aq.rules()
channels = aq.channels()
st.caption("Rules over the store, evaluated at the end of every collection cycle (docs/ALERTS.md): an alert is "
           "pending while its resource breaches for less than the rule's for-duration, then firing; each firing and "
           f"its resolution are sent to the channels of [alerts] in sextant.toml. Times are in {ui.zone()}.")
if not settings.enabled:
    st.warning("Alerts are turned off ([alerts] enabled = false): rules are not evaluated and nothing is sent.",
               icon=":material/notifications_off:")

live = shown[shown.state.isin(["firing", "pending"])]
resolved = shown[shown.state == "resolved"]
c = st.columns(5)
c[0].metric("Firing", int((live.state == "firing").sum()), border=True)
c[1].metric("Pending", int((live.state == "pending").sum()), border=True,
            help="Breaching, for less than the rule's for-duration: nothing sent yet.")
c[2].metric("Resolved, 7 d", len(resolved), border=True)
c[3].metric("Rules failing", int((rules.status == "error").sum()), f"of {len(rules)}", delta_color="off",
            delta_arrow="off", border=True,
            help="A rule whose query failed at its last evaluation; its alerts are left as they were.")
c[4].metric("Channels failing", int((channels.failed > 0).sum()) if not channels.empty else 0,
            f"of {len(channels)}", delta_color="off", delta_arrow="off", border=True,
            help="A channel with a message that every attempt failed to deliver.")

ALERT_CONFIG = {
    "state": "State", "severity": "Severity", "rule": "Rule",
    "name": st.column_config.TextColumn("Resource", pinned=True, help="Click an endpoint's name to open it"),
    "endpoint_name": None, "resource": None, "episode": None,
    "value": st.column_config.NumberColumn("Value", format="%.4g"), "comparison": "Breach when",
    "threshold": st.column_config.NumberColumn("Threshold", format="%.4g"),
    "started_at": st.column_config.DatetimeColumn("Breaching since (UTC)", format="YYYY-MM-DD HH:mm"),
    "fired_at": st.column_config.DatetimeColumn("Fired (UTC)", format="YYYY-MM-DD HH:mm"),
    "resolved_at": st.column_config.DatetimeColumn("Resolved (UTC)", format="YYYY-MM-DD HH:mm"),
    "last_evaluated_at": st.column_config.DatetimeColumn("Last evaluated (UTC)", format="YYYY-MM-DD HH:mm"),
    "team": "Team", "account_id": "Account", "region": "Region",
}


def _alert_table(df: pd.DataFrame, key: str) -> None:
    view = ui.first(df, "name", "state", "severity", "rule", "value", "comparison", "threshold")
    event = ui.table(view, key, on_select="rerun", selection_mode="single-cell", column_config=ALERT_CONFIG)
    opened = nav.picked(event, view, "name")
    if opened:
        row = view[view.name == opened].iloc[0]
        if pd.notna(row.endpoint_name):
            nav.go(nav.ENDPOINTS, endpoint=row.endpoint_name)


st.subheader("Firing and pending")
if live.empty:
    if rules.empty:
        ui.empty("No rule has been evaluated yet: the collector evaluates them at the end of each cycle "
                 "(`sextant collect`), or run `python -m alerts evaluate`.")
    else:
        st.success("Nothing is firing or pending in this scope.", icon=":material/check_circle:")
else:
    _alert_table(live, "alerts_live")

st.subheader("Resolved in the last 7 days")
if resolved.empty:
    st.caption("None.")
else:
    _alert_table(resolved, "alerts_resolved")

st.subheader("Rules")
if rules.empty:
    st.caption("No rule evaluated yet.")
else:
    ui.table(ui.enums(rules, "status"), "alert_rules", column_config={
        "rule": st.column_config.TextColumn("Rule", pinned=True),
        "description": st.column_config.TextColumn("Watches", width="large"),
        "severity": "Severity", "comparison": "Breach when",
        "threshold": st.column_config.NumberColumn("Threshold", format="%.4g"),
        "for_s": st.column_config.NumberColumn("For (s)", help="Seconds a resource must breach before it fires"),
        "window": "Window", "builtin": st.column_config.CheckboxColumn("Built-in"), "status": "Last evaluation",
        "error": "Error", "rows": st.column_config.NumberColumn("Resources", help="Rows the rule's query returned"),
        "breaching": "Breaching",
        "last_evaluated_at": st.column_config.DatetimeColumn("Evaluated (UTC)", format="YYYY-MM-DD HH:mm"),
        "duration_ms": st.column_config.NumberColumn("Query (ms)", format="%.0f")})

st.subheader("Channels and deliveries")
if channels.empty:
    names = ", ".join(sorted(settings.channels)) or "none configured"
    st.caption(f"No message sent yet (channels: {ui.plain(names)}). A failing channel is retried with backoff and "
               "never holds the others back; its errors show here, never its URL or token.")
else:
    ui.table(channels, "alert_channels", downloads=False, column_config={
        "channel": st.column_config.TextColumn("Channel", pinned=True), "sent": "Sent",
        "pending": st.column_config.NumberColumn("Pending", help="Queued, or waiting for a retry"),
        "failed": st.column_config.NumberColumn("Failed", help="Every attempt failed"),
        "last_attempt_at": st.column_config.DatetimeColumn("Last attempt (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "last_status": "Last result", "last_error": "Last error"})
    log = aq.attempts()
    with st.expander(f"Delivery log ({ui.plural(len(log), 'attempt')}, newest first)"):
        ui.table(log, "alert_attempts", column_config={
            "attempted_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "duration_ms": st.column_config.NumberColumn("Took (ms)", format="%.0f")})
