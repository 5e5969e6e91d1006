"""The thinnest end-to-end path: emulated account -> collector -> store -> Endpoints page."""

from __future__ import annotations


def test_endpoints_page_lists_every_endpoint_aws_holds(app, account):
    names = {e["EndpointName"] for e in account.client("sagemaker").list_endpoints(MaxResults=100)["Endpoints"]}
    at = app("pages/endpoints.py")
    table = at.dataframe[0].value
    assert set(table["endpoint_name"]) == names
    assert (table["instances"] >= 1).all()


def test_team_filter_in_the_url_narrows_the_table(app, account):
    at = app("pages/endpoints.py", team="fraud")
    table = at.dataframe[0].value
    assert set(table["team"]) == {"fraud"}
    assert len(table) >= 1
