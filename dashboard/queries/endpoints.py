"""Read queries of the endpoints area: the endpoint list, the Endpoints table, one endpoint's variants, metrics,
deploys, scaling and alarms.

Every function returns a DataFrame and binds every value as a parameter. Units are converted here, once:
latencies leave in milliseconds (CloudWatch's ModelLatency is in microseconds), counts as per-minute rates,
money in USD.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _utc

ENDPOINT_LIST_COLUMNS = ["endpoint_name", "account_id", "region", "team", "project", "env", "status",
                         "creation_time", "endpoint_config_name", "last_modified_time"]


def endpoint_list(f: Filters) -> pd.DataFrame:
    """The endpoints in scope (``f.where()``), one row each, ordered by team then name, without metrics:
    endpoint_name, account_id, region, team, project, env, status, creation_time, endpoint_config_name,
    last_modified_time (times tz-aware UTC). The one endpoint-list query: pickers and the finance side read it."""
    where, params = f.where("e")
    df = query(f"""
        SELECT e.endpoint_name, e.account_id, e.region, e.team, e.project, e.env, e.status, e.creation_time,
               e.endpoint_config_name, e.last_modified_time
        FROM aws_sagemaker_endpoint e
        WHERE {where} ORDER BY e.team, e.endpoint_name""", params)  # noqa: S608 - bound parameters only
    if df.empty:
        return pd.DataFrame(columns=ENDPOINT_LIST_COLUMNS)
    return _utc(df, "creation_time", "last_modified_time")
