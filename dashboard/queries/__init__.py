"""Typed read queries: each returns a DataFrame; every value is a bound parameter."""

from __future__ import annotations

import pandas as pd

from dashboard.data import has_table, query


def filter_options() -> dict[str, list[str]]:
    if not has_table("aws_sagemaker_endpoint"):
        return {}
    df = query("SELECT DISTINCT account_id, region, team, project FROM aws_sagemaker_endpoint")
    return {"account": sorted(df.account_id.dropna().unique()), "region": sorted(df.region.dropna().unique()),
            "team": sorted(df.team.dropna().unique()), "project": sorted(df.project.dropna().unique())}


def data_as_of() -> pd.DataFrame:
    """Last successful collection per source."""
    if not has_table("sextant_collection_run"):
        return pd.DataFrame()
    return query("SELECT source, max(ended_at) AS as_of FROM sextant_collection_run "
                 "WHERE status = 'succeeded' GROUP BY source ORDER BY source")
