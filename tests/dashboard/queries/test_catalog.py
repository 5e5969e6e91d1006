"""dashboard.queries.catalog on tiny stores: the data dictionary, and the SQL box that runs one SELECT and refuses
everything else."""

from __future__ import annotations

import pytest

import collectors
from dashboard.queries import catalog
from sextant.schema import SYSTEM_TABLES


def _endpoint(name: str) -> dict:
    return {"account_id": "111111111111", "region": "us-east-1", "endpoint_name": name, "team": "vision"}


def test_every_table_is_documented_with_its_row_count(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("a"), _endpoint("b")])
    tables = catalog.tables_doc().set_index("table_name")
    assert set(tables.index) == {t.name for t in (*SYSTEM_TABLES, *collectors.all_tables())}
    assert tables.description.str.len().gt(0).all()
    assert tables.loc["aws_sagemaker_endpoint", "rows"] == 2
    assert tables.loc["aws_sagemaker_endpoint", "primary_key"] == "account_id, region, endpoint_name"


def test_columns_of_one_table_in_order(tiny_store):
    tiny_store()
    cols = catalog.columns_doc("aws_cost_daily")
    assert set(cols.table_name) == {"aws_cost_daily"}
    assert list(cols.column_name[:3]) == ["account_id", "region", "date"]
    assert len(catalog.columns_doc()) > len(cols)


@pytest.mark.parametrize(("sql", "message"), [
    ("", "Type a SELECT"),
    ("DELETE FROM aws_sagemaker_endpoint", "Only SELECT"),
    ("DROP TABLE aws_sagemaker_endpoint", "Only SELECT"),
    ("SELECT 1; DROP TABLE aws_sagemaker_endpoint", "Only one statement"),
    ("SELECT 1 /* ; */; SELECT 2", "Only one statement"),
    ("SELEKT 1", "Not valid SQL"),
    ("SELECT " + "1" * catalog.MAX_SQL_CHARS, "longer than"),
])
def test_the_sql_box_refuses_anything_but_one_select(sql, message):
    with pytest.raises(catalog.UserSQLError, match=message):
        catalog.validate_user_sql(sql)


def test_the_sql_box_accepts_a_with_select_and_drops_the_semicolon():
    assert catalog.validate_user_sql("  WITH x AS (SELECT 1 AS n) SELECT n FROM x;  ") == \
        "WITH x AS (SELECT 1 AS n) SELECT n FROM x"
    assert catalog.validate_user_sql("SELECT ';' AS s -- ; DROP") == "SELECT ';' AS s -- ; DROP"


def test_run_user_sql_returns_rows_up_to_the_limit(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint(n) for n in "abc"])
    df = catalog.run_user_sql("SELECT endpoint_name FROM aws_sagemaker_endpoint ORDER BY 1")
    assert list(df.endpoint_name) == ["a", "b", "c"] and not df.attrs["truncated"]
    two = catalog.run_user_sql("SELECT endpoint_name FROM aws_sagemaker_endpoint ORDER BY 1", limit=2)
    assert list(two.endpoint_name) == ["a", "b"] and two.attrs["truncated"]


def test_run_user_sql_cannot_reach_files_or_write(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("a")])
    with pytest.raises(catalog.UserSQLError, match="disabled"):
        catalog.run_user_sql("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(catalog.UserSQLError, match="Only SELECT"):
        catalog.run_user_sql("DELETE FROM aws_sagemaker_endpoint")
    with pytest.raises(catalog.UserSQLError):  # the parenthesis cannot be closed to smuggle a clause
        catalog.run_user_sql("SELECT 1) AS q; DROP TABLE aws_sagemaker_endpoint; SELECT * FROM (SELECT 1")
    assert len(catalog.run_user_sql("SELECT * FROM aws_sagemaker_endpoint")) == 1


def test_run_user_sql_stops_a_query_at_the_timeout(tiny_store):
    tiny_store()
    with pytest.raises(catalog.UserSQLError, match="longer than"):
        catalog.run_user_sql("SELECT count(*) FROM range(10000000000) a", timeout_s=0.2)


def test_run_user_sql_on_an_empty_store_says_to_collect(tmp_path, monkeypatch):
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "nothing"))
    with pytest.raises(catalog.UserSQLError, match="Nothing has been collected"):
        catalog.run_user_sql("SELECT 1")
