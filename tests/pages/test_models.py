"""Models page: which registry version each endpoint serves, and the versions' approval."""

from __future__ import annotations

INCIDENT = "fraud-txn-scorer-prod"


def _versions(app, account, group="fraud-txn-scorer"):
    at = app("pages/models.py", group=group)
    versions = next(d.value for d in at.dataframe if "serving_on" in d.value.columns).set_index("version")
    packages = account.client("sagemaker").list_model_packages(ModelPackageGroupName=group,
                                                               MaxResults=100)["ModelPackageSummaryList"]
    return versions, {int(p["ModelPackageVersion"]): p["ModelApprovalStatus"] for p in packages}


def test_incident_endpoint_serves_version_7_approved(app, account):
    at = app("pages/models.py")
    serving = next(d.value for d in at.dataframe if "variant_name" in d.value.columns)
    row = serving[serving.endpoint_name == INCIDENT].iloc[0]
    assert row.model_group == "fraud-txn-scorer" and row.model_version == 7
    assert "Approved" in row.approval
    sm = account.client("sagemaker")
    config = sm.describe_endpoint_config(EndpointConfigName=sm.describe_endpoint(EndpointName=INCIDENT)[
        "EndpointConfigName"])
    assert config["ProductionVariants"][0]["ModelName"] == row.model_name


def test_every_version_shows_the_approval_aws_holds(app, account):
    versions, status = _versions(app, account)
    label = {"PendingManualApproval": "Pending"}
    assert sorted(versions.index) == sorted(status)
    for v, s in status.items():
        assert label.get(s, s) in versions.loc[v, "approval"]
    assert versions.loc[7, "serving_on"].startswith(INCIDENT)


def test_rolled_back_version_8_is_rejected(app, account):
    versions, status = _versions(app, account)
    assert status[8] == "Rejected"
    assert "Rejected" in versions.loc[8, "approval"]
