"""Read queries of the Logs page: search the collected CloudWatch Logs of endpoints and training jobs.

Every function binds every value as a parameter; :func:`log_where` is the one search condition (the endpoint and
incident queries filter log lines with it too).
"""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from dashboard.data import query
from dashboard.queries._common import _in_several_accounts, _or_empty, _utc


def log_where(start: datetime, end: datetime, *, text: str = "", levels: list[str] | tuple = (),
              endpoint: str | None = None, job: str | None = None, accounts: tuple = (),
              regions: tuple = ()) -> tuple[str, list]:
    """The condition on ``aws_logs_event`` of a log search in [start, end), and its parameters."""
    parts, params = ["ts >= ?", "ts < ?"], [start, end]
    if text:
        parts.append("contains(lower(message), lower(?))")
        params.append(text)
    if len(levels) == 1:  # an equality DuckDB can push into the scan
        parts.append("level = ?")
        params.append(levels[0])
    elif levels:
        parts.append("level IN (SELECT unnest(?))")
        params.append(list(levels))
    if endpoint:
        parts.append("endpoint_name = ?")
        params.append(endpoint)
    if job:
        parts.append("training_job_name = ?")
        params.append(job)
    if endpoint and not job and endpoint not in _in_several_accounts("aws_sagemaker_endpoint", "endpoint_name"):
        accounts = regions = ()  # the name alone picks the endpoint's lines: skip two string filters per line
    for col, values in (("account_id", accounts), ("region", regions)):
        if values:
            parts.append(f"{col} IN (SELECT unnest(?))")
            params.append(list(values))
    return " AND ".join(parts), params


def log_events(start: datetime, end: datetime, *, text: str = "", levels: list[str] | tuple = (),
               endpoint: str | None = None, job: str | None = None, accounts: tuple = (), regions: tuple = (),
               limit: int = 1000) -> pd.DataFrame:
    """Collected log events matching the search, newest first, at most ``limit``."""
    where, params = log_where(start, end, text=text, levels=levels, endpoint=endpoint, job=job,
                              accounts=accounts, regions=regions)
    df = query(f"""
        SELECT ts, level, coalesce(endpoint_name, training_job_name) AS resource, variant_name, message,
               log_group, log_stream, account_id, region
        FROM aws_logs_event WHERE {where}
        ORDER BY ts DESC LIMIT ?""", [*params, int(limit)])  # noqa: S608 - WHERE is built from bound parameters
    return _utc(df, "ts")


def bucket_seconds(start: datetime, end: datetime) -> int:
    """The bucket of the log counts over [start, end), in seconds: 1 min up to 6 h, 5 min up to 2 d, 1 h beyond."""
    span = (end - start).total_seconds()
    return 60 if span <= 6 * 3600 else 300 if span <= 2 * 86400 else 3600


def log_counts(start: datetime, end: datetime, *, text: str = "", levels: list[str] | tuple = (),
               endpoint: str | None = None, job: str | None = None, accounts: tuple = (), regions: tuple = (),
               bucket_s: int | None = None) -> pd.DataFrame:
    """Matching events per time bucket (:func:`bucket_seconds`, unless ``bucket_s`` is given) and level."""
    bucket_s = bucket_s or bucket_seconds(start, end)
    where, params = log_where(start, end, text=text, levels=levels, endpoint=endpoint, job=job,
                              accounts=accounts, regions=regions)
    df = query(f"""
        SELECT to_timestamp(floor(epoch(ts) / ?) * ?) AS ts, coalesce(level, 'NONE') AS level, count(*) AS events
        FROM aws_logs_event WHERE {where} GROUP BY ALL ORDER BY 1""",  # noqa: S608
               [bucket_s, bucket_s, *params])
    return _utc(_or_empty(df, ["ts", "level", "events"]), "ts")


def log_resources(start: datetime, end: datetime) -> pd.DataFrame:
    """Endpoints and training jobs with log events in [start, end): kind, name, events, errors."""
    return _or_empty(query("""
        SELECT CASE WHEN endpoint_name IS NOT NULL THEN 'endpoint' ELSE 'training job' END AS kind,
               coalesce(endpoint_name, training_job_name) AS name, count(*) AS events,
               count(*) FILTER (WHERE level = 'ERROR') AS errors
        FROM aws_logs_event WHERE ts >= ? AND ts < ? AND coalesce(endpoint_name, training_job_name) IS NOT NULL
        GROUP BY ALL ORDER BY errors DESC, events DESC""", [start, end]), ["kind", "name", "events", "errors"])

