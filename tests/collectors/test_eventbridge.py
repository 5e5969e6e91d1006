"""eventbridge collector: the rules wired to SageMaker (its events, or a SageMaker / Step Functions target) are
kept, with their targets."""

from __future__ import annotations

import json

from tests.collectors.conftest import all_items, ok


def test_eventbridge_rules_matching_sagemaker_events_are_kept(collection, account):
    ok(collection.run(["eventbridge"]))
    events = account.client("events")
    expected = set()
    for r in all_items(events, "list_rules", "Rules"):
        targets = all_items(events, "list_targets_by_rule", "Targets", Rule=r["Name"])
        if "aws.sagemaker" in (r.get("EventPattern") or "") or any(
                ":sagemaker:" in t["Arn"] or ":states:" in t["Arn"] for t in targets):
            expected.add(r["Name"])
    assert expected
    rows = collection.query("SELECT rule_name, state, targets FROM aws_eventbridge_rule")
    assert {r[0] for r in rows} == expected
    assert all(json.loads(targets) for _, _, targets in rows)
