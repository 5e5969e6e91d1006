"""SageMaker Model Registry (model package groups and versions) and SageMaker models.

With these, an endpoint's variant (``aws_sagemaker_endpoint_variant.model_name``) traces to the
model (``aws_sagemaker_model``), its image and the registered package version it was created from
(``model_package_arn``), and that version's approval status.

Incremental: groups, packages and models are listed every run (one call per page). A model package
is described only the first time it is seen; its approval status, the one thing that changes, comes
from ListModelPackages' ModelApprovalStatus and updates the stored row without a describe. Models are
immutable: each is described once; their tags (which can change) are read again once per
``collect.tags_every_s``. Deleted groups, packages and models leave the tables. Describes and tags are
optional (``Context.optional``): an item whose describe fails is described again next run; tags that
cannot be read keep the stored ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "sagemaker_registry"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()

GROUP = table("aws_sagemaker_model_package_group", "A model package group of the SageMaker Model Registry.", [
    ("group_name", "VARCHAR", "Model package group name."),
    ("group_arn", "VARCHAR", "Model package group ARN."),
    ("description", "VARCHAR", "Group description."),
    ("status", "VARCHAR", "ModelPackageGroupStatus: Completed, InProgress, Failed, Deleting, ..."),
    ("creation_time", "TIMESTAMPTZ", "When the group was created."),
], ["group_name"])

PACKAGE = table("aws_sagemaker_model_package", "A versioned model package (a registered model version).", [
    ("group_name", "VARCHAR", "Model package group name."),
    ("version", "INTEGER", "Version number within the group, from 1."),
    ("model_package_arn", "VARCHAR", "Model package ARN (what a model's container names)."),
    ("approval_status", "VARCHAR", "ModelApprovalStatus: Approved, Rejected, PendingManualApproval."),
    ("package_status", "VARCHAR", "ModelPackageStatus: Pending, InProgress, Completed, Failed, Deleting."),
    ("creation_time", "TIMESTAMPTZ", "When the version was registered."),
    ("description", "VARCHAR", "ModelPackageDescription."),
    ("image", "VARCHAR", "Inference image URI of the first container."),
    ("model_data_url", "VARCHAR", "S3 URI of the model artifacts of the first container."),
    ("customer_metadata", "JSON", "CustomerMetadataProperties, as a JSON object (e.g. evaluation metrics)."),
], ["model_package_arn"])

MODEL = table("aws_sagemaker_model", "A SageMaker model (what an endpoint config's variant serves).", [
    ("model_name", "VARCHAR", "Model name."),
    ("model_arn", "VARCHAR", "Model ARN."),
    ("image", "VARCHAR", "Image URI of the primary (or first) container."),
    ("model_package_arn", "VARCHAR", "Model package version the container was created from, when one was."),
    ("model_data_url", "VARCHAR", "S3 URI of the model artifacts."),
    ("execution_role_arn", "VARCHAR", "IAM role the model runs with."),
    ("creation_time", "TIMESTAMPTZ", "When the model was created."),
    ("team", "VARCHAR", "Value of the model's team tag ([collect] tag_keys, default `team`)."),
    ("project", "VARCHAR", "Value of the model's project tag ([collect] tag_keys, default `project`)."),
    ("tags", "JSON", "All tags of the model, as a JSON object."),
], ["model_name"])

TABLES = (GROUP, PACKAGE, MODEL)


def collect(ctx: Context) -> Iterator[Batch]:
    sm = ctx.client("sagemaker")
    where = [ctx.account_id, ctx.region]
    groups = [ctx.rows(group_name=g["ModelPackageGroupName"], group_arn=g["ModelPackageGroupArn"],
                       description=g.get("ModelPackageGroupDescription"),
                       status=g.get("ModelPackageGroupStatus"), creation_time=g.get("CreationTime"))
              for g in paginate(sm, "list_model_package_groups", "ModelPackageGroupSummaryList")]
    known_groups = [r[0] for r in ctx.sql(
        "SELECT group_name FROM aws_sagemaker_model_package_group WHERE account_id = ? AND region = ?", where)]
    live_groups = {g["group_name"] for g in groups}
    gone = [g for g in known_groups if g not in live_groups]
    if gone:
        ctx.delete(GROUP, "group_name", gone)
    yield GROUP, groups

    stored = {}
    for row in ctx.sql(
            "SELECT model_package_arn, group_name, version, approval_status, package_status, epoch_ms(creation_time), "
            "description, image, model_data_url, customer_metadata FROM aws_sagemaker_model_package "
            "WHERE account_id = ? AND region = ?", where):
        stored[row[0]] = dict(zip(("model_package_arn", "group_name", "version", "approval_status", "package_status",
                                   "creation_time", "description", "image", "model_data_url",
                                   "customer_metadata"), row, strict=True))
        if row[5] is not None:  # epoch ms back to a timestamp, for the rewritten row
            stored[row[0]]["creation_time"] = datetime.fromtimestamp(row[5] / 1000, UTC)
    packages, live = [], set()
    for group in sorted(live_groups):
        for p in paginate(sm, "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=group,
                          ModelPackageType="Versioned"):
            arn = p["ModelPackageArn"]
            live.add(arn)
            old = stored.get(arn)
            if old is None:
                described = ctx.optional("sagemaker:DescribeModelPackage",
                                         lambda arn=arn: _describe_package(ctx, sm, arn))
                if described is not None:  # else: not stored yet, described again next run
                    packages.append(described)
            elif (old["approval_status"], old["package_status"]) != (p.get("ModelApprovalStatus"),
                                                                      p.get("ModelPackageStatus")):
                packages.append(ctx.rows(**{**old, "approval_status": p.get("ModelApprovalStatus"),
                                            "package_status": p.get("ModelPackageStatus")}))
    gone = [arn for arn in stored if arn not in live]
    if gone:
        ctx.delete(PACKAGE, "model_package_arn", gone)
    yield PACKAGE, packages
    models = _models(ctx, sm)
    yield MODEL, models
    # Models are described once, so their tags are re-read here once per collect.tags_every_s.
    ctx.refresh_tags(MODEL, "model_name", "model_arn", lambda t: _tag_columns(ctx, t),
                     skip={m["model_name"] for m in models})


def _describe_package(ctx: Context, sm, arn: str) -> dict:
    d = sm.describe_model_package(ModelPackageName=arn)
    containers = (d.get("InferenceSpecification") or {}).get("Containers") or [{}]
    return ctx.rows(
        group_name=d.get("ModelPackageGroupName"), version=d.get("ModelPackageVersion"), model_package_arn=arn,
        approval_status=d.get("ModelApprovalStatus"), package_status=d.get("ModelPackageStatus"),
        creation_time=d.get("CreationTime"), description=d.get("ModelPackageDescription"),
        image=containers[0].get("Image"), model_data_url=containers[0].get("ModelDataUrl"),
        customer_metadata=json.dumps(d.get("CustomerMetadataProperties") or {}))


def _models(ctx: Context, sm) -> list[dict]:
    known = {r[0] for r in ctx.sql("SELECT model_name FROM aws_sagemaker_model WHERE account_id = ? AND region = ?",
                                     [ctx.account_id, ctx.region])}
    rows, live = [], set()
    for m in paginate(sm, "list_models", "Models"):
        live.add(m["ModelName"])
        if m["ModelName"] in known:
            continue
        d = ctx.optional("sagemaker:DescribeModel", lambda m=m: sm.describe_model(ModelName=m["ModelName"]))
        if d is None:
            continue  # not stored yet: described again next run
        container = d.get("PrimaryContainer") or next(iter(d.get("Containers") or []), {})
        tags = ctx.tags(d["ModelArn"])
        rows.append(ctx.rows(
            model_name=d["ModelName"], model_arn=d["ModelArn"], image=container.get("Image"),
            model_package_arn=container.get("ModelPackageName"), model_data_url=container.get("ModelDataUrl"),
            execution_role_arn=d.get("ExecutionRoleArn"), creation_time=d.get("CreationTime"),
            **_tag_columns(ctx, tags or {}), tags=None if tags is None else json.dumps(tags)))
    gone = [n for n in known if n not in live]
    if gone:
        ctx.delete(MODEL, "model_name", gone)
    return rows


def _tag_columns(ctx: Context, tags: dict[str, str]) -> dict[str, str | None]:
    owners = ctx.owners(tags)
    return {"team": owners["team"], "project": owners["project"]}
