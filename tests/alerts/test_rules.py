"""The built-in rules on tiny stores: each fires on the rows it is about and not on the others."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest

from alerts import rules
from tests.alerts.conftest import T0, traffic

ACC = {"account_id": "123456789012", "region": "us-east-1"}


def breaching(store, name: str) -> list[str]:
    [rule] = [r for r in rules.builtins(store.settings) if r.name == name]
    return sorted(r["resource"] for r in rules.run(store.writer.con, rule, T0) if rule.breaches(r["value"]))


def test_a_busy_endpoint_without_invocations_in_the_last_hour(store):
    store.put("aws_sagemaker_endpoint", [{**ACC, "endpoint_name": n, "status": "InService"} for n in "abc"])
    store.put("aws_cloudwatch_endpoint_traffic", [
        traffic("a", 0, 0), traffic("a", 5000, 0, window=1440),  # busy, silent: fires
        traffic("b", 10, 0), traffic("b", 5000, 0, window=1440),  # busy, serving
        traffic("c", 0, 0), traffic("c", 20, 0, window=1440)])  # quiet anyway
    assert breaching(store, "endpoint_invocations_zero") == ["123456789012/us-east-1/a"]


def test_a_cloudwatch_alarm_on_an_endpoint_in_alarm(store):
    store.put("aws_sagemaker_endpoint", [{**ACC, "endpoint_name": "gpu", "status": "InService", "team": "vision"}])
    store.put("aws_cloudwatch_alarm", [
        {**ACC, "alarm_name": "gpu-hot", "endpoint_name": "gpu", "state_value": "ALARM"},
        {**ACC, "alarm_name": "gpu-5xx", "endpoint_name": "gpu", "state_value": "OK"},
        {**ACC, "alarm_name": "billing", "endpoint_name": None, "state_value": "ALARM"}])  # not about an endpoint
    assert breaching(store, "endpoint_alarm_in_alarm") == ["123456789012/us-east-1/gpu-hot"]
    [rule] = [r for r in rules.builtins(store.settings) if r.name == "endpoint_alarm_in_alarm"]
    rows = sorted(rules.run(store.writer.con, rule, T0), key=lambda r: r["name"])  # every candidate, breaching or not
    assert [(r["team"], r["endpoint_name"], r["name"], r["value"]) for r in rows] == [
        ("vision", "gpu", "gpu-5xx", 0), ("vision", "gpu", "gpu-hot", 1)]  # the OK one's 0: a resolved message's


def test_a_failed_training_job_or_pipeline_execution_fires_while_recent(store):
    store.put("aws_sagemaker_training_job", [
        {**ACC, "training_job_name": "new", "status": "Failed", "training_end_time": T0 - timedelta(hours=2)},
        {**ACC, "training_job_name": "old", "status": "Failed", "training_end_time": T0 - timedelta(days=3)},
        {**ACC, "training_job_name": "fine", "status": "Completed", "training_end_time": T0}])
    store.put("aws_sagemaker_pipeline_execution", [
        {**ACC, "execution_arn": "arn:x:1", "pipeline_name": "p", "status": "Failed", "end_time": T0},
        {**ACC, "execution_arn": "arn:x:2", "pipeline_name": "p", "status": "Succeeded", "end_time": T0}])
    assert breaching(store, "training_job_failed") == ["123456789012/us-east-1/new"]
    assert breaching(store, "pipeline_execution_failed") == ["arn:x:1"]


def run(source: str, status: str, ended, run_id: str = "r1") -> dict:
    return {**ACC, "run_id": run_id, "source": source, "status": status, "started_at": ended, "ended_at": ended}


def test_a_failing_source_and_a_source_older_than_twice_its_cadence(store):
    hot = store.settings.collect.hot_every_s  # 300 s by default; Cost Explorer: every 8 h
    store.put("sextant_collection_run", [
        run("sagemaker_endpoints", "succeeded", T0 - timedelta(seconds=hot)),
        run("sagemaker_training", "succeeded", T0 - timedelta(seconds=3 * hot)),  # stale
        run("cost_explorer", "succeeded", T0 - timedelta(hours=3)),  # fresh at its own cadence
        run("ecr", "succeeded", T0 - timedelta(hours=1), "r0"), run("ecr", "failed", T0)])  # failing
    assert breaching(store, "source_stale") == ["ecr 123456789012/us-east-1",
                                                "sagemaker_training 123456789012/us-east-1"]
    assert breaching(store, "source_failing") == ["ecr 123456789012/us-east-1"]


def test_the_month_end_forecast_over_the_budget(store):
    store.configure()
    store.put("aws_cost_daily", [{**ACC, "date": date(2026, 11, d), "group_by_kind": "SERVICE/USAGE_TYPE",
                                  "key1": "SageMaker", "key2": "x", "unblended_cost_usd": 1000.0}
                                 for d in range(1, 20)])
    store.put("aws_cost_forecast", [{**ACC, "as_of": date(2026, 11, 20), "period_start": date(2026, 11, 20),
                                     "period_end": date(2026, 12, 1), "mean_usd": 7000.0}])
    [rule] = [r for r in rules.builtins(store.settings) if r.name == "cost_forecast_over_budget"]
    [row] = rules.run(store.writer.con, rule, T0)
    assert row["value"] == 26000.0 and rule.threshold == 25000.0 and rule.breaches(row["value"])


# --------------------------------------------------------------------------- the cost rules (issue 15, point 1)

TODAY = T0.date()  # 2026-11-20: 19 complete days of November, 11 days left (today included)


def _rule(store, name: str) -> rules.Rule:
    [rule] = [r for r in rules.builtins(store.settings) if r.name == name]
    return rule


def _values(store, name: str) -> dict[str, float | None]:
    return {r["resource"]: r["value"] for r in rules.run(store.writer.con, _rule(store, name), T0)}


def _host_line(day: date, itype: str, usd: float, hours: float, account: str = ACC["account_id"]) -> dict:
    return {**ACC, "account_id": account, "date": day, "group_by_kind": "SERVICE/USAGE_TYPE",
            "key1": "Amazon SageMaker", "key2": f"USE1-Host:{itype}", "unblended_cost_usd": usd,
            "usage_quantity": hours}


def test_a_teams_month_end_forecast_over_its_own_budget(store):
    from dataclasses import replace

    store.settings = replace(store.settings, team_budgets_usd={"vision": 5000.0, "fraud": 5000.0, "nlp": 100.0})
    team = [{**ACC, "date": date(2026, 11, d), "group_by_kind": "TAG:team/SERVICE", "key1": t, "key2": "SageMaker",
             "unblended_cost_usd": usd} for d in range(1, 20) for t, usd in (("vision", 200.0), ("fraud", 100.0),
                                                                              ("search", 900.0))]
    today = {**ACC, "date": TODAY, "group_by_kind": "TAG:team/SERVICE", "key1": "fraud", "key2": "SageMaker",
             "unblended_cost_usd": 5000.0}  # today is partial: not counted, its day forecast at the average
    other_kind = {**ACC, "date": date(2026, 11, 3), "group_by_kind": "SERVICE/USAGE_TYPE", "key1": "vision",
                  "key2": "x", "unblended_cost_usd": 99999.0}  # another grouping of the bill: not the team's
    last_month = {**ACC, "date": date(2026, 10, 31), "group_by_kind": "TAG:team/SERVICE", "key1": "fraud",
                  "key2": "SageMaker", "unblended_cost_usd": 99999.0}
    store.put("aws_cost_daily", [*team, today, other_kind, last_month])
    rule = _rule(store, "team_forecast_over_budget")
    rows = {r["team"]: r for r in rules.run(store.writer.con, rule, T0)}
    assert set(rows) == {"vision", "fraud", "nlp"}  # every team with a budget; search has none
    assert rows["vision"]["forecast_usd"] == pytest.approx(200.0 * 30)  # 19 days spent + 11 days at $200
    assert rows["vision"]["value"] == pytest.approx(6000.0 / 5000.0)
    assert rows["fraud"]["value"] == pytest.approx(3000.0 / 5000.0)
    assert rows["nlp"]["value"] == 0.0  # a budget but no spend
    assert breaching(store, "team_forecast_over_budget") == ["month-end forecast vision 2026-11"]
    assert rule.path(rows["vision"]) == "cost?team=vision"


def test_a_teams_forecast_waits_for_a_complete_day_and_no_budget_no_candidate(store):
    assert _values(store, "team_forecast_over_budget") == {}  # no [budget.teams]
    from dataclasses import replace

    store.settings = replace(store.settings, team_budgets_usd={"vision": 10.0})
    store.put("aws_cost_daily", [{**ACC, "date": date(2026, 12, 1), "group_by_kind": "TAG:team/SERVICE",
                                  "key1": "vision", "key2": "SageMaker", "unblended_cost_usd": 500.0}])
    rule = _rule(store, "team_forecast_over_budget")
    [row] = rules.run(store.writer.con, rule, datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    assert row["value"] is None and not rule.breaches(row["value"])  # the 1st: no complete day, no forecast


def test_a_cost_anomaly_with_impact_over_the_threshold_that_started_recently(store):
    def anomaly(aid: str, start: date, impact: float, feedback: str | None = None) -> dict:
        return {**ACC, "anomaly_id": aid, "start_date": start, "total_impact_usd": impact, "feedback": feedback,
                "service": "Amazon SageMaker"}

    store.put("aws_cost_anomaly", [
        anomaly("big", TODAY - timedelta(days=2), 450.0),  # fires
        anomaly("small", TODAY - timedelta(days=1), 40.0),  # under $100
        anomaly("old", TODAY - timedelta(days=30), 9000.0),  # started before the last 7 days: not a candidate
        anomaly("dismissed", TODAY, 700.0, "NO")])  # someone said it is not one: counts 0
    assert _values(store, "cost_anomaly") == {"cost anomaly big": 450.0, "cost anomaly small": 40.0,
                                              "cost anomaly dismissed": 0}
    assert breaching(store, "cost_anomaly") == ["cost anomaly big"]
    store.configure(anomaly_min_usd=20.0, anomaly_lookback_days=60)  # thresholds from [alerts]
    assert breaching(store, "cost_anomaly") == ["cost anomaly big", "cost anomaly old", "cost anomaly small"]


def _summary(name: str, last: datetime | None, as_of: datetime = T0) -> dict:
    return {**ACC, "endpoint_name": name, "as_of": as_of, "last_invocation": last,
            "metrics_since": T0 - timedelta(days=60)}


def _variant(name: str, itype: str, count: int) -> dict:
    return {**ACC, "endpoint_name": name, "variant_name": "AllTraffic", "instance_type": itype,
            "current_instance_count": count}


def test_an_idle_endpoint_costing_more_than_the_threshold_a_month(store):
    created = T0 - timedelta(days=90)
    store.put("aws_sagemaker_endpoint", [
        {**ACC, "endpoint_name": n, "status": "InService", "team": "vision",
         "creation_time": T0 - timedelta(days=3) if n == "new" else created}
        for n in ("gpu-idle", "cpu-idle", "busy", "new", "unpriced")])
    store.put("aws_sagemaker_endpoint_variant", [
        _variant("gpu-idle", "ml.g5.xlarge", 2), _variant("cpu-idle", "ml.t2.medium", 1),
        _variant("busy", "ml.g5.xlarge", 2), _variant("new", "ml.g5.xlarge", 1),
        _variant("unpriced", "ml.p4d.24xlarge", 1)])
    store.put("aws_cloudwatch_endpoint_summary", [
        _summary("gpu-idle", T0 - timedelta(days=8)), _summary("cpu-idle", None),
        _summary("busy", T0 - timedelta(hours=1)), _summary("unpriced", T0 - timedelta(days=20))])
    # the one price rule: $1.50 an hour for ml.g5.xlarge, $0.05 for ml.t2.medium, nothing for ml.p4d.24xlarge
    store.put("aws_cost_daily", [_host_line(TODAY - timedelta(days=1), "ml.g5.xlarge", 36.0, 24.0),
                                 _host_line(TODAY - timedelta(days=1), "ml.t2.medium", 1.2, 24.0)])
    values = _values(store, "endpoint_idle_cost")
    key = "123456789012/us-east-1/"
    assert values[key + "gpu-idle"] == pytest.approx(2 * 1.5 * 24 * 30)  # idle 8 days, $2,160 a month
    assert values[key + "cpu-idle"] == pytest.approx(0.05 * 24 * 30)  # idle, but $36 a month
    assert values[key + "busy"] == 0 and values[key + "new"] == 0  # serving; created 3 days ago (not 7 idle)
    assert values[key + "unpriced"] is None  # idle, price unknown: never guessed
    assert breaching(store, "endpoint_idle_cost") == [key + "gpu-idle"]
    store.configure(idle_monthly_usd=10.0)
    assert breaching(store, "endpoint_idle_cost") == [key + "cpu-idle", key + "gpu-idle"]


def _history(name: str, count: int, itype: str = "ml.g5.xlarge") -> dict:
    return {**ACC, "endpoint_name": name, "variant_name": "AllTraffic", "observed_at": T0 - timedelta(days=30),
            "instance_type": itype, "current_instance_count": count}


def _invocations(name: str, per_day_w0: float, per_day_w1: float) -> dict[str, list[dict]]:
    series = {**ACC, "series_id": f"inv-{name}", "namespace": "AWS/SageMaker", "metric_name": "Invocations",
              "endpoint_name": name}
    midnight = T0.replace(hour=0)
    daily = [{**ACC, "series_id": f"inv-{name}", "stat": "Sum", "day": midnight - timedelta(days=d),
              "value": per_day_w1 if d <= 7 else per_day_w0} for d in range(1, 15)]
    today = {**ACC, "series_id": f"inv-{name}", "stat": "Sum", "day": midnight, "value": 1.0}  # partial: out
    return {"series": [series], "daily": [*daily, today]}


def test_cost_per_1000_inferences_up_week_over_week(store):
    store.put("aws_sagemaker_endpoint", [{**ACC, "endpoint_name": n, "status": "InService", "team": "vision"}
                                         for n in ("dropping", "steady", "silent", "unpriced")])
    store.put("aws_sagemaker_endpoint_variant_history", [
        _history("dropping", 1), _history("steady", 1), _history("silent", 1),
        _history("unpriced", 1, "ml.p4d.24xlarge")])
    points = [_invocations("dropping", 1000.0, 600.0),  # same hosting cost, fewer inferences: +66.7 %
              _invocations("steady", 1000.0, 900.0),  # +11.1 %: under 25 %
              _invocations("silent", 1000.0, 0.0),  # no inference this week: no unit cost to compare
              _invocations("unpriced", 10.0, 1.0)]
    store.put("aws_cloudwatch_metric_series", [s for p in points for s in p["series"]])
    store.put("aws_cloudwatch_metric_daily", [d for p in points for d in p["daily"]])
    store.put("aws_cost_daily", [_host_line(TODAY - timedelta(days=1), "ml.g5.xlarge", 36.0, 24.0)])
    rows = {r["endpoint_name"]: r for r in rules.run(store.writer.con, _rule(store, "cost_per_1k_inferences_up"), T0)}
    assert set(rows) == {"dropping", "steady"}
    # 7 days x 24 h x $1.50 = $252 a week: $252 / 7,000 and $252 / 4,200 per inference, x 1000
    assert rows["dropping"]["previous_usd_per_1k"] == pytest.approx(252.0 / 7000 * 1000)
    assert rows["dropping"]["usd_per_1k"] == pytest.approx(252.0 / 4200 * 1000)
    assert rows["dropping"]["value"] == pytest.approx((1000 / 600 - 1) * 100)
    assert breaching(store, "cost_per_1k_inferences_up") == ["123456789012/us-east-1/dropping"]
    store.configure(unit_cost_increase_pct=10.0)
    assert breaching(store, "cost_per_1k_inferences_up") == ["123456789012/us-east-1/dropping",
                                                              "123456789012/us-east-1/steady"]


def test_the_new_rules_are_builtins_and_can_be_disabled(store):
    new = {"team_forecast_over_budget", "cost_anomaly", "endpoint_idle_cost", "cost_per_1k_inferences_up"}
    assert new <= set(rules.BUILTIN_NAMES) and new <= {r.name for r in rules.builtins(store.settings)}
    store.configure(disabled_rules=("cost_anomaly",))
    assert "cost_anomaly" not in {r.name for r in rules.builtins(store.settings)}


# --------------------------------------------------------------------------- [budget.teams] and the new thresholds


def _load(tmp_path, text: str):
    from sextant.settings import load

    path = tmp_path / "sextant.toml"
    path.write_text(text)
    return load(path)


def test_team_budgets_are_read_from_budget_teams(tmp_path):
    s = _load(tmp_path, '[budget]\nmonthly_usd = 30000\n[budget.teams]\nvision = 5000\n"fraud-ml" = 2500.5\n'
                        "[alerts]\nidle_monthly_usd = 50\nanomaly_min_usd = 250\nunit_cost_increase_pct = 40\n")
    assert s.monthly_budget_usd == 30000 and s.team_budgets_usd == {"vision": 5000.0, "fraud-ml": 2500.5}
    assert (s.alerts.idle_monthly_usd, s.alerts.anomaly_min_usd, s.alerts.unit_cost_increase_pct) == (50, 250, 40)
    assert _load(tmp_path, "[budget]\nmonthly_usd = 1\n").team_budgets_usd == {}


@pytest.mark.parametrize(("text", "expected"), [
    ("[budget]\nteams = 5000\n", "budget.teams = 5000: expected a table of team = monthly USD"),
    ('[budget.teams]\nvision = "lots"\n', "budget.teams.vision = 'lots': expected a number (USD a month)"),
    ("[budget.teams]\nvision = 0\n", "budget.teams.vision = 0: must be above 0"),
    ('[budget.teams]\n"" = 10\n', "budget.teams: an empty team name"),
    ("[budget]\nteam = {vision = 1}\n", "unknown key budget.team; known keys: monthly_usd, teams"),
    ("[alerts]\nunit_cost_increase_pct = -5\n", "alerts.unit_cost_increase_pct = -5: must be at least 0"),
    ("[alerts]\nanomaly_lookback_days = 0\n", "alerts.anomaly_lookback_days = 0: must be between 1 and 90"),
])
def test_bad_team_budgets_and_thresholds_are_refused_naming_the_fix(tmp_path, text, expected):
    from sextant.settings import SettingsError

    with pytest.raises(SettingsError, match=re.escape(expected)):
        _load(tmp_path, text)
