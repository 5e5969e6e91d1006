"""Logs: search the collected CloudWatch Logs of endpoints and training jobs.

Linkable: ?resource=NAME&level=ERROR&q=TEXT (and ?start=&end= in ISO UTC to pin a window; otherwise the
sidebar's range applies). The endpoint and training pages link here with the filters set.
"""

from __future__ import annotations

import streamlit as st

from dashboard import charts, filters, ui
from dashboard.queries import logs as lq
from dashboard.queries import models as mq

LEVELS = ["ERROR", "WARN", "INFO", "DEBUG"]


st.title("Logs")
f = filters.current()
start, end, pinned = filters.pinned_window(f)
qp = st.query_params
resources = lq.log_resources(start, end)
if resources.empty and "resource" not in qp:
    ui.empty("No log events collected in this window. Widen the time range in the sidebar, or run the "
             "cloudwatch_logs collector (`python -m collectors run --once --source cloudwatch_logs`).")
    st.stop()

names = resources.name.tolist()
wanted = qp.get("resource", "")
if wanted and wanted not in names:
    names = [wanted, *names]
labels = {r.name: f"{r.name} ({r.kind}, {r.errors:,} errors)" for r in resources.itertuples()}

c1, c2, c3 = st.columns([3, 2, 3])
resource = c1.selectbox("Resource (endpoint or training job)", ["", *names],
                        index=(["", *names].index(wanted) if wanted in names else 0),
                        format_func=lambda n: labels.get(n, n) if n else "All resources", key="logs_resource")
levels = c2.multiselect("Level", LEVELS, default=[v for v in qp.get_all("level") if v in LEVELS],
                        placeholder="All levels", key="logs_level")
text = c3.text_input("Message contains", value=qp.get("q", ""), key="logs_text",
                     placeholder="e.g. timeout, CUDA, 503")
for k, v in (("resource", resource), ("q", text)):
    if v:
        qp[k] = v
    elif k in qp:
        del qp[k]
if levels:
    qp["level"] = levels
elif "level" in qp:
    del qp["level"]

is_job = bool(resource) and mq.resource_kind(resource) == "training job"
scope = dict(text=text, levels=levels, endpoint=None if is_job or not resource else resource,
             job=resource if is_job else None, accounts=f.accounts, regions=f.regions)
window = f"{ui.local(start):%Y-%m-%d %H:%M} – {ui.when(end)}" + (" (from the link; the sidebar range is ignored)"
                                                                  if pinned else "")
st.caption(f"Window {window}")
if pinned and st.button("Use the sidebar's range", key="logs_unpin"):
    del qp["start"]
    del qp["end"]
    st.rerun()

counts = lq.log_counts(start, end, **scope)
events = lq.log_events(start, end, limit=2000, **scope)
m1, m2, m3 = st.columns(3)
span = filters.span_label(start, end)
m1.metric(f"Matching lines, {span}", f"{int(counts.events.sum()) if not counts.empty else 0:,}")
m2.metric(f"ERROR lines, {span}",
          f"{int(counts[counts.level == 'ERROR'].events.sum()) if not counts.empty else 0:,}")
m3.metric("Shown", f"{len(events):,}", help="The newest 2,000 matching lines")

if counts.empty:
    ui.empty("Nothing matches. Loosen the text, level or resource, or widen the time range.")
    st.stop()
bucket_s = lq.bucket_seconds(start, end)  # the query's own bucket: never guessed from the data ("per 0 min")
per = "per hour" if bucket_s == 3600 else f"per {bucket_s // 60} min"
fig = charts.time_series(counts, "ts", "events", "level", title="Matching log lines over time", unit=f"lines {per}",
                         kind="bar", height=260)
fig.update_layout(xaxis_range=[charts.shown(start), charts.shown(end)], margin={"t": 70},
                  title={"y": 0.97, "yanchor": "top"})
st.plotly_chart(fig, key="logs_counts")
ui.table(ui.first(events, "ts", "level", "resource", "message"), "logs_events", height=520, column_config={
    "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss.SSS"),
    "level": "Level", "resource": "Resource", "variant_name": "Variant",
    "message": st.column_config.TextColumn("Message", width="large"),
    "log_group": "Log group", "log_stream": "Log stream", "account_id": "Account", "region": "Region"})
