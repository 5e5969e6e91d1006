"""application_autoscaling collector: scalable targets and policies of SageMaker variants equal the account;
scaling activities are read down to the cursor, so a second run adds none twice and the cursor holds the newest."""

from __future__ import annotations

from datetime import UTC, datetime

from sextant.store import Writer
from tests.collectors.conftest import all_items, count, ok

MAIN = "123456789012"  # the emulated account's id (demo/world.py)
TABLES = ("aws_application_autoscaling_scalable_target", "aws_application_autoscaling_policy",
          "aws_application_autoscaling_activity")


def test_scalable_targets_and_policies_equal_the_account(collection, account):
    ok(collection.run(["application_autoscaling"]))
    aas = account.client("application-autoscaling")
    targets = {(t["ResourceId"], t["ScalableDimension"]) for t in all_items(
        aas, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="sagemaker")}
    policies = {(p["PolicyName"], p["ResourceId"]) for p in all_items(
        aas, "describe_scaling_policies", "ScalingPolicies", ServiceNamespace="sagemaker")}
    assert targets
    assert set(collection.query("SELECT resource_id, scalable_dimension "
                                "FROM aws_application_autoscaling_scalable_target")) == targets
    assert set(collection.query("SELECT policy_name, resource_id FROM aws_application_autoscaling_policy")) == policies
    assert collection.query("SELECT count(*) FROM aws_application_autoscaling_scalable_target "
                            "WHERE endpoint_name IS NULL OR variant_name IS NULL")[0][0] == 0


def test_second_run_adds_no_activity_twice_and_the_cursor_holds_the_newest(collection, account):
    ok(collection.run(["application_autoscaling"]))
    assert count(collection, "aws_application_autoscaling_activity") > 0
    listed = {a["ActivityId"] for a in all_items(account.client("application-autoscaling"),
                                                 "describe_scaling_activities", "ScalingActivities",
                                                 ServiceNamespace="sagemaker")}
    ok(collection.run(["application_autoscaling"]))
    stored = {r[0] for r in collection.query("SELECT activity_id FROM aws_application_autoscaling_activity")}
    assert listed <= stored  # none lost between the runs
    for t in TABLES:
        rows = collection.query(f"SELECT * FROM {t}")
        assert len(rows) == len(set(rows)), t
    [(newest,)] = collection.query("SELECT max(start_time) FROM aws_application_autoscaling_activity")
    [(cursor,)] = collection.query("SELECT value FROM sextant_watermark WHERE source = 'application_autoscaling' "
                                   "AND key = 'activity_start'")
    assert datetime.fromisoformat(cursor) == newest


def test_a_store_from_before_the_split_keeps_the_activity_cursor(collection):
    """The scaling-activity cursor of a store collected when sagemaker_endpoints filled these tables is
    carried over: activities older than it are not read again."""
    w = Writer(collection.settings.store)
    try:
        w.migrate([])
        with w.transaction():
            w.set_watermarks(MAIN, "us-east-1", "sagemaker_endpoints",
                             {"activity_start": "2100-01-01T00:00:00+00:00"})
    finally:
        w.close()
    ok(collection.run(["application_autoscaling"]))
    assert count(collection, "aws_application_autoscaling_activity") == 0
    [(cursor,)] = collection.query("SELECT value FROM sextant_watermark WHERE source = 'application_autoscaling' "
                                   "AND key = 'activity_start'")
    assert datetime.fromisoformat(cursor) == datetime(2100, 1, 1, tzinfo=UTC)
