"""The store's schema: tables named after AWS resources, every column described, and the schema version.

A table definition is data (:class:`Table`); collectors declare theirs, the system tables are here.
``SCHEMA_VERSION`` is written by the writer's migration and checked when a reader opens a snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

# 2: every table of every collector exists in a store at this version (the endpoint summary among them), so
#    readers never ask whether a table exists.
# 3: aws_cloudwatch_metric_poll records the plan's promotions (series_promoted, queries_promoted,
#    promoted_monthly_usd): Writer.migrate adds the columns; polls recorded before stay NULL in them.
# 4: aws_cloudwatch_endpoint_traffic, each endpoint's traffic over the last 1 h and 24 h to the minute of the
#    collection (sextant.traffic), written by the metrics collector every cycle; a store migrated to 4 has the table
#    empty until its next metrics cycle, and the pages compute the windows at view time until then.
SCHEMA_VERSION = 4


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(frozen=True)
class Table:
    """A table of the store: named after the AWS resource, every column described."""

    name: str
    description: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    # indexed=False: the key is not enforced by a PRIMARY KEY (an ART index costs memory and write time
    # proportional to the table; at 100 M+ metric points that is gigabytes). Writer.upsert then replaces
    # rows by key with a DELETE ... USING + INSERT, restricted to the batch's [min, max] of time_column so
    # that, on a table appended in time order, only the newest row groups are scanned.
    indexed: bool = True
    time_column: str | None = None

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


ACCOUNT_COLUMNS = (
    Column("account_id", "VARCHAR", "AWS account id the row was collected from."),
    Column("region", "VARCHAR", "AWS region the row was collected from."),
)


def table(name: str, description: str, columns: Sequence[tuple[str, str, str]], primary_key: Sequence[str],
          account_scoped: bool = True, *, indexed: bool = True, time_column: str | None = None) -> Table:
    """A table definition; ``indexed=False`` keeps the key logical (see :class:`Table`)."""
    cols = tuple(Column(*c) for c in columns)
    if account_scoped:
        cols = ACCOUNT_COLUMNS + cols
        primary_key = ("account_id", "region", *primary_key)
    if time_column is not None and time_column not in {c.name for c in cols}:
        raise ValueError(f"{name}: time_column {time_column!r} is not a column")
    return Table(name, description, cols, tuple(primary_key), indexed, time_column)


def literal(text: str) -> str:
    """A SQL string literal of ``text``, for the statements that take no bound parameter (ATTACH and LOAD of a local
    path); everything else binds its values."""
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    """Quote an identifier that comes from the code's own table registry (never from user input)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'


# The alerts' tables (the alerts package writes them at the end of each collection cycle; see docs/ALERTS.md):
# Sextant's own, like the tables below, so every store has them from its first migration.
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

LEASE = table("sextant_alert_lease", "The alerts' evaluation lease: one row (made by the store's migration) that every "
              "evaluation rewrites first in its transaction, so that two evaluations that overlap (two collector "
              "shards) change the same row and the store refuses the second's commit (DuckLake: a conflict), whatever "
              "else they write; the refused one evaluates again at its next cycle, on what the first committed.", [
                  ("name", "VARCHAR", "Always 'evaluation'."),
                  ("evaluated_at", "TIMESTAMPTZ", "When the last evaluation that committed started."),
              ], ["name"], account_scoped=False)

ALERT_TABLES: tuple[Table, ...] = (ALERT, EVENT, RULE, DELIVERY, ATTEMPT, LEASE)

SYSTEM_TABLES = (
    table("sextant_collection_run", "One row per source, account and region each time the collectors run.", [
        ("run_id", "VARCHAR", "Identifier of the collection cycle; shared by the sources of one cycle."),
        ("source", "VARCHAR", "Collector that ran (see collectors/__init__.py)."),
        ("started_at", "TIMESTAMPTZ", "When the source started."),
        ("ended_at", "TIMESTAMPTZ", "When the source finished or failed."),
        ("status", "VARCHAR",
         "succeeded, partial (an optional sub-call failed: see error and hint), failed or skipped."),
        ("rows", "BIGINT", "Rows written (inserted or updated) by the source."),
        ("api_calls", "BIGINT", "AWS API calls the source made."),
        ("api_calls_by_operation", "JSON", "AWS API calls by service:Operation."),
        ("estimated_cost_usd", "DOUBLE", "AWS list price of the billed calls (Cost Explorer, GetMetricData)."),
        ("error", "VARCHAR", "Error message when the source failed."),
        ("hint", "VARCHAR", "What to do about the error, e.g. the IAM permission to grant."),
        ("shard", "VARCHAR", "The collector shard that ran it (K/N, python -m collectors run --shard K/N); blank for "
                             "an unsharded collector."),
    ], ["run_id", "source"]),
    table("sextant_maintenance_run", "One row per maintenance of a DuckLake store by a collector (expire old "
          "snapshots, merge small files, write inlined rows out, delete unneeded files).", [
        ("started_at", "TIMESTAMPTZ", "When the maintenance started."),
        ("ended_at", "TIMESTAMPTZ", "When it finished or failed."),
        ("status", "VARCHAR", "succeeded or failed."),
        ("snapshots_before", "BIGINT", "Snapshots in the catalog before."),
        ("snapshots_after", "BIGINT", "Snapshots in the catalog after (those newer than [store] keep_snapshots)."),
        ("files_before", "BIGINT", "Data and delete files the current snapshot reads, before."),
        ("files_after", "BIGINT", "Data and delete files the current snapshot reads, after."),
        ("files_tracked_after", "BIGINT", "Data and delete files the catalog still tracks after (older snapshots'"
                                          " included)."),
        ("error", "VARCHAR", "Why it failed."),
    ], ["started_at"], account_scoped=False),
    table("sextant_watermark", "Per-source cursors for incremental collection, advanced with the data.", [
        ("source", "VARCHAR", "Collector the cursor belongs to."),
        ("key", "VARCHAR", "What the cursor tracks (a series, a log stream, 'last_modified', ...)."),
        ("value", "VARCHAR", "Cursor value, usually an ISO-8601 timestamp."),
        ("updated_at", "TIMESTAMPTZ", "When the cursor last moved."),
    ], ["source", "key"]),
    table("sextant_table_doc", "Data dictionary: every table of the store.", [
        ("table_name", "VARCHAR", "Table name."),
        ("description", "VARCHAR", "What one row is."),
        ("primary_key", "VARCHAR", "Comma-separated primary key columns."),
    ], ["table_name"], account_scoped=False),
    table("sextant_column_doc", "Data dictionary: every column of every table.", [
        ("table_name", "VARCHAR", "Table name."),
        ("column_name", "VARCHAR", "Column name."),
        ("position", "INTEGER", "Column position, from 1."),
        ("data_type", "VARCHAR", "DuckDB type."),
        ("description", "VARCHAR", "What the column holds, with its unit."),
    ], ["table_name", "column_name"], account_scoped=False),
    table("sextant_source", "The collectors' registry: every source, the tables it fills and what it reads first.", [
        ("source", "VARCHAR", "Collector name (python -m collectors run --source NAME)."),
        ("tables", "VARCHAR[]", "Tables the source fills."),
        ("depends_on", "VARCHAR[]", "Sources whose rows it reads; they run before it in a cycle."),
        ("global_service", "BOOLEAN", "Collected once per account (a global service such as Cost Explorer)."),
    ], ["source"], account_scoped=False),
    table("sextant_schema", "Schema version of the store.", [
        ("version", "INTEGER", "Schema version number."),
        ("migrated_at", "TIMESTAMPTZ", "When the store was migrated to it."),
    ], ["version"], account_scoped=False),
    *ALERT_TABLES,
)


@dataclass(frozen=True)
class SourceDoc:
    """What the store records of a source (``sextant_source``), so that readers need not import collectors."""

    name: str
    tables: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    global_service: bool = False
