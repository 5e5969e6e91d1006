"""Incident timeline: everything that happened to one endpoint in a window, in time order.

Linkable: ?resource=ENDPOINT&alarm=NAME&start=ISO&end=ISO (UTC); without start/end the sidebar's range applies.
Without a resource it opens on the alarm in ALARM now (the newest to fire), else on the endpoint with the most
ERROR lines. The chart shows the metric the alarm watches with its threshold (in the chart's unit) and the periods
the alarm was in ALARM shaded, then p99 latency, 5xx and ERROR logs; Sextant's own alerts about the endpoint are
strips under the top panel's lines, from firing to resolved. Under it the deploys and rollbacks, scaling
activities, observed configuration changes, alarm state changes, Sextant alerts fired and resolved, bursts of ERROR
log lines and daily cost spikes.
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
names = eps.endpoint_name.tolist()
ongoing = iq.ongoing_alarms(f)
ongoing = ongoing[ongoing.endpoint_name.isin(names)]
if not ongoing.empty:
    top = ongoing.iloc[0]
    st.warning(f"In ALARM now: {ui.plural(len(ongoing), 'alarm')} on "
             f"{ui.plural(ongoing.endpoint_name.nunique(), 'endpoint')}. Newest: {ui.plain(top.alarm_name)} on "
             f"{ui.plain(top.endpoint_name)}"
             + (f", since {charts.ago(top.since)}" if pd.notna(top.since) else ""),
             icon=":material/notifications_active:")

periods = iq.alarm_periods(f)
with st.expander(f"Recent alarm periods (7 days): {len(periods)}",
                 expanded="resource" not in st.query_params and ongoing.empty,
                 icon=":material/history:"):
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
            st.query_params.pop("alarm", None)
            st.rerun()

wanted = st.query_params.get("resource")
if not wanted or wanted not in names:
    if not ongoing.empty:  # on call opens the page for the alarm that is firing now: the newest
        wanted = ongoing.endpoint_name.iloc[0]
    else:  # otherwise the endpoint with the most ERROR lines in the window is the likeliest incident
        noisy = iq.endpoint_errors(start, end)
        noisy = noisy[noisy.endpoint_name.isin(names)]
        wanted = noisy.endpoint_name.iloc[0] if not noisy.empty else names[0]
c1, c2, c3 = st.columns([3, 3, 4])
name = c1.selectbox("Endpoint", names, index=names.index(wanted),
                    **filters.url_widget("inc_resource", "resource", wanted))  # a link or a picked period moves it
st.query_params["resource"] = name

e = eps[eps.endpoint_name == name].iloc[0]
account, region = e.account_id, e.region
fired = iq.fired_alarms(account, region, name, start, end)
alarm = None
if not fired.empty:
    options = fired.alarm_name.tolist()
    asked = st.query_params.get("alarm")
    state_of = dict(zip(fired.alarm_name, fired.state_value, strict=True))
    chosen = c2.selectbox("Alarm that fired", options, index=options.index(asked) if asked in options else 0,
                          **filters.url_widget(f"inc_alarm_{name}", "alarm", asked if asked in options else None),
                          format_func=lambda a: f"{a} (in ALARM now)" if state_of.get(a) == "ALARM" else a)
    st.query_params["alarm"] = chosen
    alarm = fired[fired.alarm_name == chosen].iloc[0]
else:
    st.query_params.pop("alarm", None)
    c2.caption("No alarm of this endpoint was in ALARM in the window.")
c3.caption(f"Window {ui.local(start):%Y-%m-%d %H:%M} – {ui.when(end)}"
           + (" (from the link)" if pinned else " (the sidebar's range)"))
if pinned and c3.button("Use the sidebar's range", key="inc_unpin"):
    del st.query_params["start"]
    del st.query_params["end"]
    st.rerun()

alarmed = alarm.metric if alarm is not None and pd.notna(alarm.metric) else None
timeline = iq.incident_timeline(account, region, name, start, end, team=e.team)
metrics = eq.endpoint_metrics(account, region, name, start, end,
                              metrics=tuple(dict.fromkeys(["p99", "5xx", *([alarmed] if alarmed else [])])))
errors = iq.error_counts_per_minute(account, region, name, start, end)
baseline = eq.latency_baseline(account, region, name, start)
intervals = iq.alarm_intervals(account, region, name, start, end)
alert_eps = iq.alert_episodes(account, region, name, start, end)  # Sextant's own alerts: strips on the top panel

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
if alarm is not None:
    m[4].metric(f"In ALARM, {span}", f"{int(alarm.alarm_minutes):,} min",
                help=f"Minutes {ui.plain(alarm.alarm_name)} spent in ALARM inside the window (shaded on the chart)")
else:
    m[4].metric(f"Alarm changes, {span}", int((timeline.kind == "alarm").sum()) if not timeline.empty else 0)


def _alarm_series(part: pd.DataFrame, label: str) -> pd.DataFrame:
    """The alarmed metric as series: the alarm's variant only when it names one; one series per variant."""
    if alarm is not None and pd.notna(alarm.variant_name) and (part.variant_name == alarm.variant_name).any():
        part = part[part.variant_name == alarm.variant_name]
    several = part.variant_name.nunique() > 1
    part = part.assign(series=label + (charts.SEPARATOR + part.variant_name if several else ""))
    return part[["ts", "series", "value"]]


panels = ["alarm"] if alarmed else []
panels += [] if alarmed == "p99" or p99.empty else ["p99"]
# the errors panel only when it has a line: an empty subplot draws no axis, and the time axis under it vanished
panels += ["errors"] if (not five.empty and alarmed != "5xx") or not errors.empty or not panels else []
heights = {1: [1.0], 2: [0.66, 0.34], 3: [0.46, 0.3, 0.24]}[len(panels)]
fig = make_subplots(rows=len(panels), cols=1, shared_xaxes=True, row_heights=heights, vertical_spacing=0.06)
row_of = {p: i + 1 for i, p in enumerate(panels)}
fresh = ""
if alarmed and alarm is not None:
    unit = iq.chart_unit(alarmed)
    series = _alarm_series(metrics[metrics.metric == alarmed], alarmed)
    colours = charts.colors_for(series.series.unique())
    for s_name, part in series.groupby("series", sort=True):
        fig.add_trace(go.Scatter(x=charts.shown(part.ts), y=part.value, mode="lines",
                                 name=charts.text(f"{s_name} ({unit})"),
                                 line={"color": colours[s_name], "width": 1.8}), row=1, col=1)
    charts.alarm_thresholds(fig, fired[fired.alarm_name == alarm.alarm_name], unit, row=1, col=1)
    fig.update_yaxes(title_text=charts.text(f"{alarmed} ({unit})"), row=1, col=1)
    fresh = charts.freshness(series, "ts", "series")
    if series.empty:
        fresh = f"no {alarmed} points stored in the window"
    elif alarm.statistic and alarm.statistic not in (alarmed, "Sum", "Average"):
        fresh += f" · the alarm evaluates {alarm.statistic}; the chart shows the collected statistic"
if "p99" in row_of and not p99.empty:
    fig.add_trace(go.Scatter(x=charts.shown(p99.ts), y=p99.value, mode="lines", name="p99 latency (ms)",
                             line={"color": charts.color("p99"), "width": 1.5}), row=row_of["p99"], col=1)
    fig.update_yaxes(title_text="p99 (ms)", row=row_of["p99"], col=1)
    if not fresh:
        fresh = charts.freshness(p99, "ts")
if "p99" in row_of and baseline:
    fig.add_hline(y=baseline, line_dash="dash", line_color=charts.color("baseline"), opacity=0.7,
                  row=row_of["p99"], col=1, annotation_text=f"7-day median {baseline:,.0f} ms",
                  annotation_position="top left", annotation_font={"size": 10, "color": charts.color("baseline")})
if not five.empty and alarmed != "5xx":
    fig.add_trace(go.Scatter(x=charts.shown(five.ts), y=five.value, name="5xx / min", mode="lines",
                             line={"color": charts.color("5xx"), "width": 1.5}), row=row_of["errors"], col=1)
if not errors.empty:
    fig.add_trace(go.Scatter(x=charts.shown(errors.ts), y=errors.events, name="ERROR log lines / min", mode="lines",
                             line={"color": charts.color("ERROR"), "width": 1.2, "dash": "dot"}),
                  row=row_of["errors"], col=1)
if alarm is not None:
    charts.shade_periods(fig, intervals[intervals.alarm_name == alarm.alarm_name], label=f"{alarm.alarm_name} in ALARM")
charts.alert_marks(fig, alert_eps, row=1, col=1)
marks = timeline[timeline.kind.isin(["create", "deploy", "rollback", "config", "scaling"])]
if len(marks) > 25:
    marks = marks[marks.kind != "scaling"]
charts.mark_events(fig, marks.rename(columns={"what": "label"}))
what = f"{alarm.metric_name} ({alarm.alarm_name})" if alarmed and alarm is not None else "p99 latency"
fig.update_layout(title={"text": charts.text(f"{name}: {what}, 5xx and ERROR logs"), "y": 0.98, "yanchor": "top"},
                  height=200 + 130 * len(panels), margin={"t": 110}, legend={"y": 1.06, "yanchor": "bottom"},
                  hovermode="x unified")
charts.subtitle(fig, fresh)
fig.update_xaxes(title_text="")
fig.update_xaxes(title_text=charts.time_title(), row=len(panels), col=1)
last = [v for v in (five.value if alarmed != "5xx" else pd.Series(dtype=float), errors.events) if len(v)]
low = max([10.0] + [float(v.max()) * 1.1 for v in last])
if "errors" in row_of:
    fig.update_yaxes(title_text="per minute", range=[0, low], row=row_of["errors"], col=1)  # stray errors stay small
st.plotly_chart(fig, key="inc_chart")
alerted = alert_eps[alert_eps.start.notna()]
if not alerted.empty:
    st.caption(f"Strips under the top panel's lines: {ui.plural(len(alerted), 'episode')} of Sextant's own "
               "alerts about this endpoint (rules over the store, Alerts page), from firing to resolved, coloured by "
               "severity, one lane per rule; hover the ⚠ for the rule, the value that fired it and the threshold. "
               "Their firing and resolving are in the timeline below (kind: sextant alert).")
if alarm is not None:
    ui.table(ui.first(ui.enums(fired.drop(columns=["state_reason", "description", "chart_threshold", "metric"]),
                               "state_value", "comparison_operator"),
                      "alarm_name", "state_value", "metric_name", "statistic", "comparison_operator", "threshold",
                      "threshold_unit", "alarm_minutes"),
             "inc_fired", column_config={
                 "alarm_name": "Alarm", "state_value": "State now", "metric_name": "Metric", "statistic": "Statistic",
                 "comparison_operator": "Comparison", "threshold_unit": "Unit", "variant_name": "Variant",
                 "threshold": st.column_config.NumberColumn("Threshold", format="%.4g"),
                 "alarm_minutes": st.column_config.NumberColumn(f"Minutes in ALARM, {span}", format="%d"),
                 "fired_at": st.column_config.DatetimeColumn("Last went to ALARM (UTC)", format="YYYY-MM-DD HH:mm"),
                 "state_updated_at": st.column_config.DatetimeColumn("State since (UTC)", format="YYYY-MM-DD HH:mm"),
                 "period_s": st.column_config.NumberColumn("Period", format="%d s"),
                 "evaluation_periods": st.column_config.NumberColumn("Evaluation periods", format="%d")})
    st.caption("Thresholds in ms for latencies (CloudWatch keeps microseconds), Sums per their evaluation period; "
               "the chart draws them in its own unit (per minute for counts). Shaded: when the alarm was in ALARM.")

l1, l2, _ = st.columns([2, 2, 4])
l1.page_link(nav.page(nav.ENDPOINTS), label="Endpoint detail for this window", icon=":material/dns:",
             query_params=nav.params(endpoint=name, start=start.isoformat(), end=end.isoformat()))
l2.page_link(nav.page(nav.LOGS), label="ERROR logs in this window", icon=":material/article:",
             query_params=nav.params(resource=name, level="ERROR", start=start.isoformat(), end=end.isoformat()))

if timeline.empty:
    ui.empty("Nothing happened to this endpoint in the window: no deploys, scaling, alarm changes, Sextant "
             "alerts, error logs or cost spikes. Widen the range or pick another endpoint.")
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
