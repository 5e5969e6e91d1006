"""Alerts: what is firing now and why (who acknowledged it, which silence holds its messages back), what resolved
lately, the silences, every rule with its last evaluation, and whether the channels deliver. Operators acknowledge
firing alerts, silence alerts and end silences here (``actions.alert_actions``: role checked, audited); viewers see
no control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import streamlit as st

from actions import alert_actions as aa
from dashboard import action_ui, filters, nav, ui
from dashboard.queries import alerts as aq
from sextant.settings import load

RECENT = timedelta(days=7)
DURATIONS = {"1 hour": timedelta(hours=1), "4 hours": timedelta(hours=4), "24 hours": timedelta(days=1),
             "3 days": timedelta(days=3), "7 days": timedelta(days=7), "30 days": aa.MAX_SILENCE}
ANY_RULE, ANY_RESOURCE = "(any rule)", "(any resource)"

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


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def _marked(df: pd.DataFrame) -> tuple[pd.DataFrame, list[aa.Silence], str | None]:
    """``df`` with who acknowledged the current episode and which active silence holds its messages back; the active
    silences; a problem reading the audit database (then the columns are empty)."""
    df = df.assign(acknowledged_by=None, silenced_by=None)
    try:
        active = action_ui.alert_silences().active(now)
        since = df.started_at.min() if not df.empty else now
        acks = {(k.rule, k.resource, k.episode): k for k in action_ui.alert_acks().since(
            since.to_pydatetime() if isinstance(since, pd.Timestamp) and pd.notna(since) else now - RECENT)}
    except Exception as exc:  # the page still shows the alerts
        return df, [], f"{type(exc).__name__}: {exc}"
    acked, silenced = [], []
    for r in df.itertuples():
        ack = acks.get((r.rule, r.resource, int(r.episode))) if pd.notna(r.episode) else None
        acked.append(f"{ack.actor} at {ack.acked_at:%Y-%m-%d %H:%M} UTC" + (f": {ack.note}" if ack.note else "")
                     if ack and r.state in ("firing", "resolved") else None)
        alert = {"rule": r.rule, "resource": r.resource, "team": _text(r.team), "account_id": _text(r.account_id)}
        s = next((x for x in active if aa.matches(x, alert)), None)
        silenced.append(f"#{s.id} until {s.until:%Y-%m-%d %H:%M} UTC" if s else None)
    return df.assign(acknowledged_by=acked, silenced_by=silenced), active, None


shown, _, marks_problem = _marked(shown)
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
    "acknowledged_by": st.column_config.TextColumn("Acknowledged", help="Who acknowledged this episode, and when"),
    "silenced_by": st.column_config.TextColumn("Silenced", help="The silence holding this alert's messages back"),
}


def _alert_table(df: pd.DataFrame, key: str) -> None:
    view = ui.first(df, "name", "state", "severity", "rule", "acknowledged_by", "silenced_by", "value", "comparison",
                    "threshold")
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
if marks_problem:
    st.warning(ui.plain(f"Acknowledgements and silences could not be read from the audit database "
                        f"({marks_problem})."), icon=":material/warning:")


def _remember(outcome) -> None:
    """Keep the outcome for the next run (the page reruns to show what changed), then rerun."""
    st.session_state["_alert_action_outcome"] = (outcome.status, outcome.message, outcome.audit_id,
                                                 outcome.audit_problem)
    st.rerun()


if last := st.session_state.pop("_alert_action_outcome", None):
    action_ui.show_outcome(last, icon=":material/history:")

unacked = live[(live.state == "firing") & live.acknowledged_by.isna()]
if action_ui.can_act() and not unacked.empty:
    with st.form("alert_ack_form", border=False):
        c1, c2, c3 = st.columns([3, 3, 1], vertical_alignment="bottom")
        picked = c1.selectbox("Acknowledge a firing alert", range(len(unacked)), key="alert_ack_pick",
                              format_func=lambda i: f"{unacked.iloc[i]['name'] or unacked.iloc[i].resource} — "
                                                    f"{unacked.iloc[i].rule}")
        note = c2.text_input("Note (optional)", key="alert_ack_note", max_chars=aa.MAX_REASON,
                             placeholder="looking at it; rolling back the deploy")
        if c3.form_submit_button("Acknowledge", key="alert_ack_submit", icon=":material/done:"):
            row = unacked.iloc[int(picked or 0)]
            _remember(aa.acknowledge(aa.Acknowledge(row.rule, row.resource, int(row.episode), note),
                                     action_ui.current_actor(), action_ui.audit_log(), action_ui.alert_store()))

st.subheader("Resolved in the last 7 days")
if resolved.empty:
    st.caption("None.")
else:
    _alert_table(resolved, "alerts_resolved")

st.subheader("Silences")
st.caption("A silence holds back the messages of the alerts it matches (by rule and/or resource, optionally team and "
           "account) until it expires or is ended: their states still change and are recorded, and the outbox records "
           "each message held back with the silence's number. A firing alert whose silence ends is sent then.")
try:
    listed = action_ui.alert_silences().listed(now)
except Exception as exc:
    listed = []
    st.warning(ui.plain(f"The silences could not be read from the audit database ({type(exc).__name__}: {exc})."),
               icon=":material/warning:")
if listed:
    ui.table(pd.DataFrame([{
        "id": s.id, "state": "active" if s.active(now) else ("ended" if s.ended_at and s.ended_at < s.expires_at
                                                              else "expired"),
        "matches": s.scope(), "reason": s.reason, "by": s.actor, "created_at": s.created_at, "until": s.until,
        "ended_by": s.ended_by} for s in listed]), "alert_silences", downloads=False, column_config={
        "id": st.column_config.NumberColumn("#", format="%d"), "state": "State", "matches": "Matches",
        "reason": st.column_config.TextColumn("Reason", width="large"), "by": "By",
        "created_at": st.column_config.DatetimeColumn("Made (UTC)", format="YYYY-MM-DD HH:mm"),
        "until": st.column_config.DatetimeColumn("Until (UTC)", format="YYYY-MM-DD HH:mm"), "ended_by": "Ended by"})
else:
    st.caption("No silence active or ended in the last 7 days.")

if action_ui.can_act():
    ending = [s for s in listed if s.active(now)]
    if ending:
        c1, c2 = st.columns([5, 1], vertical_alignment="bottom")
        which = c1.selectbox("End a silence now", [s.id for s in ending], key="silence_end_pick",
                             format_func=lambda i: next(f"#{s.id}: {s.scope()} — {s.reason}"[:120]
                                                        for s in ending if s.id == i))
        if c2.button("End now", key="silence_end", icon=":material/notifications_active:"):
            _remember(aa.end_silence(action_ui.audit_log(), int(which), action_ui.current_actor()))
    with st.expander("New silence", icon=":material/notifications_paused:"):
        with st.form("silence_form", border=False):
            c1, c2 = st.columns(2)
            rule_pick = c1.selectbox("Rule", [ANY_RULE, *rules.rule.tolist()], key="silence_rule")
            resource_pick = c2.selectbox("Resource", [ANY_RESOURCE, *sorted(set(shown.resource.dropna()))],
                                         key="silence_resource", help="account/region/name, as the alerts name it")
            c3, c4, c5 = st.columns(3)
            team = c3.text_input("Team (optional)", key="silence_team")
            account = c4.text_input("Account (optional)", key="silence_account", placeholder="12 digits")
            duration = c5.selectbox("For", list(DURATIONS), key="silence_for",
                                    help=f"At most {aa.MAX_SILENCE.days} days")
            reason = st.text_area("Reason (required)", key="silence_reason", max_chars=aa.MAX_REASON,
                                  placeholder="planned maintenance of fraud-prod until 18:00")
            if st.form_submit_button("Silence", key="silence_submit", type="primary",
                                     icon=":material/notifications_paused:"):
                made = datetime.now(UTC)
                request = aa.CreateSilence(None if rule_pick == ANY_RULE else rule_pick,
                                           None if resource_pick == ANY_RESOURCE else resource_pick, team, account,
                                           reason, made + DURATIONS[str(duration)])
                _remember(aa.create_silence(request, action_ui.current_actor(), load(), action_ui.audit_log(),
                                            action_ui.alert_store(), now=made))

held = aq.suppressed(now - RECENT)
if not held.empty:
    with st.expander(f"Messages held back by silences ({ui.plural(len(held), 'message')}, last 7 days)"):
        ui.table(held, "alert_suppressed", column_config={
            "created_at": st.column_config.DatetimeColumn("Queued (UTC)", format="YYYY-MM-DD HH:mm"),
            "error": st.column_config.TextColumn("Held back by", width="large")})

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

st.subheader("CloudWatch alarms managed by Sextant")
managed = aq.managed_alarms(f)
if managed.empty:
    st.caption("None in scope. An operator creates the recommended set for an endpoint (p99 latency, 5xx, zero "
               "invocations, GPU memory) from its Alarms tab on the Endpoints page; AWS then evaluates them every "
               "minute, with no GetMetricData bill, and their state shows here after the next collection.")
else:
    firing_now = int((managed.state_value == "ALARM").sum())
    st.caption(f"{ui.plural(len(managed), 'alarm')}, {firing_now} in ALARM, as last collected. AWS evaluates them "
               "every period and notifies their SNS topic; the rule endpoint_alarm_in_alarm routes an alarm in ALARM "
               "to the channels above. Create or delete them from an endpoint's Alarms tab.")
    ui.table(ui.enums(managed, "state_value"), "alert_managed_alarms", column_config={
        "alarm_name": st.column_config.TextColumn("Alarm", pinned=True), "state_value": "State",
        "state_updated_at": st.column_config.DatetimeColumn("Since (UTC)", format="YYYY-MM-DD HH:mm"),
        "endpoint_name": "Endpoint", "variant_name": "Variant", "metric_name": "Metric", "statistic": "Statistic",
        "comparison_operator": "Breach when", "threshold": st.column_config.NumberColumn("Threshold", format="%.4g"),
        "account_id": "Account", "region": "Region"})

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
        "suppressed": st.column_config.NumberColumn("Suppressed", help="Held back by a silence, never sent"),
        "last_attempt_at": st.column_config.DatetimeColumn("Last attempt (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "last_status": "Last result", "last_error": "Last error"})
    log = aq.attempts()
    with st.expander(f"Delivery log ({ui.plural(len(log), 'attempt')}, newest first)"):
        ui.table(log, "alert_attempts", column_config={
            "attempted_at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "duration_ms": st.column_config.NumberColumn("Took (ms)", format="%.0f")})
