"""Lineage links: what an endpoint serves and what made it, one click each way (endpoint -> registry version ->
training job). Pages call :func:`model_line`; the Models and Training pages link back."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import nav, ui
from dashboard.queries import models as mq


def model_line(account: str, region: str, endpoint: str) -> None:
    """Under an endpoint's header: per variant, the model it serves, its registry version (a link to Models, the
    group's versions) and the training job that produced it (a link to the job on Training), same tab, filters
    kept. Says so when a variant serves a model outside the registry or no stored job wrote its artifacts."""
    lineage = mq.endpoint_lineage(account, region, endpoint)
    for r in lineage.to_dict("records"):
        group, version, job = r["model_group"], r["model_version"], r["training_job"]
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.caption(f"{ui.plain(r['variant_name'])} serves {ui.plain(r['model_name'])}")
            if isinstance(group, str) and pd.notna(version):
                status = r["approval_status"]
                approval = ui.words(status) if isinstance(status, str) else "no approval"
                st.page_link(nav.page(nav.MODELS), icon=":material/inventory_2:",
                             label=f"{ui.plain(group)} v{int(version)} ({ui.plain(approval)})",
                             query_params=nav.params(group=group, version=str(int(version))))
            else:
                st.caption("(not from the model registry)")
            if isinstance(job, str) and job:
                st.page_link(nav.page(nav.TRAINING), icon=":material/model_training:",
                             label=f"trained by {ui.plain(job)}", query_params=nav.params(job=job))
            else:
                st.caption("(no stored training job wrote its artifacts)")
