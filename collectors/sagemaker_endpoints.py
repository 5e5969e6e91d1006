"""SageMaker endpoints, endpoint configs and variants, with the history of variant states.

Incremental: ListEndpoints is one call per page; an endpoint is described (and its tags read) only
when its LastModifiedTime differs from the stored one, and every endpoint once per
``collect.tags_every_s`` (tags change without touching LastModifiedTime). Endpoint configs are
immutable, so each is described once. Describes and tags are optional (``Context.optional``): an
endpoint whose describe fails keeps its stored rows; tags that cannot be read keep the stored ones; when
its config cannot be read, its variants land without instance type and model, and it is described again
once the config is read.
Variant states are appended to ``aws_sagemaker_endpoint_variant_history`` whenever
they differ from the last observed state, so pages can draw instance count over time. (Autoscaling
of the variants: ``application_autoscaling``.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "sagemaker_endpoints"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()

ENDPOINT = table("aws_sagemaker_endpoint", "A SageMaker real-time inference endpoint.", [
    ("endpoint_name", "VARCHAR", "Endpoint name."),
    ("endpoint_arn", "VARCHAR", "Endpoint ARN."),
    ("status", "VARCHAR", "EndpointStatus: InService, Updating, Creating, Failed, ..."),
    ("endpoint_config_name", "VARCHAR", "Endpoint config currently deployed."),
    ("creation_time", "TIMESTAMPTZ", "When the endpoint was created."),
    ("last_modified_time", "TIMESTAMPTZ", "When the endpoint last changed (deploy, scaling)."),
    ("failure_reason", "VARCHAR", "Why the endpoint failed, when it did."),
    ("team", "VARCHAR", "Value of the endpoint's team tag ([collect] tag_keys, default `team`)."),
    ("project", "VARCHAR", "Value of the endpoint's project tag ([collect] tag_keys, default `project`)."),
    ("env", "VARCHAR", "Value of the endpoint's `env` tag."),
    ("tags", "JSON", "All tags of the endpoint, as a JSON object."),
    ("observed_at", "TIMESTAMPTZ", "When the collector last described the endpoint."),
], ["endpoint_name"])

VARIANT = table("aws_sagemaker_endpoint_variant", "A production variant of an endpoint, as last observed.", [
    ("endpoint_name", "VARCHAR", "Endpoint name."),
    ("variant_name", "VARCHAR", "Production variant name."),
    ("instance_type", "VARCHAR", "ML instance type, e.g. ml.c5.2xlarge."),
    ("current_instance_count", "INTEGER", "Instances serving now."),
    ("desired_instance_count", "INTEGER", "Instances requested (by a deploy or by autoscaling)."),
    ("current_weight", "DOUBLE", "Traffic weight now; the share is weight / sum of weights."),
    ("desired_weight", "DOUBLE", "Traffic weight requested."),
    ("model_name", "VARCHAR", "Model the variant serves (from the endpoint config)."),
    ("endpoint_config_name", "VARCHAR", "Endpoint config the variant comes from."),
    ("observed_at", "TIMESTAMPTZ", "When this state was observed."),
], ["endpoint_name", "variant_name"])

VARIANT_HISTORY = table(
    "aws_sagemaker_endpoint_variant_history",
    "Every distinct variant state observed over time (instance type, counts, weight, config).", [
        ("endpoint_name", "VARCHAR", "Endpoint name."),
        ("variant_name", "VARCHAR", "Production variant name."),
        ("observed_at", "TIMESTAMPTZ", "When the collector first saw this state."),
        ("instance_type", "VARCHAR", "ML instance type."),
        ("current_instance_count", "INTEGER", "Instances serving."),
        ("desired_instance_count", "INTEGER", "Instances requested."),
        ("current_weight", "DOUBLE", "Traffic weight."),
        ("endpoint_config_name", "VARCHAR", "Endpoint config deployed."),
        ("model_name", "VARCHAR", "Model served."),
    ], ["endpoint_name", "variant_name", "observed_at"])

CONFIG = table("aws_sagemaker_endpoint_config", "An endpoint config (immutable): what a deploy asks for.", [
    ("endpoint_config_name", "VARCHAR", "Endpoint config name."),
    ("endpoint_config_arn", "VARCHAR", "Endpoint config ARN."),
    ("creation_time", "TIMESTAMPTZ", "When the config was created: a deploy happens soon after."),
    ("variants", "JSON", "Production variants: name, model, instance type, initial count, weight."),
], ["endpoint_config_name"])

TABLES = (ENDPOINT, VARIANT, VARIANT_HISTORY, CONFIG)


def collect(ctx: Context) -> Iterator[Batch]:
    sm = ctx.client("sagemaker")
    stored = ctx.sql("SELECT endpoint_name, last_modified_time, endpoint_config_name FROM aws_sagemaker_endpoint "
                     "WHERE account_id = ? AND region = ?", [ctx.account_id, ctx.region])
    known_modified = {name: modified for name, modified, _ in stored}
    known_config = {name: config for name, _, config in stored}
    summaries = list(paginate(sm, "list_endpoints", "Endpoints"))
    live = {s["EndpointName"] for s in summaries}
    gone = [n for n in known_modified if n not in live]
    if gone:  # deleted endpoints leave the current tables (their history stays)
        ctx.delete(ENDPOINT, "endpoint_name", gone)
        ctx.delete(VARIANT, "endpoint_name", gone)

    configs = _new_configs(ctx, sm)
    yield CONFIG, configs

    config_models = {}
    new_configs = {c["endpoint_config_name"] for c in configs}
    config_names = set(new_configs)
    for name, variants in ctx.sql(
            "SELECT endpoint_config_name, variants FROM aws_sagemaker_endpoint_config "
            "WHERE account_id = ? AND region = ?", [ctx.account_id, ctx.region]):
        config_names.add(name)
        for v in json.loads(variants):
            config_models[(name, v["variant_name"])] = v["model_name"]
    for c in configs:
        for v in json.loads(c["variants"]):
            config_models[(c["endpoint_config_name"], v["variant_name"])] = v["model_name"]

    stored_tags = {name: json.loads(tags) for name, tags in ctx.sql(
        "SELECT endpoint_name, tags FROM aws_sagemaker_endpoint WHERE account_id = ? AND region = ? "
        "AND tags IS NOT NULL", [ctx.account_id, ctx.region])}
    tags_due = ctx.tags_due()  # every endpoint is described (and its tags read) again, changed or not
    last_state = {(e, v): (n, d, w, cfg) for e, v, n, d, w, cfg in ctx.sql(
        "SELECT endpoint_name, variant_name, arg_max(current_instance_count, observed_at), "
        "arg_max(desired_instance_count, observed_at), arg_max(current_weight, observed_at), "
        "arg_max(endpoint_config_name, observed_at) FROM aws_sagemaker_endpoint_variant_history "
        "WHERE account_id = ? AND region = ? GROUP BY ALL", [ctx.account_id, ctx.region])}
    endpoints, variants, history = [], [], []
    for s in summaries:
        if not tags_due and known_modified.get(s["EndpointName"]) == s["LastModifiedTime"] \
                and known_config.get(s["EndpointName"]) not in new_configs:
            continue  # unchanged (a config read only now means its variants were stored without it)
        d = ctx.optional("sagemaker:DescribeEndpoint", lambda s=s: sm.describe_endpoint(EndpointName=s["EndpointName"]))
        if d is None:
            continue  # its stored rows stay, and it is described again next run
        # Its config could not be read (DescribeEndpointConfig failed): the variants land without instance type
        # and model, no history row is written, and once the config is read the endpoint is described again.
        config_unknown = d.get("EndpointConfigName") not in config_names
        tags = ctx.tags(d["EndpointArn"])
        if tags is None:  # ListTags failed: the tags stored before stay
            tags = stored_tags.get(d["EndpointName"])
        endpoints.append(ctx.rows(
            endpoint_name=d["EndpointName"], endpoint_arn=d["EndpointArn"], status=d["EndpointStatus"],
            endpoint_config_name=d.get("EndpointConfigName"), creation_time=d["CreationTime"],
            last_modified_time=d["LastModifiedTime"], failure_reason=d.get("FailureReason"),
            **ctx.owners(tags),
            tags=None if tags is None else json.dumps(tags), observed_at=ctx.now))
        for v in d.get("ProductionVariants", []):
            cfg = d.get("EndpointConfigName")
            row = dict(endpoint_name=d["EndpointName"], variant_name=v["VariantName"],
                       instance_type=(v.get("CurrentServerlessConfig") and "serverless")
                       or _instance_type(v, configs, ctx, cfg),
                       current_instance_count=v.get("CurrentInstanceCount"),
                       desired_instance_count=v.get("DesiredInstanceCount"),
                       current_weight=v.get("CurrentWeight"), desired_weight=v.get("DesiredWeight"),
                       model_name=config_models.get((cfg, v["VariantName"])), endpoint_config_name=cfg,
                       observed_at=ctx.now)
            variants.append(ctx.rows(**row))
            state = (row["current_instance_count"], row["desired_instance_count"], row["current_weight"], cfg)
            if last_state.get((d["EndpointName"], v["VariantName"])) != state and not config_unknown:
                history.append(ctx.rows(**{k: row[k] for k in VARIANT_HISTORY.column_names
                                           if k in row}))
    yield ENDPOINT, endpoints
    yield VARIANT, variants
    yield VARIANT_HISTORY, history
    if tags_due and not ctx.failed("sagemaker:DescribeEndpoint"):
        ctx.tags_read()


def _new_configs(ctx: Context, sm) -> list[dict]:
    """Rows of the endpoint configs not stored yet (configs are immutable: each is described once)."""
    known_configs = {r[0] for r in ctx.sql(
        "SELECT endpoint_config_name FROM aws_sagemaker_endpoint_config WHERE account_id = ? AND region = ?",
        [ctx.account_id, ctx.region])}
    configs = []
    for c in paginate(sm, "list_endpoint_configs", "EndpointConfigs"):
        if c["EndpointConfigName"] in known_configs:
            continue
        d = ctx.optional("sagemaker:DescribeEndpointConfig",
                         lambda c=c: sm.describe_endpoint_config(EndpointConfigName=c["EndpointConfigName"]))
        if d is None:
            continue  # not stored: described again next run
        configs.append(ctx.rows(
            endpoint_config_name=d["EndpointConfigName"], endpoint_config_arn=d["EndpointConfigArn"],
            creation_time=d["CreationTime"],
            variants=json.dumps([{"variant_name": v["VariantName"], "model_name": v.get("ModelName"),
                                  "instance_type": v.get("InstanceType"),
                                  "initial_instance_count": v.get("InitialInstanceCount"),
                                  "initial_weight": v.get("InitialVariantWeight")}
                                 for v in d["ProductionVariants"]])))
    return configs


def _instance_type(variant: dict, new_configs: list[dict], ctx: Context, config_name: str | None) -> str | None:
    for c in new_configs:
        if c["endpoint_config_name"] == config_name:
            for v in json.loads(c["variants"]):
                if v["variant_name"] == variant["VariantName"]:
                    return v["instance_type"]
    rows = ctx.sql(
        "SELECT v.instance_type FROM aws_sagemaker_endpoint_config c, "
        "unnest(from_json(c.variants, '[{\"variant_name\":\"VARCHAR\",\"instance_type\":\"VARCHAR\"}]')) AS t(v) "
        "WHERE c.account_id = ? AND c.region = ? AND c.endpoint_config_name = ? AND v.variant_name = ?",
        [ctx.account_id, ctx.region, config_name, variant["VariantName"]])
    return rows[0][0] if rows else None
