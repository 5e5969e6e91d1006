"""The alerts' tables in the store: alerts and their transitions, the rules' last evaluation, the delivery outbox and
its attempts. Defined like the collectors' tables (``sextant.schema.table``, every column described); not scoped to
one account (an alert carries the account and region of its resource, when it has them)."""

from __future__ import annotations

from sextant.schema import Table, ident, table
from sextant.store import StoreWriter

ALERT = table("sextant_alert", "One alert per rule and resource: its current (or last) episode, pending, firing, "
              "resolved or inactive (cleared while pending).", [
                  ("rule", "VARCHAR", "Rule name (built-in or [alerts.rules.<name>])."),
                  ("resource", "VARCHAR", "What the alert is about, unique within the rule (account/region/name)."),
                  ("episode", "INTEGER", "How many times the alert has started (pending or firing) since it was "
                                         "first seen; a new episode begins when a resolved alert breaches again."),
                  ("state", "VARCHAR", "pending (breaching, for less than the rule's for-duration), firing, resolved "
                                       "or inactive (cleared while pending: nothing was sent)."),
                  ("severity", "VARCHAR", "critical, warning or info."),
                  ("value", "DOUBLE", "The rule's value at the last evaluation (NULL when the resource left the "
                                      "rule's result)."),
                  ("threshold", "DOUBLE", "The threshold the value is compared with."),
                  ("comparison", "VARCHAR", "How value is compared with threshold: >, >=, <, <=, =, !=."),
                  ("account_id", "VARCHAR", "AWS account of the resource, when the rule gives it."),
                  ("region", "VARCHAR", "AWS region of the resource, when the rule gives it."),
                  ("team", "VARCHAR", "Team of the resource, when the rule gives it."),
                  ("endpoint_name", "VARCHAR", "Endpoint, for endpoint rules."),
                  ("name", "VARCHAR", "Short name of the resource (endpoint, job, execution ARN, source), for links."),
                  ("started_at", "TIMESTAMPTZ", "When the episode began (the first breaching evaluation)."),
                  ("fired_at", "TIMESTAMPTZ", "When it started firing (the for-duration elapsed), or NULL."),
                  ("resolved_at", "TIMESTAMPTZ", "When it resolved or went inactive, or NULL."),
                  ("last_evaluated_at", "TIMESTAMPTZ", "The last evaluation that saw this alert."),
              ], ["rule", "resource"], account_scoped=False)

EVENT = table("sextant_alert_event", "One row per state change of an alert (at most one per state and episode).", [
    ("rule", "VARCHAR", "Rule name."),
    ("resource", "VARCHAR", "Resource of the alert."),
    ("episode", "INTEGER", "Episode of the alert."),
    ("to_state", "VARCHAR", "The new state: pending, firing, resolved or inactive."),
    ("from_state", "VARCHAR", "The state before (NULL for a new alert)."),
    ("changed_at", "TIMESTAMPTZ", "Evaluation time of the change."),
    ("value", "DOUBLE", "The rule's value at the change."),
], ["rule", "resource", "episode", "to_state"], account_scoped=False)

RULE = table("sextant_alert_rule", "One row per rule: its definition and last evaluation.", [
    ("rule", "VARCHAR", "Rule name."),
    ("description", "VARCHAR", "What the rule watches."),
    ("builtin", "BOOLEAN", "True for a built-in rule, false for a rule of [alerts.rules]."),
    ("severity", "VARCHAR", "critical, warning or info."),
    ("threshold", "DOUBLE", "Threshold of the rule."),
    ("comparison", "VARCHAR", "How the value is compared with the threshold."),
    ("for_s", "BIGINT", "Seconds a resource must breach before the alert fires."),
    ("window", "VARCHAR", "What the value covers, in words."),
    ("last_evaluated_at", "TIMESTAMPTZ", "The last evaluation."),
    ("status", "VARCHAR", "ok, or error (the query failed: its alerts were left as they were)."),
    ("error", "VARCHAR", "The query's error, when it failed."),
    ("rows", "BIGINT", "Resources the query returned at the last evaluation."),
    ("breaching", "BIGINT", "Of those, resources breaching the threshold."),
    ("duration_ms", "DOUBLE", "How long the rule's query took at the last evaluation, milliseconds."),
], ["rule"], account_scoped=False)

DELIVERY = table("sextant_alert_delivery", "The outbox: one message per channel, alert episode and kind (fired or "
                 "resolved), written with the transition and sent after the store commits.", [
                     ("channel", "VARCHAR", "Channel name ([alerts.channels.<name>])."),
                     ("rule", "VARCHAR", "Rule name."),
                     ("resource", "VARCHAR", "Resource of the alert."),
                     ("episode", "INTEGER", "Episode of the alert."),
                     ("kind", "VARCHAR", "fired or resolved."),
                     ("status", "VARCHAR", "pending (to send, or to retry at next_attempt_at), sent, or failed "
                                           "(every attempt failed, or the channel is no longer configured)."),
                     ("attempts", "INTEGER", "Send attempts so far."),
                     ("created_at", "TIMESTAMPTZ", "When the transition queued the message."),
                     ("next_attempt_at", "TIMESTAMPTZ", "When the message is next due (retries back off)."),
                     ("sent_at", "TIMESTAMPTZ", "When the channel accepted it."),
                     ("error", "VARCHAR", "The last attempt's error, without secrets (no URL, no token)."),
                     ("subject", "VARCHAR", "One-line summary of the message."),
                     ("text", "VARCHAR", "The message as plain text."),
                     ("detail", "JSON", "The message as data: the EventBridge event's detail (docs/ALERTS.md)."),
                 ], ["channel", "rule", "resource", "episode", "kind"], account_scoped=False)

ATTEMPT = table("sextant_alert_attempt", "The delivery log: one row per send attempt.", [
    ("channel", "VARCHAR", "Channel name."),
    ("rule", "VARCHAR", "Rule name."),
    ("resource", "VARCHAR", "Resource of the alert."),
    ("episode", "INTEGER", "Episode of the alert."),
    ("kind", "VARCHAR", "fired or resolved."),
    ("attempt", "INTEGER", "Attempt number, from 1."),
    ("attempted_at", "TIMESTAMPTZ", "When it was attempted."),
    ("status", "VARCHAR", "sent or failed."),
    ("error", "VARCHAR", "Why it failed, without secrets."),
    ("duration_ms", "DOUBLE", "How long the attempt took, milliseconds."),
], ["channel", "rule", "resource", "episode", "kind", "attempt"], account_scoped=False)

TABLES: tuple[Table, ...] = (ALERT, EVENT, RULE, DELIVERY, ATTEMPT)


def ensure(writer: StoreWriter) -> None:
    """Create the alerts' tables that are missing (the collector's migration creates and documents them with the
    others; this lets ``python -m alerts`` run on a store migrated before alerts existed)."""
    with writer.transaction() as con:
        for t in TABLES:
            cols = ", ".join(f"{ident(c.name)} {c.type}" for c in t.columns)
            if getattr(writer, "primary_keys", True):
                cols += f", PRIMARY KEY ({', '.join(ident(c) for c in t.primary_key)})"
            con.execute(f"CREATE TABLE IF NOT EXISTS {ident(t.name)} ({cols})")
