"""A page view costs zero AWS calls: every page renders from the store alone."""

from __future__ import annotations

import botocore.client

from dashboard.nav import PAGES


def test_rendering_every_page_makes_no_aws_call(app, monkeypatch):
    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        calls.append(f"{self.meta.service_model.service_name}:{operation_name}")
        return real(self, operation_name, api_params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    for spec in PAGES:
        app(spec.path)
    app("pages/endpoints.py", endpoint="fraud-txn-scorer-prod")
    assert calls == []
