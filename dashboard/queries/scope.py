"""The sidebar's scope: the accounts, regions, teams and projects there are to filter by."""

from __future__ import annotations

from dashboard.data import query


def filter_options() -> dict[str, list[str]]:
    """Values of each scope filter, from the endpoints collected: {"account": [...], "region": [...], ...}."""
    df = query("SELECT DISTINCT account_id, region, team, project FROM aws_sagemaker_endpoint")
    if df.empty:
        return {}
    return {"account": sorted(df.account_id.dropna().unique()), "region": sorted(df.region.dropna().unique()),
            "team": sorted(df.team.dropna().unique()), "project": sorted(df.project.dropna().unique())}
