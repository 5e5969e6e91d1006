"""cloudformation collector: stacks and the SageMaker resources they own equal what the account holds; a second
run lists no stack's resources again."""

from __future__ import annotations

from tests.collectors.conftest import all_items, count, diff, ok, ops


def test_stacks_and_the_sagemaker_resources_they_own(collection, account):
    ok(collection.run(["cloudformation"]))
    cfn = account.client("cloudformation")
    stacks = [s["StackName"] for s in all_items(cfn, "list_stacks", "StackSummaries")
              if s["StackStatus"] != "DELETE_COMPLETE"]
    assert stacks and {r[0] for r in collection.query("SELECT stack_name FROM aws_cloudformation_stack")} == \
        set(stacks)
    for name in stacks:
        owned = {(r["LogicalResourceId"], r["ResourceType"]) for r in all_items(
            cfn, "list_stack_resources", "StackResourceSummaries", StackName=name)
            if r["ResourceType"].startswith("AWS::SageMaker::")}
        stored = set(collection.query("SELECT logical_id, resource_type FROM aws_cloudformation_stack_resource "
                                      "WHERE stack_name = ?", [name]))
        assert stored == owned, name
    assert collection.query("SELECT count(*) FROM aws_cloudformation_stack_resource "
                            "WHERE resource_type = 'AWS::SageMaker::Endpoint'")[0][0] > 0


def test_second_run_lists_no_stack_resources_again(collection):
    ok(collection.run(["cloudformation"]))
    n = count(collection, "aws_cloudformation_stack_resource")
    before = collection.calls()
    ok(collection.run(["cloudformation"]))
    calls = diff(collection.calls(), before)
    assert ops(calls, "ListStackResources") == 0
    assert count(collection, "aws_cloudformation_stack_resource") == n
