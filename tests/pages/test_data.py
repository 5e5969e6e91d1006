"""Data dictionary: every table documented; the SQL box runs one SELECT and refuses anything else."""

from __future__ import annotations

import functools

import pytest
from streamlit.testing.v1 import AppTest

from actions.roles import Actor
from dashboard import auth, sandbox, ui
from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture


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


# ------------------------------------------------------------------ the SQL box's audience, cut results, downloads
# On a tiny store built in-process (no emulated account).
ANONYMOUS = Actor("anonymous", "viewer")


def _data_page(tiny_store, tmp_path, monkeypatch, audience="everyone", actor=ANONYMOUS):  # noqa: F811
    tiny_store(aws_sagemaker_endpoint=[{"account_id": "111111111111", "region": "us-east-1", "endpoint_name": n}
                                       for n in ("a", "b")])
    config = tmp_path / "sextant.toml"
    config.write_text(f'[auth]\nsql_box = "{audience}"\n')
    monkeypatch.setenv("SEXTANT_CONFIG", str(config))
    monkeypatch.setattr(auth, "current_actor", lambda settings=None: actor)
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page("../pages/data.py").run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize(("audience", "actor", "allowed"), [
    ("everyone", ANONYMOUS, True),
    ("signed-in", ANONYMOUS, False),
    ("signed-in", Actor("ana@corp.example", "viewer"), True),
    ("operators", Actor("ana@corp.example", "viewer"), False),
    ("operators", Actor("olu@corp.example", "operator"), True),
])
def test_the_sql_box_is_offered_to_its_audience_only(tiny_store, tmp_path, monkeypatch, audience, actor,  # noqa: F811
                                                      allowed):
    at = _data_page(tiny_store, tmp_path, monkeypatch, audience, actor)
    offered = any(t.key == "dd_sql" for t in at.text_area)
    assert offered == allowed
    if not allowed:
        assert any("SQL box is open to" in i.value for i in at.info), [i.value for i in at.info]


def test_a_result_cut_at_the_byte_cap_says_so(tiny_store, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(sandbox, "Limits", functools.partial(sandbox.Limits, result_bytes=sandbox.MiB))
    at = _data_page(tiny_store, tmp_path, monkeypatch)
    at.number_input(key="dd_limit").set_value(100_000)
    at = _run_sql(at, "SELECT repeat('x', 1000) AS s FROM range(50000)")
    assert not at.error, [e.value for e in at.error]
    assert any("cut at 1 MB" in w.value for w in at.warning), [w.value for w in at.warning]
    shown = next(d.value for d in at.dataframe if list(d.value.columns) == ["s"])
    assert 0 < len(shown) < 50_000


def test_downloads_are_built_only_when_clicked(tiny_store, tmp_path, monkeypatch):  # noqa: F811
    built = []
    monkeypatch.setattr(ui, "csv_bytes", lambda df: built.append("csv") or b"")
    monkeypatch.setattr(ui, "parquet_bytes", lambda df: built.append("parquet") or b"")
    at = _run_sql(_data_page(tiny_store, tmp_path, monkeypatch), "SELECT endpoint_name FROM aws_sagemaker_endpoint")
    assert any(list(d.value.columns) == ["endpoint_name"] for d in at.dataframe)
    assert built == []


def test_a_stored_value_in_an_error_is_shown_as_text(tiny_store, tmp_path, monkeypatch):  # noqa: F811
    at = _data_page(tiny_store, tmp_path, monkeypatch)
    at = _run_sql(at, "SELECT CAST('[x](https://evil.example)' AS INTEGER)")
    assert at.error and all("](https" not in e.value for e in at.error), [e.value for e in at.error]
