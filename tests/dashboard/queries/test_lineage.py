"""Lineage on tiny stores: a registered version (or a model) names the training job that produced it by its artifacts
(``{S3OutputPath}/{job}/output/model.tar.gz``); a job lists the versions it produced and where they serve; an endpoint
names, per variant, its version and training job; a job's image resolves to its ECR digest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard.queries import models as mq
from dashboard.queries import training as tq
from tests.dashboard.queries.conftest import f

ACCOUNT, OTHER = "111111111111", "222222222222"
REGION = "us-east-1"
T0 = datetime(2026, 10, 1, tzinfo=UTC)
PKG = "arn:aws:sagemaker:us-east-1:111111111111:model-package/fraud/"
OUT = "s3://sagemaker-111111111111-models/fraud/txn-risk/"


def _job(name, account=ACCOUNT, created=T0, image=None):
    return {"account_id": account, "region": REGION, "training_job_name": name, "status": "Completed",
            "creation_time": created, "image": image,
            "input_channels": json.dumps([{"name": "train", "s3_uri": "s3://data/fraud/train/",
                                           "content_type": "application/x-parquet"}])}


def _package(version, url, status="Approved", account=ACCOUNT):
    return {"account_id": account, "region": REGION, "group_name": "fraud", "version": version,
            "model_package_arn": PKG + str(version) + account, "approval_status": status, "creation_time": T0,
            "model_data_url": url}


def _model(name, version=None, url=None, account=ACCOUNT):
    return {"account_id": account, "region": REGION, "model_name": name, "model_data_url": url,
            "model_package_arn": PKG + str(version) + account if version else None}


def _variant(endpoint, model, variant="AllTraffic"):
    return {"account_id": ACCOUNT, "region": REGION, "endpoint_name": endpoint, "variant_name": variant,
            "model_name": model}


STORE = dict(
    aws_sagemaker_training_job=[_job("fraud-train-7"), _job("fraud-train-7-b", created=T0 + timedelta(days=1)),
                                _job("fraud-train-9", account=OTHER)],
    aws_sagemaker_model_package=[
        _package(1, f"{OUT}fraud-train-7/output/model.tar.gz"),
        _package(2, f"{OUT}fraud-train-7-b/output/model.tar.gz"),
        _package(3, "s3://elsewhere/fraud/v3/model.tar.gz", status="PendingManualApproval"),
        _package(4, f"{OUT}fraud-train-9/output/model.tar.gz"),  # a job of that name exists in another account only
    ],
    aws_sagemaker_model=[_model("fraud-v1", 1, f"{OUT}fraud-train-7/output/model.tar.gz"),
                         _model("fraud-v2", 2, f"{OUT}fraud-train-7-b/output/model.tar.gz"),
                         _model("fraud-raw", url=f"{OUT}fraud-train-7/output/model.tar.gz")],
    aws_sagemaker_endpoint=[{"account_id": ACCOUNT, "region": REGION, "endpoint_name": e, "status": "InService"}
                            for e in ("fraud-prod", "fraud-canary", "fraud-shadow")],
    aws_sagemaker_endpoint_variant=[_variant("fraud-prod", "fraud-v1"), _variant("fraud-canary", "fraud-v2"),
                                    _variant("fraud-shadow", "fraud-raw"), _variant("fraud-prod", "fraud-v2", "B")],
)


def test_a_version_names_the_job_whose_output_holds_its_artifacts(tiny_store):
    tiny_store(**STORE)
    v = mq.model_versions(f(), "fraud").set_index("version")
    assert v.loc[1, "training_job"] == "fraud-train-7"
    assert v.loc[2, "training_job"] == "fraud-train-7-b"  # a job whose name extends another's is told apart
    assert pd.isna(v.loc[3, "training_job"])  # artifacts written by no job the store holds
    assert pd.isna(v.loc[4, "training_job"])  # the job of that name is in another account
    assert v.loc[1, "serving_endpoints"] == ["fraud-prod"]
    assert v.loc[2, "serving_endpoints"] == ["fraud-canary", "fraud-prod"]
    assert v.loc[3, "serving_endpoints"] == []


def test_a_job_lists_the_versions_it_produced_and_where_they_serve(tiny_store):
    tiny_store(**STORE)
    out = mq.produced_by_job(ACCOUNT, REGION, "fraud-train-7")
    rows = {(r.model_version if pd.notna(r.model_version) else None, r.endpoint_name, r.variant_name)
            for r in out.itertuples()}
    # v1 serves fraud-prod; a model made from the job's artifacts outside the registry serves fraud-shadow
    assert rows == {(1, "fraud-prod", "AllTraffic"), (None, "fraud-shadow", "AllTraffic")}
    b = mq.produced_by_job(ACCOUNT, REGION, "fraud-train-7-b")
    assert set(zip(b.model_version, b.endpoint_name, strict=True)) == {(2, "fraud-canary"), (2, "fraud-prod")}
    assert mq.produced_by_job(ACCOUNT, REGION, "no-such-job").empty


def test_a_version_serving_nowhere_is_listed_with_a_blank_endpoint(tiny_store):
    tiny_store(**{**STORE, "aws_sagemaker_endpoint_variant": []})
    out = mq.produced_by_job(ACCOUNT, REGION, "fraud-train-7")
    assert list(out.model_version) == [1] and out.endpoint_name.isna().all()


def test_an_endpoint_names_each_variants_version_and_training_job(tiny_store):
    tiny_store(**STORE)
    lin = mq.endpoint_lineage(ACCOUNT, REGION, "fraud-prod").set_index("variant_name")
    assert (lin.loc["AllTraffic", "model_group"], lin.loc["AllTraffic", "model_version"]) == ("fraud", 1)
    assert lin.loc["AllTraffic", "training_job"] == "fraud-train-7"
    assert lin.loc["B", "training_job"] == "fraud-train-7-b"
    shadow = mq.endpoint_lineage(ACCOUNT, REGION, "fraud-shadow").iloc[0]
    assert pd.isna(shadow.model_group) and shadow.training_job == "fraud-train-7"  # by the model's own artifacts


ECR = "111111111111.dkr.ecr.us-east-1.amazonaws.com/fraud/lgbm-scorer-train"


def _image(digest, tags, pushed):
    return {"account_id": ACCOUNT, "region": REGION, "repository_name": "fraud/lgbm-scorer-train",
            "image_digest": digest, "image_tags": json.dumps(tags), "pushed_at": pushed}


def test_a_training_image_resolves_to_the_digest_its_tag_names(tiny_store):
    tiny_store(aws_ecr_image=[_image("sha256:aaa", ["1.4.2"], T0), _image("sha256:bbb", ["1.5.0", "latest"],
                                                                           T0 + timedelta(days=3))])
    assert list(tq.image_of(f"{ECR}:1.4.2").image_digest) == ["sha256:aaa"]
    assert list(tq.image_of(ECR).image_digest) == ["sha256:bbb"]  # no tag: latest
    assert list(tq.image_of(f"{ECR}@sha256:aaa").image_digest) == ["sha256:aaa"]
    assert tq.image_of(f"{ECR}:9.9.9").empty
    assert tq.image_of("xgboost").empty and tq.image_of(None).empty  # an algorithm name, not an ECR image


def test_input_channels_read_as_rows():
    ch = tq.input_channels(_job("x")["input_channels"])
    assert ch.to_dict("records") == [{"channel": "train", "s3_uri": "s3://data/fraud/train/",
                                      "content_type": "application/x-parquet"}]
    assert tq.input_channels(None).empty
