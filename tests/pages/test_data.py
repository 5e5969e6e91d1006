"""Data dictionary: every table documented; the SQL box runs one SELECT and refuses anything else."""

from __future__ import annotations

import pytest


def _run_sql(at, sql: str):
    at.text_area(key="dd_sql").input(sql)
    next(b for b in at.button if b.label == "Run").click()
    return at.run()


def test_every_table_of_the_store_is_listed_with_a_description(app, demo_store):
    tables = {t for (t,) in demo_store.query("SELECT table_name FROM duckdb_tables()")}
    at = app("pages/data.py")
    listed = next(d.value for d in at.dataframe if "table_name" in d.value.columns)
    assert set(listed.table_name) == tables
    assert listed.description.str.len().gt(0).all()


def test_sql_box_returns_the_rows_of_a_select(app, demo_store):
    names = {n for (n,) in demo_store.query("SELECT endpoint_name FROM aws_sagemaker_endpoint")}
    at = _run_sql(app("pages/data.py"), "SELECT endpoint_name FROM aws_sagemaker_endpoint ORDER BY 1")
    assert not at.error
    result = next(d.value for d in at.dataframe if list(d.value.columns) == ["endpoint_name"])
    assert set(result.endpoint_name) == names


@pytest.mark.parametrize(("sql", "message"), [
    ("DELETE FROM aws_sagemaker_endpoint", "Only SELECT"),
    ("SELECT 1; DROP TABLE aws_sagemaker_endpoint", "Only one statement"),
    ("SELECT * FROM read_csv('/etc/passwd')", "disabled"),
])
def test_sql_box_refuses_anything_but_one_select_with_a_message(app, demo_store, sql, message):
    at = _run_sql(app("pages/data.py"), sql)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    [(n,)] = demo_store.query("SELECT count(*) FROM aws_sagemaker_endpoint")
    assert n > 0  # nothing was deleted or dropped
