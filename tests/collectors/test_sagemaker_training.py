"""sagemaker_training collector: the jobs stored equal the jobs listed, with their details and status history; a
second run lists once and describes only running or changed jobs."""

from __future__ import annotations

from tests.collectors.conftest import all_items, count, diff, ok, ops


def test_training_jobs_collected_equal_the_jobs_listed(collection, account):
    ok(collection.run(["sagemaker_training"]))
    listed = {j["TrainingJobName"] for j in all_items(account.client("sagemaker"), "list_training_jobs",
                                                       "TrainingJobSummaries")}
    stored = {r[0] for r in collection.query("SELECT training_job_name FROM aws_sagemaker_training_job")}
    assert listed and stored == listed
    transitions = collection.query(
        "SELECT count(DISTINCT training_job_name) FROM aws_sagemaker_training_job_status_transition")[0][0]
    assert transitions == len(listed)  # every job has its secondary-status history


def test_training_job_details_match_describe(collection, account):
    ok(collection.run(["sagemaker_training"]))
    sm = account.client("sagemaker")
    name, status, itype, spot, billable, reason, hp = collection.query(
        "SELECT training_job_name, status, instance_type, spot, billable_seconds, failure_reason, hyperparameters "
        "FROM aws_sagemaker_training_job WHERE status = 'Failed' ORDER BY training_job_name LIMIT 1")[0]
    d = sm.describe_training_job(TrainingJobName=name)
    assert (status, itype, spot) == (d["TrainingJobStatus"], d["ResourceConfig"]["InstanceType"],
                                     bool(d.get("EnableManagedSpotTraining")))
    assert billable == d.get("BillableTimeInSeconds") and reason == d.get("FailureReason")
    assert hp is not None


def test_training_second_run_lists_once_and_describes_only_running_or_changed_jobs(collection):
    ok(collection.run(["sagemaker_training"]))
    before_rows = dict(collection.query(
        "SELECT training_job_name, epoch_ms(last_modified_time) FROM aws_sagemaker_training_job"))
    running = {r[0] for r in collection.query(
        "SELECT training_job_name FROM aws_sagemaker_training_job WHERE status IN ('InProgress', 'Stopping')")}
    before = collection.calls()
    ok(collection.run(["sagemaker_training"]))
    calls = diff(collection.calls(), before)
    after_rows = dict(collection.query(
        "SELECT training_job_name, epoch_ms(last_modified_time) FROM aws_sagemaker_training_job"))
    changed = {n for n, m in after_rows.items() if before_rows.get(n) != m}
    assert ops(calls, "ListTrainingJobs") == 1
    assert ops(calls, "DescribeTrainingJob") == len(running | changed)
    assert count(collection, "aws_sagemaker_training_job") == len(after_rows)
