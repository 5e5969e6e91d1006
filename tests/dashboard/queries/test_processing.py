"""dashboard.queries.processing on tiny stores: processing jobs in the range with their cost at the one processing
price, the scope and tab filters, and the summary above the table."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from dashboard.queries import processing as pq
from tests.dashboard.queries.conftest import END, f

ACCOUNT = "111111111111"
REGION = "us-east-1"
PROCESSING = 0.25  # $ per instance-hour of ml.m5.xlarge processing on the tiny bill
TRAIN = 4.0  # a training rate for the same type: not the processing price


def _job(name, created_hours_before_end, *, status="Completed", instance_type="ml.m5.xlarge", count=2,
         seconds=1800, started=True, ended=True, team="vision", project="p", account=ACCOUNT, **kw):
    created = END - timedelta(hours=created_hours_before_end)
    start = created + timedelta(minutes=2) if started else None
    end = (start or created) + timedelta(seconds=seconds if started else 20) if ended else None
    billable = (seconds * count if started else 0) if ended else None
    return {"account_id": account, "region": REGION, "processing_job_name": name, "status": status,
            "creation_time": created, "processing_start_time": start, "processing_end_time": end,
            "instance_type": instance_type, "instance_count": count, "duration_seconds": seconds if started and ended
            else None, "billable_seconds": billable, "team": team, "project": project, **kw}


def _bill(key2, price, hours=10.0):
    return {"account_id": ACCOUNT, "region": REGION, "date": END.date() - timedelta(days=1),
            "group_by_kind": "SERVICE/USAGE_TYPE", "key1": "Amazon SageMaker", "key2": key2,
            "unblended_cost_usd": price * hours, "usage_quantity": hours}


BILL = [_bill("USE1-Processing:ml.m5.xlarge", PROCESSING), _bill("USE1-Train:ml.m5.xlarge", TRAIN),
        _bill("USE1-Train:ml.c5.xlarge", TRAIN)]


def test_cost_is_billable_instance_hours_at_the_processing_price(tiny_store):
    tiny_store(aws_sagemaker_processing_job=[
        _job("two-instances", 5, count=2, seconds=1800),
        _job("unpriced", 4, instance_type="ml.c5.xlarge"),  # the bill has only a training rate for it
        _job("never-started", 3, status="Failed", started=False, failure_reason="ResourceLimitExceeded: ..."),
        _job("running", 2, status="InProgress", ended=False)], aws_cost_daily=BILL)
    df = pq.processing_jobs(f()).set_index("processing_job_name")
    assert df.loc["two-instances", "usd_per_hour"] == pytest.approx(PROCESSING)  # not the training rate
    assert df.loc["two-instances", "billable_hours"] == pytest.approx(1.0)  # 2 instances x 30 min
    assert df.loc["two-instances", "cost_usd"] == pytest.approx(1.0 * PROCESSING)
    assert df.loc["two-instances", "duration_min"] == pytest.approx(30)
    assert pd.isna(df.loc["unpriced", "cost_usd"])  # a training line is no processing price: unknown, not guessed
    assert df.loc["never-started", "cost_usd"] == 0 and df.loc["never-started", "billable_hours"] == 0
    assert pd.isna(df.loc["running", "cost_usd"]) and pd.isna(df.loc["running", "billable_hours"])
    summary = pq.processing_summary(pq.processing_jobs(f()))
    assert summary == {"jobs": 4, "failed": 1, "running": 1, "billable_hours": pytest.approx(2.0),
                       "cost_usd": pytest.approx(PROCESSING), "unpriced": 1}


def test_jobs_that_ran_in_the_range_newest_first(tiny_store):
    tiny_store(aws_sagemaker_processing_job=[
        _job("inside", 5), _job("running-since-before", 30, status="InProgress", ended=False),
        _job("spans-the-start", 24.5, seconds=3600),  # ended 23.5 h before the end: inside a 24-h range
        _job("ended-before", 30, seconds=1800),
        _job("after", -1)])  # created after the range end
    assert pq.processing_jobs(f()).processing_job_name.tolist() == ["inside", "spans-the-start",
                                                                      "running-since-before"]
    wide = f(start=END - timedelta(days=2))
    assert set(pq.processing_jobs(wide).processing_job_name) == {"inside", "spans-the-start", "running-since-before",
                                                                 "ended-before"}


def test_scope_and_tab_filters(tiny_store):
    tiny_store(aws_sagemaker_processing_job=[
        _job("vision-features", 5, project="defect"), _job("nlp-eval", 4, team="nlp", project="assistant"),
        _job("other-account-eval", 3, account="222222222222"),
        _job("vision-failed", 2, status="Failed", failure_reason="AlgorithmError")])
    names = lambda df: sorted(df.processing_job_name)
    assert names(pq.processing_jobs(f(teams=["nlp"]))) == ["nlp-eval"]
    assert names(pq.processing_jobs(f(projects=["defect"]))) == ["vision-features"]
    assert names(pq.processing_jobs(f(accounts=["222222222222"]))) == ["other-account-eval"]
    assert names(pq.processing_jobs(f(regions=["eu-west-1"]))) == []
    assert names(pq.processing_jobs(f(), statuses=["Failed"])) == ["vision-failed"]
    assert names(pq.processing_jobs(f(), text="EVAL")) == ["nlp-eval", "other-account-eval"]


def test_an_empty_store_gives_the_columns(tiny_store):
    tiny_store()
    df = pq.processing_jobs(f())
    assert df.empty and list(df.columns) == pq.COLUMNS
    assert pq.processing_summary(df) == {"jobs": 0, "failed": 0, "running": 0, "billable_hours": 0.0,
                                         "cost_usd": None, "unpriced": 0}
