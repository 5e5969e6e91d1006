"""The pages of the app, defined once: the navigation, page links, switches and URL links all use these.

``PAGES`` is in navigation order (the first is the default). Each entry is an ``st.Page`` built lazily (a
page object is only valid inside a Streamlit run). Every link to another page keeps the viewer's context: its query
parameters are :func:`params` (the sidebar's range and scope, plus the target's own), as in
``st.page_link(nav.page(nav.LOGS), label=..., query_params=nav.params(resource=name))`` or, from a table the viewer
clicks in, ``nav.go(nav.ENDPOINTS, endpoint=name)`` (the same tab, never a new one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd
import streamlit as st

from dashboard import filters

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageSpec:
    path: str  # relative to the project root
    title: str
    icon: str
    url_path: str
    sources: tuple[str, ...] = ()  # the collector sources whose data the page shows (a stale one gets a banner)


_ENDPOINT_SOURCES = ("sagemaker_endpoints", "cloudwatch_metrics", "cloudwatch_alarms", "application_autoscaling")
OVERVIEW = PageSpec("pages/overview.py", "Overview", ":material/dashboard:", "overview",
                    (*_ENDPOINT_SOURCES, "sagemaker_training", "sagemaker_pipelines", "cost_explorer"))
ENDPOINTS = PageSpec("pages/endpoints.py", "Endpoints", ":material/dns:", "endpoints", _ENDPOINT_SOURCES)
TRAINING = PageSpec("pages/training.py", "Training", ":material/model_training:", "training",
                    ("sagemaker_training", "sagemaker_processing"))
PIPELINES = PageSpec("pages/pipelines.py", "Pipelines", ":material/account_tree:", "pipelines",
                     ("sagemaker_pipelines", "stepfunctions"))
MODELS = PageSpec("pages/models.py", "Models", ":material/inventory_2:", "models",
                  ("sagemaker_registry", "sagemaker_endpoints"))
COST = PageSpec("pages/cost.py", "Cost", ":material/payments:", "cost", ("cost_explorer",))
LOGS = PageSpec("pages/logs.py", "Logs", ":material/article:", "logs", ("cloudwatch_logs",))
INCIDENT = PageSpec("pages/incident.py", "Incident timeline", ":material/timeline:", "incident",
                    ("cloudwatch_metrics", "cloudwatch_alarms", "cloudwatch_logs"))
ALERTS = PageSpec("pages/alerts.py", "Alerts", ":material/notifications_active:", "alerts")
AUDIT = PageSpec("pages/audit.py", "Audit log", ":material/history:", "audit")
COLLECTION = PageSpec("pages/collection.py", "Collection", ":material/sync:", "collection")
DATA = PageSpec("pages/data.py", "Data dictionary", ":material/table_view:", "data")

PAGES = [OVERVIEW, ENDPOINTS, TRAINING, PIPELINES, MODELS, COST, LOGS, INCIDENT, ALERTS, AUDIT, COLLECTION, DATA]


DEFAULT_RESERVED = "home"  # the pathname the default page reserves (Streamlit serves it at "/", not here)


def page(spec: PageSpec) -> st.Page:
    """The ``st.Page`` of ``spec`` (the same object the navigation holds, within a run)."""
    pages = st.session_state.setdefault("_st_pages", {})
    if spec.url_path not in pages:
        default = spec is PAGES[0]  # served at "/"; it reserves a pathname of its own, left to alias()
        pages[spec.url_path] = st.Page(str(ROOT / spec.path), title=spec.title, icon=spec.icon,
                                       url_path=DEFAULT_RESERVED if default else spec.url_path, default=default)
    return pages[spec.url_path]


def spec_of(current: st.Page) -> PageSpec | None:
    """The spec of the page ``st.navigation`` picked (None for the alias)."""
    return next((p for p in PAGES if page(p) is current), None)


def alias() -> st.Page:
    """A hidden page at the default page's own name (``/overview``): the default page lives at ``/``, and a link or
    bookmark that names it opens it, with the link's query parameters, instead of "Page not found"."""
    pages = st.session_state.setdefault("_st_pages", {})
    key = "_alias_" + PAGES[0].url_path
    if key not in pages:
        def to_default() -> None:
            params = {k: st.query_params.get_all(k) for k in st.query_params}
            st.switch_page(page(PAGES[0]), query_params=params or None)

        pages[key] = st.Page(to_default, title=PAGES[0].title, url_path=PAGES[0].url_path, visibility="hidden")
    return pages[key]


def params(**extra: str | list[str] | None) -> dict[str, str | list[str]]:
    """The query parameters of a link to another page: the sidebar's filters as the URL holds them now (the range
    only when the link or the viewer chose it, not a page's default; accounts, regions, teams, projects,
    auto-refresh, the zone times are shown in), then ``extra`` (the target's own: ``endpoint=``, ``job=``...; None
    leaves a key out)."""
    out = filters.url_params(st.query_params)
    chosen = st.session_state.get("_filters")
    if isinstance(chosen, filters.Filters) and not chosen.range_given:
        for key in ("range", "from", "to"):
            out.pop(key, None)
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def go(spec: PageSpec, **extra: str | list[str] | None) -> None:
    """Open ``spec`` in this tab with :func:`params` (for a click in a table: a selection event)."""
    st.switch_page(page(spec), query_params=params(**extra))


def picked_row(event: object, column: str, *, any_cell: bool = False) -> int | None:
    """The position of the row the viewer picked in a selectable table (``ui.table(..., on_select="rerun",
    selection_mode="single-cell")``): a click on a cell of ``column`` (of any column with ``any_cell``), or a
    selected row; None when nothing is picked."""
    selection = getattr(event, "selection", None)
    if selection is None:
        return None
    rows = [r for r, c in selection.get("cells", []) if any_cell or c == column]
    rows += list(selection.get("rows", []))
    return rows[0] if rows else None


def picked(event: object, frame: pd.DataFrame, column: str, *, any_cell: bool = False) -> str | None:
    """The value of ``column`` in the row picked (:func:`picked_row`) of ``frame``, the DataFrame shown; None when
    nothing is picked or the cell is blank."""
    row = picked_row(event, column, any_cell=any_cell)
    if row is None or not 0 <= row < len(frame):
        return None
    value = frame.iloc[row][column]
    return value if isinstance(value, str) and value else None


def url(spec: PageSpec, **extra: str | None) -> str:
    """A same-app relative URL to ``spec`` with :func:`params` (for text that names a link; a table's link column
    would open a new tab and lose the session: select a cell and call :func:`go` instead)."""
    query = urlencode(params(**extra), doseq=True)
    return spec.url_path + (f"?{query}" if query else "")
