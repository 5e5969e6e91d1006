"""The pages of the app, defined once: the navigation, page links, switches and URL links all use these.

``PAGES`` is in navigation order (the first is the default). Each entry is an ``st.Page`` built lazily (a
page object is only valid inside a Streamlit run); pages link with ``st.page_link(nav.page(nav.LOGS), ...)``
and build same-app URLs with :func:`url`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import streamlit as st

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
AUDIT = PageSpec("pages/audit.py", "Audit log", ":material/history:", "audit")
COLLECTION = PageSpec("pages/collection.py", "Collection", ":material/sync:", "collection")
DATA = PageSpec("pages/data.py", "Data dictionary", ":material/table_view:", "data")

PAGES = [OVERVIEW, ENDPOINTS, TRAINING, PIPELINES, MODELS, COST, LOGS, INCIDENT, AUDIT, COLLECTION, DATA]


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


def url(spec: PageSpec, **params: str) -> str:
    """A same-app relative URL to ``spec`` with query parameters (for link columns in tables)."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return spec.url_path + (f"?{query}" if query else "")
