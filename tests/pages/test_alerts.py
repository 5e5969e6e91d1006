"""The Alerts page on a tiny store (fast tier): firing and pending alerts, the rules' last evaluation, the channels'
health; and Overview's "Needs attention" links to it while an alert fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamlit.testing.v1 import AppTest

from tests.conftest import APP
from tests.dashboard.queries.conftest import tiny_store  # noqa: F401 - the fixture

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def _alert(resource, state, severity="critical", rule="endpoint_5xx_rate"):
    t = NOW - timedelta(minutes=20)
    return {"rule": rule, "resource": f"111111111111/us-east-1/{resource}", "episode": 1, "state": state,
            "severity": severity, "value": 0.31, "threshold": 0.05, "comparison": ">", "account_id": "111111111111",
            "region": "us-east-1", "team": "vision", "endpoint_name": resource, "name": resource, "started_at": t,
            "fired_at": t if state == "firing" else None, "last_evaluated_at": NOW}


def _alarm(name: str, state: str, endpoint: str = "fraud-prod") -> dict:
    return {"account_id": "111111111111", "region": "us-east-1", "alarm_name": name, "state_value": state,
            "endpoint_name": endpoint, "variant_name": "AllTraffic", "metric_name": "ModelLatency",
            "extended_statistic": "p99", "comparison_operator": "GreaterThanThreshold", "threshold": 250000.0,
            "state_updated_at": NOW - timedelta(minutes=5)}


def _store(tiny_store):  # noqa: F811
    tiny_store(
        aws_cloudwatch_alarm=[_alarm("sextant-fraud-prod-AllTraffic-p99", "OK"),
                              _alarm("sextant-fraud-prod-AllTraffic-5xx", "ALARM"),
                              _alarm("team-own-alarm", "ALARM")],  # not Sextant's: not in the managed list
        sextant_alert=[_alert("fraud-prod", "firing"), _alert("search-prod", "pending", "warning")],
        sextant_alert_rule=[
            {"rule": "endpoint_5xx_rate", "description": "5xx share of the last hour's invocations",
             "builtin": True, "severity": "critical", "threshold": 0.05, "comparison": ">", "for_s": 300,
             "window": "last hour", "last_evaluated_at": NOW, "status": "ok", "rows": 12, "breaching": 2,
             "duration_ms": 4.0},
            {"rule": "my_rule", "description": "a user rule", "builtin": False, "severity": "warning",
             "threshold": 1.0, "comparison": ">", "for_s": 0, "window": "custom", "last_evaluated_at": NOW,
             "status": "error", "error": "Catalog Error: Table with name nope does not exist", "rows": 0,
             "breaching": 0, "duration_ms": 1.0}],
        sextant_alert_delivery=[{"channel": "oncall-slack", "rule": "endpoint_5xx_rate",
                                 "resource": "111111111111/us-east-1/fraud-prod", "episode": 1, "kind": "fired",
                                 "status": "failed", "attempts": 4, "created_at": NOW, "subject": "s", "text": "t"}],
        sextant_alert_attempt=[{"channel": "oncall-slack", "rule": "endpoint_5xx_rate",
                                "resource": "111111111111/us-east-1/fraud-prod", "episode": 1, "kind": "fired",
                                "attempt": 4, "attempted_at": NOW, "status": "failed", "error": "HTTP 500",
                                "duration_ms": 30.0}])


def _open(page: str = "alerts") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    if page != "overview":
        at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def test_the_alerts_page_shows_what_fires_the_rules_and_the_channels(tiny_store):  # noqa: F811
    _store(tiny_store)
    at = _open()
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Firing"], metrics["Pending"], metrics["Rules failing"], metrics["Channels failing"]) == \
        ("1", "1", "1", "1")
    live = at.dataframe[0].value
    assert live.name.tolist() == ["fraud-prod", "search-prod"] and live.state.tolist() == ["firing", "pending"]
    rules = next(d.value for d in at.dataframe if "description" in d.value.columns)
    assert rules.rule.tolist()[0] == "my_rule"  # the failing rule first, with its error
    assert "does not exist" in rules.error.iloc[0]
    channels = next(d.value for d in at.dataframe if "last_error" in d.value.columns)
    assert channels.channel.tolist() == ["oncall-slack"] and channels.last_error.iloc[0] == "HTTP 500"
    managed = next(d.value for d in at.dataframe if "comparison_operator" in d.value.columns)
    assert managed.alarm_name.tolist() == ["sextant-fraud-prod-AllTraffic-5xx", "sextant-fraud-prod-AllTraffic-p99"]
    assert managed.state_value.tolist() == ["ALARM", "OK"] and managed.statistic.tolist() == ["p99", "p99"]
    assert any("2 alarms, 1 in ALARM" in c.value for c in at.caption)


def test_without_any_evaluation_the_page_says_how_rules_get_evaluated(tiny_store):  # noqa: F811
    tiny_store()
    at = _open()
    assert any("python -m alerts evaluate" in i.value for i in at.info)


def test_overview_links_to_the_alerts_page_while_an_alert_fires(tiny_store):  # noqa: F811
    _store(tiny_store)
    at = _open("overview")
    links = [p for p in at.get("page_link") if "alert firing" in p.proto.label]
    assert links and r"endpoint\_5xx\_rate" in links[0].proto.label  # the rule, as text (Markdown escaped)
    assert links[0].proto.page == "alerts"
