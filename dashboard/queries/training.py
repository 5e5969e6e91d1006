"""Read queries of the Training page: jobs in a range with their cost, one job, its status transitions and metric
curves, and two jobs side by side.

Cost is billable hours x instance count x the training rate of the instance type from the one hourly-price rule
(:mod:`dashboard.queries.prices`, kind Train: the on-demand rate, the spot rate where the bill has only that).
Every value is a bound parameter.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _or_empty, _price_rows, _utc


def training_jobs(f: Filters, *, statuses: list[str] | tuple = (), instance_types: list[str] | tuple = (),
                  spot: bool | None = None, text: str = "") -> pd.DataFrame:
    """Training jobs that ran in the range (created before its end, not ended before its start), with cost.

    cost = billable hours x instance count x the training rate of the type (the one price rule, kind Train: the
    on-demand rate, else the spot rate); spot savings = (training - billable) hours x instance count x the same
    rate. Blank when the bill has no rate.
    """
    where, params = f.where("j")
    prices, pparams = _price_rows("Train")
    extra, eparams = [], []
    if statuses:
        extra.append("j.status IN (SELECT unnest(?))")
        eparams.append(list(statuses))
    if instance_types:
        extra.append("j.instance_type IN (SELECT unnest(?))")
        eparams.append(list(instance_types))
    if spot is not None:
        extra.append("j.spot = ?")
        eparams.append(bool(spot))
    if text:
        extra.append("contains(lower(j.training_job_name), lower(?))")
        eparams.append(text)
    cond = " AND ".join(["TRUE", *extra])
    sql = f"""
        WITH prices AS ({prices})
        SELECT j.training_job_name, j.status, j.team, j.instance_type, j.instance_count, j.spot,
               j.training_seconds / 60.0 AS duration_min,
               j.billable_seconds * j.instance_count / 3600.0 AS billable_hours,
               j.billable_seconds * j.instance_count / 3600.0 * p.usd_per_hour AS cost_usd,
               CASE WHEN j.spot THEN greatest(j.training_seconds - j.billable_seconds, 0) * j.instance_count
                                     / 3600.0 * p.usd_per_hour END AS spot_savings_usd,
               j.creation_time, j.failure_reason, j.secondary_status, j.project, j.training_start_time,
               j.training_end_time, p.usd_per_hour, j.account_id, j.region
        FROM aws_sagemaker_training_job j LEFT JOIN prices p USING (instance_type)
        WHERE {where} AND {cond} AND j.creation_time < ?
          AND (j.training_end_time IS NULL OR j.training_end_time >= ?)
        ORDER BY j.creation_time DESC"""  # noqa: S608
    df = query(sql, [*pparams, *params, *eparams, f.end, f.start])
    return _utc(df, "creation_time", "training_start_time", "training_end_time")


def training_filter_options(f: Filters) -> dict[str, list]:
    """The statuses, instance types and teams of the jobs in the sidebar's scope (the team filter aside)."""
    where, params = f.where("j", team_col="")
    sql = f"SELECT DISTINCT status, instance_type, team FROM aws_sagemaker_training_job j WHERE {where}"  # noqa: S608
    df = _or_empty(query(sql, params), ["status", "instance_type", "team"])
    return {k: sorted(df[k].dropna().unique().tolist()) for k in ("status", "instance_type", "team")}


def training_job(name: str) -> pd.DataFrame:
    """One training job, every stored column, plus its cost figures (from training_jobs' formula)."""
    prices, pparams = _price_rows("Train")
    df = query(f"""
        WITH prices AS ({prices})
        SELECT j.*, j.training_seconds / 60.0 AS duration_min,
               j.billable_seconds * j.instance_count / 3600.0 AS billable_hours,
               j.billable_seconds * j.instance_count / 3600.0 * p.usd_per_hour AS cost_usd,
               CASE WHEN j.spot THEN greatest(j.training_seconds - j.billable_seconds, 0) * j.instance_count
                                     / 3600.0 * p.usd_per_hour END AS spot_savings_usd, p.usd_per_hour
        FROM aws_sagemaker_training_job j LEFT JOIN prices p USING (instance_type)
        WHERE j.training_job_name = ?""", [*pparams, name])  # noqa: S608
    return _utc(df, "creation_time", "training_start_time", "training_end_time", "last_modified_time")


def training_transitions(name: str) -> pd.DataFrame:
    """A job's secondary-status transitions in order: status, start_time, end_time, minutes, message."""
    df = query("""SELECT status, start_time, end_time, date_diff('second', start_time, end_time) / 60.0 AS minutes,
                         message FROM aws_sagemaker_training_job_status_transition
                  WHERE training_job_name = ? ORDER BY start_time, end_time NULLS LAST""", [name])
    return _utc(df, "start_time", "end_time")


def training_curves(name: str) -> pd.DataFrame:
    """Algorithm metrics of a training job over time (ts, metric, host, value), from /aws/sagemaker/TrainingJobs."""
    df = query("""
        SELECT p.ts, s.metric_name AS metric, s.host, p.value
        FROM aws_cloudwatch_metric_point p JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id)
        WHERE s.training_job_name = ? AND s.namespace = '/aws/sagemaker/TrainingJobs' AND p.stat = 'Average'
        QUALIFY p.period_s = min(p.period_s) OVER (PARTITION BY p.series_id, floor(epoch(p.ts) / 300))
        ORDER BY s.metric_name, p.ts""", [name])
    return _utc(_or_empty(df, ["ts", "metric", "host", "value"]), "ts")


def training_compare(a: str, b: str) -> dict[str, pd.DataFrame]:
    """Two jobs side by side: 'summary' (one column per job), 'hyperparameters' (with a differs flag), 'metrics'."""
    ja, jb = training_job(a), training_job(b)
    if ja.empty or jb.empty:
        return {"summary": pd.DataFrame(), "hyperparameters": pd.DataFrame(), "metrics": pd.DataFrame()}
    ra, rb = ja.iloc[0], jb.iloc[0]
    fields = ["status", "team", "instance_type", "instance_count", "spot", "duration_min", "billable_hours",
              "cost_usd", "failure_reason"]

    def fmt(v) -> str:
        if v is None or (not isinstance(v, str) and pd.isna(v)):
            return "–"
        return f"{v:,.2f}" if isinstance(v, float) else str(v)

    summary = pd.DataFrame({"field": fields, a: [fmt(ra[k]) for k in fields], b: [fmt(rb[k]) for k in fields]})

    def side(col: str) -> pd.DataFrame:
        ha = json.loads(ra[col] or "{}")
        hb = json.loads(rb[col] or "{}")
        keys = sorted(set(ha) | set(hb))
        out = pd.DataFrame({"name": keys, a: [ha.get(k) for k in keys], b: [hb.get(k) for k in keys]})
        out["differs"] = [ha.get(k) != hb.get(k) for k in keys]
        return out

    hp = side("hyperparameters")
    for c in (a, b):
        hp[c] = hp[c].astype("string")
    return {"summary": summary, "hyperparameters": hp, "metrics": side("final_metrics")}


# ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPOSITORY[:TAG][@sha256:DIGEST]
_ECR_URI = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?/"
                      r"([^:@]+)(?::([^@]+))?(?:@(sha256:[0-9a-f]+))?", re.ASCII)


def image_of(uri: str | None) -> pd.DataFrame:
    """The ECR image a training (or serving) image URI names: repository, digest, tags, when pushed, scan findings by
    severity. One row, or none when the URI is not an ECR image or the ecr collector has not seen it (a tag names
    the image holding it now: ECR moves a tag when an image is pushed again)."""
    cols = ["repository_name", "image_digest", "image_tags", "pushed_at", "finding_counts", "account_id", "region"]
    m = _ECR_URI.fullmatch(uri or "")
    if not m:
        return pd.DataFrame(columns=cols)
    account, region, repo, tag, digest = m.groups()
    df = query("""
        SELECT repository_name, image_digest, image_tags, pushed_at, finding_counts, account_id, region
        FROM aws_ecr_image
        WHERE account_id = ? AND region = ? AND repository_name = ?
          AND (image_digest = ? OR list_contains(CAST(from_json(image_tags, '["VARCHAR"]') AS VARCHAR[]), ?))
        ORDER BY image_digest = ? DESC, pushed_at DESC LIMIT 1""",
               [account, region, repo, digest, None if digest else (tag or "latest"), digest])
    return _utc(_or_empty(df, cols), "pushed_at")


def input_channels(value: str | None) -> pd.DataFrame:
    """A job's input channels (the stored JSON [{name, s3_uri, content_type}]) as rows: channel, S3 location,
    content type."""
    items = json.loads(value or "[]")
    return pd.DataFrame([{"channel": i.get("name"), "s3_uri": i.get("s3_uri"), "content_type": i.get("content_type")}
                         for i in items if isinstance(i, dict)], columns=["channel", "s3_uri", "content_type"])
