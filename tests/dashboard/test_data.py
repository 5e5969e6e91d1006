"""dashboard.data.frame: query results through Arrow, with exactly the frame DuckDB's own .df() gives."""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from dashboard.data import frame

# every column type the dashboard's queries return, each with and without NULLs
COLUMNS = {
    "text": "'v' || x", "text_some_null": "CASE WHEN x % 2 = 0 THEN NULL ELSE 'v' || x END",
    "text_all_null": "NULL::VARCHAR", "json": "json_object('k', x)",
    "int": "x::INTEGER", "int_null": "CASE WHEN x = 1 THEN NULL ELSE x END::INTEGER",
    "bigint_null": "CASE WHEN x = 2 THEN NULL ELSE x END::BIGINT", "hugeint": "sum(x) OVER ()",
    "decimal": "(x / 3)::DECIMAL(10, 2)", "double": "x / 7.0", "double_null": "CASE WHEN x = 0 THEN NULL END::DOUBLE",
    "bool": "x > 1", "bool_null": "CASE WHEN x = 1 THEN NULL ELSE x > 1 END",
    "date": "DATE '2026-01-01' + x::INTEGER", "date_null": "CASE WHEN x = 0 THEN NULL ELSE DATE '2026-01-01' END",
    "timestamptz": "TIMESTAMPTZ '2026-01-01 00:00:00+00' + to_minutes(x)", "timestamp": "TIMESTAMP '2026-01-01'",
    "timestamptz_null": "CASE WHEN x = 3 THEN NULL ELSE TIMESTAMPTZ '2026-01-01 00:00:00+00' END",
}


@pytest.fixture
def cur():
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    yield con.cursor()
    con.close()


def _both(cur, sql: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    return frame(cur.execute(sql)), cur.execute(sql).df()


@pytest.mark.parametrize("rows", [4, 0])
@pytest.mark.parametrize("name", sorted(COLUMNS))
def test_each_column_type_converts_as_duckdb_df_does(cur, name, rows):
    ours, theirs = _both(cur, f"SELECT {COLUMNS[name]} AS c FROM range({rows}) t(x) ORDER BY x")
    assert ours.dtypes.to_dict() == theirs.dtypes.to_dict()
    pd.testing.assert_frame_equal(ours, theirs)


def test_a_whole_row_of_mixed_columns_converts_as_duckdb_df_does(cur):
    cols = ", ".join(f"{expr} AS {name}" for name, expr in COLUMNS.items())
    ours, theirs = _both(cur, f"SELECT {cols} FROM range(5) t(x) ORDER BY x")
    pd.testing.assert_frame_equal(ours, theirs)


def test_nested_and_interval_results_are_left_to_duckdb(cur):
    ours, theirs = _both(cur, "SELECT [x, x] AS l, INTERVAL 5 MINUTE * x AS i, {'a': x} AS s FROM range(3) t(x)")
    pd.testing.assert_frame_equal(ours, theirs)
    assert str(ours.i.dtype).startswith("timedelta64")
