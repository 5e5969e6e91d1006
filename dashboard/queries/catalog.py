"""Read queries of the data dictionary: every table and column of the store, and the read-only SQL box.

**The SQL box** (:func:`run_user_sql`) is the one sanctioned place where user text reaches SQL; see there.
"""

from __future__ import annotations

import threading

import duckdb
import pandas as pd

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


def run_user_sql(sql: str, limit: int = 1000, timeout_s: float = 10.0) -> pd.DataFrame:
    """Run a user's SELECT on the newest snapshot, bounded in rows and time, sandboxed.

    Safety, in layers: (1) the text must parse, by DuckDB's own parser, as exactly one SELECT/WITH
    statement; (2) it is wrapped as ``SELECT * FROM (<sql>) LIMIT n``, and the wrapped text is parsed again
    (so it cannot close the parenthesis and smuggle a second clause or statement); (3) it runs on a
    private in-memory DuckDB that ATTACHes the snapshot READ_ONLY, with external access (files, network,
    extensions, further ATTACHes) disabled and the configuration locked, a memory and thread cap, and
    (4) it is interrupted after ``timeout_s`` seconds. Raises :class:`UserSQLError` with a message."""
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
    path = str((r.location / "snapshots" / name).resolve())
    con = duckdb.connect(":memory:")
    try:
        # ATTACH takes no bound parameter: the path is the store's own (settings), quoted as a literal
        literal = "'" + path.replace("'", "''") + "'"
        con.execute(f"ATTACH {literal} AS store (READ_ONLY)")
        con.execute("USE store")
        con.execute("SET memory_limit = '1GB'")
        con.execute("SET threads = 2")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        result: dict = {}

        def work() -> None:
            try:
                result["df"] = con.execute(wrapped).df()
            except BaseException as exc:  # reported to the caller below
                result["error"] = exc

        t = threading.Thread(target=work, daemon=True)
        t.start()
        t.join(timeout_s)
        if t.is_alive():
            con.interrupt()
            t.join(5)
            raise UserSQLError(f"The query ran longer than {timeout_s:g} s and was stopped. "
                               "Narrow it with WHERE (e.g. on a date or ts column) or aggregate first.")
        if "error" in result:
            exc = result["error"]
            if isinstance(exc, duckdb.InterruptException):
                raise UserSQLError(f"The query ran longer than {timeout_s:g} s and was stopped.")
            if isinstance(exc, duckdb.Error):
                raise UserSQLError(str(exc).splitlines()[0]) from None
            raise exc
        df = result["df"]
        df.attrs["truncated"] = len(df) >= limit
        return df
    finally:
        con.close()
