"""dashboard.queries.training on tiny stores: jobs in the range with their cost at the one training price, filters,
one job, transitions, curves, and two jobs compared."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest

from dashboard.queries import training as tq
from tests.dashboard.queries.conftest import END, f

ACCOUNT = "111111111111"
REGION = "us-east-1"
TRAIN = 4.0  # $ per instance-hour of on-demand ml.p3.2xlarge training on the tiny bill
SPOT = 1.5  # $ per instance-hour of spot ml.g4dn.xlarge training (the only line the bill has for it)


def _job(name, created_hours_before_end, *, status="Completed", instance_type="ml.p3.2xlarge", count=2,
         spot=False, training_s=3600, billable_s=3600, team="vision", ended=True, **kw):
    created = END - timedelta(hours=created_hours_before_end)
    return {"account_id": ACCOUNT, "region": REGION, "training_job_name": name, "status": status,
            "creation_time": created, "training_start_time": created,
            "training_end_time": created + timedelta(seconds=training_s) if ended else None,
            "instance_type": instance_type, "instance_count": count, "spot": spot, "training_seconds": training_s,
            "billable_seconds": billable_s, "team": team, "project": "p", **kw}


def _bill(key2, price, hours=10.0):
    return {"account_id": ACCOUNT, "region": REGION, "date": END.date() - timedelta(days=1),
            "group_by_kind": "SERVICE/USAGE_TYPE", "key1": "Amazon SageMaker", "key2": key2,
            "unblended_cost_usd": price * hours, "usage_quantity": hours}


BILL = [_bill("USE1-Train:ml.p3.2xlarge", TRAIN), _bill("USE1-Train-Spot:ml.p3.2xlarge", 1.0),
        _bill("USE1-Train-Spot:ml.g4dn.xlarge", SPOT), _bill("USE1-Host:ml.m5.large", 9.0)]


def test_training_jobs_cost_billable_hours_at_the_training_price(tiny_store):
    tiny_store(aws_sagemaker_training_job=[
        _job("od", 5),
        _job("spot", 4, instance_type="ml.g4dn.xlarge", count=1, spot=True, training_s=7200, billable_s=3600),
        _job("unpriced", 3, instance_type="ml.m5.large")], aws_cost_daily=BILL)
    df = tq.training_jobs(f()).set_index("training_job_name")
    assert df.loc["od", "usd_per_hour"] == pytest.approx(TRAIN)  # on-demand rate, not the spot one
    assert df.loc["od", "cost_usd"] == pytest.approx(2 * 1.0 * TRAIN)
    assert df.loc["spot", "usd_per_hour"] == pytest.approx(SPOT)  # no on-demand line: the spot rate stands in
    assert df.loc["spot", "spot_savings_usd"] == pytest.approx(1.0 * SPOT)  # an hour not billed
    assert pd.isna(df.loc["od", "spot_savings_usd"])
    assert pd.isna(df.loc["unpriced", "cost_usd"])  # a hosting line is no training price
    assert tq.training_job("od").cost_usd.iloc[0] == pytest.approx(df.loc["od", "cost_usd"])


def test_training_jobs_ran_in_the_range_newest_first(tiny_store):
    tiny_store(aws_sagemaker_training_job=[
        _job("inside", 5), _job("running", 30, status="InProgress", ended=False),
        _job("ended-before", 30, training_s=3600),  # ended 29 h before the end: outside a 24-h range
        _job("after", -1)])  # created after the range end
    assert tq.training_jobs(f()).training_job_name.tolist() == ["inside", "running"]


def test_training_jobs_filters(tiny_store):
    tiny_store(aws_sagemaker_training_job=[
        _job("a-fail", 5, status="Failed", failure_reason="OOM"), _job("b-spot", 4, spot=True),
        _job("c-g4", 3, instance_type="ml.g4dn.xlarge", team="nlp")])
    assert tq.training_jobs(f(), statuses=["Failed"]).training_job_name.tolist() == ["a-fail"]
    assert tq.training_jobs(f(), spot=True).training_job_name.tolist() == ["b-spot"]
    assert tq.training_jobs(f(), spot=False).training_job_name.tolist() == ["c-g4", "a-fail"]
    assert tq.training_jobs(f(), instance_types=["ml.g4dn.xlarge"]).training_job_name.tolist() == ["c-g4"]
    assert tq.training_jobs(f(), text="SPOT").training_job_name.tolist() == ["b-spot"]
    assert tq.training_jobs(f(teams=["nlp"])).training_job_name.tolist() == ["c-g4"]
    opts = tq.training_filter_options(f(teams=["nlp"]))  # the team filter aside: every team stays a choice
    assert opts == {"status": ["Completed", "Failed"], "instance_type": ["ml.g4dn.xlarge", "ml.p3.2xlarge"],
                    "team": ["nlp", "vision"]}


def test_transitions_and_curves_of_one_job(tiny_store):
    t = END - timedelta(hours=2)
    sid = {"account_id": ACCOUNT, "region": REGION, "series_id": "loss", "namespace": "/aws/sagemaker/TrainingJobs",
           "metric_name": "train:loss", "training_job_name": "j", "host": "algo-1", "stats": "Average"}
    point = {"account_id": ACCOUNT, "region": REGION, "series_id": "loss", "stat": "Average"}
    tiny_store(aws_sagemaker_training_job_status_transition=[
                   {"account_id": ACCOUNT, "region": REGION, "training_job_name": "j", "status": "Training",
                    "start_time": t + timedelta(minutes=5), "end_time": t + timedelta(minutes=65)},
                   {"account_id": ACCOUNT, "region": REGION, "training_job_name": "j", "status": "Starting",
                    "start_time": t, "end_time": t + timedelta(minutes=5)}],
               aws_cloudwatch_metric_series=[sid],
               aws_cloudwatch_metric_point=[{**point, "period_s": 60, "ts": t, "value": 2.0},
                                            {**point, "period_s": 300, "ts": t, "value": 9.0},  # coarser: dropped
                                            {**point, "period_s": 60, "ts": t + timedelta(minutes=1), "value": 1.5}])
    tr = tq.training_transitions("j")
    assert tr.status.tolist() == ["Starting", "Training"] and tr.minutes.tolist() == [5.0, 60.0]
    curves = tq.training_curves("j")
    assert curves.value.tolist() == [2.0, 1.5] and set(curves.metric) == {"train:loss"}
    assert list(tq.training_curves("nothing").columns) == ["ts", "metric", "host", "value"]


def test_compare_two_jobs_flags_the_hyperparameters_that_differ(tiny_store):
    tiny_store(aws_sagemaker_training_job=[
        _job("a", 5, hyperparameters=json.dumps({"lr": "0.1", "epochs": "3"}),
             final_metrics=json.dumps({"loss": 0.5})),
        _job("b", 4, hyperparameters=json.dumps({"lr": "0.01", "epochs": "3"}),
             final_metrics=json.dumps({"loss": 0.4}))])
    cmp = tq.training_compare("a", "b")
    hp = cmp["hyperparameters"].set_index("name")
    assert hp.differs.to_dict() == {"epochs": False, "lr": True}
    assert cmp["metrics"].set_index("name").loc["loss"].tolist() == [0.5, 0.4, True]
    assert cmp["summary"].set_index("field").loc["status"].tolist() == ["Completed", "Completed"]
    assert tq.training_compare("a", "missing")["summary"].empty
