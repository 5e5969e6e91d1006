"""Amazon ECR: repositories, images and their scan findings (training and serving images).

Incremental: repositories and images are listed every run (one call per page; per repository for images;
these reads are free). Scan findings are read once per image, when its scan is first seen COMPLETE.
Deleted repositories and images leave the tables. Findings are optional (``Context.optional``): when they
cannot be read, the image keeps its stored scan status, so they are read again next run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from botocore.exceptions import ClientError

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "ecr"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()

REPOSITORY = table("aws_ecr_repository", "An ECR repository (training and serving images).", [
    ("repository_name", "VARCHAR", "Repository name, e.g. search/ranker-serve."),
    ("repository_arn", "VARCHAR", "Repository ARN."),
    ("repository_uri", "VARCHAR", "URI to pull from."),
    ("created_at", "TIMESTAMPTZ", "When the repository was created."),
    ("scan_on_push", "BOOLEAN", "True when images are scanned for vulnerabilities on push."),
    ("tag_mutability", "VARCHAR", "MUTABLE or IMMUTABLE."),
], ["repository_name"])

IMAGE = table("aws_ecr_image", "An image in an ECR repository.", [
    ("repository_name", "VARCHAR", "Repository name."),
    ("image_digest", "VARCHAR", "Image digest (sha256:...)."),
    ("image_tags", "JSON", "Tags of the image, as a JSON array."),
    ("pushed_at", "TIMESTAMPTZ", "When the image was pushed."),
    ("size_bytes", "BIGINT", "Compressed image size, in bytes."),
    ("scan_status", "VARCHAR", "Scan status: COMPLETE, IN_PROGRESS, FAILED, ... (NULL if never scanned)."),
    ("finding_counts", "JSON", "Findings by severity, as a JSON object {CRITICAL: n, HIGH: n, ...}."),
    ("last_pulled_at", "TIMESTAMPTZ", "When the image was last pulled (ECR records it daily)."),
], ["repository_name", "image_digest"])

FINDING = table("aws_ecr_image_finding", "A vulnerability found by an ECR image scan.", [
    ("repository_name", "VARCHAR", "Repository name."),
    ("image_digest", "VARCHAR", "Image digest."),
    ("name", "VARCHAR", "Finding name, e.g. CVE-2023-4863."),
    ("severity", "VARCHAR", "CRITICAL, HIGH, MEDIUM, LOW, INFORMATIONAL, UNDEFINED."),
    ("uri", "VARCHAR", "Link to the advisory."),
    ("description", "VARCHAR", "Finding description."),
    ("package", "VARCHAR", "Affected package name and version, when given."),
], ["repository_name", "image_digest", "name", "package"])

TABLES = (REPOSITORY, IMAGE, FINDING)


def collect(ctx: Context) -> Iterator[Batch]:
    ecr = ctx.client("ecr")
    where = [ctx.account_id, ctx.region]
    known = {(r, d): s for r, d, s in ctx.sql(
        "SELECT repository_name, image_digest, scan_status FROM aws_ecr_image WHERE account_id = ? AND region = ?",
        where)}
    repos, images, findings, scanned = [], [], [], []
    live_repos, live_images = set(), set()
    for r in paginate(ecr, "describe_repositories", "repositories"):
        name = r["repositoryName"]
        live_repos.add(name)
        repos.append(ctx.rows(repository_name=name, repository_arn=r["repositoryArn"],
                              repository_uri=r.get("repositoryUri"), created_at=r.get("createdAt"),
                              scan_on_push=(r.get("imageScanningConfiguration") or {}).get("scanOnPush"),
                              tag_mutability=r.get("imageTagMutability")))
        for i in paginate(ecr, "describe_images", "imageDetails", repositoryName=name):
            digest = i["imageDigest"]
            live_images.add((name, digest))
            status = (i.get("imageScanStatus") or {}).get("status")
            summary = i.get("imageScanFindingsSummary") or {}
            if status == "COMPLETE" and known.get((name, digest)) != "COMPLETE":
                found = ctx.optional("ecr:DescribeImageScanFindings",
                                     lambda n=name, d=digest: _findings(ctx, ecr, n, d))
                if found is None:
                    status = known.get((name, digest))  # stored as before: its findings are read again next run
                else:
                    findings += found
                    scanned.append(digest)
            images.append(ctx.rows(repository_name=name, image_digest=digest,
                                   image_tags=json.dumps(i.get("imageTags") or []), pushed_at=i.get("imagePushedAt"),
                                   size_bytes=i.get("imageSizeInBytes"), scan_status=status,
                                   finding_counts=json.dumps(summary.get("findingSeverityCounts") or {}),
                                   last_pulled_at=i.get("lastRecordedPullTime")))
    known_repos = {r[0] for r in ctx.sql(
        "SELECT repository_name FROM aws_ecr_repository WHERE account_id = ? AND region = ?", where)}
    gone_repos = (known_repos | {r for r, _ in known}) - live_repos
    if gone_repos:
        ctx.delete(REPOSITORY, "repository_name", sorted(gone_repos))
        ctx.delete(IMAGE, "repository_name", sorted(gone_repos))
        ctx.delete(FINDING, "repository_name", sorted(gone_repos))
    live_digests = {d for _, d in live_images}  # a digest pushed to two repositories is one image
    gone = sorted({d for _, d in known if d not in live_digests})
    if gone:
        ctx.delete(IMAGE, "image_digest", gone)
        ctx.delete(FINDING, "image_digest", gone)
    if scanned:
        ctx.delete(FINDING, "image_digest", scanned)
    yield REPOSITORY, repos
    yield IMAGE, images
    yield FINDING, findings


def _findings(ctx: Context, ecr, repo: str, digest: str) -> list[dict]:
    rows = []
    try:
        for page in ecr.get_paginator("describe_image_scan_findings").paginate(
                repositoryName=repo, imageId={"imageDigest": digest}):
            scan = page.get("imageScanFindings") or {}
            for f in scan.get("findings", []):
                attrs = {a["key"]: a.get("value") for a in f.get("attributes", [])}
                package = " ".join(filter(None, (attrs.get("package_name"), attrs.get("package_version"))))
                rows.append(ctx.rows(repository_name=repo, image_digest=digest, name=f.get("name"),
                                     severity=f.get("severity"), uri=f.get("uri"),
                                     description=f.get("description"), package=package))
            for f in scan.get("enhancedFindings", []):
                vuln = f.get("packageVulnerabilityDetails") or {}
                pkgs = vuln.get("vulnerablePackages") or [{}]
                package = " ".join(filter(None, (pkgs[0].get("name"), pkgs[0].get("version"))))
                rows.append(ctx.rows(repository_name=repo, image_digest=digest,
                                     name=vuln.get("vulnerabilityId") or f.get("title"), severity=f.get("severity"),
                                     uri=vuln.get("sourceUrl"), description=f.get("description"), package=package))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ScanNotFoundException", "ImageNotFoundException"):
            return []
        raise
    return rows
