"""The data dictionary, generated from the schema: ``python -m collectors.datadoc > docs/DATA_MODEL.md``."""

from __future__ import annotations

import collectors
from sextant.schema import SYSTEM_TABLES, Table


def markdown(tables: list[Table] | None = None) -> str:
    tables = list(tables if tables is not None else collectors.all_tables()) + list(SYSTEM_TABLES)
    out = ["# Data model", "",
           "Generated from the collectors' schema by `python -m collectors.datadoc`; do not edit by hand.",
           "Every table carries `account_id` and `region` unless noted; timestamps are UTC.", ""]
    for t in sorted(tables, key=lambda t: t.name):
        out += [f"## `{t.name}`", "", t.description, "", f"Primary key: {', '.join(t.primary_key)}", "",
                "| column | type | description |", "|---|---|---|"]
        out += [f"| `{c.name}` | {c.type} | {c.description} |" for c in t.columns]
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
