"""Audit log: every action attempt — who, when, role, what, on what, with what result."""

import pandas as pd
import streamlit as st

from dashboard import action_ui, ui

st.title("Audit log")
st.caption("Append-only: one row per action attempt, refused and failed ones included. Times are in "
           f"{ui.zone()}.")
df = action_ui.audit_log().frame()
if df.empty:
    ui.empty("No actions yet. Operators act from the Endpoints, Training, Pipelines and Cost pages; "
             "every attempt lands here.")
else:
    latest = df.iloc[0]  # newest first
    c = st.columns(4)
    c[0].metric("Attempts", len(df))
    c[1].metric("Succeeded", int((df.result == "succeeded").sum()))
    c[2].metric("Refused or invalid", int(df.result.isin(["refused", "invalid"]).sum()))
    c[3].metric("Failed", int((df.result == "failed").sum()))
    when = str(latest["at"])[:19].replace("T", " ")  # .at would be pandas' accessor
    st.markdown(f"**Latest:** #{latest['id']} · {when} UTC · {ui.plain(latest.actor)} ({ui.plain(latest.role)}) · "
                f"{ui.plain(latest.action)} on {ui.plain(latest.target)} · **{ui.plain(latest.result)}**"
                + (" (dry run)" if latest.dry_run else ""))
    results = sorted(df.result.unique())
    chosen = st.multiselect("Result", results, default=results, key="audit_result",  # in the URL: ?audit_result=
                            bind="query-params")
    view = df[df.result.isin(chosen)]
    view = view.assign(**{c: pd.to_datetime(view[c], utc=True, errors="coerce", format="ISO8601")
                          for c in ("at", "completed_at") if c in view.columns})  # stored as ISO text
    ui.table(view, "audit", column_config={
        "id": st.column_config.NumberColumn("#", width="small"),
        "at": st.column_config.DatetimeColumn("When (UTC)", format="YYYY-MM-DD HH:mm:ss"), "actor": "Who",
        "role": "Role", "action": "Action", "target": "Target", "result": "Result",
        "aws_request_id": "AWS request id", "error": "Error", "parameters": "Parameters",
        "state_before": "Before", "state_after": "After", "dry_run": st.column_config.CheckboxColumn("Dry run"),
        "token": None, "account_id": "Account", "region": "Region", "aws_role": "AWS role",
        "aws_session": "AWS session (CloudTrail)",
        "completed_at": st.column_config.DatetimeColumn("Completed (UTC)", format="YYYY-MM-DD HH:mm:ss")})
