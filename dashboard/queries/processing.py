"""Read queries of the Training page's Processing jobs tab: jobs that ran in a range with their duration, billable
hours and cost.

Cost is billable hours x the processing rate of the instance type from the one hourly-price rule
(:mod:`dashboard.queries.prices`, kind Processing: the bill's ``<region>-Processing:<type>`` lines). Billable
seconds are already instance-seconds (the collector multiplies by the instance count), so no count appears here.
Every value is a bound parameter.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _or_empty, _price_rows, _utc

COLUMNS = ["processing_job_name", "status", "team", "project", "instance_type", "instance_count", "duration_min",
           "billable_hours", "cost_usd", "creation_time", "processing_start_time", "processing_end_time",
           "failure_reason", "exit_message", "inputs", "outputs", "image", "pipeline_execution_arn",
           "pipeline_step_name", "training_job_arn", "usd_per_hour", "account_id", "region"]


def processing_jobs(f: Filters, *, statuses: list[str] | tuple = (), text: str = "") -> pd.DataFrame:
    """Processing jobs in the sidebar's scope that ran in the range (created before its end, not ended before its
    start), newest first.

    duration_min = the instances' run time; billable_hours = billable instance-seconds / 3600; cost_usd =
    billable_hours x the Processing rate of the type (0 for a job that never started; blank while running or when
    the bill has no rate for the type).
    """
    where, params = f.where("j")
    prices, pparams = _price_rows("Processing")
    extra, eparams = [], []
    if statuses:
        extra.append("j.status IN (SELECT unnest(?))")
        eparams.append(list(statuses))
    if text:
        extra.append("contains(lower(j.processing_job_name), lower(?))")
        eparams.append(text)
    cond = " AND ".join(["TRUE", *extra])
    sql = f"""
        WITH prices AS ({prices})
        SELECT j.processing_job_name, j.status, j.team, j.project, j.instance_type, j.instance_count,
               j.duration_seconds / 60.0 AS duration_min,
               j.billable_seconds / 3600.0 AS billable_hours,
               CASE WHEN j.billable_seconds = 0 THEN 0.0
                    ELSE j.billable_seconds / 3600.0 * p.usd_per_hour END AS cost_usd,
               j.creation_time, j.processing_start_time, j.processing_end_time, j.failure_reason, j.exit_message,
               j.inputs, j.outputs, j.image, j.pipeline_execution_arn, j.pipeline_step_name, j.training_job_arn,
               p.usd_per_hour, j.account_id, j.region
        FROM aws_sagemaker_processing_job j LEFT JOIN prices p USING (instance_type)
        WHERE {where} AND {cond} AND j.creation_time < ?
          AND (j.processing_end_time IS NULL OR j.processing_end_time >= ?)
        ORDER BY j.creation_time DESC, j.processing_job_name"""  # noqa: S608 - fragments are constants
    df = _or_empty(query(sql, [*pparams, *params, *eparams, f.end, f.start]), COLUMNS)
    return _utc(df, "creation_time", "processing_start_time", "processing_end_time")


def processing_summary(jobs: pd.DataFrame) -> dict[str, float | int | None]:
    """jobs, failed, running, billable_hours, cost_usd (None when no job has a price) and unpriced (finished jobs
    with billable time but no rate) of a :func:`processing_jobs` frame: the figures above the table."""
    unpriced = jobs.cost_usd.isna() & jobs.billable_hours.notna()
    cost = jobs.cost_usd.sum(min_count=1)
    return {"jobs": len(jobs), "failed": int((jobs.status == "Failed").sum()),
            "running": int(jobs.status.isin(["InProgress", "Stopping"]).sum()),
            "billable_hours": float(jobs.billable_hours.sum()), "cost_usd": None if pd.isna(cost) else float(cost),
            "unpriced": int(unpriced.sum())}
