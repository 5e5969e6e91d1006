"""ecr collector: repositories, images and scan findings equal what the account holds; a second run reads no
findings again."""

from __future__ import annotations

import json

from tests.collectors.conftest import all_items, count, diff, ok, ops


def test_ecr_repositories_images_and_findings_equal_the_account(collection, account):
    ok(collection.run(["ecr"]))
    ecr = account.client("ecr")
    repos = [r["repositoryName"] for r in all_items(ecr, "describe_repositories", "repositories")]
    assert repos and {r[0] for r in collection.query("SELECT repository_name FROM aws_ecr_repository")} == set(repos)
    images = {(r, i["imageDigest"]) for r in repos for i in all_items(ecr, "describe_images", "imageDetails",
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


def test_second_run_reads_no_findings_again(collection):
    ok(collection.run(["ecr"]))
    counts = {t: count(collection, t) for t in ("aws_ecr_image", "aws_ecr_image_finding")}
    before = collection.calls()
    ok(collection.run(["ecr"]))
    calls = diff(collection.calls(), before)
    assert ops(calls, "DescribeImageScanFindings") == 0
    for t, n in counts.items():
        assert count(collection, t) == n, t
