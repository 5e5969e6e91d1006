"""The pages of the app, in navigation order (the first is the default)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageSpec:
    path: str
    title: str
    icon: str
    url_path: str


PAGES = [
    PageSpec("pages/overview.py", "Overview", ":material/dashboard:", "overview"),
    PageSpec("pages/endpoints.py", "Endpoints", ":material/dns:", "endpoints"),
    PageSpec("pages/training.py", "Training", ":material/model_training:", "training"),
    PageSpec("pages/pipelines.py", "Pipelines", ":material/account_tree:", "pipelines"),
    PageSpec("pages/models.py", "Models", ":material/inventory_2:", "models"),
    PageSpec("pages/cost.py", "Cost", ":material/payments:", "cost"),
    PageSpec("pages/logs.py", "Logs", ":material/article:", "logs"),
    PageSpec("pages/incident.py", "Incident timeline", ":material/timeline:", "incident"),
    PageSpec("pages/audit.py", "Audit log", ":material/history:", "audit"),
    PageSpec("pages/collection.py", "Collection", ":material/sync:", "collection"),
    PageSpec("pages/data.py", "Data dictionary", ":material/table_view:", "data"),
]
