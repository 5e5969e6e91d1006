"""Training page: filters narrow the table, a failed job's detail shows its reason, two jobs compare; the Processing
jobs tab shows the stored processing jobs with their cost."""

from __future__ import annotations

import json

import pytest


def _jobs_table(at):
    return next(d.value for d in at.dataframe if "training_job_name" in d.value.columns)


def test_status_filter_narrows_the_table_to_the_stored_failed_jobs(app, demo_store):
    at = app("pages/training.py", range="90d")
    everything = _jobs_table(at)
    at.multiselect(key="tr_status").set_value(["Failed"]).run()
    failed = _jobs_table(at)
    stored = {r[0] for r in demo_store.query(
        "SELECT training_job_name FROM aws_sagemaker_training_job WHERE status = 'Failed' "
        "AND (training_end_time IS NULL OR training_end_time >= now() - INTERVAL 90 DAY)")}
    assert 0 < len(failed) < len(everything)
    assert set(failed.status) == {"Failed"}
    assert set(failed.training_job_name) == stored


def test_spot_and_instance_type_filters_combine(app, demo_store):
    at = app("pages/training.py", range="90d")
    itype = _jobs_table(at).instance_type.mode()[0]
    at.multiselect(key="tr_type").set_value([itype]).run()
    at.selectbox(key="tr_spot").set_value("Spot").run()
    table = _jobs_table(at)
    (expected,) = demo_store.query(
        "SELECT count(*) FROM aws_sagemaker_training_job WHERE instance_type = ? AND spot "
        "AND (training_end_time IS NULL OR training_end_time >= now() - INTERVAL 90 DAY)", [itype])[0]
    assert len(table) == expected > 0
    assert set(table.instance_type) == {itype} and table.spot.all()


def test_oom_failure_reason_shows_in_the_job_detail(app, demo_store):
    (name,) = demo_store.query("SELECT training_job_name FROM aws_sagemaker_training_job "
                               "WHERE failure_reason LIKE '%out of memory%' LIMIT 1")[0]
    at = app("pages/training.py", job=name)
    shown = " ".join(w.value for w in at.warning)
    assert "CUDA out of memory" in shown and "OOMKilled" in shown


def test_two_jobs_compare_side_by_side_with_their_hyperparameters(app, demo_store):
    rows = demo_store.query("SELECT training_job_name, hyperparameters FROM aws_sagemaker_training_job "
                            "WHERE status = 'Completed' ORDER BY creation_time DESC LIMIT 2")
    (a, hpa), (b, hpb) = rows
    at = app("pages/training.py", compare=f"{a},{b}")
    summary = at.dataframe[0].value
    assert {a, b} <= set(summary.columns)
    hp = next(d.value for d in at.dataframe if "differs" in d.value.columns and "learning_rate" in set(d.value.name))
    hp = hp.set_index("name")
    for job, stored in ((a, json.loads(hpa)), (b, json.loads(hpb))):
        assert {k: hp.loc[k, job] for k in stored} == stored
    assert list(hp.index[hp.differs]) == sorted(k for k in set(json.loads(hpa)) | set(json.loads(hpb))
                                                if json.loads(hpa).get(k) != json.loads(hpb).get(k))


def _processing_table(at):
    return next(d.value for d in at.dataframe if "processing_job_name" in d.value.columns)


def test_processing_jobs_tab_shows_the_stored_jobs_newest_first_with_their_cost(app, demo_store):
    at = app("pages/training.py", range="30d")
    assert [t.label for t in at.tabs] == ["Training jobs", "Processing jobs"]
    table = _processing_table(at)
    stored = dict(demo_store.query(
        "SELECT processing_job_name, status FROM aws_sagemaker_processing_job "
        "WHERE processing_end_time IS NULL OR processing_end_time >= now() - INTERVAL 30 DAY"))
    assert set(table.processing_job_name) == set(stored) and len(stored) >= 100
    assert table.creation_time.is_monotonic_decreasing  # the most recent first
    assert "In progress" in set(table.status) and "InProgress" not in set(table.status)  # statuses in words
    priced = table[table.cost_usd > 0].iloc[0]
    itype, count, seconds = demo_store.query(
        "SELECT instance_type, instance_count, billable_seconds FROM aws_sagemaker_processing_job "
        "WHERE processing_job_name = ?", [priced.processing_job_name])[0]
    assert priced.instances == f"{itype} × {count}"
    assert priced.billable_hours == pytest.approx(seconds / 3600)
    assert priced.cost_usd == pytest.approx(priced.billable_hours * priced.usd_per_hour)
    failed = table[table.failure_reason.notna()]
    assert len(failed) == sum(s == "Failed" for s in stored.values()) and set(failed.status) == {"Failed"}
    assert table.inputs.str.contains("s3://").all() and table.outputs.str.contains("s3://").all()
    assert table.started_by.str.startswith("pipeline ").any() and table.started_by.str.startswith("training job ").any()
    assert f"${table.cost_usd.sum():,.0f}" in [m.value for m in at.metric if m.label == "Cost"]  # the range's total


def test_processing_status_filter_narrows_to_failed_jobs(app):
    at = app("pages/training.py", range="30d")
    at.multiselect(key="pj_status").set_value(["Failed"]).run()
    table = _processing_table(at)
    assert len(table) > 0 and set(table.status) == {"Failed"} and table.failure_reason.notna().all()
