"""dashboard.queries.endpoints on tiny stores."""

from __future__ import annotations

from datetime import UTC, datetime

from dashboard.queries import endpoints as eq
from tests.dashboard.queries.conftest import f

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _ep(name, team="vision", account="111111111111", region="us-east-1", **kw):
    return {"account_id": account, "region": region, "endpoint_name": name, "team": team, "project": "p",
            "env": "prod", "status": "InService", "creation_time": T0, "last_modified_time": T0,
            "endpoint_config_name": f"{name}-cfg", **kw}


def test_endpoint_list_has_the_columns_and_orders_by_team_then_name(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("b", team="z"), _ep("c"), _ep("a")])
    df = eq.endpoint_list(f())
    assert list(df.columns) == eq.ENDPOINT_LIST_COLUMNS
    assert list(df.endpoint_name) == ["a", "c", "b"]
    assert str(df.creation_time.dt.tz) == "UTC"


def test_endpoint_list_follows_the_scope_filters(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_ep("a"), _ep("b", region="eu-west-1"), _ep("c", team="nlp"),
                                       _ep("d", account="222222222222")])
    assert list(eq.endpoint_list(f(regions=["eu-west-1"])).endpoint_name) == ["b"]
    assert list(eq.endpoint_list(f(teams=["nlp"])).endpoint_name) == ["c"]
    assert list(eq.endpoint_list(f(accounts=["222222222222"])).endpoint_name) == ["d"]


def test_endpoint_list_of_an_empty_store_has_the_columns(tiny_store):
    tiny_store()
    df = eq.endpoint_list(f())
    assert df.empty and list(df.columns) == eq.ENDPOINT_LIST_COLUMNS
