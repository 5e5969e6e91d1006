"""dashboard.queries.models on tiny stores: what serves where, registry groups and versions, deploy history."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.queries import models as mq
from tests.dashboard.queries.conftest import f

ACCOUNT = "111111111111"
REGION = "us-east-1"
T0 = datetime(2026, 10, 1, tzinfo=UTC)
PKG = "arn:aws:sagemaker:us-east-1:111111111111:model-package/fraud/"


def _endpoint(name, team="risk", config=None):
    return {"account_id": ACCOUNT, "region": REGION, "endpoint_name": name, "team": team, "env": "prod",
            "status": "InService", "endpoint_config_name": config or f"{name}-2"}


def _variant(endpoint, model, variant="AllTraffic"):
    return {"account_id": ACCOUNT, "region": REGION, "endpoint_name": endpoint, "variant_name": variant,
            "model_name": model, "instance_type": "ml.m5.large", "current_instance_count": 1, "current_weight": 1.0}


def _model(name, version=None):
    return {"account_id": ACCOUNT, "region": REGION, "model_name": name,
            "model_package_arn": PKG + str(version) if version else None}


def _package(version, status):
    return {"account_id": ACCOUNT, "region": REGION, "group_name": "fraud", "version": version,
            "model_package_arn": PKG + str(version), "approval_status": status, "creation_time": T0}


REGISTRY = dict(
    aws_sagemaker_model_package_group=[{"account_id": ACCOUNT, "region": REGION, "group_name": "fraud",
                                        "creation_time": T0},
                                       {"account_id": ACCOUNT, "region": REGION, "group_name": "empty",
                                        "creation_time": T0}],
    aws_sagemaker_model_package=[_package(1, "Approved"), _package(2, "Approved"),
                                 _package(3, "PendingManualApproval")],
    aws_sagemaker_model=[_model("fraud-v2", 2), _model("fraud-v3", 3), _model("homemade")])


def test_serving_map_follows_variants_to_registry_versions(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("fraud-prod"), _endpoint("fraud-canary"), _endpoint("toy")],
               aws_sagemaker_endpoint_variant=[_variant("fraud-prod", "fraud-v2"),
                                               _variant("fraud-canary", "fraud-v3"), _variant("toy", "homemade")],
               **REGISTRY)
    s = mq.serving_map(f()).set_index("endpoint_name")
    assert list(s.index) == ["fraud-canary", "fraud-prod", "toy"]
    assert (s.loc["fraud-prod", "model_group"], s.loc["fraud-prod", "model_version"]) == ("fraud", 2)
    assert s.loc["fraud-canary", "approval_status"] == "PendingManualApproval"
    assert pd.isna(s.loc["toy", "model_group"])  # a model outside the registry
    assert mq.serving_map(f(teams=["other"])).empty


def test_groups_count_versions_and_say_what_serves_now(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("fraud-prod"), _endpoint("fraud-canary")],
               aws_sagemaker_endpoint_variant=[_variant("fraud-prod", "fraud-v2"),
                                               _variant("fraud-canary", "fraud-v3")],
               **REGISTRY)
    g = mq.model_groups(f()).set_index("group_name")
    assert list(g.index) == ["empty", "fraud"]
    fraud = g.loc["fraud"]
    assert (fraud.versions, fraud.latest_version, fraud.latest_approved, fraud.pending) == (3, 3, 2, 1)
    assert fraud.latest_status == "PendingManualApproval"
    assert fraud.serving == "v2 on fraud-prod, v3 on fraud-canary"
    assert g.loc["empty", "versions"] == 0 and pd.isna(g.loc["empty", "serving"])
    versions = mq.model_versions(f(), "fraud")
    assert versions.version.tolist() == [3, 2, 1]  # newest first
    assert versions.serving_on.tolist()[:2] == ["fraud-canary/AllTraffic", "fraud-prod/AllTraffic"]
    assert pd.isna(versions.serving_on.iloc[2])


def test_groups_when_no_endpoint_serves_a_registered_model(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("toy")], aws_sagemaker_endpoint_variant=[_variant("toy", "homemade")],
               aws_sagemaker_model=[_model("homemade")])
    assert mq.model_groups(f()).empty
    tiny_store(aws_sagemaker_endpoint=[_endpoint("toy")], aws_sagemaker_endpoint_variant=[_variant("toy", "homemade")],
               **REGISTRY)
    g = mq.model_groups(f())
    assert g.serving.isna().all() and len(g) == 2
    versions = mq.model_versions(f(), "fraud")
    assert versions.version.tolist() == [3, 2, 1] and versions.serving_on.isna().all()


def _config(name, created, model):
    return {"account_id": ACCOUNT, "region": REGION, "endpoint_config_name": name, "creation_time": created,
            "variants": json.dumps([{"variant_name": "AllTraffic", "model_name": model,
                                     "instance_type": "ml.m5.large", "initial_instance_count": 1}])}


def test_deploy_history_of_the_endpoints_in_scope_newest_first(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("fraud-prod", config="fraud-prod-3"),
                                       _endpoint("other", team="ads", config="shared-cfg")],
               aws_sagemaker_endpoint_variant=[_variant("fraud-prod", "fraud-v2"), _variant("other", "x")],
               aws_sagemaker_endpoint_config=[_config("fraud-prod-1", T0, "fraud-v1"),
                                              _config("fraud-prod-2", T0 + timedelta(days=1), "fraud-v2"),
                                              _config("fraud-prod-3", T0 + timedelta(days=2), "fraud-v1"),
                                              _config("shared-cfg", T0 + timedelta(days=3), "x")])
    h = mq.deploy_history(f())
    assert h.endpoint_name.tolist() == ["other", "fraud-prod", "fraud-prod", "fraud-prod"]
    assert h[h.endpoint_name == "fraud-prod"].kind.tolist() == ["rollback", "deploy", "create"]
    assert mq.deploy_history(f(teams=["ads"])).config.tolist() == ["shared-cfg"]


def test_resource_kind_tells_training_jobs_from_endpoints(tiny_store):
    tiny_store(aws_sagemaker_training_job=[{"account_id": ACCOUNT, "region": REGION, "training_job_name": "job-1"}])
    assert mq.resource_kind("job-1") == "training job"
    assert mq.resource_kind("fraud-prod") == "endpoint"


def test_models_of_an_empty_store(tiny_store):
    tiny_store()
    assert mq.serving_map(f()).empty and mq.model_groups(f()).empty and mq.model_versions(f()).empty
    assert list(mq.deploy_history(f()).columns) == ["time", "endpoint_name", "kind", "models", "config", "variants"]
