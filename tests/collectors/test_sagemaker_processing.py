"""sagemaker_processing collector: the jobs stored equal the jobs listed, with their resources, times, billable time,
data and origin; a second run where nothing changed lists once and describes nothing."""

from __future__ import annotations

import json

from tests.collectors.conftest import all_items, count, diff, ok, ops


def test_processing_jobs_collected_equal_the_jobs_listed(collection, account):
    ok(collection.run(["sagemaker_processing"]))
    listed = {j["ProcessingJobName"] for j in all_items(account.client("sagemaker"), "list_processing_jobs",
                                                         "ProcessingJobSummaries")}
    stored = {r[0] for r in collection.query("SELECT processing_job_name FROM aws_sagemaker_processing_job")}
    assert listed and stored == listed
    assert count(collection, "aws_sagemaker_processing_job") == len(listed)


def test_a_failed_processing_job_is_stored_as_described(collection, account):
    ok(collection.run(["sagemaker_processing"]))
    sm = account.client("sagemaker")
    (name,) = collection.query("SELECT processing_job_name FROM aws_sagemaker_processing_job WHERE status = 'Failed' "
                               "AND processing_start_time IS NOT NULL ORDER BY processing_job_name LIMIT 1")[0]
    row = dict(zip(*_columns(collection, name), strict=True))
    d = sm.describe_processing_job(ProcessingJobName=name)
    cluster = d["ProcessingResources"]["ClusterConfig"]
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=d["ProcessingJobArn"])["Tags"]}
    seconds = int((d["ProcessingEndTime"] - d["ProcessingStartTime"]).total_seconds())
    assert (row["status"], row["failure_reason"], row["exit_message"]) == (
        "Failed", d["FailureReason"], d.get("ExitMessage"))
    assert (row["instance_type"], row["instance_count"], row["volume_gb"]) == (
        cluster["InstanceType"], cluster["InstanceCount"], cluster["VolumeSizeInGB"])
    assert (row["processing_start_time"], row["processing_end_time"], row["creation_time"]) == (
        d["ProcessingStartTime"], d["ProcessingEndTime"], d["CreationTime"])
    assert row["duration_seconds"] == seconds > 0
    assert row["billable_seconds"] == seconds * cluster["InstanceCount"]  # billed per instance-second
    assert json.loads(row["inputs"]) == [{"name": i["InputName"], "s3_uri": i["S3Input"]["S3Uri"]}
                                         for i in d["ProcessingInputs"]]
    assert json.loads(row["outputs"]) == [{"name": o["OutputName"], "s3_uri": o["S3Output"]["S3Uri"]}
                                          for o in d["ProcessingOutputConfig"]["Outputs"]]
    assert (row["image"], row["role_arn"]) == (d["AppSpecification"]["ImageUri"], d["RoleArn"])
    assert (row["team"], row["project"], row["env"]) == (tags["team"], tags["project"], tags["env"])
    assert json.loads(row["tags"]) == tags


def test_what_started_a_job_and_what_never_ran(collection):
    ok(collection.run(["sagemaker_processing"]))
    steps = collection.query(
        "SELECT processing_job_name, pipeline_execution_arn, pipeline_step_name FROM aws_sagemaker_processing_job "
        "WHERE processing_job_name LIKE 'pipelines-%'")
    assert steps and all(":pipeline/" in arn and f"-{step}-" in name for name, arn, step in steps)
    rules = collection.query("SELECT training_job_arn FROM aws_sagemaker_processing_job "
                             "WHERE processing_job_name LIKE '%-ProfilerReport-%'")
    assert rules and all(":training-job/" in arn for (arn,) in rules)
    never = collection.query("SELECT billable_seconds, duration_seconds FROM aws_sagemaker_processing_job "
                             "WHERE status = 'Failed' AND processing_start_time IS NULL")
    assert never and all(row == (0, None) for row in never)  # failed before its instances started: nothing billed
    running = collection.query("SELECT billable_seconds, processing_end_time FROM aws_sagemaker_processing_job "
                               "WHERE status = 'InProgress'")
    assert running and all(row == (None, None) for row in running)


def test_processing_second_run_lists_once_and_describes_only_changed_jobs(collection):
    ok(collection.run(["sagemaker_processing"]))
    before_rows = dict(collection.query(
        "SELECT processing_job_name, epoch_ms(last_modified_time) FROM aws_sagemaker_processing_job"))
    before = collection.calls()
    ok(collection.run(["sagemaker_processing"]))
    calls = diff(collection.calls(), before)
    after_rows = dict(collection.query(
        "SELECT processing_job_name, epoch_ms(last_modified_time) FROM aws_sagemaker_processing_job"))
    changed = {n for n, m in after_rows.items() if before_rows.get(n) != m}
    assert ops(calls, "ListProcessingJobs") == 1
    assert ops(calls, "DescribeProcessingJob") == ops(calls, "ListTags") == len(changed)
    if not changed:  # nothing moved in the account between the runs (the usual case): the list call alone
        assert {k.split(":", 1)[1] for k in calls} == {"ListProcessingJobs"}
    assert count(collection, "aws_sagemaker_processing_job") == len(after_rows) == len(before_rows)


def _columns(collection, name: str) -> tuple[list[str], tuple]:
    from sextant.store import Reader

    reader = Reader(collection.settings.store)
    try:
        cur = reader.connection().execute("SELECT * FROM aws_sagemaker_processing_job WHERE processing_job_name = ?",
                                          [name])
        row = cur.fetchone()
        return [c[0] for c in cur.description], row
    finally:
        reader.close()
