"""Alert rules: a read-only SQL query over the store returning one row per resource, and a threshold.

A rule's query returns ``resource`` (unique within the rule) and ``value``, optionally ``account_id``, ``region``,
``team``, ``endpoint_name`` and ``name`` (the resource's short name, for the link). Every candidate is returned,
breaching or not: :meth:`Rule.breaches` compares ``value`` with the threshold, and a resolved message carries the
value that resolved it. Queries run on a cursor inside a ``READ ONLY`` transaction, so a rule cannot write, whatever
its text; a user rule's SQL must also be one SELECT (checked when the settings are read). The built-ins read the
store's documented tables (docs/DATA_MODEL.md) with their thresholds from ``[alerts]``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import duckdb

from alerts.config import AlertConfig, AlertConfigError, UserRule
from sextant.bill import (
    NOT_LINKED,
    PRICE_PARAMS,
    endpoint_invocations_select,
    forecast_select,
    hourly_prices_select,
    variant_hours_select,
)
from sextant.freshness import cadence_s
from sextant.settings import Settings
from sextant.traffic import IDLE_DAYS

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le, "=": operator.eq, "!=": operator.ne}
USER_PARAMETERS = frozenset({"now"})  # a user rule may name $now: the evaluation time (UTC)


class RuleError(RuntimeError):
    """A rule's query failed or returned the wrong columns; recorded against the rule, its alerts left as they
    were."""


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    severity: str
    sql: str
    threshold: float
    comparison: str = ">"
    for_s: int = 0
    window: str = ""  # what the value covers, in words ("the last hour")
    unit: str = ""  # how the value reads: "ratio" (shown as %), "ms", "x", "USD", "" (a number)
    link: str = ""  # the Sextant view, a path with {name} / {endpoint_name} / {account_id} / {region} placeholders
    channels: tuple[str, ...] = ()  # empty: [alerts] default_channels, else every channel
    params: dict[str, Any] = field(default_factory=dict, hash=False)
    builtin: bool = True
    accounts: tuple[str, ...] = ()  # scope (empty: all)
    teams: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()

    def breaches(self, value: object) -> bool:
        if value is None or isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            return False
        return OPERATORS[self.comparison](float(value), self.threshold)

    def in_scope(self, row: dict[str, Any]) -> bool:
        return ((not self.accounts or row.get("account_id") in self.accounts)
                and (not self.teams or row.get("team") in self.teams)
                and (not self.endpoints or row.get("endpoint_name") in self.endpoints)
                and (not self.projects or row.get("project") in self.projects))

    def path(self, row: dict[str, Any]) -> str:
        """The link's path and query for ``row`` (values URL-encoded), or "" when it lacks what the link names."""
        template = self.link or ("endpoints?endpoint={endpoint_name}" if row.get("endpoint_name") else "")
        try:
            return template.format(**{k: quote(str(v), safe="") for k, v in row.items() if v is not None})
        except (KeyError, IndexError, ValueError):
            return ""


def check_sql(sql: str, where: str = "the rule") -> None:
    """Refuse anything but one SELECT (parsed by DuckDB) naming no parameter but ``$now``."""
    try:
        with duckdb.connect() as parser:
            statements = parser.extract_statements(sql)
    except duckdb.Error as exc:
        raise AlertConfigError(f"{where}.sql does not parse: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise AlertConfigError(f"{where}.sql must be exactly one SELECT statement (found {len(statements)})")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        raise AlertConfigError(f"{where}.sql must be a read-only SELECT; a {statement.type.name} statement is "
                               "refused (rules only read the store)")
    names = set(statement.named_parameters) - USER_PARAMETERS
    if names:
        raise AlertConfigError(f"{where}.sql names unknown parameter(s) {', '.join(sorted(names))}; only $now (the "
                               "evaluation time) is given")



# The store's tables are the documented ones (docs/DATA_MODEL.md). Each query returns every candidate.
_5XX = """
    SELECT t.account_id || '/' || t.region || '/' || t.endpoint_name AS resource, t.errors_5xx / t.invocations AS value,
           t.account_id, t.region, t.endpoint_name, t.endpoint_name AS name, e.team
    FROM aws_cloudwatch_endpoint_traffic t
    LEFT JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
    WHERE t.window_minutes = 60 AND t.invocations >= $min_invocations AND t.invocations > 0"""
_P99_BASELINE = """
    SELECT s.account_id || '/' || s.region || '/' || s.endpoint_name AS resource,
           s.p99_1h_us / s.p99_baseline_us AS value,
           s.account_id, s.region, s.endpoint_name, s.endpoint_name AS name, e.team
    FROM aws_cloudwatch_endpoint_summary s
    LEFT JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
    WHERE s.p99_baseline_us > 0 AND s.invocations_1h > 0"""
_P99_ABSOLUTE = """
    SELECT s.account_id || '/' || s.region || '/' || s.endpoint_name AS resource, s.p99_1h_us / 1000.0 AS value,
           s.account_id, s.region, s.endpoint_name, s.endpoint_name AS name, e.team
    FROM aws_cloudwatch_endpoint_summary s
    LEFT JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
    WHERE s.invocations_1h > 0"""
_ZERO = """
    SELECT d.account_id || '/' || d.region || '/' || d.endpoint_name AS resource, h.invocations AS value,
           d.account_id, d.region, d.endpoint_name, d.endpoint_name AS name, e.team
    FROM aws_cloudwatch_endpoint_traffic d
    JOIN aws_cloudwatch_endpoint_traffic h ON h.account_id = d.account_id AND h.region = d.region
         AND h.endpoint_name = d.endpoint_name AND h.window_minutes = 60
    JOIN aws_sagemaker_endpoint e ON e.account_id = d.account_id AND e.region = d.region
         AND e.endpoint_name = d.endpoint_name AND e.status = 'InService'
    WHERE d.window_minutes = 1440 AND d.invocations >= $busy"""
# every alarm watching an endpoint, 1 while in ALARM (0 otherwise: the value its resolved message carries)
_ALARM = """
    SELECT a.account_id || '/' || a.region || '/' || a.alarm_name AS resource,
           CASE WHEN a.state_value = 'ALARM' THEN 1 ELSE 0 END AS value,
           a.account_id, a.region, a.endpoint_name, a.alarm_name AS name, e.team
    FROM aws_cloudwatch_alarm a
    LEFT JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
    WHERE a.endpoint_name IS NOT NULL"""
_TRAINING = """
    SELECT account_id || '/' || region || '/' || training_job_name AS resource, 1 AS value,
           account_id, region, training_job_name AS name, team
    FROM aws_sagemaker_training_job
    WHERE status = 'Failed'
      AND coalesce(training_end_time, last_modified_time, creation_time) >= $now - to_hours($hours::BIGINT)"""
_PIPELINE = """
    SELECT x.execution_arn AS resource, 1 AS value, x.account_id, x.region, x.execution_arn AS name, p.team
    FROM aws_sagemaker_pipeline_execution x
    LEFT JOIN aws_sagemaker_pipeline p USING (account_id, region, pipeline_name)
    WHERE x.status = 'Failed' AND coalesce(x.end_time, x.start_time) >= $now - to_hours($hours::BIGINT)"""
_RUNS = """
    WITH runs AS (
        SELECT source, account_id, region,
               max(ended_at) FILTER (WHERE status IN ('succeeded', 'partial')) AS last_success,
               arg_max(status, ended_at) AS last_status
        FROM sextant_collection_run GROUP BY ALL)"""
_FAILING = _RUNS + """
    SELECT source || ' ' || account_id || '/' || region AS resource,
           CASE WHEN last_status = 'failed' THEN 1 ELSE 0 END AS value, account_id, region, source AS name
    FROM runs"""  # noqa: S608 - constant fragments
# age of the last success in multiples of the source's cadence (sextant.freshness: the Collection page's rule)
_STALE = _RUNS + """
    SELECT source || ' ' || account_id || '/' || region AS resource,
           epoch($now - last_success) / coalesce($cadences[list_position($sources, source)], $hot) AS value,
           account_id, region, source AS name
    FROM runs WHERE last_success IS NOT NULL"""  # noqa: S608 - constant fragments
# The month-end forecast of the whole bill as the Cost page computes it (sextant.bill: one definition).
_FORECAST = f"""
    SELECT 'month-end forecast ' || strftime(period_start, '%Y-%m') AS resource,
           actual_before_usd + mean_usd AS value, strftime(period_start, '%Y-%m') AS name
    FROM ({forecast_select("$today")})"""  # noqa: S608 - constant fragments

# The month-end forecast of each team with a budget ([budget.teams]): the team's spend of the complete days of the
# month (the bill grouped by the team tag, as the Cost page's team view reads it, NOT_LINKED) + its average complete
# day x the days left (today included: it is not complete). No complete day yet (the 1st): no forecast (NULL).
# Value: the forecast / the team's budget (fires over 1, i.e. 100 %).
_TEAM_FORECAST = f"""
    WITH b AS (SELECT unnest($teams::VARCHAR[]) AS team, unnest($budgets::DOUBLE[]) AS budget_usd),
    m AS (SELECT date_trunc('month', $today::DATE)::DATE AS month_start,
                 ($today::DATE - date_trunc('month', $today::DATE)::DATE) AS complete_days,
                 (last_day($today::DATE) - $today::DATE + 1) AS days_left),
    spent AS (SELECT key1 AS team, sum(unblended_cost_usd) AS usd FROM aws_cost_daily, m
              WHERE {NOT_LINKED} AND group_by_kind = 'TAG:team/SERVICE'
                AND date >= m.month_start AND date < $today::DATE GROUP BY ALL)
    SELECT 'month-end forecast ' || b.team || ' ' || strftime(m.month_start, '%Y-%m') AS resource,
           CASE WHEN m.complete_days > 0 THEN (coalesce(s.usd, 0)
                + coalesce(s.usd, 0) / m.complete_days * m.days_left) / b.budget_usd END AS value,
           b.team, b.team AS name, b.budget_usd,
           coalesce(s.usd, 0) + coalesce(s.usd, 0) / nullif(m.complete_days, 0) * m.days_left AS forecast_usd
    FROM b CROSS JOIN m LEFT JOIN spent s USING (team)"""  # noqa: S608 - constant fragments
# AWS Cost Anomaly Detection's anomalies that started in the last $days days (today included), by total impact; one
# dismissed in the console (feedback NO or PLANNED_ACTIVITY) counts 0, so its alert resolves.
_ANOMALY = """
    SELECT 'cost anomaly ' || anomaly_id AS resource,
           CASE WHEN coalesce(feedback, '') IN ('NO', 'PLANNED_ACTIVITY') THEN 0 ELSE total_impact_usd END AS value,
           account_id, region, anomaly_id AS name, service, linked_account, usage_type, start_date
    FROM aws_cost_anomaly
    WHERE start_date > $today::DATE - $days::INTEGER
    ORDER BY total_impact_usd DESC NULLS LAST"""
# Hosting cost of the instances serving an endpoint now a month (current counts x the hourly Host price learned from
# the bill, x 24 x 30: the Savings page's idle list), while it is idle as the health rule has it (no invocation in
# $idle_days+ days of collected metrics, the endpoint being older: dashboard.queries.health.last_invocation), else 0.
_HOST_PRICES = f"""
    SELECT instance_type, usd_per_hour FROM ({hourly_prices_select("$price_line", "$price_days")})
    WHERE kind = 'Host'"""  # noqa: S608 - constant fragments
_IDLE_COST = f"""
    WITH p AS ({_HOST_PRICES}),
    serving AS (SELECT v.account_id, v.region, v.endpoint_name, sum(v.current_instance_count * p.usd_per_hour)
                       AS usd_per_hour
                FROM aws_sagemaker_endpoint_variant v LEFT JOIN p USING (instance_type) GROUP BY ALL),
    s AS (SELECT s.* FROM aws_cloudwatch_endpoint_summary s
          JOIN aws_sagemaker_endpoint USING (account_id, region, endpoint_name)),
    g AS (SELECT (SELECT max(as_of) FROM aws_cloudwatch_endpoint_summary) AS as_of,
                 (SELECT min(metrics_since) FROM s) AS covered),
    idle AS (SELECT e.account_id, e.region, e.endpoint_name, e.team,
                    epoch(coalesce(s.as_of, g.as_of) - coalesce(s.last_invocation,
                          greatest(e.creation_time, g.covered))) / 86400 AS idle_days
             FROM aws_sagemaker_endpoint e LEFT JOIN s USING (account_id, region, endpoint_name) CROSS JOIN g
             WHERE g.as_of IS NOT NULL)
    SELECT i.account_id || '/' || i.region || '/' || i.endpoint_name AS resource,
           CASE WHEN i.idle_days >= $idle_days THEN c.usd_per_hour * 24 * 30 ELSE 0 END AS value,
           i.account_id, i.region, i.endpoint_name, i.endpoint_name AS name, i.team, i.idle_days
    FROM idle i LEFT JOIN serving c USING (account_id, region, endpoint_name)"""  # noqa: S608 - constant fragments
# Cost per 1,000 inferences of each endpoint as the Cost page computes it (dashboard.queries.cost.endpoint_unit_cost:
# instance-hours of its variants x the hourly Host price, / invocations x 1000) over the last 7 complete UTC days vs
# the 7 before them; value: the change in %, for endpoints with a cost and invocations in both weeks.
_WEEK = """
    SELECT k.account_id, k.region, k.endpoint_name,
           sum(k.instance_hours * p.usd_per_hour) / any_value(i.invocations) * 1000 AS usd_per_1k
    FROM ({hours}) k JOIN aws_sagemaker_endpoint USING (account_id, region, endpoint_name)
    LEFT JOIN p USING (instance_type)
    JOIN ({invocations}) i USING (account_id, region, endpoint_name)
    WHERE i.invocations > 0
    GROUP BY ALL"""
_UNIT_COST = f"""
    WITH p AS ({_HOST_PRICES}),
    w1 AS ({_WEEK.format(hours=variant_hours_select("$w1_start", "$w1_end"),
                         invocations=endpoint_invocations_select("$w1_start", "$w1_start", "$w1_end", "$w1_end"))}),
    w0 AS ({_WEEK.format(hours=variant_hours_select("$w0_start", "$w0_end"),
                         invocations=endpoint_invocations_select("$w0_start", "$w0_start", "$w0_end", "$w0_end"))})
    SELECT w1.account_id || '/' || w1.region || '/' || w1.endpoint_name AS resource,
           (w1.usd_per_1k / w0.usd_per_1k - 1) * 100 AS value,
           w1.account_id, w1.region, w1.endpoint_name, w1.endpoint_name AS name, e.team,
           w1.usd_per_1k, w0.usd_per_1k AS previous_usd_per_1k
    FROM w1 JOIN w0 USING (account_id, region, endpoint_name)
    JOIN aws_sagemaker_endpoint e USING (account_id, region, endpoint_name)
    WHERE w0.usd_per_1k > 0 AND w1.usd_per_1k IS NOT NULL"""  # noqa: S608 - constant fragments


def _weeks(now: datetime) -> dict[str, datetime]:
    """The last 7 complete UTC days [w1_start, w1_end) and the 7 before them [w0_start, w0_end)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    week = timedelta(days=7)
    return {"w1_start": today - week, "w1_end": today, "w0_start": today - 2 * week, "w0_end": today - week}


def builtins(settings: Settings) -> list[Rule]:
    """The built-in rules with the thresholds of ``[alerts]`` (those in ``disabled_rules`` left out; the absolute
    p99 rule only with ``p99_max_ms`` set)."""
    a = settings.alerts
    hours = {"hours": a.failure_lookback_h}
    cadences = cadence_s(settings)
    recent = f"the last {a.failure_lookback_h} h"
    rules = [
        Rule("endpoint_5xx_rate", "Share of an endpoint's invocations answered with a 5xx error", "critical",
             _5XX, a.error_rate_5xx, ">", 0, "the last hour", "ratio",
             params={"min_invocations": a.min_invocations_1h}),
        Rule("endpoint_p99_over_baseline", "An endpoint's p99 model latency over its 7-day baseline", "warning",
             _P99_BASELINE, a.p99_baseline_factor, ">", 600, "the hour of the newest datapoint vs the 7 days before",
             "x"),
        Rule("endpoint_p99_absolute", "An endpoint's p99 model latency above a bound", "warning", _P99_ABSOLUTE,
             a.p99_max_ms, ">", 600, "the hour of the newest datapoint", "ms"),
        Rule("endpoint_invocations_zero", "A busy endpoint received no invocation", "critical", _ZERO, 0, "<=", 0,
             "the last hour (busy: the last 24 hours)", "", params={"busy": a.busy_invocations_24h}),
        Rule("endpoint_alarm_in_alarm", "A CloudWatch alarm watching an endpoint is in ALARM (AWS evaluates it every "
             "period; Sextant routes it to the alerts' channels and shows it with the others)", "critical", _ALARM, 1,
             ">=", 0, "the alarm's own evaluation", ""),
        Rule("training_job_failed", "A training job failed", "warning", _TRAINING, 1, ">=", 0, recent, "",
             "training?job={name}", params=hours),
        Rule("pipeline_execution_failed", "A pipeline execution failed", "warning", _PIPELINE, 1, ">=", 0, recent,
             "", "pipelines?execution={name}", params=hours),
        Rule("source_failing", "A collector source's last run failed", "warning", _FAILING, 1, ">=", 0,
             "its last run", "", "collection"),
        Rule("source_stale", "A collector source's data is older than its cadence allows", "warning", _STALE,
             a.stale_factor, ">", 0, "since its last success", "x", "collection",
             params={"sources": list(cadences), "cadences": list(cadences.values()),
                     "hot": settings.collect.hot_every_s}),
        Rule("cost_forecast_over_budget", "The month-end forecast of the whole bill is over the budget", "warning",
             _FORECAST, settings.monthly_budget_usd, ">", 0, "this month", "USD", "cost"),
        Rule("team_forecast_over_budget", "A team's month-end forecast (its spend of the month's complete days + its "
             "average complete day x the days left) over its budget ([budget.teams]); the value is the share of "
             "the budget", "warning", _TEAM_FORECAST, 1.0, ">", 0, "this month", "ratio", "cost?team={team}",
             params={"teams": list(settings.team_budgets_usd), "budgets": list(settings.team_budgets_usd.values())}),
        Rule("cost_anomaly", "AWS Cost Anomaly Detection found an anomaly with this total impact", "warning",
             _ANOMALY, a.anomaly_min_usd, ">=", 0, f"started in the last {a.anomaly_lookback_days} days", "USD",
             "cost", params={"days": a.anomaly_lookback_days}),
        Rule("endpoint_idle_cost", f"An endpoint idle (no invocation in {IDLE_DAYS}+ days) whose instances cost this "
             "much a month", "warning", _IDLE_COST, a.idle_monthly_usd, ">", 0,
             f"no invocation in {IDLE_DAYS} days; cost: the instances serving now x 720 h", "USD",
             params={**PRICE_PARAMS, "idle_days": IDLE_DAYS}),
        Rule("cost_per_1k_inferences_up", "An endpoint's hosting cost per 1,000 inferences rose week over week, in %",
             "warning", _UNIT_COST, a.unit_cost_increase_pct, ">=", 0,
             "the last 7 complete days vs the 7 before", "%", params={**PRICE_PARAMS, "weeks": _weeks}),
    ]
    return [r for r in rules if r.name not in a.disabled_rules
            and not (r.name == "endpoint_p99_absolute" and a.p99_max_ms <= 0)]


BUILTIN_NAMES = ("endpoint_5xx_rate", "endpoint_p99_over_baseline", "endpoint_p99_absolute",
                 "endpoint_invocations_zero", "endpoint_alarm_in_alarm", "training_job_failed",
                 "pipeline_execution_failed", "source_failing",
                 "source_stale", "cost_forecast_over_budget", "team_forecast_over_budget", "cost_anomaly",
                 "endpoint_idle_cost", "cost_per_1k_inferences_up")


def from_user(rule: UserRule) -> Rule:
    return Rule(rule.name, rule.description or f"User rule {rule.name}", rule.severity, rule.sql, rule.threshold,
                rule.comparison, rule.for_s, rule.window, "", "", rule.channels, builtin=False,
                accounts=rule.accounts, teams=rule.teams, endpoints=rule.endpoints, projects=rule.projects)


def all_rules(cfg: AlertConfig, settings: Settings) -> list[Rule]:
    return [*builtins(settings), *(from_user(r) for r in cfg.rules)]


def run(con: duckdb.DuckDBPyConnection, rule: Rule, now: datetime) -> list[dict[str, Any]]:
    """The rule's rows (in scope), read on a cursor of ``con`` inside a READ ONLY transaction: a rule cannot write.
    Raises RuleError with DuckDB's message."""
    row = con.execute("SELECT current_database()").fetchone()
    database = str(row[0]) if row else "memory"
    cur = con.cursor()
    try:
        # a cursor starts in the connection's first database: name the store's (DuckLake attaches it as another)
        cur.execute(f'USE "{database.replace(chr(34), chr(34) * 2)}"')
        cur.execute("BEGIN TRANSACTION READ ONLY")
        try:
            wanted = set(cur.extract_statements(rule.sql)[0].named_parameters)
            given: dict[str, Any] = {"now": now, "today": now.date()}
            for key, value in rule.params.items():  # a callable gives parameters of the evaluation time
                given.update(value(now) if callable(value) else {key: value})
            cur.execute(rule.sql, {k: v for k, v in given.items() if k in wanted})
            columns = [d[0] for d in cur.description or ()]
            rows = cur.fetchall()
        finally:
            cur.execute("ROLLBACK")
    except duckdb.Error as exc:
        raise RuleError(str(exc).splitlines()[0]) from None
    finally:
        cur.close()
    missing = {"resource", "value"} - set(columns)
    if missing:
        raise RuleError(f"the query returns no {' and no '.join(sorted(missing))} column (it must return resource "
                        "and value, one row per resource)")
    out: dict[str, dict[str, Any]] = {}
    for values in rows:
        row = dict(zip(columns, values, strict=True))
        if row["resource"] is None:
            continue
        row["resource"] = str(row["resource"])
        if rule.in_scope(row):
            out.setdefault(row["resource"], row)  # one row per resource: the first
    return list(out.values())
