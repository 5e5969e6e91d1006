"""Training: jobs that ran in the range with duration, billable hours, cost and spot savings; beside them, the
processing jobs (feature extraction, evaluation, pipeline steps) with theirs.

Linkable: ?job=NAME opens a job's detail; ?compare=A,B puts two jobs side by side.
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.express as px
import streamlit as st

import actions
from dashboard import action_ui, charts, filters, nav, ui
from dashboard.queries import logs as lq
from dashboard.queries import models as mq
from dashboard.queries import processing as pq
from dashboard.queries import training as tq
from sextant.settings import load

TIME = "YYYY-MM-DD HH:mm"
PROCESSING_STATUSES = {"InProgress": "In progress", "Completed": "Completed", "Failed": "Failed",
                       "Stopping": "Stopping", "Stopped": "Stopped"}


def _back() -> None:
    if st.button("All training jobs", icon=":material/arrow_back:", key="tr_back"):
        for k in ("job", "compare"):
            st.query_params.pop(k, None)
        st.rerun()


def _curves(names: list[str]) -> None:
    frames = []
    for n in names:
        c = tq.training_curves(n)
        if not c.empty:
            c["job"] = n
            c["minute"] = (c.ts - c.ts.min()).dt.total_seconds() / 60
            frames.append(c)
    if not frames:
        ui.empty("No algorithm metrics (/aws/sagemaker/TrainingJobs) collected for this job. They exist only for "
                 "jobs whose algorithm logs metric definitions.")
        return
    curves = pd.concat(frames)
    for metric, part in curves.groupby("metric"):
        if len(names) > 1:
            fig = charts.apply_colors(px.line(part, x="minute", y="value", color="job", title=metric))
            fig.update_layout(xaxis_title="minutes since the first point", yaxis_title=metric, height=300)
        else:
            fig = charts.time_series(part, "ts", "value", "host", title=metric, unit=metric)
            fig.update_layout(showlegend=part.host.nunique() > 1)
        fig.update_layout(margin={"t": 70}, title={"y": 0.97, "yanchor": "top"}, legend_title_text="")
        st.plotly_chart(fig, key=f"tr_curve_{metric}_{len(names)}")


def _actions(j: pd.Series) -> None:
    """Operators: stop a running job; launch a clone with overrides (confirmation shows the estimated cost)."""
    if j.status == "InProgress":
        action_ui.action_button("Stop this job", actions.StopTrainingJob(j.account_id, j.training_job_name,
                                                                         region=j.region),
                                "tr_stop", icon=":material/stop_circle:")
    with st.expander("Launch a clone of this job", icon=":material/replay:"):
        limits = load().actions
        types = list(limits.allowed_instance_types) or [j.instance_type]
        if j.instance_type not in types:
            types.insert(0, j.instance_type)
        c = st.columns(3)
        itype = c[0].selectbox("Instance type", types, index=types.index(j.instance_type), key="tr_clone_type",
                               help="[actions] allowed_instance_types in sextant.toml")
        count = c[1].number_input("Instance count", 1, limits.max_instances_per_variant,
                                  min(int(j.instance_count or 1), limits.max_instances_per_variant), key="tr_clone_n")
        runtime_h = c[2].number_input("Max runtime (hours)", 0.1, 672.0, 24.0, step=0.5, key="tr_clone_runtime")
        c = st.columns(3)
        spot = c[0].toggle("Managed spot", value=bool(j.spot), key="tr_clone_spot",
                           help="Pay the spot price; AWS may interrupt, so the job waits up to the max wait")
        wait_h = c[1].number_input("Max wait (hours, spot)", 0.1, 672.0, max(48.0, runtime_h), step=0.5,
                                   key="tr_clone_wait", disabled=not spot)
        hp = st.text_area("Hyperparameter overrides (JSON object)", value="{}", key="tr_clone_hp", height=90,
                          help=f"Merged over the source job's: {ui.plain(j.hyperparameters or '{}')}")
        req = actions.LaunchTraining(j.account_id, j.training_job_name, instance_type=itype, instance_count=int(count),
                                     spot=spot, max_runtime_s=int(runtime_h * 3600),
                                     max_wait_s=int(wait_h * 3600) if spot else None, hyperparameters=hp,
                                     region=j.region)
        action_ui.action_button("Launch clone", req, "tr_clone", icon=":material/rocket_launch:", type="primary")
        st.caption("Same image, role, data channels and output as the source job; the confirmation names every "
                   "override and the estimated cost before anything starts.")


def _detail(name: str) -> None:
    _back()
    job = tq.training_job(name)
    if job.empty:
        ui.empty(f"Training job {ui.plain(name)} is not in the store. Check the name, or run the sagemaker_training "
                 "collector.")
        return
    j = job.iloc[0]
    st.subheader(ui.plain(name))
    secondary = f" ({ui.plain(j.secondary_status)})" if j.secondary_status and j.secondary_status != j.status else ""
    st.caption(f"{ui.plain(j.status)}{secondary} · team {ui.plain(j.team)} · {ui.plain(j.instance_type)} × "
               f"{ui.plain(j.instance_count)}{' · spot' if j.spot else ''} · created "
               f"{ui.when(j.creation_time)} · account {ui.plain(j.account_id)}")
    c = st.columns(5)
    c[0].metric("Status", j.status)
    c[1].metric("Duration", f"{j.duration_min:,.0f} min" if pd.notna(j.duration_min) else "–")
    c[2].metric("Billable instance-hours", f"{j.billable_hours:,.2f}" if pd.notna(j.billable_hours) else "–")
    c[3].metric("Cost", ui.money(j.cost_usd, 2),
                help=f"${j.usd_per_hour:,.3f}/h from the bill" if pd.notna(j.usd_per_hour) else
                "No USE1-Train:<type> line in the bill for this instance type: cost unknown")
    c[4].metric("Spot savings", ui.money(j.spot_savings_usd, 2) if j.spot else "on-demand")
    if j.failure_reason:
        st.warning(f"**Failure reason:** {ui.plain(j.failure_reason)}", icon=":material/error:")
    if action_ui.can_act():
        _actions(j)
    tabs = st.tabs(["Metric curves", "Hyperparameters & metrics", "Status transitions", "Logs", "Lineage & inputs"])
    with tabs[0]:
        _curves([name])
    with tabs[1]:
        left, right = st.columns(2)
        hp = pd.Series(json.loads(j.hyperparameters or "{}"), dtype="string")
        left.markdown("**Hyperparameters**")
        with left:
            ui.table(hp.rename("value").rename_axis("name").reset_index(), "tr_hp", downloads=False,
                     column_config={"name": "Hyperparameter"})
        fm = pd.Series(json.loads(j.final_metrics or "{}"), dtype="float64")
        right.markdown("**Final metrics**")
        if fm.empty:
            right.caption("No final metrics (the job did not complete).")
        else:
            with right:
                ui.table(fm.rename("value").rename_axis("metric").reset_index(), "tr_fm", downloads=False)
    with tabs[2]:
        tr = tq.training_transitions(name)
        if tr.empty:
            ui.empty("No status transitions stored for this job.")
        else:
            g = tr.copy()
            g["end_time"] = g.end_time.fillna(pd.Timestamp.now(tz="UTC"))
            g = g[g.end_time > g.start_time]
            if not g.empty:
                fig = charts.apply_colors(px.timeline(g, x_start="start_time", x_end="end_time", y="status",
                                                      color="status", hover_data=["message"],
                                                      title="Secondary status over time"))
                fig.update_yaxes(autorange="reversed", title=None)
                fig.update_layout(height=260, xaxis_title="time (UTC)", showlegend=False)
                st.plotly_chart(fig, key="tr_transitions")
            ui.table(ui.enums(tr, "status"), "tr_transitions_table", column_config={
                "start_time": st.column_config.DatetimeColumn("Start (UTC)", format=TIME),
                "end_time": st.column_config.DatetimeColumn("End (UTC)", format=TIME),
                "minutes": st.column_config.NumberColumn("Minutes", format="%.1f")})
    with tabs[3]:
        lo = j.creation_time
        hi = j.training_end_time if pd.notna(j.training_end_time) else pd.Timestamp.now(tz="UTC")
        logs = lq.log_events(lo.to_pydatetime(), (hi + pd.Timedelta(minutes=30)).to_pydatetime(), job=name,
                             limit=500)
        st.page_link(nav.page(nav.LOGS), label="Search this job's logs", icon=":material/article:",
                     query_params=nav.params(resource=name, start=lo.isoformat(),
                                             end=(hi + pd.Timedelta(minutes=30)).isoformat()))
        if logs.empty:
            ui.empty("No log lines collected for this job (logs are kept for the collector's logs_days).")
        else:
            ui.table(logs[["ts", "level", "message", "log_stream"]], "tr_logs", column_config={
                "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "message": st.column_config.TextColumn("Message", width="large")})
    with tabs[4]:
        _lineage(j)


def _lineage(j: pd.Series) -> None:
    """What the job produced and where it serves (links), the image it ran (with its ECR digest) and its input data."""
    st.markdown("**Model versions it produced**")
    produced = mq.produced_by_job(j.account_id, j.region, j.training_job_name)
    if produced.empty:
        st.caption("No registered version or model names this job's artifacts ({output path}/" +
                   ui.plain(j.training_job_name) + "/output/) in the store.")
    else:
        shown = produced.assign(approval=produced.approval_status.map(ui.words))[
            ["model_group", "model_version", "approval", "endpoint_name", "variant_name", "model_name",
             "registered_at", "model_data_url"]]
        clicked = ui.table(shown, "tr_produced", downloads=False, on_select="rerun", selection_mode="single-cell",
                           column_config={
            "model_group": st.column_config.TextColumn("Registry group", help="Click to open the group's versions"),
            "model_version": st.column_config.NumberColumn("Version", format="v%d"),
            "endpoint_name": st.column_config.TextColumn("Serving on", help="Click to open the endpoint"),
            "variant_name": "Variant", "model_name": "Model", "model_data_url": "Artifacts",
            "registered_at": st.column_config.DatetimeColumn("Registered (UTC)", format=TIME)})
        st.caption("Click an endpoint to open it, or a registry group for its versions. A blank endpoint: the "
                   "version serves nowhere now.")
        endpoint = nav.picked(clicked, shown, "endpoint_name")
        if endpoint:
            nav.go(nav.ENDPOINTS, endpoint=endpoint)
        group = nav.picked(clicked, shown, "model_group")
        if group:
            version = shown.model_version.iloc[nav.picked_row(clicked, "model_group") or 0]
            nav.go(nav.MODELS, group=group, version=str(int(version)) if pd.notna(version) else None)
    st.markdown("**Image**")
    image = tq.image_of(j.image)
    st.code(j.image or "", language=None)
    if image.empty:
        st.caption("Not an ECR image the ecr collector has seen: no digest.")
    else:
        i = image.iloc[0]
        tags = ", ".join(json.loads(i.image_tags or "[]"))
        st.caption(f"Digest {ui.plain(i.image_digest)} · tags {ui.plain(tags)} · pushed "
                   f"{ui.when(i.pushed_at)}" if pd.notna(i.pushed_at) else
                   f"Digest {ui.plain(i.image_digest)} · tags {ui.plain(tags)}")
    st.markdown("**Input data**")
    channels = tq.input_channels(j.input_channels)
    if channels.empty:
        st.caption("No input channels stored for this job.")
    else:
        ui.table(channels, "tr_channels", downloads=False, column_config={
            "channel": "Channel", "s3_uri": "S3 location", "content_type": "Content type"})


def _compare(a: str, b: str) -> None:
    _back()
    st.subheader("Compare training jobs")
    cmp = tq.training_compare(a, b)
    if cmp["summary"].empty:
        ui.empty("One of the two jobs is not in the store.")
        return
    ui.table(cmp["summary"], "tr_cmp_summary", downloads=False)
    left, right = st.columns(2)
    hp = cmp["hyperparameters"]
    left.markdown(f"**Hyperparameters** ({int(hp.differs.sum())} differ)")
    left.dataframe(hp.style.apply(lambda r: ["background-color: rgba(255,196,0,0.18)" if r.differs else ""] * len(r),
                                  axis=1), hide_index=True, key="tr_cmp_hp", placeholder="",
                   column_config=ui.human_config(hp))
    right.markdown("**Final metrics**")
    with right:
        ui.table(cmp["metrics"], "tr_cmp_metrics", downloads=False)
    _curves([a, b])


def _list(f: filters.Filters) -> None:
    opts = tq.training_filter_options(f)
    c1, c2, c3, c4, c5 = st.columns([2, 2, 2, 1, 2])
    # the page's filters are in the URL (?tr_status=Failed&tr_type=...): a shared link shows the same jobs
    statuses = c1.multiselect("Status", opts["status"], placeholder="All", key="tr_status", bind="query-params")
    teams = c2.multiselect("Team", opts["team"], placeholder="All", key="tr_team", bind="query-params")
    types = c3.multiselect("Instance type", opts["instance_type"], placeholder="All", key="tr_type",
                           bind="query-params")
    spot = c4.selectbox("Capacity", ["All", "Spot", "On-demand"], key="tr_spot", bind="query-params")
    text = c5.text_input("Name contains", key="tr_text", bind="query-params")
    df = tq.training_jobs(f, statuses=statuses, instance_types=types,
                          spot=None if spot == "All" else spot == "Spot", text=text)
    if not df.empty and teams:
        df = df[df.team.isin(teams)].reset_index(drop=True)
    if df.empty:
        ui.empty("No training jobs ran in this range with these filters. Widen the time range in the sidebar "
                 "or clear a filter.")
        return
    running = int(df.training_end_time.isna().sum())
    st.caption(f"Training jobs that ran between {ui.local(f.start):%Y-%m-%d %H:%M} and {ui.when(f.end)} (the "
               f"sidebar's {filters.span_label(f.start, f.end)}; {_range_note(f)}): "
               f"{ui.plural(len(df) - running, 'job')} that ended in it"
               + (f" and {ui.plural(running, 'job')} still running (their duration and cost are known when they "
                  "end)" if running else "") + ", newest first.")
    c = st.columns(5)
    c[0].metric("Jobs", len(df))
    c[1].metric("Failed", int((df.status == "Failed").sum()))
    c[2].metric("Billable instance-hours", f"{df.billable_hours.sum():,.0f}")
    c[3].metric("Cost", ui.money(df.cost_usd.sum(min_count=1)))
    c[4].metric("Spot savings", ui.money(df.spot_savings_usd.sum(min_count=1)))
    if df.usd_per_hour.isna().any():
        st.caption(f"Cost is blank for {ui.plural(int(df.usd_per_hour.isna().sum()), 'job')}: the bill has no "
                   "USE1-Train:<type> line for their instance type, and Sextant has no price table of its own.")
    shown = ui.first(ui.enums(df, "status", "secondary_status"), "training_job_name", "status", "duration_min",
                     "cost_usd", "training_end_time", "instance_type", "instance_count", "spot", "team")
    event = ui.table(shown, "training_jobs", on_select="rerun", selection_mode="multi-row", height=460, column_config={
        "training_job_name": st.column_config.TextColumn("Job", pinned=True), "status": "Status",
        "secondary_status": "Secondary", "team": "Team", "project": "Project", "instance_type": "Instance type",
        "instance_count": st.column_config.NumberColumn("Count"), "spot": st.column_config.CheckboxColumn("Spot"),
        "creation_time": st.column_config.DatetimeColumn("Created (UTC)", format=TIME),
        "training_start_time": None, "training_end_time": st.column_config.DatetimeColumn("Ended (UTC)", format=TIME),
        "duration_min": st.column_config.NumberColumn("Duration (min)", format="%.0f"),
        "billable_hours": st.column_config.NumberColumn("Billable inst-h", format="%.2f"),
        "cost_usd": st.column_config.NumberColumn("Cost", format="dollar"),
        "spot_savings_usd": st.column_config.NumberColumn("Spot savings", format="dollar"),
        "usd_per_hour": st.column_config.NumberColumn("$/h", format="$%.3f"),
        "failure_reason": st.column_config.TextColumn("Failure reason", width="large"),
        "account_id": "Account", "region": "Region"})
    rows = event.selection.rows if event is not None else []
    picked = df.iloc[rows].training_job_name.tolist() if rows else []
    b1, b2, _ = st.columns([2, 2, 6])
    if b1.button("Open job", disabled=len(picked) != 1, key="tr_open", icon=":material/open_in_new:"):
        st.query_params["job"] = picked[0]
        st.rerun()
    if b2.button("Compare two", disabled=len(picked) != 2, key="tr_cmp", icon=":material/compare_arrows:"):
        st.query_params["compare"] = ",".join(picked)
        st.rerun()
    st.caption("Select one job to open it, or two to compare them.")


def _range_note(f: filters.Filters) -> str:
    """Why the list covers this range: the page's default (7 days, where finished jobs are) or the viewer's choice."""
    if f.range_given:
        return "the range of the link or of your choice"
    return "this page opens on 7 days, so finished jobs show beside the running ones"


def _data_list(value: str | None) -> str:
    """A job's inputs or outputs (JSON [{name, s3_uri}]) as one line of text: name: s3://..., ..."""
    items = json.loads(value or "[]")
    return "; ".join(f"{i.get('name')}: {i.get('s3_uri') or '–'}" for i in items)


def _started_by(row: pd.Series) -> str | None:
    """The pipeline step or training job that started a processing job, in words; None when started by hand."""
    execution, training = row.pipeline_execution_arn, row.training_job_arn
    if isinstance(execution, str) and execution:
        pipeline = execution.split(":pipeline/", 1)[-1].split("/execution/", 1)[0]
        step = row.pipeline_step_name if isinstance(row.pipeline_step_name, str) else "–"
        return f"pipeline {pipeline}, step {step}"
    if isinstance(training, str) and training:
        return f"training job {training.rsplit('/', 1)[-1]}"
    return None


def _processing(f: filters.Filters) -> None:
    """The Processing jobs tab: jobs that ran in the range, newest first, with their billable hours and cost."""
    c1, c2 = st.columns([3, 2])
    statuses = c1.multiselect("Status", list(PROCESSING_STATUSES), format_func=PROCESSING_STATUSES.get,
                              placeholder="All", key="pj_status", bind="query-params")
    text = c2.text_input("Name contains", key="pj_text", bind="query-params")
    df = pq.processing_jobs(f, statuses=statuses, text=text)
    if df.empty:
        ui.empty("No processing jobs ran in this range with these filters. Widen the time range in the sidebar "
                 "or clear a filter. Processing jobs come from the sagemaker_processing collector.")
        return
    st.caption(f"Processing jobs that ran between {ui.local(f.start):%Y-%m-%d %H:%M} and {ui.when(f.end)}, newest "
               "first.")
    s = pq.processing_summary(df)
    c = st.columns(4)
    c[0].metric("Jobs", s["jobs"])
    c[1].metric("Failed", s["failed"])
    c[2].metric("Billable instance-hours", f"{s['billable_hours']:,.1f}",
                help="Instance count x run time of the instances, as SageMaker bills processing")
    c[3].metric("Cost", ui.money(s["cost_usd"]), help="Whole cost of the jobs that ran in the range, at the "
                "Processing rate of their instance type on the bill")
    notes = []
    if s["running"]:
        notes.append(f"{ui.plural(s['running'], 'job')} still running: their billable hours and cost are known when "
                     "they end.")
    if s["unpriced"]:
        notes.append(f"Cost is blank for {ui.plural(s['unpriced'], 'job')}: the bill has no "
                     "<region>-Processing:<instance type> line for their instance type, and Sextant has no price "
                     "table of its own.")
    if notes:
        st.caption(" ".join(notes))
    view = df.assign(
        status=df.status.map(lambda v: PROCESSING_STATUSES.get(v, v)),
        instances=[f"{t} × {int(n)}" if pd.notna(n) else t for t, n in zip(df.instance_type, df.instance_count,
                                                                            strict=True)],
        inputs=df.inputs.map(_data_list), outputs=df.outputs.map(_data_list),
        started_by=df.apply(_started_by, axis=1),
    )[["processing_job_name", "status", "duration_min", "cost_usd", "processing_end_time", "instances", "team",
       "project", "creation_time", "billable_hours", "usd_per_hour", "failure_reason", "exit_message", "inputs",
       "outputs", "started_by", "image", "account_id", "region"]]
    ui.table(view, "processing_jobs", height=460, column_config={
        "processing_job_name": st.column_config.TextColumn("Job", pinned=True), "status": "Status", "team": "Team",
        "project": "Project", "instances": "Instances (type × count)",
        "creation_time": st.column_config.DatetimeColumn("Created (UTC)", format=TIME),
        "processing_end_time": st.column_config.DatetimeColumn("Ended (UTC)", format=TIME),
        "duration_min": st.column_config.NumberColumn("Duration (min)", format="%.0f"),
        "billable_hours": st.column_config.NumberColumn("Billable inst-h", format="%.2f"),
        "cost_usd": st.column_config.NumberColumn("Cost ($)", format="dollar"),
        "usd_per_hour": st.column_config.NumberColumn("$/inst-h", format="$%.3f"),
        "failure_reason": st.column_config.TextColumn("Failure reason", width="large"),
        "exit_message": st.column_config.TextColumn("Exit message", width="large"),
        "inputs": st.column_config.TextColumn("Inputs", width="large"),
        "outputs": st.column_config.TextColumn("Outputs", width="large"),
        "started_by": "Started by", "image": "Image", "account_id": "Account", "region": "Region"})


st.title("Training")
f = filters.current(default_range="7d")  # opened without a range: 7 days, so finished jobs show, not only running ones
if st.query_params.get("compare") and len(st.query_params["compare"].split(",")) == 2:
    _compare(*st.query_params["compare"].split(","))
elif st.query_params.get("job"):
    _detail(st.query_params["job"])
else:
    training_tab, processing_tab = st.tabs(["Training jobs", "Processing jobs"], key="tab", bind="query-params")
    with training_tab:
        _list(f)
    with processing_tab:
        _processing(f)
