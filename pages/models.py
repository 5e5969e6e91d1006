"""Models: the registry (groups, versions, approval) and which endpoint serves which version, with lineage: the
endpoints serving a version and the training job that produced it (its image and input data), one click each.

Linkable: ?group=NAME shows that group's versions; &version=N that version's lineage.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import filters, nav, ui
from dashboard.queries import models as mq
from dashboard.queries import training as tq

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
    view = ui.first(view, "endpoint_name", "variant_name", "model_group", "model_version", "approval", "training_job")
    clicked = ui.table(view, "models_serving", on_select="rerun", selection_mode="single-cell", column_config={
        "endpoint_name": st.column_config.TextColumn("Endpoint", pinned=True, help="Click a name to open the endpoint"),
        "training_job": st.column_config.TextColumn("Trained by", help="The training job whose output holds the "
                                                     "artifacts; click it to open the job"),
        "variant_name": "Variant",
        "env": "Env", "team": "Team", "model_name": "Model", "model_package_arn": None,
        "model_group": "Registry group", "model_version": st.column_config.NumberColumn("Version", format="v%d"),
        "approval": "Approval", "registered_at": st.column_config.DatetimeColumn("Registered (UTC)", format=TIME),
        "current_weight": st.column_config.NumberColumn("Weight", format="%.2f"),
        "current_instance_count": "Instances", "instance_type": "Instance type",
        "account_id": "Account", "region": "Region"})
    st.caption("Endpoint variant → model (its container's ModelPackageName) → registry version and its approval → "
               "the training job that wrote the artifacts. Click an endpoint or a training job to open it.")
    endpoint, job = nav.picked(clicked, view, "endpoint_name"), nav.picked(clicked, view, "training_job")
    if endpoint:
        nav.go(nav.ENDPOINTS, endpoint=endpoint)
    if job:
        nav.go(nav.TRAINING, job=job)
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
    if st.query_params.get("group") != groups.iloc[rows[0]].group_name:
        st.query_params.pop("version", None)  # another group's version
    st.query_params["group"] = groups.iloc[rows[0]].group_name
group = st.query_params.get("group")


def _lineage(v: pd.Series) -> None:
    """One version: the endpoints serving it and the training job that produced it, with its image and data."""
    st.markdown(f"**Lineage of {ui.plain(v.group_name)} v{int(v.version)}**")
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.caption("Serving on:")
        if not v.serving_endpoints:
            st.caption("no endpoint in scope")
        for e in v.serving_endpoints:
            st.page_link(nav.page(nav.ENDPOINTS), label=ui.plain(e), icon=":material/dns:",
                         query_params=nav.params(endpoint=e))
    if not isinstance(v.training_job, str):
        st.caption(f"Trained by: no stored training job wrote its artifacts ({ui.plain(v.model_data_url)}).")
        return
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.caption("Trained by:")
        st.page_link(nav.page(nav.TRAINING), label=ui.plain(v.training_job), icon=":material/model_training:",
                     query_params=nav.params(job=v.training_job))
    job = tq.training_job(v.training_job)
    if job.empty:
        return
    j = job.iloc[0]
    image = tq.image_of(j.image)
    digest = f" · digest {ui.plain(image.image_digest.iloc[0])}" if not image.empty else " · digest not collected"
    st.caption(f"Training image: {ui.plain(j.image)}{digest}")
    channels = tq.input_channels(j.input_channels)
    st.caption("Input data: " + ("; ".join(f"{ui.plain(c.channel)}: {ui.plain(c.s3_uri)}"
                                           for c in channels.itertuples()) or "–"))


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
        shown = ui.first(versions.drop(columns=["serving_endpoints"]), "group_name", "version", "approval",
                         "serving_on", "training_job")
        clicked = ui.table(ui.enums(shown, "package_status"), "models_versions", on_select="rerun",
                           selection_mode="single-cell", column_config={
            "group_name": None, "version": st.column_config.NumberColumn("Version", format="v%d"),
            "approval_status": None, "approval": "Approval", "package_status": "Package status",
            "creation_time": st.column_config.DatetimeColumn("Registered (UTC)", format=TIME),
            "description": "Description", "customer_metadata": "Metadata", "image": "Image",
            "model_data_url": "Artifacts", "model_package_arn": "ARN", "serving_on": "Serving on",
            "training_job": st.column_config.TextColumn("Trained by", help="The training job whose output holds the "
                                                        "artifacts; click it to open the job"),
            "account_id": "Account", "region": "Region"})
        job = nav.picked(clicked, shown, "training_job")
        if job:
            nav.go(nav.TRAINING, job=job)
        picked = nav.picked(clicked, shown.astype({"version": "string"}), "version", any_cell=True)
        if picked:
            st.query_params["version"] = picked
        wanted = st.query_params.get("version")
        chosen = versions[versions.version.astype("string") == wanted] if wanted else versions.iloc[:0]
        if chosen.empty:
            st.caption("Click a version for its lineage (the endpoints serving it, the job that trained it, its "
                       "image and data); click a training job to open it.")
        else:
            _lineage(chosen.iloc[0])
else:
    st.caption("Select a group for its versions.")
