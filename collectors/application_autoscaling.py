"""Application Auto Scaling on SageMaker variants: scalable targets, scaling policies and scaling activities.

Incremental: targets and policies are listed every run (one call per page; free). Scaling activities are read
newest first down to the cursor ``activity_start`` (the newest activity start stored), so pages can show what
the autoscaler changed before an incident. Only the ``sagemaker`` service namespace is read; a target names
its endpoint and variant in its resource id, so nothing is read from the endpoints' tables. Activities are
optional (``Context.optional``): when their call fails, targets and policies still land and the stored
activities stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "application_autoscaling"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()

SCALABLE_TARGET = table(
    "aws_application_autoscaling_scalable_target", "An Application Auto Scaling target on a SageMaker variant.", [
        ("resource_id", "VARCHAR", "endpoint/NAME/variant/VARIANT."),
        ("scalable_dimension", "VARCHAR", "sagemaker:variant:DesiredInstanceCount."),
        ("endpoint_name", "VARCHAR", "Endpoint name, parsed from resource_id."),
        ("variant_name", "VARCHAR", "Variant name, parsed from resource_id."),
        ("min_capacity", "INTEGER", "Minimum instance count the autoscaler keeps."),
        ("max_capacity", "INTEGER", "Maximum instance count the autoscaler may reach."),
        ("creation_time", "TIMESTAMPTZ", "When the target was registered."),
        ("observed_at", "TIMESTAMPTZ", "When the collector last saw the target."),
    ], ["resource_id", "scalable_dimension"])

SCALING_POLICY = table("aws_application_autoscaling_policy", "A scaling policy on a SageMaker variant.", [
    ("policy_name", "VARCHAR", "Policy name."),
    ("resource_id", "VARCHAR", "endpoint/NAME/variant/VARIANT."),
    ("policy_type", "VARCHAR", "TargetTrackingScaling or StepScaling."),
    ("target_value", "DOUBLE", "Target of a target-tracking policy (e.g. invocations per instance per minute)."),
    ("metric", "VARCHAR", "Predefined metric type or custom metric name tracked."),
    ("scale_in_cooldown_s", "INTEGER", "Seconds between scale-in activities."),
    ("scale_out_cooldown_s", "INTEGER", "Seconds between scale-out activities."),
    ("creation_time", "TIMESTAMPTZ", "When the policy was created."),
], ["policy_name", "resource_id"])

SCALING_ACTIVITY = table("aws_application_autoscaling_activity", "A scaling activity on a SageMaker variant.", [
    ("activity_id", "VARCHAR", "Activity id."),
    ("resource_id", "VARCHAR", "endpoint/NAME/variant/VARIANT."),
    ("endpoint_name", "VARCHAR", "Endpoint name, parsed from resource_id."),
    ("variant_name", "VARCHAR", "Variant name, parsed from resource_id."),
    ("start_time", "TIMESTAMPTZ", "When the activity started."),
    ("end_time", "TIMESTAMPTZ", "When it ended."),
    ("status_code", "VARCHAR", "Successful, Failed, InProgress, ..."),
    ("description", "VARCHAR", "What changed, e.g. 'Setting desired instance count to 4.'"),
    ("cause", "VARCHAR", "Why, e.g. the alarm that triggered it."),
], ["activity_id"])

TABLES = (SCALABLE_TARGET, SCALING_POLICY, SCALING_ACTIVITY)


def _split_resource(resource_id: str) -> tuple[str | None, str | None]:
    parts = resource_id.split("/")
    return (parts[1], parts[3]) if len(parts) == 4 and parts[0] == "endpoint" else (None, None)


def collect(ctx: Context) -> Iterator[Batch]:
    aas = ctx.client("application-autoscaling")
    targets = []
    for t in paginate(aas, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="sagemaker"):
        endpoint, variant = _split_resource(t["ResourceId"])
        targets.append(ctx.rows(resource_id=t["ResourceId"], scalable_dimension=t["ScalableDimension"],
                                endpoint_name=endpoint, variant_name=variant, min_capacity=t["MinCapacity"],
                                max_capacity=t["MaxCapacity"], creation_time=t.get("CreationTime"),
                                observed_at=ctx.now))
    yield SCALABLE_TARGET, targets
    policies = []
    for p in paginate(aas, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="sagemaker"):
        tt = p.get("TargetTrackingScalingPolicyConfiguration") or {}
        metric = (tt.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType") or \
            (tt.get("CustomizedMetricSpecification") or {}).get("MetricName")
        policies.append(ctx.rows(policy_name=p["PolicyName"], resource_id=p["ResourceId"],
                                 policy_type=p["PolicyType"], target_value=tt.get("TargetValue"), metric=metric,
                                 scale_in_cooldown_s=tt.get("ScaleInCooldown"),
                                 scale_out_cooldown_s=tt.get("ScaleOutCooldown"),
                                 creation_time=p.get("CreationTime")))
    yield SCALING_POLICY, policies
    cursor = ctx.cursor.get("activity_start")
    # Optional: when DescribeScalingActivities fails, targets and policies still land and the stored activities stay.
    read = ctx.optional("application-autoscaling:DescribeScalingActivities", lambda: _activities(ctx, aas, cursor))
    if read is None:
        return
    activities, newest = read
    yield SCALING_ACTIVITY, activities
    if newest:
        ctx.cursor.advance("activity_start", newest)


def _activities(ctx: Context, aas, cursor: datetime | None) -> tuple[list[dict], datetime | None]:
    """Scaling activities newer than ``cursor`` (newest first, down to it), and the newest start seen."""
    activities, newest = [], cursor
    for a in paginate(aas, "describe_scaling_activities", "ScalingActivities", ServiceNamespace="sagemaker"):
        start = a["StartTime"]
        if cursor and start <= cursor:
            break  # newest first: everything older is already stored
        endpoint, variant = _split_resource(a["ResourceId"])
        activities.append(ctx.rows(activity_id=a["ActivityId"], resource_id=a["ResourceId"],
                                   endpoint_name=endpoint, variant_name=variant, start_time=a["StartTime"],
                                   end_time=a.get("EndTime"), status_code=a.get("StatusCode"),
                                   description=a.get("Description"), cause=a.get("Cause")))
        newest = max(newest or start, start)
    return activities, newest
