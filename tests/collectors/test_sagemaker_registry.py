"""sagemaker_registry collector: package groups, packages and models equal the account; an endpoint's model traces
to a registered version; a second run describes nothing; an approval change needs no describe."""

from __future__ import annotations

import pytest

from tests.collectors.conftest import Collection, all_items, count, diff, ok, ops


def test_registry_counts_equal_the_account(collection, account):
    ok(collection.run(["sagemaker_registry"]))
    sm = account.client("sagemaker")
    groups = [g["ModelPackageGroupName"] for g in all_items(sm, "list_model_package_groups",
                                                             "ModelPackageGroupSummaryList")]
    packages = {p["ModelPackageArn"]: p["ModelApprovalStatus"] for g in groups
                for p in all_items(sm, "list_model_packages", "ModelPackageSummaryList", ModelPackageGroupName=g)}
    models = {m["ModelName"] for m in all_items(sm, "list_models", "Models")}
    assert groups and packages and models
    assert count(collection, "aws_sagemaker_model_package_group") == len(groups)
    assert dict(collection.query("SELECT model_package_arn, approval_status FROM aws_sagemaker_model_package")) \
        == packages
    assert {r[0] for r in collection.query("SELECT model_name FROM aws_sagemaker_model")} == models


def test_an_endpoint_model_traces_to_a_registered_package_version(collection):
    ok(collection.run(["sagemaker_endpoints", "sagemaker_registry"]))
    rows = collection.query(
        "SELECT v.endpoint_name, m.model_name, p.group_name, p.version, p.approval_status "
        "FROM aws_sagemaker_endpoint_variant v JOIN aws_sagemaker_model m USING (account_id, region, model_name) "
        "JOIN aws_sagemaker_model_package p ON p.model_package_arn = m.model_package_arn")
    assert rows, "no endpoint variant traces through its model to a package version"
    assert all(r[3] >= 1 for r in rows)


def test_registry_second_run_describes_nothing(collection):
    ok(collection.run(["sagemaker_registry"]))
    before = collection.calls()
    ok(collection.run(["sagemaker_registry"]))
    calls = diff(collection.calls(), before)
    assert ops(calls, "DescribeModelPackage") == 0
    assert ops(calls, "DescribeModel") == 0
    assert ops(calls, "ListTags") == 0


@pytest.mark.slow
def test_approval_status_change_updates_the_package_without_describe(fresh_account, tmp_path, monkeypatch):
    for key, value in fresh_account.env.items():
        monkeypatch.setenv(key, value)
    sm = fresh_account.client("sagemaker")
    collection = Collection(tmp_path / "store")
    ok(collection.run(["sagemaker_registry"]))
    arn = collection.query("SELECT model_package_arn FROM aws_sagemaker_model_package "
                           "WHERE approval_status = 'PendingManualApproval' ORDER BY 1 LIMIT 1")[0][0]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    before = collection.calls()
    ok(collection.run(["sagemaker_registry"]))
    calls = diff(collection.calls(), before)
    assert collection.query("SELECT approval_status, image FROM aws_sagemaker_model_package "
                            "WHERE model_package_arn = ?", [arn])[0][0] == "Approved"
    assert collection.query("SELECT image FROM aws_sagemaker_model_package WHERE model_package_arn = ?",
                            [arn])[0][0]  # the rest of the row kept
    assert ops(calls, "DescribeModelPackage") == 0
