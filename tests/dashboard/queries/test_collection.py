"""dashboard.queries.collection on tiny stores: the sources from the store's registry, freshness statuses against
each source's cadence, runs and errors, and the self-cost meter."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard.queries import collection
from sextant.settings import Settings
from tests.dashboard.queries.conftest import END

ACCOUNT = "111111111111"
SETTINGS = Settings()  # hot cadence 300 s, Cost Explorer 8 h, logs (cold) 1 h


def _run(source: str, ended_ago: timedelta, status: str = "succeeded", run_id: str = "r1", **kw) -> dict:
    ended = END - ended_ago
    return {"run_id": run_id, "source": source, "account_id": ACCOUNT, "region": "us-east-1",
            "started_at": ended - timedelta(seconds=10), "ended_at": ended, "status": status, "rows": 5,
            "api_calls": 2, "estimated_cost_usd": 0.0, **kw}


def _source(name: str) -> dict:
    return {"source": name, "tables": [f"aws_{name}"], "depends_on": [], "global_service": False}


def test_sources_are_the_stores_registry(tiny_store):
    tiny_store(sextant_source=[_source("b"), _source("a")], sextant_collection_run=[_run("c", timedelta(0))])
    assert collection.sources() == ["a", "b"]


def test_an_empty_registry_lists_the_sources_that_have_run(tiny_store):
    tiny_store(sextant_collection_run=[_run("b", timedelta(0)), _run("a", timedelta(0)),
                                       _run("a", timedelta(0), run_id="r2")])
    assert collection.sources() == ["a", "b"]
    tiny_store()
    assert collection.sources() == []


def test_freshness_status_is_the_age_against_the_sources_cadence(tiny_store):
    tiny_store(sextant_collection_run=[
        _run("fresh", timedelta(minutes=10)),  # 2 x 300 s
        _run("late", timedelta(minutes=30)),  # 6 x 300 s
        _run("stale", timedelta(minutes=31)),
        _run("cost_explorer", timedelta(hours=16)),  # 2 x its 8 h refresh: still fresh
        _run("failing", timedelta(minutes=20)), _run("failing", timedelta(minutes=1), "failed", run_id="r2",
                                                     error="AccessDenied", hint="grant it"),
    ])
    fresh = collection.freshness(["fresh", "late", "stale", "cost_explorer", "failing", "never"], SETTINGS, END)
    status = dict(zip(fresh.source, fresh.status, strict=True))
    assert status == {"fresh": "fresh", "late": "late", "stale": "stale", "cost_explorer": "fresh",
                      "failing": "failing", "never": "never"}
    failing = fresh.set_index("source").loc["failing"]
    assert failing.age_s == pytest.approx(20 * 60)  # age of the last success, not of the failure
    assert (failing.last_error, failing.last_hint) == ("AccessDenied", "grant it")
    assert fresh.set_index("source").loc["cost_explorer", "expected_every_s"] == SETTINGS.collect.cost_refresh_every_s


def test_freshness_of_an_empty_store_is_never_for_every_source(tiny_store):
    tiny_store()
    fresh = collection.freshness(["a", "b"], SETTINGS, END)
    assert list(fresh.status) == ["never", "never"]


def test_runs_are_grouped_by_cycle_newest_first_and_errors_listed(tiny_store):
    tiny_store(sextant_collection_run=[
        _run("a", timedelta(hours=2), run_id="old"), _run("a", timedelta(minutes=5), run_id="new"),
        _run("b", timedelta(minutes=4), "failed", run_id="new", error="boom"),
    ])
    runs = collection.collection_runs()
    assert list(runs.run_id) == ["new", "old"]
    assert (runs.sources.iloc[0], runs.failed.iloc[0], runs.rows.iloc[0]) == (2, 1, 10)
    assert list(collection.collection_run_sources("new").source) == ["a", "b"]
    errors = collection.collection_errors()
    assert list(zip(errors.source, errors.error, strict=True)) == [("b", "boom")]
    as_of = collection.data_as_of()
    assert list(as_of.source) == ["a"] and as_of.as_of.iloc[0] == END - timedelta(minutes=5)


def test_self_cost_projects_the_last_24_hours_to_a_month(tiny_store):
    tiny_store(sextant_collection_run=[
        _run("cost_explorer", timedelta(hours=12), run_id="r1", api_calls=4, estimated_cost_usd=0.04),
        _run("cost_explorer", timedelta(hours=1), run_id="r2", api_calls=4, estimated_cost_usd=0.04),
        _run("cloudwatch_metrics", timedelta(hours=1), run_id="r2", api_calls=10, estimated_cost_usd=0.01),
        _run("cost_explorer", timedelta(days=3), run_id="r0", api_calls=4, estimated_cost_usd=5.0),  # too old
    ])
    cost = collection.self_cost(SETTINGS, END)
    assert cost.last_24h_usd == pytest.approx(0.09) and cost.projected_monthly_usd == pytest.approx(2.7)
    assert (cost.api_calls_24h, cost.runs_24h) == (18, 2)
    assert cost.hours_covered == pytest.approx(12 + 10 / 3600)
    assert list(cost.by_source.source) == ["cost_explorer", "cloudwatch_metrics"]
    assert cost.budget_usd == SETTINGS.collect.monthly_api_budget_usd


def test_self_cost_without_runs_is_zero(tiny_store):
    tiny_store()
    cost = collection.self_cost(SETTINGS, END)
    assert (cost.last_24h_usd, cost.runs_24h, cost.projected_monthly_usd) == (0.0, 0, 0.0)


def test_metrics_plan_is_the_newest_polls_first(tiny_store):
    tiny_store(aws_cloudwatch_metric_poll=[{"account_id": ACCOUNT, "region": "us-east-1",
                                            "polled_at": END - timedelta(minutes=m), "queries": m}
                                           for m in (10, 5, 20)])
    assert list(collection.metrics_plan().queries) == [5, 10, 20]


def test_a_partial_source_is_shown_as_partial_with_the_failed_operation_and_counts_as_collected(tiny_store):
    op_error = "application-autoscaling:DescribeScalingActivities: AccessDeniedException (not authorized)"
    hint = "grant application-autoscaling:DescribeScalingActivities to the collector's role"
    tiny_store(sextant_collection_run=[
        _run("application_autoscaling", timedelta(minutes=20)),
        _run("application_autoscaling", timedelta(minutes=1), "partial", run_id="r2", error=op_error, hint=hint),
        _run("stale_partial", timedelta(hours=2), "partial", run_id="r2", error=op_error, hint=hint),
        _run("b", timedelta(minutes=1), "failed", run_id="r2", error="boom"),
    ])
    fresh = collection.freshness(["application_autoscaling", "stale_partial", "b"], SETTINGS, END).set_index("source")
    row = fresh.loc["application_autoscaling"]
    assert (row.status, row.last_status, row.last_error, row.last_hint) == ("partial", "partial", op_error, hint)
    assert row.age_s == pytest.approx(60)  # a partial run's core rows landed: it is the last success
    assert fresh.loc["stale_partial", "status"] == "stale"  # the age says more than the partial
    runs = collection.collection_runs().set_index("run_id")
    assert (runs.loc["r2", "sources"], runs.loc["r2", "failed"], runs.loc["r2", "partial"]) == (3, 1, 2)
    detail = collection.collection_run_sources("r2").set_index("source")
    assert (detail.loc["application_autoscaling", "status"], detail.loc["application_autoscaling", "error"]) == (
        "partial", op_error)
    errors = collection.collection_errors()
    assert set(zip(errors.source, errors.status, strict=True)) == {
        ("application_autoscaling", "partial"), ("stale_partial", "partial"), ("b", "failed")}
    assert collection.data_as_of().set_index("source").as_of["application_autoscaling"] == END - timedelta(minutes=1)


def test_store_disk_counts_the_writer_the_snapshots_and_leftovers(tiny_store):
    from pathlib import Path

    location = Path(tiny_store())
    (location / "snapshots" / ".123.duckdb.ab.tmp").write_bytes(b"x" * 1000)
    (location / "audit.sqlite").write_bytes(b"y" * 500)
    disk = collection.store_disk(location)
    writer = sum(p.stat().st_size for p in location.glob("writer.duckdb*"))
    snaps = [p for p in (location / "snapshots").glob("*.duckdb")]
    assert disk.writer_bytes == writer > 0
    assert (disk.snapshots, disk.snapshot_bytes) == (len(snaps), sum(p.stat().st_size for p in snaps))
    assert (disk.temporary_bytes, disk.other_bytes) == (1000, 500 + (location / "CURRENT").stat().st_size)
    assert disk.total_bytes == sum(p.stat().st_size for p in location.rglob("*") if p.is_file())
    assert collection.store_disk().location == location.resolve()  # the store this dashboard reads
