"""The alerts' lifecycle on tiny stores: pending -> firing -> resolved, once per episode, whatever the cycles."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import pytest

import alerts
from alerts import rules
from tests.alerts.conftest import T0, traffic

HOOK = {"hook": {"type": "webhook", "target_env": "SEXTANT_TEST_HOOK"}}


def counts(store) -> tuple[int, int]:
    [(events,)] = store.rows("SELECT count(*) FROM sextant_alert_event")
    [(deliveries,)] = store.rows("SELECT count(*) FROM sextant_alert_delivery")
    return events, deliveries


def test_a_rule_fires_once_across_repeated_evaluations_and_resolves_once(store):
    store.configure(channels=HOOK)
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120), traffic("ep-ok", 1000, 1)])
    first = store.evaluate(T0)
    assert [(t[0], t[1], t[3]) for t in first.transitions] == [
        ("endpoint_5xx_rate", "123456789012/us-east-1/ep-a", "pending"),
        ("endpoint_5xx_rate", "123456789012/us-east-1/ep-a", "firing")]
    fired = store.alert("endpoint_5xx_rate")
    assert (fired["state"], fired["episode"], fired["value"]) == ("firing", 1, pytest.approx(0.12))
    assert counts(store) == (2, 1)

    for minutes in (1, 2, 3):  # the same state: no transition, no message, the same episode
        assert store.evaluate(T0 + timedelta(minutes=minutes)).transitions == []
    assert counts(store) == (2, 1)
    again = store.alert("endpoint_5xx_rate")
    assert (again["state"], again["episode"], again["started_at"], again["fired_at"]) == \
        ("firing", 1, fired["started_at"], fired["fired_at"])

    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 2)])
    resolved = store.evaluate(T0 + timedelta(minutes=5))
    assert [t[2:] for t in resolved.transitions] == [("firing", "resolved")]
    store.evaluate(T0 + timedelta(minutes=6))
    assert counts(store) == (3, 2)
    assert store.rows("SELECT kind, status, channel FROM sextant_alert_delivery ORDER BY created_at, kind") == [
        ("fired", "pending", "hook"), ("resolved", "pending", "hook")]
    [(text,)] = store.rows("SELECT text FROM sextant_alert_delivery WHERE kind = 'resolved'")
    assert "RESOLVED" in text and "ep-a" in text and "0.20 %" in text and "endpoint_5xx_rate" in text
    assert store.alert("endpoint_5xx_rate")["state"] == "resolved"


def test_an_alert_is_pending_until_its_for_duration_then_fires(store):
    store.configure(channels=HOOK)
    store.put("aws_cloudwatch_endpoint_summary", [
        {"account_id": "1", "region": "r", "endpoint_name": "slow", "invocations_1h": 50, "p99_1h_us": 900_000,
         "p99_baseline_us": 100_000}])
    store.evaluate(T0)
    assert store.alert("endpoint_p99_over_baseline")["state"] == "pending"
    store.evaluate(T0 + timedelta(minutes=9))
    assert store.alert("endpoint_p99_over_baseline")["state"] == "pending"
    assert counts(store) == (1, 0)  # pending sends nothing
    store.evaluate(T0 + timedelta(minutes=10))
    assert store.alert("endpoint_p99_over_baseline")["state"] == "firing"
    assert counts(store) == (2, 1)


def test_a_pending_alert_that_clears_goes_inactive_silently_and_a_new_breach_is_a_new_episode(store):
    store.configure(channels=HOOK)
    row = {"account_id": "1", "region": "r", "endpoint_name": "slow", "invocations_1h": 50, "p99_1h_us": 900_000,
           "p99_baseline_us": 100_000}
    store.put("aws_cloudwatch_endpoint_summary", [row])
    store.evaluate(T0)
    store.put("aws_cloudwatch_endpoint_summary", [{**row, "p99_1h_us": 110_000}])
    store.evaluate(T0 + timedelta(minutes=5))
    assert store.alert("endpoint_p99_over_baseline")["state"] == "inactive"
    assert counts(store) == (2, 0)
    store.put("aws_cloudwatch_endpoint_summary", [row])
    store.evaluate(T0 + timedelta(minutes=6))
    again = store.alert("endpoint_p99_over_baseline")
    assert (again["state"], again["episode"]) == ("pending", 2)


def test_one_alert_per_rule_and_resource_is_the_tables_key(store):
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    with pytest.raises(duckdb.ConstraintException):
        store.rows("INSERT INTO sextant_alert (rule, resource, episode, state) VALUES (?, ?, 1, 'firing')",
                   ["endpoint_5xx_rate", "123456789012/us-east-1/ep-a"])
    assert store.rows("SELECT count(*) FROM sextant_alert") == [(1,)]


def test_a_failing_rule_is_recorded_and_leaves_its_alerts_as_they_were(store):
    store.configure(rules={"mine": {"sql": "SELECT endpoint_name AS resource, invocations AS value "
                                           "FROM aws_cloudwatch_endpoint_traffic", "threshold": 10}})
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 0)])
    store.evaluate(T0)
    assert store.alert("mine")["state"] == "firing"
    store.configure(rules={"mine": {"sql": "SELECT endpoint_name AS resource, invocations AS value "
                                           "FROM no_such_table", "threshold": 10}})
    result = store.evaluate(T0 + timedelta(minutes=1))
    assert "mine" in result.errors and "no_such_table" in result.errors["mine"]
    assert store.alert("mine")["state"] == "firing"
    assert store.rows("SELECT status FROM sextant_alert_rule WHERE rule = 'mine'") == [("error",)]


@pytest.mark.parametrize("sql, message", [
    ("DELETE FROM aws_sagemaker_endpoint", "a DELETE statement is refused"),
    ("SELECT 1 AS resource, 1 AS value; DROP TABLE aws_sagemaker_endpoint", "exactly one SELECT"),
    ("CREATE TABLE x AS SELECT 1 AS resource, 1 AS value", "a CREATE statement is refused"),
    ("SELECT 1 AS resource, $other AS value", "unknown parameter(s) other"),
    ("SELEC 1", "does not parse"),
])
def test_user_sql_that_is_not_one_read_only_select_is_refused(store, sql, message):
    store.put("aws_sagemaker_endpoint", [{"account_id": "1", "region": "r", "endpoint_name": "keep"}])
    store.configure(rules={"bad": {"sql": sql, "threshold": 0}})
    with pytest.raises(alerts.AlertConfigError, match="alerts.rules.bad") as err:
        store.evaluate(T0)
    assert message in str(err.value)
    assert store.rows("SELECT endpoint_name FROM aws_sagemaker_endpoint") == [("keep",)]
    assert store.rows("SELECT count(*) FROM sextant_alert_rule") == [(0,)]  # nothing evaluated


def test_a_rule_runs_in_a_read_only_transaction_whatever_its_text(store):
    store.put("aws_sagemaker_endpoint", [{"account_id": "1", "region": "r", "endpoint_name": "keep"}])
    writer = rules.Rule("w", "writes", "info", "DELETE FROM aws_sagemaker_endpoint", 0)
    with pytest.raises(rules.RuleError, match="read-only"):
        rules.run(store.writer.con, writer, T0)
    assert store.rows("SELECT endpoint_name FROM aws_sagemaker_endpoint") == [("keep",)]


@pytest.mark.parametrize("channels, message", [
    ({"x": {"type": "webhook", "target": "https://hooks.slack.com/services/T/B/secret"}}, "never kept in the settings"),
    ({"x": {"type": "pager"}}, "must be one of"),
    ({"x": {"type": "sns", "target": "not-an-arn"}}, "expected a topic ARN"),
    ({"x": {"type": "sns", "target_env": "lower"}}, "name an environment variable"),
    ({"x": {"type": "webhook", "target_env": "HOOK", "rate_per_minute": 0}}, "between 1 and 10000"),
    ({"x": {"type": "webhook", "target_env": "HOOK", "url": "https://x"}}, "unknown key alerts.channels.x.url"),
])
def test_a_wrong_channel_gets_a_clear_message(store, channels, message):
    store.configure(channels=channels)
    with pytest.raises(alerts.AlertConfigError, match="alerts.channels.x") as err:
        store.evaluate(T0)
    assert message in str(err.value)
    assert "secret" not in str(err.value).replace("never kept in the settings", "").replace("is a secret", "")


def test_a_rule_naming_an_unknown_channel_is_refused(store):
    store.configure(channels=HOOK, rules={"r": {"sql": "SELECT 1 AS resource, 1 AS value", "threshold": 0,
                                                "channels": ["nope"]}})
    with pytest.raises(alerts.AlertConfigError, match="unknown channel"):
        store.evaluate(T0)


def test_user_rules_are_scoped_and_carry_their_channels(store):
    store.configure(channels={**HOOK, "other": {"type": "webhook", "target_env": "OTHER_HOOK"}},
                    rules={"busy": {"sql": "SELECT endpoint_name AS resource, invocations AS value, account_id, "
                                           "endpoint_name FROM aws_cloudwatch_endpoint_traffic",
                                    "threshold": 100, "endpoints": ["ep-a"], "channels": ["other"],
                                    "for": "0s", "severity": "info"}})
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 0), traffic("ep-b", 1000, 0)])
    store.evaluate(T0)
    assert store.rows("SELECT resource, state FROM sextant_alert WHERE rule = 'busy'") == [("ep-a", "firing")]
    assert store.rows("SELECT channel FROM sextant_alert_delivery WHERE rule = 'busy'") == [("other",)]


def test_a_user_rule_scoped_to_projects_fires_only_for_theirs(store):
    store.configure(channels=HOOK,
                    rules={"busy_by_project": {
                        "sql": "SELECT t.endpoint_name AS resource, t.invocations AS value, e.project "
                               "FROM aws_cloudwatch_endpoint_traffic t JOIN aws_sagemaker_endpoint e "
                               "USING (account_id, region, endpoint_name)",
                        "threshold": 100, "projects": ["fraud-scoring"]}})
    acc = {"account_id": "123456789012", "region": "us-east-1"}
    store.put("aws_sagemaker_endpoint", [{**acc, "endpoint_name": "ep-a", "project": "fraud-scoring"},
                                         {**acc, "endpoint_name": "ep-b", "project": "search"}])
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 0), traffic("ep-b", 1000, 0)])
    store.evaluate(T0)
    assert store.rows("SELECT resource, state FROM sextant_alert WHERE rule = 'busy_by_project'") == [
        ("ep-a", "firing")]
    with pytest.raises(alerts.AlertConfigError, match=r"alerts.rules.bad.projects"):
        store.configure(channels=HOOK, rules={"bad": {"sql": "SELECT 1 AS resource, 1 AS value", "threshold": 0,
                                                      "projects": "fraud-scoring"}})
        store.evaluate(T0)
