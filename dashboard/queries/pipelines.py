"""Read queries of the Pipelines page: SageMaker Pipelines and Step Functions executions in one normalized frame,
a summary per pipeline, one execution's steps and stored parameters.

Every value is a bound parameter.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _or_empty, _utc

_EXECUTION_COLUMNS = ["kind", "pipeline", "execution_arn", "execution", "status", "start_time", "end_time",
                      "failed_step", "failure_reason", "team", "account_id", "region"]


def pipeline_executions(f: Filters) -> pd.DataFrame:
    """SageMaker pipeline and Step Functions executions started in the range, one normalized frame.

    status is Succeeded / Failed / Running / Stopped for both kinds; failed_step is the failing step
    (SageMaker) or state (Step Functions). Step Functions state machines carry no team tag: a team
    filter leaves them out.
    """
    where, params = f.where("p")
    sql = f"""
        SELECT 'SageMaker' AS kind, x.pipeline_name AS pipeline, x.execution_arn,
               coalesce(x.display_name, regexp_extract(x.execution_arn, '[^/]+$')) AS execution,
               CASE x.status WHEN 'Executing' THEN 'Running' WHEN 'Stopping' THEN 'Running'
                    ELSE x.status END AS status,
               x.start_time, x.end_time, x.failed_step, coalesce(st.failure_reason, x.failure_reason) AS failure_reason,
               p.team, x.account_id, x.region
        FROM aws_sagemaker_pipeline_execution x
        LEFT JOIN aws_sagemaker_pipeline p USING (account_id, region, pipeline_name)
        LEFT JOIN aws_sagemaker_pipeline_execution_step st
               ON st.account_id = x.account_id AND st.region = x.region AND st.execution_arn = x.execution_arn
              AND st.step_name = x.failed_step
        WHERE {where} AND x.start_time >= ? AND x.start_time < ?"""  # noqa: S608 - bound parameters only
    params += [f.start, f.end]
    if not f.teams and not f.projects:
        where, p = f.where("x", team_col="", project_col="")
        sql += f"""
        UNION ALL
        SELECT 'Step Functions' AS kind, m.state_machine_name AS pipeline, x.execution_arn,
               x.execution_name AS execution,
               CASE x.status WHEN 'SUCCEEDED' THEN 'Succeeded' WHEN 'FAILED' THEN 'Failed'
                    WHEN 'TIMED_OUT' THEN 'Failed' WHEN 'ABORTED' THEN 'Stopped' ELSE 'Running' END AS status,
               x.start_date AS start_time, x.stop_date AS end_time, x.failing_state AS failed_step,
               concat_ws(': ', x.error, x.cause) AS failure_reason, NULL AS team, x.account_id, x.region
        FROM aws_sfn_execution x
        LEFT JOIN aws_sfn_state_machine m USING (account_id, region, state_machine_arn)
        WHERE {where} AND x.start_date >= ? AND x.start_date < ?"""  # noqa: S608 - bound parameters only
        params += [*p, f.start, f.end]
    df = _utc(_or_empty(query(sql + " ORDER BY start_time DESC", params), _EXECUTION_COLUMNS), "start_time", "end_time")
    df["duration_min"] = (df.end_time - df.start_time).dt.total_seconds() / 60
    return df


def pipeline_summary(executions: pd.DataFrame) -> pd.DataFrame:
    """Per pipeline: executions, success rate, median and p90 duration, most frequent failing step."""
    if executions.empty:
        return pd.DataFrame()
    done = executions[executions.status.isin(["Succeeded", "Failed", "Stopped"])]
    g = executions.groupby(["kind", "pipeline"])
    out = g.agg(executions=("execution_arn", "count"), last_start=("start_time", "max"))
    out["succeeded"] = done[done.status == "Succeeded"].groupby(["kind", "pipeline"]).size()
    out["failed"] = done[done.status == "Failed"].groupby(["kind", "pipeline"]).size()
    out[["succeeded", "failed"]] = out[["succeeded", "failed"]].fillna(0).astype(int)
    finished = done.groupby(["kind", "pipeline"]).size()
    out["success_rate"] = out.succeeded / finished.reindex(out.index).where(lambda s: s > 0)
    ok = done[done.status == "Succeeded"].groupby(["kind", "pipeline"]).duration_min
    out["median_min"] = ok.median()
    out["p90_min"] = ok.quantile(0.9)
    fails = executions.dropna(subset=["failed_step"])
    out["top_failing_step"] = fails.groupby(["kind", "pipeline"]).failed_step.agg(
        lambda s: f"{s.value_counts().index[0]} ({s.value_counts().iloc[0]}×)")
    return out.reset_index().sort_values(["success_rate", "pipeline"], na_position="last")


def pipeline_steps(execution_arn: str) -> pd.DataFrame:
    """Steps of a SageMaker execution (status, times, failure reason), or the failing state of a Step Functions one."""
    df = query("""
        SELECT step_name, step_type, status, start_time, end_time,
               date_diff('second', start_time, end_time) / 60.0 AS minutes, attempt_count, failure_reason
        FROM aws_sagemaker_pipeline_execution_step WHERE execution_arn = ?
        ORDER BY start_time NULLS LAST, step_name""", [execution_arn])
    if df.empty:
        df = query("""
            SELECT failing_state AS step_name, 'State' AS step_type, 'Failed' AS status,
                   NULL::TIMESTAMPTZ AS start_time,
                   stop_date AS end_time, NULL::DOUBLE AS minutes, NULL::INTEGER AS attempt_count,
                   concat_ws(': ', error, cause) AS failure_reason
            FROM aws_sfn_execution WHERE execution_arn = ? AND failing_state IS NOT NULL""", [execution_arn])
    return _utc(df, "start_time", "end_time")


def execution_parameters(account: str, region: str, execution_arn: str) -> str:
    """The parameters a SageMaker pipeline execution ran with, as the stored JSON object ("{}" when none)."""
    df = query("SELECT parameters FROM aws_sagemaker_pipeline_execution WHERE account_id = ? AND region = ? "
               "AND execution_arn = ?", [account, region, execution_arn])
    return df.parameters.iloc[0] if not df.empty and df.parameters.iloc[0] else "{}"
