"""Incident timeline: everything that happened to one endpoint in a window, in time order.

Linkable: ?resource=ENDPOINT&start=ISO&end=ISO (UTC); without start/end the sidebar's range applies.
Deploys and rollbacks (endpoint config creations), scaling activities, observed configuration changes,
alarm state changes, bursts of ERROR log lines and daily cost spikes, under a compact p99 chart.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from dashboard import charts, filters, nav, ui
from dashboard.queries import endpoints as eq
from dashboard.queries import incidents as iq

st.title("Incident timeline")
f = filters.current()
start, end, pinned = filters.pinned_window(f)
eps = eq.endpoint_list(f)
if eps.empty:
    ui.empty("No endpoints collected yet. Run `make collect` (or `make demo`) and reload.")
    st.stop()

periods = iq.alarm_periods(f)
with st.expander(f"Recent alarm periods (7 days): {len(periods)}", expanded="resource" not in st.query_params,
                 icon=":material/notifications_active:"):
    if periods.empty:
        st.caption("No endpoint alarm went to ALARM in the last 7 days.")
    else:
        picked = ui.table(periods, "inc_periods", on_select="rerun", height=min(300, 40 + 35 * len(periods)),
                          column_config={
                              "endpoint_name": "Endpoint",
                              "start": st.column_config.DatetimeColumn("ALARM from (UTC)", format="YYYY-MM-DD HH:mm"),
                              "end": st.column_config.DatetimeColumn("to (UTC)", format="YYYY-MM-DD HH:mm"),
                              "state": "State",
                              "minutes": st.column_config.NumberColumn("Minutes", format="%d"),
                              "alarms": "Alarms", "account_id": "Account", "region": "Region"})
        st.caption("Select a period to open its timeline (from an hour before to an hour after).")
        rows = picked.selection.rows if picked is not None else []
        if rows:
            p = periods.iloc[rows[0]]
            end_at = p.end if pd.notna(p.end) else pd.Timestamp(f.end)
            st.query_params["resource"] = p.endpoint_name
            st.query_params["start"] = (p.start - pd.Timedelta(hours=1)).isoformat()
            st.query_params["end"] = (end_at + pd.Timedelta(hours=1)).isoformat()
            st.rerun()

names = eps.endpoint_name.tolist()
wanted = st.query_params.get("resource")
if not wanted or wanted not in names:
    # the endpoint with the most ERROR lines in the window is the likeliest incident
    noisy = iq.endpoint_errors(start, end)
    noisy = noisy[noisy.endpoint_name.isin(names)]
    wanted = noisy.endpoint_name.iloc[0] if not noisy.empty else names[0]
c1, c2 = st.columns([3, 5])
name = c1.selectbox("Endpoint", names, index=names.index(wanted), key="inc_resource")
st.query_params["resource"] = name
c2.caption(f"Window {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC"
           + (" (from the link)" if pinned else " (the sidebar's range)"))
if pinned and c2.button("Use the sidebar's range", key="inc_unpin"):
    del st.query_params["start"]
    del st.query_params["end"]
    st.rerun()

e = eps[eps.endpoint_name == name].iloc[0]
account, region = e.account_id, e.region
timeline = iq.incident_timeline(account, region, name, start, end, team=e.team)
metrics = eq.endpoint_metrics(account, region, name, start, end, metrics=("p99", "5xx"))
errors = iq.error_counts_per_minute(account, region, name, start, end)
baseline = eq.latency_baseline(account, region, name, start)

p99 = metrics[metrics.metric == "p99"].groupby("ts", as_index=False).value.max()
five = metrics[metrics.metric == "5xx"].groupby("ts", as_index=False).value.sum()
span = filters.span_label(start, end)  # every figure below is over the window, and says so
m = st.columns(5)
m[0].metric(f"Events, {span}", len(timeline))
m[1].metric(f"Peak p99, {span} (ms)", f"{p99.value.max():,.0f}" if not p99.empty else "–",
            delta=f"{p99.value.max() / baseline:.1f}× the 7-day median" if baseline and not p99.empty else None,
            delta_color="inverse")
fx = metrics[metrics.metric == "5xx"]
m[2].metric(f"5xx errors, {span}", f"{int((fx.value * fx.period_s / 60).sum()):,}" if not fx.empty else "–",
            help="Sum of Invocation5XXErrors in the window")
m[3].metric(f"ERROR log lines, {span}", f"{int(errors.events.sum()):,}" if not errors.empty else "0")
m[4].metric(f"Alarm changes, {span}", int((timeline.kind == "alarm").sum()) if not timeline.empty else 0)

fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.7, 0.3], vertical_spacing=0.06)
if not p99.empty:
    fig.add_trace(go.Scatter(x=p99.ts, y=p99.value, mode="lines", name="p99 latency (ms)"), row=1, col=1)
    if baseline:
        fig.add_hline(y=baseline, line_dash="dash", line_color="rgba(26,127,55,0.6)", row=1, col=1,
                      annotation_text=f"7-day median {baseline:,.0f} ms", annotation_position="top left")
if not five.empty:
    fig.add_trace(go.Scatter(x=five.ts, y=five.value, name="5xx / min", mode="lines",
                             line={"color": charts.COLORS[1], "width": 1.5}), row=2, col=1)
if not errors.empty:
    fig.add_trace(go.Scatter(x=errors.ts, y=errors.events, name="ERROR log lines / min", mode="lines",
                             line={"color": charts.COLORS[3], "width": 1}), row=2, col=1)
marks = timeline[timeline.kind.isin(["create", "deploy", "rollback", "config", "scaling"])]
if len(marks) > 25:
    marks = marks[marks.kind != "scaling"]
charts.mark_events(fig, marks.rename(columns={"what": "label"}))
fig.update_layout(title={"text": charts.text(f"{name}: p99 latency, 5xx and ERROR logs"), "y": 0.98, "yanchor": "top"},
                  height=440, xaxis2_title_text="time (UTC)", xaxis_title_text="",
                  margin={"t": 90}, legend={"y": 1.04, "yanchor": "bottom"})
fig.update_yaxes(title_text="ms", row=1, col=1)
low = max([10.0] + [float(v.max()) * 1.1 for v in (five.value, errors.events) if len(v)])
fig.update_yaxes(title_text="per minute", range=[0, low], row=2, col=1)  # a few stray errors stay small
st.plotly_chart(fig, key="inc_chart")

l1, l2, _ = st.columns([2, 2, 4])
l1.page_link(nav.page(nav.ENDPOINTS), label="Endpoint detail for this window", icon=":material/dns:",
             query_params=nav.params(endpoint=name, start=start.isoformat(), end=end.isoformat()))
l2.page_link(nav.page(nav.LOGS), label="ERROR logs in this window", icon=":material/article:",
             query_params=nav.params(resource=name, level="ERROR", start=start.isoformat(), end=end.isoformat()))

if timeline.empty:
    ui.empty("Nothing happened to this endpoint in the window: no deploys, scaling, alarm changes, error logs "
             "or cost spikes. Widen the range or pick another endpoint.")
    st.stop()
kinds = sorted(timeline.kind.unique())
shown = st.pills("Show", kinds, default=kinds, selection_mode="multi", key="inc_kinds")
view = timeline[timeline.kind.isin(shown or kinds)]
ui.table(view, "incident_timeline", height=min(640, 40 + 35 * len(view)), column_config={
    "time": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss", pinned=True),
    "kind": "Kind",
    "what": st.column_config.TextColumn("What", width="large"),
    "detail": st.column_config.TextColumn("Detail", width="large")})
if pd.notna(e.team):
    st.caption("Cost spikes: days when the team's SageMaker cost (cost-allocation tag `team`) rose over 25% and $5 "
               "above its trailing 7-day mean.")
