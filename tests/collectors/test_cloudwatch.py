"""CloudWatch metrics, alarms and logs collected from the emulated account, run twice."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd
import pytest

import collectors
from collectors.cloudwatch_logs import parse_level, resource
from collectors.cloudwatch_metrics import HOURLY, MAX_QUERIES, POINT, fit_budget, monthly_usd
from sextant.settings import CollectSettings
from sextant.store import Writer
from tests.collectors.conftest import Collection

SOURCES = ["sagemaker_endpoints", "sagemaker_training", "cloudwatch_metrics", "cloudwatch_alarms", "cloudwatch_logs"]
INCIDENT_ENDPOINT = "fraud-txn-scorer-prod"
POLL_COLUMNS = ("queries", "queries_1min", "queries_5min", "queries_job_windows", "job_windows", "queries_hot",
                "requests", "pages", "deferred")


def _diff(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n - before.get(k, 0)}


@dataclass
class Runs:
    collection: Collection
    first: dict[str, int]  # API calls of the first run
    second: dict[str, int]  # API calls of the second run, right after the first
    counts_after_first: dict[str, int]
    poll_first: dict  # aws_cloudwatch_metric_poll row of the first run
    poll_second: dict

    def polls(self) -> list[dict]:
        rows = self.collection.query(
            f"SELECT {', '.join(POLL_COLUMNS)} FROM aws_cloudwatch_metric_poll ORDER BY polled_at")
        return [dict(zip(POLL_COLUMNS, r, strict=True)) for r in rows]

    def scalar(self, sql: str, params: list | None = None):
        return self.collection.query(sql, params)[0][0]


TABLES = ("aws_cloudwatch_metric_series", "aws_cloudwatch_metric_point", "aws_cloudwatch_metric_hourly",
          "aws_cloudwatch_metric_poll", "aws_cloudwatch_alarm", "aws_cloudwatch_alarm_state_change",
          "aws_logs_log_group", "aws_logs_log_stream", "aws_logs_event")


@pytest.fixture(scope="module")
def runs(account, tmp_path_factory) -> Runs:
    """Collect twice (2 days of backfill: both the 5-minute and the 1-minute windows are exercised)."""
    c = Collection(tmp_path_factory.mktemp("cloudwatch") / "store")
    c.settings = replace(c.settings, collect=CollectSettings(backfill_days=2))
    cycle = c.run(sources=SOURCES)
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]
    first = c.calls()
    counts = {t: c.query(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}
    cycle = c.run(sources=SOURCES)
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]
    runs = Runs(c, first, _diff(c.calls(), first), counts, {}, {})
    runs.poll_first, runs.poll_second = runs.polls()
    return runs


def _variants(account) -> set[tuple[str, str]]:
    sm = account.client("sagemaker")
    out = set()
    for page in sm.get_paginator("list_endpoints").paginate():
        for e in page["Endpoints"]:
            d = sm.describe_endpoint(EndpointName=e["EndpointName"])
            out |= {(d["EndpointName"], v["VariantName"]) for v in d.get("ProductionVariants", [])}
    return out


# ---------------------------------------------------------------- every table

@pytest.mark.parametrize("name", TABLES)
def test_every_table_is_filled(runs, name):
    assert runs.counts_after_first[name] > 0


# ---------------------------------------------------------------- metrics

def test_metric_points_for_every_endpoint_variant(runs, account):
    with_points = set(runs.collection.query(
        "SELECT DISTINCT s.endpoint_name, s.variant_name FROM aws_cloudwatch_metric_point p "
        "JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id) "
        "WHERE s.metric_name = 'Invocations' AND p.stat = 'Sum'"))
    assert _variants(account) <= with_points


def test_model_latency_has_percentiles_in_microseconds(runs):
    rows = runs.collection.query(
        "SELECT s.unit, p.stat, count(*), median(p.value) FROM aws_cloudwatch_metric_point p "
        "JOIN aws_cloudwatch_metric_series s USING (account_id, region, series_id) "
        "WHERE s.metric_name = 'ModelLatency' GROUP BY ALL")
    by_stat = {stat: (unit, n, med) for unit, stat, n, med in rows}
    assert {"Average", "p50", "p90", "p99"} <= set(by_stat)
    assert by_stat["p99"][0] == "Microseconds"
    assert by_stat["p50"][2] <= by_stat["p90"][2] <= by_stat["p99"][2]
    # every ModelLatency series with points has p99 points
    missing = runs.collection.query(
        "SELECT s.series_id FROM aws_cloudwatch_metric_series s WHERE s.metric_name = 'ModelLatency' "
        "AND EXISTS (SELECT 1 FROM aws_cloudwatch_metric_point p WHERE p.series_id = s.series_id) "
        "AND NOT EXISTS (SELECT 1 FROM aws_cloudwatch_metric_point p WHERE p.series_id = s.series_id "
        "AND p.stat = 'p99')")
    assert missing == []


def test_get_metric_data_packs_500_queries_per_call(runs):
    first = runs.poll_first
    assert first["queries"] == first["queries_1min"] + first["queries_5min"] + first["queries_job_windows"] > 0
    assert first["queries_5min"] > 0  # the backfill older than 24 h is read at 5 minutes
    # shared windows packed 500 a call; a training job read for the first time: one call over its lifetime
    assert first["requests"] == math.ceil(first["queries_1min"] / MAX_QUERIES) + \
        math.ceil(first["queries_5min"] / MAX_QUERIES) + first["job_windows"]
    # every call is a request or one of its NextToken pages
    assert runs.first["cloudwatch:GetMetricData"] == first["pages"] >= first["requests"]


def test_second_run_polls_only_due_series(runs):
    # right after the first run nothing is due: no discovery, no GetMetricData
    assert "cloudwatch:GetMetricData" not in runs.second
    assert "cloudwatch:ListMetrics" not in runs.second
    assert runs.poll_second["queries"] == 0


def test_hot_series_polled_every_hot_cadence(runs):
    c = Collection(runs.collection.settings.store)
    c.clients = runs.collection.clients
    c.settings = replace(runs.collection.settings, collect=CollectSettings(
        backfill_days=2, hot_every_s=0, monthly_api_budget_usd=100.0))  # every cycle: ~$12/month for 27 queries
    before = c.calls()
    assert not c.run(sources=["cloudwatch_metrics"]).failed
    calls = _diff(c.calls(), before)
    poll = runs.polls()[-1]
    assert 0 < poll["queries"] == poll["queries_hot"] < runs.poll_first["queries"]
    assert poll["queries_5min"] == 0
    assert calls.get("cloudwatch:GetMetricData") == math.ceil(poll["queries"] / MAX_QUERIES) == poll["pages"]
    hot = set(runs.collection.query(
        "SELECT DISTINCT s.endpoint_name FROM aws_cloudwatch_metric_series s WHERE s.poll_class = 'hot'"))
    assert (INCIDENT_ENDPOINT,) in hot


def test_metric_points_are_not_duplicated(runs):
    dupes = runs.scalar(
        "SELECT count(*) FROM (SELECT series_id, stat, ts FROM aws_cloudwatch_metric_point WHERE period_s = 60 "
        "GROUP BY ALL HAVING count(*) > 1)")
    assert dupes == 0
    assert runs.scalar("SELECT count(*) FROM aws_cloudwatch_metric_series") == \
        runs.scalar("SELECT count(DISTINCT (namespace, metric_name, dimensions)) FROM aws_cloudwatch_metric_series")


def test_hourly_rollup_matches_points(runs):
    rows = runs.collection.query(
        "WITH p AS (SELECT series_id, stat, to_timestamp(floor(epoch(ts) / 3600) * 3600) AS hour, "
        "sum(value) AS total, max(value) AS top, count(*) AS n FROM aws_cloudwatch_metric_point "
        "WHERE period_s = 60 GROUP BY ALL) "
        "SELECT h.stat, h.value, p.total, p.top FROM aws_cloudwatch_metric_hourly h "
        "JOIN p USING (series_id, stat, hour) WHERE h.points = p.n AND h.stat IN ('Sum', 'p99')")
    assert rows
    for stat, value, total, top in rows:
        assert value == pytest.approx(total if stat == "Sum" else top)


def _daily_from_hourly(runs) -> dict[tuple, dict]:
    """The daily rollup as the rule defines it, aggregated here from the hourly rows."""
    days: dict[tuple, list[tuple[float, float, int]]] = {}
    for account_id, region, sid, stat, hour, value, points in runs.collection.query(
            "SELECT account_id, region, series_id, stat, epoch(hour), value, points "
            "FROM aws_cloudwatch_metric_hourly"):
        days.setdefault((account_id, region, sid, stat, hour // 86400 * 86400), []).append((hour, value, points))
    out = {}
    for key, hours in days.items():
        stat, values, points = key[3], [v for _, v, _ in hours], sum(p for _, _, p in hours)
        value = (sum(values) if stat == "Sum" else min(values) if stat == "Minimum" else
                 sum(v * p for _, v, p in hours) / points if stat == "Average" else max(values))
        out[key] = {"value": value, "points": points, "hours": len(hours),
                    "last_nonzero_hour": max((h for h, v, _ in hours if v != 0), default=None),
                    "point_counts": {p for _, _, p in hours}}
    return out


def _daily(runs, where: str = "TRUE") -> dict[tuple, dict]:
    rows = runs.collection.query(
        "SELECT account_id, region, series_id, stat, epoch(day), value, points, hours, epoch(last_nonzero_hour) "
        f"FROM aws_cloudwatch_metric_daily WHERE {where}")
    return {tuple(r[:5]): {"value": r[5], "points": r[6], "hours": r[7], "last_nonzero_hour": r[8]} for r in rows}


def test_daily_rollup_has_one_row_per_day_of_hourly_rows(runs):
    assert runs.scalar("SELECT count(*) FROM aws_cloudwatch_metric_daily") == runs.scalar(
        "SELECT count(DISTINCT (account_id, region, series_id, stat, day)) FROM aws_cloudwatch_metric_daily")
    assert set(_daily(runs)) == set(_daily_from_hourly(runs))


@pytest.mark.parametrize("stat", ["Sum", "p99", "Average"])
def test_daily_rollup_matches_hourly(runs, stat):
    expected = {k: v for k, v in _daily_from_hourly(runs).items() if k[3] == stat}
    stored = _daily(runs, f"stat = '{stat}'")
    assert set(stored) == set(expected)
    assert any(e["hours"] > 1 for e in expected.values())  # days of several hours: an aggregation to check
    if stat == "Average":  # hours of 5-minute and of 1-minute points: the weighting by points shows
        assert any(len(e["point_counts"]) > 1 for e in expected.values())
    for key, e in expected.items():
        d = stored[key]
        assert (d["value"], d["points"], d["hours"]) == (pytest.approx(e["value"]), e["points"], e["hours"]), key
        if stat == "Sum":
            assert d["last_nonzero_hour"] == e["last_nonzero_hour"], key


def test_daily_rollup_is_not_duplicated_by_a_rerun(runs):
    c = Collection(runs.collection.settings.store)
    c.clients = runs.collection.clients
    c.settings = replace(runs.collection.settings, collect=CollectSettings(
        backfill_days=2, hot_every_s=0, cold_every_s=0, monthly_api_budget_usd=1e6))  # every series is due
    assert not c.run(sources=["cloudwatch_metrics"]).failed
    assert runs.polls()[-1]["queries"] > 0  # the rerun fetched points, so it recomputed the days they fall in
    assert runs.scalar("SELECT count(*) FROM aws_cloudwatch_metric_daily") == runs.scalar(
        "SELECT count(DISTINCT (account_id, region, series_id, stat, day)) FROM aws_cloudwatch_metric_daily")


# ---------------------------------------------------------------- retention

POINT_RETENTION_S, HOURLY_RETENTION_S = 86400, 36 * 3600
OLD_DAYS = 30  # age of the rows seeded for another account and another region


@dataclass
class Expired:
    collection: Collection
    account_id: str
    region: str
    polled_at: datetime  # when the metrics cycle ran: retention cutoffs are measured from it
    seeded: int  # points and hourly rows seeded for each other (account, region)

    def count(self, table: str, column: str, where: str, params: list | None = None) -> int:
        return self.collection.query(f"SELECT count(*) FROM {table} WHERE account_id = ? AND region = ? "
                                     f"AND {column} {where}", [self.account_id, self.region, *(params or [])])[0][0]


@pytest.fixture(scope="module")
def expired(account, tmp_path_factory) -> Expired:
    """A store of its own (the shared one keeps its history): old rows of another account and of another region,
    then 2 days collected with 1 day of points and 36 hours of hourly rows kept (daily rows: forever)."""
    c = Collection(tmp_path_factory.mktemp("retention") / "store")
    c.settings = replace(c.settings, collect=CollectSettings(
        backfill_days=2, metric_point_retention_s=POINT_RETENTION_S, metric_hourly_retention_s=HOURLY_RETENTION_S))
    account_id, region = account.client("sts").get_caller_identity()["Account"], account.env["AWS_REGION"]
    old = pd.Timestamp.now(tz="UTC").floor("h") - pd.Timedelta(days=OLD_DAYS)
    others = [("999999999999", region), (account_id, "eu-west-1")]
    w = Writer(c.settings.store)
    try:
        collectors.migrate(w)
        with w.transaction():
            w.upsert(POINT, [{"account_id": a, "region": r, "series_id": "seeded", "stat": "Sum", "period_s": 60,
                              "ts": old, "value": 1.0} for a, r in others])
            w.upsert(HOURLY, [{"account_id": a, "region": r, "series_id": "seeded", "stat": "Sum", "hour": old,
                               "value": 1.0, "points": 1, "period_s": 60} for a, r in others])
    finally:
        w.close()
    cycle = c.run(sources=["sagemaker_endpoints", "cloudwatch_metrics"])
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]
    polled_at = c.query("SELECT max(polled_at) FROM aws_cloudwatch_metric_poll WHERE account_id = ? AND region = ?",
                        [account_id, region])[0][0]
    return Expired(c, account_id, region, polled_at, len(others))


def test_retention_deletes_points_older_than_the_setting(expired):
    cutoff = expired.polled_at - timedelta(seconds=POINT_RETENTION_S)
    assert expired.count("aws_cloudwatch_metric_point", "ts", "< ?", [cutoff]) == 0
    assert expired.count("aws_cloudwatch_metric_point", "ts", ">= ?", [cutoff]) > 0
    # points were collected before the cutoff: the hourly rows rolled up from them are still there
    assert expired.count("aws_cloudwatch_metric_hourly", "hour", "< ?", [cutoff - timedelta(hours=1)]) > 0


def test_retention_deletes_hourly_rows_older_than_the_setting(expired):
    cutoff = expired.polled_at - timedelta(seconds=HOURLY_RETENTION_S)
    assert expired.count("aws_cloudwatch_metric_hourly", "hour", "< ?", [cutoff]) == 0
    assert expired.count("aws_cloudwatch_metric_hourly", "hour", ">= ?", [cutoff]) > 0
    # hourly rows were rolled up before the cutoff: the daily rows (kept forever) count more hours than remain
    rolled_up = expired.collection.query(
        "SELECT sum(hours) FROM aws_cloudwatch_metric_daily WHERE account_id = ? AND region = ?",
        [expired.account_id, expired.region])[0][0]
    assert rolled_up > expired.count("aws_cloudwatch_metric_hourly", "hour", "IS NOT NULL")


def test_retention_keeps_other_accounts_and_regions(expired):
    for t in ("aws_cloudwatch_metric_point", "aws_cloudwatch_metric_hourly"):
        assert expired.collection.query(f"SELECT count(*) FROM {t} WHERE series_id = 'seeded'") == [(expired.seeded,)]


def test_budget_stretches_cold_cadence_first():
    # 60 hot queries every 5 min cost $5.18/month, 600 cold ones every hour $4.32
    assert fit_budget(60, 600, 300, 3600, budget=10.0) == (300, 3600, pytest.approx(9.504))
    hot, cold, cost = fit_budget(60, 600, 300, 3600, budget=8.0)
    assert hot == 300 and cold == 7200 and cost <= 8.0
    hot, cold, cost = fit_budget(60, 600, 300, 3600, budget=1.0)
    assert hot > 300 and cold == 86400 and cost <= 1.0
    assert monthly_usd(1000, 0, 300, 3600) == pytest.approx(1000 * 8640 * 0.01 / 1000)


def test_budget_deferrals_are_recorded(runs):
    c = Collection(runs.collection.settings.store)
    c.clients = runs.collection.clients
    c.settings = replace(runs.collection.settings, collect=CollectSettings(
        backfill_days=2, hot_every_s=0, cold_every_s=0, monthly_api_budget_usd=0.01))
    assert not c.run(sources=["cloudwatch_metrics"]).failed
    poll = runs.polls()[-1]
    assert poll["deferred"] > 0 and poll["queries"] == 0


# ---------------------------------------------------------------- alarms

def test_alarms_equal_what_aws_holds(runs, account):
    cw = account.client("cloudwatch")
    aws = {a["AlarmName"]: a["StateValue"] for p in cw.get_paginator("describe_alarms").paginate()
           for a in p["MetricAlarms"]}
    stored = dict(runs.collection.query("SELECT alarm_name, state_value FROM aws_cloudwatch_alarm"))
    assert set(stored) == set(aws)
    assert "ALARM" in stored.values()
    assert runs.scalar("SELECT count(*) FROM aws_cloudwatch_alarm WHERE endpoint_name IS NOT NULL") > 0


def test_alarm_state_changes_include_the_incident(runs):
    rows = runs.collection.query(
        "SELECT c.new_state, c.source FROM aws_cloudwatch_alarm_state_change c "
        "JOIN aws_cloudwatch_alarm a USING (account_id, region, alarm_name) WHERE a.endpoint_name = ?",
        [INCIDENT_ENDPOINT])
    assert ("ALARM", "history") in rows


def test_alarms_second_run_reads_once_and_adds_no_duplicates(runs):
    assert runs.second.get("cloudwatch:DescribeAlarms") == 1
    assert runs.second.get("cloudwatch:DescribeAlarmHistory") == 1
    assert runs.scalar("SELECT count(*) FROM aws_cloudwatch_alarm_state_change") == runs.scalar(
        "SELECT count(DISTINCT (alarm_name, epoch(ts), new_state)) FROM aws_cloudwatch_alarm_state_change")


# ---------------------------------------------------------------- logs

def test_logs_error_events_for_the_incident_endpoint(runs):
    errors = runs.scalar("SELECT count(*) FROM aws_logs_event WHERE endpoint_name = ? AND level = 'ERROR'",
                         [INCIDENT_ENDPOINT])
    assert errors > 0
    levels = {r[0] for r in runs.collection.query("SELECT DISTINCT level FROM aws_logs_event")}
    assert {"ERROR", "INFO"} <= levels <= {"ERROR", "WARN", "INFO", "DEBUG", None}


def test_logs_resources_parsed(runs):
    assert runs.scalar("SELECT count(*) FROM aws_logs_event WHERE log_group LIKE '/aws/sagemaker/Endpoints/%' "
                       "AND (endpoint_name IS NULL OR variant_name IS NULL)") == 0
    rows = runs.collection.query("SELECT DISTINCT log_stream, training_job_name FROM aws_logs_event "
                                 "WHERE log_group = '/aws/sagemaker/TrainingJobs'")
    assert rows
    assert all(stream.split("/")[0] == job for stream, job in rows)


def test_logs_groups_equal_what_aws_holds(runs, account):
    logs = account.client("logs")
    aws = {g["logGroupName"] for prefix in ("/aws/sagemaker/Endpoints/", "/aws/sagemaker/TrainingJobs")
           for p in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=prefix)
           for g in p["logGroups"]}
    assert {r[0] for r in runs.collection.query("SELECT log_group FROM aws_logs_log_group")} == aws


def test_logs_second_run_reads_only_changed_streams(runs):
    changed = runs.second.get("logs:FilterLogEvents", 0)
    assert changed < runs.first["logs:FilterLogEvents"]
    streams = runs.scalar("SELECT count(*) FROM aws_logs_log_stream")
    assert changed <= streams // 2  # only streams with new events since the first run


def test_parse_level():
    assert parse_level("2026-11-24T14:01:00Z ERROR [model-server] boom") == "ERROR"
    assert parse_level("2026-11-24T14:01:00Z WARN [model-server] slow") == "WARN"
    assert parse_level("2026-11-24T14:01:00Z WARNING something") == "WARN"
    assert parse_level("INFO [nginx] GET /ping 200") == "INFO"
    assert parse_level("DEBUG x") == "DEBUG"
    assert parse_level("Traceback (most recent call last):") == "ERROR"
    assert parse_level("ValueError: bad input") == "ERROR"
    assert parse_level("raised an Exception in handler") == "ERROR"
    assert parse_level('2026/11/24 14:01:00 [error] 12#12: upstream timed out') == "ERROR"
    assert parse_level("  File \"/opt/ml/code/inference.py\", line 3") is None


def test_resource_parsing():
    assert resource("/aws/sagemaker/Endpoints/a-b", "AllTraffic/i-0abc") == {
        "endpoint_name": "a-b", "variant_name": "AllTraffic", "training_job_name": None}
    assert resource("/aws/sagemaker/TrainingJobs", "job-1/algo-1-1700000000") == {
        "endpoint_name": None, "variant_name": None, "training_job_name": "job-1"}


# ---------------------------------------------------------------- rollup rule: 1-minute points win over 5-minute


def _rollup_one_hour(tmp_path, points: list[tuple[int, int, float]]) -> tuple[float, int, int]:
    """Store (period_s, minute of the hour, value) points of one Sum series and roll the hour up."""
    from datetime import UTC

    from collectors import cloudwatch_metrics as cwm
    from collectors.base import Context
    w = Writer(tmp_path / "rollup")
    collectors.migrate(w)
    hour = datetime(2026, 3, 1, 10, tzinfo=UTC)
    rows = pd.DataFrame([{"account_id": "1", "region": "r", "series_id": "s", "stat": "Sum", "period_s": p,
                          "ts": hour + timedelta(minutes=m), "value": v} for p, m, v in points])
    ctx = Context(clients=None, account_id="1", region="r", settings=None,
                  run_sql=lambda sql, params: w.con.execute(sql, params).fetchall())
    with w.transaction():
        w.upsert(cwm.POINT, rows)
        cwm._rollup(ctx, {("s", "Sum"): [hour, hour + timedelta(minutes=59)]})
    [row] = w.con.execute("SELECT value, points, period_s FROM aws_cloudwatch_metric_hourly").fetchall()
    w.close()
    return row


def test_hourly_rollup_of_1_minute_points_sums_them(tmp_path):
    assert _rollup_one_hour(tmp_path, [(60, m, 1.0 + m) for m in range(60)]) == (sum(1.0 + m for m in range(60)), 60,
                                                                                 60)


def test_hourly_rollup_drops_5_minute_points_whose_period_has_1_minute_points(tmp_path):
    coarse = [(300, m, 100.0) for m in range(0, 60, 5)]  # the whole hour at 5 minutes (backfill)
    fine = [(60, m, 1.0) for m in range(50, 60)]  # its last two 5-minute periods re-read at 1 minute
    value, points, period = _rollup_one_hour(tmp_path, coarse + fine)
    assert (value, points, period) == (10 * 100.0 + 10 * 1.0, 10 + 10, 60)


# ---------------------------------------------------------------- endpoint summary


def test_endpoint_summary_after_a_first_cycle_is_what_its_select_gives_on_the_cycles_data(expired):
    from collectors import cloudwatch_metrics as cwm
    c = expired.collection
    [(newest,)] = c.query(
        "SELECT max(p.ts) FROM aws_cloudwatch_metric_point p JOIN aws_cloudwatch_metric_series s "
        "USING (account_id, region, series_id) WHERE s.metric_name = 'Invocations' AND p.account_id = ? "
        "AND p.region = ?", [expired.account_id, expired.region])
    stored = c.query("SELECT * FROM aws_cloudwatch_endpoint_summary ORDER BY endpoint_name")
    endpoints = {r[0] for r in c.query(
        "SELECT DISTINCT endpoint_name FROM aws_cloudwatch_metric_series WHERE metric_name = 'Invocations'")}
    assert {r[2] for r in stored} == endpoints  # every endpoint with an Invocations series, on the first cycle
    assert {r[3] for r in stored} == {newest}  # the windows end at the newest invocation datapoint
    again = c.query(f"SELECT * FROM ({cwm.SUMMARY_SELECT}) ORDER BY endpoint_name",
                    cwm.summary_params(newest, expired.account_id, expired.region))
    assert again == stored
    assert any(r[5] > 0 for r in stored) and any(r[13] is not None for r in stored)  # traffic, last invocation


def test_traffic_windows_after_a_first_cycle_end_at_its_minute_and_are_what_their_select_gives(expired):
    from sextant.traffic import TRAFFIC_WINDOWS, traffic_select
    c = expired.collection
    [(polled,)] = c.query("SELECT max(polled_at) FROM aws_cloudwatch_metric_poll")
    stored = c.query("SELECT endpoint_name, window_minutes, through, invocations, errors_4xx, errors_5xx, p99_us, "
                     "peak_p99_us FROM aws_cloudwatch_endpoint_traffic ORDER BY endpoint_name, window_minutes")
    endpoints = {r[0] for r in c.query(
        "SELECT DISTINCT endpoint_name FROM aws_cloudwatch_metric_series WHERE metric_name = 'Invocations'")}
    assert {(r[0], r[1]) for r in stored} == {(e, m) for e in endpoints for m in (60, 1440)}
    through = polled.replace(second=0, microsecond=0)
    assert {r[2] for r in stored} == {through}  # the cycle's minute
    sql, params = traffic_select(through, TRAFFIC_WINDOWS, account_id=expired.account_id, region=expired.region)
    again = c.query(f"SELECT endpoint_name, win, invocations, errors_4xx, errors_5xx, p99_us, peak_p99_us FROM ({sql}) "
                    "ORDER BY endpoint_name, win", params)
    assert [(e, {0: 60, 1: 1440}[w]) for e, w, *_ in again] == [(r[0], r[1]) for r in stored]
    for row, r in zip(again, stored, strict=True):  # sums in another order: equal to the last bits
        assert list(row[2:]) == [pytest.approx(x, rel=1e-12) if x is not None else None for x in r[3:]]
    assert any(r[3] > 0 for r in stored if r[1] == 1440)  # the seeded endpoints have traffic
