"""Endpoints: every SageMaker endpoint with its capacity and health."""

import streamlit as st

from dashboard import filters, queries

st.title("Endpoints")
f = filters.current()
df = queries.endpoints(f)
if df.empty:
    st.info("No endpoints collected yet. Run `make collect` (or `make demo`) and reload.")
else:
    st.caption(f"{len(df)} endpoints")
    st.dataframe(df, hide_index=True, width="stretch", column_config={
        "endpoint_name": "Endpoint", "status": "Status", "team": "Team", "project": "Project", "env": "Env",
        "account_id": "Account", "region": "Region", "instance_type": "Instance type",
        "instances": st.column_config.NumberColumn("Instances"),
        "variants": st.column_config.NumberColumn("Variants"),
        "autoscaling_min": "AS min", "autoscaling_max": "AS max",
        "last_modified_time": st.column_config.DatetimeColumn("Last modified (UTC)", format="YYYY-MM-DD HH:mm"),
    })
