"""Read queries of the data dictionary: every table and column of the store, and the read-only SQL box.

**The SQL box** (:func:`run_user_sql`) is the one sanctioned place where user text reaches SQL; see there.
"""

from __future__ import annotations

import dataclasses

import duckdb
import pandas as pd

from dashboard import sandbox
from dashboard.data import query, reader
from sextant.schema import ident


def tables_doc() -> pd.DataFrame:
    """Every table of the store with its description, primary key, column count and row count estimate."""
    return query("""
        SELECT d.table_name, d.description, d.primary_key, count(c.column_name) AS columns,
               any_value(t.estimated_size) AS rows
        FROM sextant_table_doc d
        LEFT JOIN sextant_column_doc c USING (table_name)
        LEFT JOIN duckdb_tables() t ON t.table_name = d.table_name
        GROUP BY ALL ORDER BY d.table_name
    """)


def columns_doc(table_name: str | None = None) -> pd.DataFrame:
    """Every column (of one table, or of all) with its position, type and description."""
    return query("""
        SELECT table_name, position, column_name, data_type, description FROM sextant_column_doc
        WHERE ? IS NULL OR table_name = ? ORDER BY table_name, position
    """, [table_name, table_name])


class UserSQLError(ValueError):
    """The SQL box refused or failed the statement; the message says why, for the user."""


MAX_SQL_CHARS = 20_000


def example_sql(table_name: str) -> str:
    """The SQL box's starting text for a table of the dictionary."""
    return f"SELECT *\nFROM {ident(table_name)}\nLIMIT 20"


def validate_user_sql(sql: str) -> str:
    """The single SELECT (or WITH ... SELECT) statement in ``sql``, without a trailing semicolon.

    Parsed by DuckDB itself, so comments and string literals cannot hide a second statement."""
    text = (sql or "").strip()
    if not text:
        raise UserSQLError("Type a SELECT statement, e.g. SELECT * FROM aws_sagemaker_endpoint.")
    if len(text) > MAX_SQL_CHARS:
        raise UserSQLError(f"The statement is longer than {MAX_SQL_CHARS:,} characters.")
    try:
        statements = duckdb.extract_statements(text)
    except duckdb.Error as exc:
        raise UserSQLError(f"Not valid SQL: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise UserSQLError(f"Only one statement can run at a time; this has {len(statements)}. "
                           "Remove everything after the first semicolon.")
    st = statements[0]
    if st.type != duckdb.StatementType.SELECT:
        kind = st.type.name.replace("_STATEMENT", "")
        raise UserSQLError(f"Only SELECT (or WITH ... SELECT) queries can run here; this is a {kind} statement. "
                           "The store is read-only: collectors write it.")
    return st.query.strip().rstrip(";").strip()


def run_user_sql(sql: str, limit: int = 1000, timeout_s: float = 10.0, *, owner: str | None = None,
                 limits: sandbox.Limits | None = None) -> pd.DataFrame:
    """Run a user's SELECT on the newest snapshot, bounded in rows, time, memory, disk and result bytes.

    Safety, in layers: (1) the text must parse, by DuckDB's own parser, as exactly one SELECT/WITH
    statement; (2) it is wrapped as ``SELECT * FROM (<sql>) LIMIT n``, and the wrapped text is parsed again
    (so it cannot close the parenthesis and smuggle a second clause or statement); (3) it runs in a child process
    (:mod:`dashboard.sandbox`) that attaches the snapshot READ_ONLY on a private in-memory DuckDB with external
    access (files, network, extensions, further ATTACHes) disabled and the configuration locked, under an
    address-space limit, DuckDB's memory limit, one thread and capped temp files in a private directory; (4) the
    child is killed at ``timeout_s`` and its result is cut at a byte cap; (5) one query per ``owner`` (a session) at
    a time. Raises :class:`UserSQLError` with a message. The frame's ``attrs``: ``truncated`` (the row limit was
    reached) and ``cut`` (the byte cap was)."""
    inner = validate_user_sql(sql)
    limit = max(1, min(int(limit), 100_000))
    wrapped = f"SELECT * FROM (\n{inner}\n) AS user_query LIMIT {limit}"  # noqa: S608 - validated, sandboxed
    parsed = duckdb.extract_statements(wrapped)
    if len(parsed) != 1 or parsed[0].type != duckdb.StatementType.SELECT:
        raise UserSQLError("The statement could not be bounded safely; write it as a plain SELECT.")
    r = reader()
    name = r.current()
    if name is None:
        raise UserSQLError("Nothing has been collected yet: run `python -m collectors run` first.")
    limits = dataclasses.replace(limits or sandbox.Limits(), timeout_s=float(timeout_s))
    try:
        result = sandbox.run(r.location / "snapshots" / name, wrapped, limits, owner=owner)
    except sandbox.SandboxError as exc:
        raise UserSQLError(str(exc)) from None
    df = result.table.to_pandas()
    df.attrs["truncated"] = len(df) >= limit
    df.attrs["cut"] = result.cut
    df.attrs["result_mb"] = limits.result_bytes // sandbox.MiB
    return df
