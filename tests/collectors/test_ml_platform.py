"""ml_platform collector: ECR repositories, images and scan findings, CloudFormation stacks and the SageMaker
resources they own, EventBridge rules wired to SageMaker — counts equal what the account holds."""

from __future__ import annotations

import json


def _all(client, op: str, key: str, **kwargs) -> list[dict]:
    return client.get_paginator(op).paginate(**kwargs).build_full_result()[key]


def _ops(calls: dict[str, int], op: str) -> int:
    return sum(n for k, n in calls.items() if k.split(":", 1)[1] == op)


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}


def _ok(cycle) -> None:
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]


def test_ecr_repositories_images_and_findings_equal_the_account(collection, account):
    _ok(collection.run(["ml_platform"]))
    ecr = account.client("ecr")
    repos = [r["repositoryName"] for r in _all(ecr, "describe_repositories", "repositories")]
    assert repos and {r[0] for r in collection.query("SELECT repository_name FROM aws_ecr_repository")} == set(repos)
    images = {(r, i["imageDigest"]) for r in repos for i in _all(ecr, "describe_images", "imageDetails",
                                                                  repositoryName=r)}
    assert set(collection.query("SELECT repository_name, image_digest FROM aws_ecr_image")) == images
    repo, digest, counts = collection.query(
        "SELECT repository_name, image_digest, finding_counts FROM aws_ecr_image WHERE scan_status = 'COMPLETE' "
        "ORDER BY 1, 2 LIMIT 1")[0]
    scan = ecr.describe_image_scan_findings(repositoryName=repo, imageId={"imageDigest": digest})
    found = scan["imageScanFindings"].get("findings", []) + scan["imageScanFindings"].get("enhancedFindings", [])
    stored = collection.query("SELECT severity FROM aws_ecr_image_finding WHERE repository_name = ? AND "
                              "image_digest = ?", [repo, digest])
    assert len(stored) == len(found)
    assert sum(json.loads(counts).values()) == len(found)


def test_stacks_and_the_sagemaker_resources_they_own(collection, account):
    _ok(collection.run(["ml_platform"]))
    cfn = account.client("cloudformation")
    stacks = [s["StackName"] for s in _all(cfn, "list_stacks", "StackSummaries")
              if s["StackStatus"] != "DELETE_COMPLETE"]
    assert stacks and {r[0] for r in collection.query("SELECT stack_name FROM aws_cloudformation_stack")} == \
        set(stacks)
    for name in stacks:
        owned = {(r["LogicalResourceId"], r["ResourceType"]) for r in _all(
            cfn, "list_stack_resources", "StackResourceSummaries", StackName=name)
            if r["ResourceType"].startswith("AWS::SageMaker::")}
        stored = set(collection.query("SELECT logical_id, resource_type FROM aws_cloudformation_stack_resource "
                                      "WHERE stack_name = ?", [name]))
        assert stored == owned, name
    assert collection.query("SELECT count(*) FROM aws_cloudformation_stack_resource "
                            "WHERE resource_type = 'AWS::SageMaker::Endpoint'")[0][0] > 0


def test_eventbridge_rules_matching_sagemaker_events_are_kept(collection, account):
    _ok(collection.run(["ml_platform"]))
    events = account.client("events")
    expected = set()
    for r in _all(events, "list_rules", "Rules"):
        targets = _all(events, "list_targets_by_rule", "Targets", Rule=r["Name"])
        if "aws.sagemaker" in (r.get("EventPattern") or "") or any(
                ":sagemaker:" in t["Arn"] or ":states:" in t["Arn"] for t in targets):
            expected.add(r["Name"])
    assert expected
    rows = collection.query("SELECT rule_name, state, targets FROM aws_eventbridge_rule")
    assert {r[0] for r in rows} == expected
    assert all(json.loads(targets) for _, _, targets in rows)


def test_second_run_reads_no_findings_and_no_stack_resources_again(collection):
    _ok(collection.run(["ml_platform"]))
    counts = {t: collection.query(f"SELECT count(*) FROM {t}")[0][0]
              for t in ("aws_ecr_image", "aws_ecr_image_finding", "aws_cloudformation_stack_resource")}
    before = collection.calls()
    _ok(collection.run(["ml_platform"]))
    calls = _diff(collection.calls(), before)
    assert _ops(calls, "DescribeImageScanFindings") == 0
    assert _ops(calls, "ListStackResources") == 0
    for t, n in counts.items():
        assert collection.query(f"SELECT count(*) FROM {t}")[0][0] == n, t
