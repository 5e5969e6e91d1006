"""Data dictionary: every table and column of the store, and a read-only SQL box.

The SQL box is the one place where text a user types reaches SQL. It is safe by construction, in
``dashboard.queries.catalog.run_user_sql``: DuckDB's own parser must find exactly one SELECT/WITH statement
(anything else — DELETE, DROP, a second statement after a semicolon — is refused with a message);
it is wrapped as ``SELECT * FROM (...) LIMIT n`` and re-parsed; it runs in a child process (``dashboard.sandbox``)
that attaches the published snapshot READ_ONLY with file, network and extension access disabled and the
configuration locked, under memory, temp-file and result caps, and is killed at the timeout. The collector's store
is never touched. ``[auth] sql_box`` says who may use it.
"""

from __future__ import annotations

import uuid

import streamlit as st

from dashboard import sandbox, ui
from dashboard.auth import current_actor
from dashboard.queries import catalog
from sextant.settings import load

st.title("Data dictionary")
st.caption("The store is a product surface: every table Sextant collects, every column with its meaning and "
           "unit, and a read-only SQL box over the newest snapshot. Timestamps are UTC.")

tables = catalog.tables_doc()
if tables.empty:
    ui.empty("The store is empty: run `python -m collectors run` (or `make demo`) to collect, then reload.")
    st.stop()

left, right = st.container(), st.container()
with left:
    st.subheader(ui.plural(len(tables), "table"))
    needle = st.text_input("Find a table or column", key="dd_find", placeholder="e.g. latency, team, cost")
    cols = catalog.columns_doc()
    shown = tables
    if needle:
        n = needle.lower()
        hit = cols[cols.column_name.str.lower().str.contains(n, regex=False)
                   | cols.description.str.lower().str.contains(n, regex=False)].table_name
        shown = tables[tables.table_name.str.lower().str.contains(n, regex=False)
                       | tables.description.str.lower().str.contains(n, regex=False) | tables.table_name.isin(hit)]
    event = ui.table(shown[["table_name", "description", "rows", "columns", "primary_key"]], "data_tables",
                     on_select="rerun", height=420, column_config={
                         "table_name": st.column_config.TextColumn("table", width=320),
                         "description": st.column_config.TextColumn("description", width="large"),
                         "rows": st.column_config.NumberColumn("rows (est.)", format="%d"),
                         "primary_key": st.column_config.TextColumn("primary key"),
                     })
    rows = event.selection.rows if event is not None else []
    qp_table = st.query_params.get("table")
    if rows:
        selected = shown.iloc[rows[0]].table_name
        st.query_params["table"] = selected
    elif qp_table in set(tables.table_name):
        selected = qp_table
    else:
        selected = shown.table_name.iloc[0] if not shown.empty else tables.table_name.iloc[0]

with right:
    doc = tables[tables.table_name == selected].iloc[0]
    st.subheader(f"Columns of `{selected}`")
    st.caption("Select a table above to see its columns.")
    st.write(doc.description)
    st.caption(f"Primary key: {doc.primary_key} · about {int(doc.rows or 0):,} rows")
    table_cols = cols[cols.table_name == selected]
    ui.table(table_cols[["position", "column_name", "data_type", "description"]], "data_columns",
             column_config={"position": st.column_config.NumberColumn("#", width="small"),
                            "column_name": "column", "data_type": "type",
                            "description": st.column_config.TextColumn("description", width="large")})

st.divider()
st.subheader("Query the store")
actor = current_actor()
refused = sandbox.refusal(load().auth.sql_box, actor.name, actor.role)
if refused:
    st.info(refused, icon=":material/lock:")
    st.stop()
box = sandbox.Limits()
st.caption(f"Read-only: one SELECT (or WITH … SELECT) statement on the newest snapshot, in a process of its own: at "
           f"most the row limit and {box.result_bytes // sandbox.MiB} MB of result, "
           f"{box.duckdb_memory_bytes // sandbox.MiB} MB of memory and {box.temp_bytes // sandbox.MiB} MB of temp "
           "files, one CPU, stopped at the timeout. Files, network and extensions are off; other statements are "
           "refused. One query at a time.")
example = catalog.example_sql(selected)
with st.form("sql_box"):
    sql = st.text_area("SQL", value=st.session_state.get("dd_sql_last") or example, height=160, key="dd_sql")
    c1, c2, c3 = st.columns([1, 1, 4])
    limit = c1.number_input("Row limit", min_value=1, max_value=100_000, value=1000, step=100, key="dd_limit")
    timeout = c2.number_input("Timeout (s)", min_value=1, max_value=60, value=10, key="dd_timeout")
    submitted = st.form_submit_button("Run", icon=":material/play_arrow:", type="primary")

if submitted:
    st.session_state["dd_sql_last"] = sql
    owner = st.session_state.setdefault("dd_sql_owner", uuid.uuid4().hex)  # one query per session at a time
    try:
        with st.spinner("Running…"):
            result = catalog.run_user_sql(sql, limit=int(limit), timeout_s=float(timeout), owner=owner)
    except catalog.UserSQLError as exc:
        st.error(ui.plain(str(exc)), icon=":material/block:")  # may quote stored (AWS) values: text, not Markdown
    else:
        note = " (the row limit; raise it or aggregate to see more)" if result.attrs.get("truncated") else ""
        if result.attrs.get("cut"):
            st.warning(f"The result was cut at {result.attrs['result_mb']} MB: {len(result):,} rows are shown. "
                       "Select fewer columns, or aggregate.", icon=":material/content_cut:")
        else:
            st.caption(f"{len(result):,} rows{note}")
        ui.table(result, "data_sql_result", human=False)
