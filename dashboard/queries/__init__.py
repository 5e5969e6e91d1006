"""Typed read queries: each returns a DataFrame; every value is a bound parameter."""

from __future__ import annotations

import pandas as pd

from dashboard.data import has_table, query
from dashboard.filters import Filters


def filter_options() -> dict[str, list[str]]:
    if not has_table("aws_sagemaker_endpoint"):
        return {}
    df = query("SELECT DISTINCT account_id, region, team, project FROM aws_sagemaker_endpoint")
    return {"account": sorted(df.account_id.dropna().unique()), "region": sorted(df.region.dropna().unique()),
            "team": sorted(df.team.dropna().unique()), "project": sorted(df.project.dropna().unique())}


def endpoints(f: Filters) -> pd.DataFrame:
    """One row per endpoint: status, capacity, autoscaling bounds, tags."""
    if not has_table("aws_sagemaker_endpoint"):
        return pd.DataFrame()
    where, params = f.where("e")
    sql = f"""
        SELECT e.endpoint_name, e.status, e.team, e.project, e.env, e.account_id, e.region,
               string_agg(DISTINCT v.instance_type, ', ') AS instance_type,
               sum(v.current_instance_count)::INTEGER AS instances,
               count(v.variant_name)::INTEGER AS variants,
               min(t.min_capacity) AS autoscaling_min, max(t.max_capacity) AS autoscaling_max,
               e.last_modified_time
        FROM aws_sagemaker_endpoint e
        LEFT JOIN aws_sagemaker_endpoint_variant v USING (account_id, region, endpoint_name)
        LEFT JOIN aws_application_autoscaling_scalable_target t
               ON t.account_id = e.account_id AND t.region = e.region AND t.endpoint_name = e.endpoint_name
              AND t.variant_name = v.variant_name
        WHERE {where}
        GROUP BY ALL ORDER BY e.team, e.endpoint_name
    """  # noqa: S608 - the WHERE fragment is built from bound parameters
    return query(sql, params)


def data_as_of() -> pd.DataFrame:
    """Last successful collection per source."""
    if not has_table("sextant_collection_run"):
        return pd.DataFrame()
    return query("SELECT source, max(ended_at) AS as_of FROM sextant_collection_run "
                 "WHERE status = 'succeeded' GROUP BY source ORDER BY source")
