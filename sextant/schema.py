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


def ident(name: str) -> str:
    """Quote an identifier that comes from the code's own table registry (never from user input)."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not an identifier: {name!r}")
    return f'"{name}"'


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
    ], ["run_id", "source"]),
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
)


@dataclass(frozen=True)
class SourceDoc:
    """What the store records of a source (``sextant_source``), so that readers need not import collectors."""

    name: str
    tables: tuple[str, ...]
    depends_on: tuple[str, ...] = ()
    global_service: bool = False
