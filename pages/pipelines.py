"""Pipelines: SageMaker Pipelines and Step Functions executions: timeline, success rate, durations, failing steps.

Linkable: ?execution=ARN opens one execution's steps.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

import actions
from dashboard import action_ui, charts, filters, ui
from dashboard.queries import pipelines as pq

TIME = "YYYY-MM-DD HH:mm"


def _gantt(df: pd.DataFrame, y: str, title: str, key: str, hover: list[str]) -> None:
    g = df.copy()
    g["end_time"] = g.end_time.fillna(pd.Timestamp.now(tz="UTC"))
    g = g.dropna(subset=["start_time"])
    if g.empty:
        return
    fig = charts.apply_colors(px.timeline(g, x_start="start_time", x_end="end_time", y=y, color="status",
                                          hover_data=hover, title=title))  # statuses in their colours
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_layout(height=max(240, 110 + 34 * g[y].nunique()), xaxis_title="time (UTC)", hovermode="closest",
                      margin={"t": 80}, title={"y": 0.97, "yanchor": "top"}, legend_title_text="")
    st.plotly_chart(fig, key=key)


def _actions(r: pd.Series) -> None:
    """Operators: rerun (same or edited parameters), retry, stop; for Step Functions, start or redrive."""
    if r.kind == "SageMaker":
        params = pq.execution_parameters(r.account_id, r.region, r.execution_arn)
        c = st.columns([4, 1, 1, 1], vertical_alignment="bottom")
        edited = c[0].text_input("Parameters for a rerun (JSON object)", value=params,
                                 key=f"pl_rerun_params_{r.execution_arn}",  # per execution: B never shows A's text
                                 help="This execution's parameters; edit them, or {} for the pipeline's defaults")
        with c[1]:
            action_ui.action_button("Rerun", actions.RerunPipeline(r.account_id, r.pipeline, edited, region=r.region),
                                    "pl_rerun", icon=":material/replay:", type="primary")
        with c[2]:
            if r.status == "Failed":
                action_ui.action_button("Retry", actions.RetryPipelineExecution(r.account_id, r.execution_arn,
                                                                                region=r.region),
                                        "pl_retry", icon=":material/restart_alt:",
                                        help="Resume this execution from its failed step")
        with c[3]:
            if r.status == "Running":
                action_ui.action_button("Stop", actions.StopPipelineExecution(r.account_id, r.execution_arn,
                                                                              region=r.region),
                                        "pl_stop", icon=":material/stop_circle:")
    else:
        machine = r.execution_arn.replace(":execution:", ":stateMachine:", 1).rsplit(":", 1)[0]
        c = st.columns([4, 1.4, 1.6], vertical_alignment="bottom")
        payload = c[0].text_input("Input for a new execution (JSON)", value="{}", key="pl_sfn_input")
        with c[1]:
            action_ui.action_button("Start execution",
                                    actions.StartStateMachine(r.account_id, machine, payload, region=r.region),
                                    "pl_sfn_start", icon=":material/play_arrow:", type="primary")
        with c[2]:
            if r.status == "Failed":
                action_ui.action_button("Redrive", actions.RedriveExecution(r.account_id, r.execution_arn,
                                                                             region=r.region),
                                        "pl_redrive", icon=":material/restart_alt:",
                                        help="Restart this execution from the state that failed")


def _detail(f: filters.Filters, arn: str) -> None:
    if st.button("All executions", icon=":material/arrow_back:", key="pl_back"):
        st.query_params.pop("execution", None)
        st.rerun()
    wide = filters.Filters(f.start - pd.Timedelta(days=400), f.end, f.range_key, f.accounts, f.regions)
    runs = pq.pipeline_executions(wide)
    run = runs[runs.execution_arn == arn] if not runs.empty else runs
    if run.empty:
        ui.empty("This execution is not in the store (or not in the sidebar's account/region scope).")
        return
    r = run.iloc[0]
    st.subheader(f"{ui.plain(r.pipeline)} · {ui.plain(r.execution)}")
    what = f"{ui.plain(r.kind)} · {ui.plain(r.status)}"
    st.caption(f"{what} · started {ui.when(r.start_time)} · {r.duration_min:,.0f} min"
               if pd.notna(r.duration_min) else what)
    if r.status == "Failed":
        st.warning(f"**Failed at {ui.plain(r.failed_step or 'an unknown step')}:** "
                   f"{ui.plain(r.failure_reason or 'no reason given')}",
                   icon=":material/error:")
    if action_ui.can_act():
        _actions(r)
    steps = pq.pipeline_steps(arn)
    if steps.empty:
        ui.empty("No steps stored for this execution (Step Functions executions keep only the failing state).")
        return
    _gantt(steps, "step_name", "Steps", "pl_steps_gantt", ["failure_reason"])
    ui.table(ui.enums(steps, "status", "step_type"), "pl_steps", column_config={
        "step_name": "Step", "step_type": "Type", "status": "Status",
        "start_time": st.column_config.DatetimeColumn("Start (UTC)", format=TIME),
        "end_time": st.column_config.DatetimeColumn("End (UTC)", format=TIME),
        "minutes": st.column_config.NumberColumn("Minutes", format="%.1f"),
        "attempt_count": st.column_config.NumberColumn("Attempts"),
        "failure_reason": st.column_config.TextColumn("Failure reason", width="large")})


def _overview(f: filters.Filters) -> None:
    runs = pq.pipeline_executions(f)
    if runs.empty:
        ui.empty("No pipeline or Step Functions executions started in this range. Widen the time range in the "
                 "sidebar, or run the sagemaker_pipelines collector.")
        return
    c1, c2 = st.columns([3, 2])
    # in the URL (?pl_pipeline=...&pl_status=Failed): a shared link shows the same executions
    pipelines = c1.multiselect("Pipeline", sorted(runs.pipeline.dropna().unique()), placeholder="All",
                               key="pl_pipeline", bind="query-params")
    statuses = c2.multiselect("Status", sorted(runs.status.dropna().unique()), placeholder="All", key="pl_status",
                              bind="query-params")
    if pipelines:
        runs = runs[runs.pipeline.isin(pipelines)]
    if statuses:
        runs = runs[runs.status.isin(statuses)]
    runs = runs[["pipeline", "status", "failed_step", "start_time", "duration_min", "failure_reason", "execution",
                 "kind", "end_time", "team", "account_id", "region", "execution_arn"]].reset_index(drop=True)
    finished = runs[runs.status.isin(["Succeeded", "Failed", "Stopped"])]
    m = st.columns(4)
    m[0].metric("Executions", len(runs))
    m[1].metric("Success rate", f"{(finished.status == 'Succeeded').mean():.0%}" if len(finished) else "–")
    m[2].metric("Failed", int((runs.status == "Failed").sum()))
    m[3].metric("Median duration", f"{runs.duration_min.median():,.0f} min" if runs.duration_min.notna().any() else "–")
    _gantt(runs, "pipeline", "Executions over time", "pl_gantt", ["execution", "failed_step", "duration_min"])

    st.markdown("**By pipeline**")
    ui.table(pq.pipeline_summary(runs), "pl_summary", column_config={
        "kind": "Kind", "pipeline": "Pipeline", "executions": "Runs",
        "last_start": st.column_config.DatetimeColumn("Last run (UTC)", format=TIME),
        "succeeded": "Succeeded", "failed": "Failed",
        "success_rate": st.column_config.ProgressColumn("Success rate", format="percent", min_value=0, max_value=1),
        "median_min": st.column_config.NumberColumn("Median (min)", format="%.0f",
                                                    help="Median duration of successful runs"),
        "p90_min": st.column_config.NumberColumn("p90 (min)", format="%.0f"),
        "top_failing_step": "Most frequent failing step"})

    st.markdown("**Executions** — select one for its steps")
    shown = ui.first(ui.enums(runs, "status"), "pipeline", "status", "duration_min", "start_time", "failed_step")
    event = ui.table(shown, "pl_runs", on_select="rerun", height=420, column_config={
        "kind": "Kind", "pipeline": "Pipeline", "execution_arn": None, "execution": "Execution", "status": "Status",
        "start_time": st.column_config.DatetimeColumn("Start (UTC)", format=TIME),
        "end_time": st.column_config.DatetimeColumn("End (UTC)", format=TIME),
        "duration_min": st.column_config.NumberColumn("Duration (min)", format="%.0f"),
        "failed_step": "Failing step",
        "failure_reason": st.column_config.TextColumn("Failure reason", width="large"),
        "team": "Team", "account_id": "Account", "region": "Region"})
    rows = event.selection.rows if event is not None else []
    if rows:
        st.query_params["execution"] = runs.iloc[rows[0]].execution_arn
        st.rerun()


st.title("Pipelines")
f = filters.current()
if st.query_params.get("execution"):
    _detail(f, st.query_params["execution"])
else:
    _overview(f)
