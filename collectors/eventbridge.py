"""Amazon EventBridge: rules wired to SageMaker (matching ``aws.sagemaker`` events, or targeting a SageMaker or
Step Functions resource), with their targets.

Incremental: event buses and rules are listed every run, and targets per rule (these reads are free);
other rules are not kept. Deleted rules leave the table. Targets are optional (``Context.optional``): a
rule whose targets cannot be listed keeps its stored row.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from collectors.base import Batch, Context, paginate
from sextant.schema import table

NAME = "eventbridge"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()
ML_TARGET_SERVICES = (":sagemaker:", ":states:")

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

TABLES = (RULE,)


def _matches_sagemaker(pattern: str | None) -> bool:
    if not pattern:
        return False
    try:
        source = json.loads(pattern).get("source")
    except (ValueError, AttributeError):
        return "aws.sagemaker" in pattern
    return '"aws.sagemaker"' in json.dumps(source)  # a string or a list of sources


def collect(ctx: Context) -> Iterator[Batch]:
    events = ctx.client("events")
    known = ctx.sql("SELECT event_bus_name, rule_name FROM aws_eventbridge_rule WHERE account_id = ? AND region = ?",
                      [ctx.account_id, ctx.region])
    stored = {(bus, name) for bus, name in known}
    buses = [b["Name"] for b in events.list_event_buses().get("EventBuses", [])] or ["default"]
    rows, live = [], set()
    for bus in buses:
        for r in paginate(events, "list_rules", "Rules", EventBusName=bus):
            listed = ctx.optional("events:ListTargetsByRule", lambda r=r, bus=bus: list(paginate(
                events, "list_targets_by_rule", "Targets", Rule=r["Name"], EventBusName=bus)))
            if listed is None:  # the stored row (if any) stays
                if (bus, r["Name"]) in stored:
                    live.add((bus, r["Name"]))
                continue
            targets = [{"id": t.get("Id"), "arn": t.get("Arn"), "role_arn": t.get("RoleArn"), "input": t.get("Input")}
                       for t in listed]
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
