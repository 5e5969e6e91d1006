"""AWS CloudFormation: stacks, and the SageMaker resources (``AWS::SageMaker::*``) each one owns.

Incremental: stacks are listed every run (one call per page; free). A stack's resources are listed only
when the stack is new or its LastUpdatedTime moved; only ``AWS::SageMaker::*`` resources are kept.
Deleted stacks leave the tables. Resource listings are optional (``Context.optional``): a stack whose listing
fails keeps its stored rows and is listed again next run.
"""

from __future__ import annotations

from collections.abc import Iterator

from collectors.base import Batch, Context, epoch_ms, paginate
from sextant.schema import table

NAME = "cloudformation"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()
ML_RESOURCE_PREFIX = "AWS::SageMaker::"
LIVE_STACK_STATUSES = [
    "CREATE_IN_PROGRESS", "CREATE_FAILED", "CREATE_COMPLETE", "ROLLBACK_IN_PROGRESS", "ROLLBACK_FAILED",
    "ROLLBACK_COMPLETE", "DELETE_IN_PROGRESS", "DELETE_FAILED", "UPDATE_IN_PROGRESS",
    "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_COMPLETE", "UPDATE_FAILED", "UPDATE_ROLLBACK_IN_PROGRESS",
    "UPDATE_ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE",
    "REVIEW_IN_PROGRESS", "IMPORT_IN_PROGRESS", "IMPORT_COMPLETE", "IMPORT_ROLLBACK_IN_PROGRESS",
    "IMPORT_ROLLBACK_FAILED", "IMPORT_ROLLBACK_COMPLETE",
]

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

TABLES = (STACK, STACK_RESOURCE)


def collect(ctx: Context) -> Iterator[Batch]:
    cfn = ctx.client("cloudformation")
    where = [ctx.account_id, ctx.region]
    known = {name: (updated, count) for name, updated, count in ctx.sql(
        "SELECT stack_name, epoch_ms(coalesce(last_updated_time, creation_time)), ml_resource_count "
        "FROM aws_cloudformation_stack WHERE account_id = ? AND region = ?", where)}
    stacks, resources, relisted, live = [], [], [], set()
    for s in paginate(cfn, "list_stacks", "StackSummaries", StackStatusFilter=LIVE_STACK_STATUSES):
        name = s["StackName"]
        live.add(name)
        updated = s.get("LastUpdatedTime") or s.get("CreationTime")
        stored = known.get(name)
        if stored is not None and stored[0] == epoch_ms(updated):
            count = stored[1]
        else:
            listed = ctx.optional("cloudformation:ListStackResources", lambda name=name: list(paginate(
                cfn, "list_stack_resources", "StackResourceSummaries", StackName=name)))
            if listed is None:
                continue  # its stored rows stay, and its resources are listed again next run
            owned = [r for r in listed if r.get("ResourceType", "").startswith(ML_RESOURCE_PREFIX)]
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
