"""Read queries of the Models page: the registry (groups, versions, approval), which endpoint variant serves which
registered version, the deploy history of the endpoints in scope, and lineage: the training job that produced a
version or a model.

Lineage follows the artifacts: SageMaker writes a training job's model to ``{S3OutputPath}/{TrainingJobName}/output/
model.tar.gz`` (ModelArtifacts.S3ModelArtifacts), and a registered version or a model names that file as its
ModelDataUrl. A version (or model) whose ``model_data_url`` has ``/<job name>/output/`` (the folder before its last
``/output/``) was produced by that job, in its account and region (:data:`PRODUCED_BY`): an equality on the job's name,
so the join is a hash join (a ``contains`` test against every job was a nested loop: 50-60 ms per query at reference
scale, 10,000 jobs). Every value is a bound parameter.
"""

from __future__ import annotations

import pandas as pd

from dashboard.data import query
from dashboard.filters import Filters
from dashboard.queries._common import _utc
from dashboard.queries.endpoints import deploy_records

# SQL: the training job name an artifact URL was written under (the folder before its last /output/), or ''.
JOB_OF_URL = "regexp_extract({url}, '.*/([^/]+)/output/', 1)"
# SQL condition: the artifact URL ``{url}`` was written by the training job aliased ``{job}``, in the same account and
# region as ``{row}``.
PRODUCED_BY = ("{job}.account_id = {row}.account_id AND {job}.region = {row}.region "
               "AND {job}.training_job_name = " + JOB_OF_URL)


def _produced_by(job: str, row: str, url: str) -> str:
    return PRODUCED_BY.format(job=job, row=row, url=url)


def model_groups(f: Filters) -> pd.DataFrame:
    """Registry groups: versions, latest version and its status, latest approved, versions serving now."""
    where, params = f.where("g", team_col="", project_col="")
    serving = serving_map(f)
    df = query(f"""
        SELECT g.group_name, count(p.version)::INTEGER AS versions, max(p.version) AS latest_version,
               arg_max(p.approval_status, p.version) AS latest_status,
               max(p.version) FILTER (WHERE p.approval_status = 'Approved') AS latest_approved,
               count(*) FILTER (WHERE p.approval_status = 'PendingManualApproval')::INTEGER AS pending,
               g.description, g.creation_time, g.account_id, g.region
        FROM aws_sagemaker_model_package_group g
        LEFT JOIN aws_sagemaker_model_package p USING (account_id, region, group_name)
        WHERE {where} GROUP BY ALL ORDER BY g.group_name""", params)  # noqa: S608
    registered = serving.dropna(subset=["model_group"]) if not serving.empty else serving
    if not registered.empty:  # (variants serving models outside the registry name no group)
        live = registered.groupby("model_group").apply(
            lambda s: ", ".join(sorted({f"v{int(v)} on {e}" for v, e in zip(s.model_version, s.endpoint_name,
                                                                               strict=False)})),
            include_groups=False)
        df["serving"] = df.group_name.map(live)
    else:
        df["serving"] = None
    return _utc(df, "creation_time")


def model_versions(f: Filters, group: str | None = None) -> pd.DataFrame:
    """Versions of the registry (of one group, or all): approval, when, metadata, and where each serves."""
    where, params = f.where("p", team_col="", project_col="")
    cond, extra = ("p.group_name = ?", [group]) if group else ("TRUE", [])
    df = query(f"""
        SELECT p.group_name, p.version, p.approval_status, p.package_status, p.creation_time, p.description,
               p.customer_metadata, p.image, p.model_data_url, p.model_package_arn,
               (SELECT arg_max(j.training_job_name, j.creation_time) FROM aws_sagemaker_training_job j
                WHERE {_produced_by("j", "p", "p.model_data_url")}) AS training_job,
               p.account_id, p.region
        FROM aws_sagemaker_model_package p WHERE {where} AND {cond}
        ORDER BY p.group_name, p.version DESC""", [*params, *extra])  # noqa: S608
    serving = serving_map(f)
    registered = serving.dropna(subset=["model_package_arn"]) if not serving.empty else serving
    if not registered.empty and not df.empty:
        live = registered.groupby("model_package_arn").apply(
            lambda s: ", ".join(f"{e}/{v}" for e, v in zip(s.endpoint_name, s.variant_name, strict=False)),
            include_groups=False)
        df["serving_on"] = df.model_package_arn.map(live)
        names = registered.groupby("model_package_arn").endpoint_name.agg(lambda s: sorted(set(s)))
        df["serving_endpoints"] = df.model_package_arn.map(names)
    else:
        df["serving_on"] = None
        df["serving_endpoints"] = None
    df["serving_endpoints"] = [v if isinstance(v, list) else [] for v in df.serving_endpoints]
    return _utc(df, "creation_time")


def endpoint_lineage(account: str, region: str, endpoint: str) -> pd.DataFrame:
    """What an endpoint serves and what made it, one row per variant: the model, its registry group and version
    (with approval), and the training job that produced the artifacts (by the version's or the model's
    ModelDataUrl), with the job's image."""
    df = query(f"""
        SELECT v.variant_name, v.model_name, pk.group_name AS model_group, pk.version AS model_version,
               pk.approval_status, coalesce(pk.model_data_url, m.model_data_url) AS model_data_url,
               (SELECT arg_max(j.training_job_name, j.creation_time) FROM aws_sagemaker_training_job j
                WHERE {_produced_by("j", "v", "coalesce(pk.model_data_url, m.model_data_url)")}) AS training_job,
               v.account_id, v.region
        FROM aws_sagemaker_endpoint_variant v
        LEFT JOIN aws_sagemaker_model m ON m.account_id = v.account_id AND m.region = v.region
                                       AND m.model_name = v.model_name
        LEFT JOIN aws_sagemaker_model_package pk ON pk.model_package_arn = m.model_package_arn
        WHERE v.account_id = ? AND v.region = ? AND v.endpoint_name = ?
        ORDER BY v.variant_name""", [account, region, endpoint])  # noqa: S608 - bound parameters only
    return df


def produced_by_job(account: str, region: str, job: str) -> pd.DataFrame:
    """What a training job produced and where it serves: one row per registry version (group, version, approval,
    when registered) and endpoint variant serving it (or serving a model made from the job's artifacts without the
    registry); a version serving nowhere has a blank endpoint. Empty when nothing names the job's artifacts."""
    df = query(f"""
        WITH j AS (SELECT account_id, region, training_job_name FROM aws_sagemaker_training_job
                   WHERE account_id = ? AND region = ? AND training_job_name = ?),
        pk AS (SELECT p.account_id, p.region, p.group_name, p.version, p.approval_status, p.model_package_arn,
                      p.creation_time, p.model_data_url
               FROM aws_sagemaker_model_package p JOIN j ON {_produced_by("j", "p", "p.model_data_url")}),
        mo AS (SELECT m.account_id, m.region, m.model_name, m.model_package_arn
               FROM aws_sagemaker_model m JOIN j ON m.account_id = j.account_id AND m.region = j.region
               WHERE j.training_job_name = {JOB_OF_URL.format(url="m.model_data_url")}
                  OR m.model_package_arn IN (SELECT model_package_arn FROM pk)),
        serving AS (SELECT v.account_id, v.region, v.endpoint_name, v.variant_name, mo.model_name,
                           mo.model_package_arn
                    FROM aws_sagemaker_endpoint_variant v JOIN mo USING (account_id, region, model_name))
        SELECT pk.group_name AS model_group, pk.version AS model_version, pk.approval_status,
               pk.creation_time AS registered_at, s.endpoint_name, s.variant_name, s.model_name,
               pk.model_data_url,
               coalesce(pk.account_id, s.account_id) AS account_id, coalesce(pk.region, s.region) AS region
        FROM pk FULL JOIN serving s ON s.model_package_arn = pk.model_package_arn
        ORDER BY pk.group_name NULLS LAST, pk.version DESC, s.endpoint_name, s.variant_name""",  # noqa: S608
        [account, region, job])  # bound parameters only
    return _utc(df, "registered_at")


def serving_map(f: Filters) -> pd.DataFrame:
    """Endpoint variant -> model -> model package ARN -> registry group and version, with its approval, and the
    training job that produced the artifacts (the version's, else the model's: :data:`PRODUCED_BY`)."""
    where, params = f.where("e")
    df = query(f"""
        SELECT e.endpoint_name, v.variant_name, e.env, e.team, v.model_name, m.model_package_arn,
               pk.group_name AS model_group, pk.version AS model_version, pk.approval_status,
               pk.creation_time AS registered_at,
               (SELECT arg_max(j.training_job_name, j.creation_time) FROM aws_sagemaker_training_job j
                WHERE {_produced_by("j", "v", "coalesce(pk.model_data_url, m.model_data_url)")}) AS training_job,
               v.current_weight, v.current_instance_count, v.instance_type,
               e.account_id, e.region
        FROM aws_sagemaker_endpoint e
        JOIN aws_sagemaker_endpoint_variant v USING (account_id, region, endpoint_name)
        LEFT JOIN aws_sagemaker_model m ON m.account_id = v.account_id AND m.region = v.region
                                       AND m.model_name = v.model_name
        LEFT JOIN aws_sagemaker_model_package pk ON pk.model_package_arn = m.model_package_arn
        WHERE {where} ORDER BY e.endpoint_name, v.variant_name""", params)  # noqa: S608 - bound parameters only
    return _utc(df, "registered_at")


def resource_kind(name: str) -> str:
    """'training job' when a training job has this name, else 'endpoint' (what the Logs page filters on)."""
    found = query("SELECT 1 FROM aws_sagemaker_training_job WHERE training_job_name = ? LIMIT 1", [name])
    return "endpoint" if found.empty else "training job"


def deploy_history(f: Filters) -> pd.DataFrame:
    """Every deploy (endpoint config creation) of the endpoints in scope, newest first: what served what, when.

    One query for the configs of all endpoints in scope (not one per endpoint), then ``deploy_records`` per
    endpoint, as ``endpoints.deploys`` does for one."""
    cols = ["time", "endpoint_name", "kind", "models", "config", "variants"]
    eps = serving_map(f)
    if eps.empty:
        return pd.DataFrame(columns=cols)
    names = eps[["account_id", "region", "endpoint_name"]].drop_duplicates()
    # an endpoint's configs: those named after it, its current one, and those it was seen on (as endpoints._configs_of);
    # each branch scoped first (joining the scope to every config on account and region, then to the candidates, made
    # 30,000 rows of config JSON at reference scale: 30 of the query's 40 ms)
    cfgs = _utc(query("""
        WITH scope AS (SELECT unnest(?::VARCHAR[]) AS account_id, unnest(?::VARCHAR[]) AS region,
                              unnest(?::VARCHAR[]) AS endpoint_name),
        cand AS (SELECT s.account_id, s.region, s.endpoint_name, c.endpoint_config_name
                 FROM scope s JOIN aws_sagemaker_endpoint_config c
                   ON c.account_id = s.account_id AND c.region = s.region
                  AND starts_with(c.endpoint_config_name, s.endpoint_name || '-')
                 UNION SELECT account_id, region, endpoint_name, endpoint_config_name
                 FROM aws_sagemaker_endpoint SEMI JOIN scope USING (account_id, region, endpoint_name)
                 UNION SELECT account_id, region, endpoint_name, endpoint_config_name
                 FROM aws_sagemaker_endpoint_variant_history SEMI JOIN scope USING (account_id, region, endpoint_name))
        SELECT k.account_id, k.region, k.endpoint_name, k.endpoint_config_name, c.creation_time, c.variants
        FROM cand k JOIN aws_sagemaker_endpoint_config c USING (account_id, region, endpoint_config_name)
        ORDER BY k.endpoint_name, c.creation_time""",
        [names.account_id.tolist(), names.region.tolist(), names.endpoint_name.tolist()]), "creation_time")
    by_endpoint: dict[tuple, list[tuple]] = {}
    for account, region, name, config, created, variants in cfgs[
            ["account_id", "region", "endpoint_name", "endpoint_config_name", "creation_time", "variants"]
    ].itertuples(index=False, name=None):  # one pass over plain tuples: no frame per endpoint
        by_endpoint.setdefault((account, region, name), []).append((created, config, variants))
    records = [{**r, "endpoint_name": name} for (_, _, name), configs in by_endpoint.items()
               for r in deploy_records(configs)]
    if not records:
        return pd.DataFrame(columns=cols)
    df = pd.DataFrame(records).sort_values("time", ascending=False, kind="stable")
    return df[cols].reset_index(drop=True)
