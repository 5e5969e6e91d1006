"""Models: the registry (groups, versions, approval) and which endpoint serves which version.

Linkable: ?group=NAME shows that group's versions.
"""

from __future__ import annotations

import streamlit as st

from dashboard import filters, ui
from dashboard.queries import models as mq

TIME = "YYYY-MM-DD HH:mm"
APPROVAL = {"Approved": "Approved", "Rejected": "Rejected", "PendingManualApproval": "Pending"}

st.title("Models")
f = filters.current()

serving = mq.serving_map(f)
groups = mq.model_groups(f)
if serving.empty and groups.empty:
    ui.empty("No endpoints or registry collected yet. Run the sagemaker_endpoints and sagemaker_registry collectors.")
    st.stop()

st.subheader("What serves where")
if serving.empty:
    ui.empty("No endpoints in scope.")
else:
    unapproved = serving[serving.model_group.notna() & (serving.approval_status != "Approved")]
    untracked = serving[serving.model_group.isna()]
    m = st.columns(3)
    m[0].metric("Variants serving", len(serving))
    m[1].metric("Serving a version not Approved", len(unapproved), delta_color="inverse",
                delta=None if unapproved.empty else "review")
    m[2].metric("Serving a model outside the registry", len(untracked))
    view = serving.drop(columns=["approval_status"])
    view.insert(view.columns.get_loc("model_version") + 1, "approval",
                serving.approval_status.map(APPROVAL).fillna(serving.approval_status))
    ui.table(view, "models_serving", column_config={
        "endpoint_name": st.column_config.TextColumn("Endpoint", pinned=True), "variant_name": "Variant",
        "env": "Env", "team": "Team", "model_name": "Model", "model_package_arn": None,
        "model_group": "Registry group", "model_version": st.column_config.NumberColumn("Version", format="v%d"),
        "approval": "Approval", "registered_at": st.column_config.DatetimeColumn("Registered (UTC)", format=TIME),
        "current_weight": st.column_config.NumberColumn("Weight", format="%.2f"),
        "current_instance_count": "Instances", "instance_type": "Instance type",
        "account_id": "Account", "region": "Region"})
    st.caption("Endpoint variant → model (its container's ModelPackageName) → registry version and its approval.")
    with st.expander("Deploy history: which models each endpoint served, and when"):
        history = mq.deploy_history(f)
        if history.empty:
            ui.empty("No endpoint configs collected.")
        else:
            ui.table(history, "models_deploys", column_config={
                "time": st.column_config.DatetimeColumn("Config created (UTC)", format=TIME),
                "endpoint_name": "Endpoint", "kind": "Kind", "models": "Models", "config": "Endpoint config",
                "variants": "Variants (type × initial count)"})

st.subheader("Registry")
if groups.empty:
    ui.empty("No model package groups in the registry (or the sagemaker_registry collector has not run).")
    st.stop()
event = ui.table(ui.enums(groups, "latest_status"), "models_groups", on_select="rerun", column_config={
    "group_name": st.column_config.TextColumn("Group", pinned=True), "versions": "Versions",
    "latest_version": st.column_config.NumberColumn("Latest", format="v%d"), "latest_status": "Latest status",
    "latest_approved": st.column_config.NumberColumn("Latest approved", format="v%d"),
    "pending": st.column_config.NumberColumn("Pending approval"), "serving": "Serving now",
    "description": "Description", "creation_time": st.column_config.DatetimeColumn("Created (UTC)", format=TIME),
    "account_id": "Account", "region": "Region"})
rows = event.selection.rows if event is not None else []
if rows:
    st.query_params["group"] = groups.iloc[rows[0]].group_name
group = st.query_params.get("group")
if group:
    st.markdown(f"**Versions of {ui.plain(group)}**")
    versions = mq.model_versions(f, group)
    if versions.empty:
        ui.empty(f"No versions of {ui.plain(group)} in scope.")
    else:
        approval = versions.approval_status.map(APPROVAL).fillna(versions.approval_status)
        serving_on = versions.pop("serving_on")
        versions.insert(2, "approval", approval)
        versions.insert(3, "serving_on", serving_on)
        ui.table(ui.enums(versions, "package_status"), "models_versions", column_config={
            "group_name": None, "version": st.column_config.NumberColumn("Version", format="v%d"),
            "approval_status": None, "approval": "Approval", "package_status": "Package status",
            "creation_time": st.column_config.DatetimeColumn("Registered (UTC)", format=TIME),
            "description": "Description", "customer_metadata": "Metadata", "image": "Image",
            "model_data_url": "Artifacts", "model_package_arn": "ARN", "serving_on": "Serving on",
            "account_id": "Account", "region": "Region"})
else:
    st.caption("Select a group for its versions.")
