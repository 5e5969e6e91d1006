"""The platform around the models: ECR images and scan findings, CloudFormation stacks owning SageMaker
resources, and EventBridge rules wired to SageMaker.

Incremental: repositories, images, stacks and rules are listed every run (one call per page; per
repository for images, per rule for targets — these reads are free). Scan findings are read once
per image, when its scan is first seen COMPLETE. A stack's resources are listed only when the stack
is new or its LastUpdatedTime moved; only ``AWS::SageMaker::*`` resources are kept. Only rules
that match ``aws.sagemaker`` events or target a SageMaker or Step Functions resource are kept.
Deleted repositories, images, stacks and rules leave the tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from botocore.exceptions import ClientError

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "ml_platform"
GLOBAL = False
ML_RESOURCE_PREFIX = "AWS::SageMaker::"
ML_TARGET_SERVICES = (":sagemaker:", ":states:")
LIVE_STACK_STATUSES = [
    "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS", "IMPORT_IN_PROGRESS", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE",
]

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

STACK = table("aws_cloudformation_stack", "A CloudFormation stack (live, not deleted).", [
    ("stack_name", "VARCHAR", "Stack name."),
    ("stack_id", "VARCHAR", "Stack ARN."),
    ("status", "VARCHAR", "StackStatus, e.g. UPDATE_COMPLETE, UPDATE_ROLLBACK_FAILED."),
    ("status_reason", "VARCHAR", "Why the stack is in its status, when given."),
    ("description", "VARCHAR", "Template description."),
    ("creation_time", "TIMESTAMPTZ", "When the stack was created."),
    ("last_updated_time", "TIMESTAMPTZ", "When the stack was last updated (NULL if never)."),
    ("ml_resource_count", "INTEGER", "AWS::SageMaker::* resources the stack owns."),
], ["stack_name"])

STACK_RESOURCE = table("aws_cloudformation_stack_resource",
                       "A SageMaker resource (AWS::SageMaker::*) owned by a CloudFormation stack.", [
                           ("stack_name", "VARCHAR", "Stack name."),
                           ("logical_id", "VARCHAR", "Logical id in the template."),
                           ("physical_id", "VARCHAR", "Physical id: the SageMaker resource's name or ARN."),
                           ("resource_type", "VARCHAR", "Resource type, e.g. AWS::SageMaker::Endpoint."),
                           ("status", "VARCHAR", "ResourceStatus, e.g. UPDATE_COMPLETE."),
                           ("last_updated_time", "TIMESTAMPTZ", "When the resource was last updated by the stack."),
                       ], ["stack_name", "logical_id"])

RULE = table("aws_eventbridge_rule",
             "An EventBridge rule that matches aws.sagemaker events or targets a SageMaker/Step Functions resource.", [
                 ("event_bus_name", "VARCHAR", "Event bus of the rule."),
                 ("rule_name", "VARCHAR", "Rule name."),
                 ("rule_arn", "VARCHAR", "Rule ARN."),
                 ("state", "VARCHAR", "ENABLED or DISABLED."),
                 ("description", "VARCHAR", "Rule description."),
                 ("event_pattern", "JSON", "Event pattern, as JSON (NULL for schedule rules)."),
                 ("schedule_expression", "VARCHAR", "Schedule, e.g. cron(0 3 * * ? *), for schedule rules."),
                 ("matches_sagemaker_events", "BOOLEAN", "True when the pattern's source includes aws.sagemaker."),
                 ("targets", "JSON", "Targets: [{id, arn, role_arn, input}]."),
             ], ["event_bus_name", "rule_name"])

TABLES = (REPOSITORY, IMAGE, FINDING, STACK, STACK_RESOURCE, RULE)


def collect(ctx: Context) -> Iterator[Batch]:
    yield from _ecr(ctx)
    yield from _stacks(ctx)
    yield from _rules(ctx)


def _ecr(ctx: Context) -> Iterator[Batch]:
    ecr = ctx.client("ecr")
    where = [ctx.account_id, ctx.region]
    known = {(r, d): s for r, d, s in ctx.known(
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
            images.append(ctx.rows(repository_name=name, image_digest=digest,
                                   image_tags=json.dumps(i.get("imageTags") or []), pushed_at=i.get("imagePushedAt"),
                                   size_bytes=i.get("imageSizeInBytes"), scan_status=status,
                                   finding_counts=json.dumps(summary.get("findingSeverityCounts") or {}),
                                   last_pulled_at=i.get("lastRecordedPullTime")))
            if status == "COMPLETE" and known.get((name, digest)) != "COMPLETE":
                findings += _findings(ctx, ecr, name, digest)
                scanned.append(digest)
    known_repos = {r[0] for r in ctx.known(
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


def _stacks(ctx: Context) -> Iterator[Batch]:
    cfn = ctx.client("cloudformation")
    where = [ctx.account_id, ctx.region]
    known = {name: (updated, count) for name, updated, count in ctx.known(
        "SELECT stack_name, epoch_ms(coalesce(last_updated_time, creation_time)), ml_resource_count "
        "FROM aws_cloudformation_stack WHERE account_id = ? AND region = ?", where)}
    stacks, resources, relisted, live = [], [], [], set()
    for s in paginate(cfn, "list_stacks", "StackSummaries", StackStatusFilter=LIVE_STACK_STATUSES):
        name = s["StackName"]
        live.add(name)
        updated = s.get("LastUpdatedTime") or s.get("CreationTime")
        stored = known.get(name)
        if stored is not None and stored[0] == _ms(updated):
            count = stored[1]
        else:
            owned = [r for r in paginate(cfn, "list_stack_resources", "StackResourceSummaries", StackName=name)
                     if r.get("ResourceType", "").startswith(ML_RESOURCE_PREFIX)]
            relisted.append(name)
            count = len(owned)
            resources += [ctx.rows(stack_name=name, logical_id=r["LogicalResourceId"],
                                   physical_id=r.get("PhysicalResourceId"), resource_type=r["ResourceType"],
                                   status=r.get("ResourceStatus"), last_updated_time=r.get("LastUpdatedTimestamp"))
                          for r in owned]
        stacks.append(ctx.rows(stack_name=name, stack_id=s.get("StackId"), status=s.get("StackStatus"),
                               status_reason=s.get("StackStatusReason"), description=s.get("TemplateDescription"),
                               creation_time=s.get("CreationTime"), last_updated_time=s.get("LastUpdatedTime"),
                               ml_resource_count=count))
    gone = [n for n in known if n not in live]
    if gone:
        ctx.delete(STACK, "stack_name", gone)
    if gone or relisted:
        ctx.delete(STACK_RESOURCE, "stack_name", gone + relisted)
    yield STACK, stacks
    yield STACK_RESOURCE, resources


def _ms(t: datetime | None) -> int | None:
    """Epoch milliseconds: stored and listed timestamps are compared as numbers (AWS gives milliseconds)."""
    return None if t is None else round(t.timestamp() * 1000)


def _matches_sagemaker(pattern: str | None) -> bool:
    if not pattern:
        return False
    try:
        source = json.loads(pattern).get("source")
    except (ValueError, AttributeError):
        return "aws.sagemaker" in pattern
    return '"aws.sagemaker"' in json.dumps(source)  # a string or a list of sources


def _rules(ctx: Context) -> Iterator[Batch]:
    events = ctx.client("events")
    known = ctx.known("SELECT event_bus_name, rule_name FROM aws_eventbridge_rule WHERE account_id = ? AND region = ?",
                      [ctx.account_id, ctx.region])
    buses = [b["Name"] for b in events.list_event_buses().get("EventBuses", [])] or ["default"]
    rows, live = [], set()
    for bus in buses:
        for r in paginate(events, "list_rules", "Rules", EventBusName=bus):
            targets = [{"id": t.get("Id"), "arn": t.get("Arn"), "role_arn": t.get("RoleArn"), "input": t.get("Input")}
                       for t in paginate(events, "list_targets_by_rule", "Targets", Rule=r["Name"], EventBusName=bus)]
            sagemaker_events = _matches_sagemaker(r.get("EventPattern"))
            if not sagemaker_events and not any(any(s in (t["arn"] or "") for s in ML_TARGET_SERVICES)
                                                for t in targets):
                continue
            live.add((bus, r["Name"]))
            rows.append(ctx.rows(event_bus_name=bus, rule_name=r["Name"], rule_arn=r.get("Arn"),
                                 state=r.get("State"), description=r.get("Description"),
                                 event_pattern=r.get("EventPattern"), schedule_expression=r.get("ScheduleExpression"),
                                 matches_sagemaker_events=sagemaker_events, targets=json.dumps(targets)))
    gone = sorted({name for bus, name in known if (bus, name) not in live})
    if gone:  # rule names are unique per bus; a name gone from one bus and live on another is re-inserted below
        ctx.delete(RULE, "rule_name", gone)
    yield RULE, rows
