"""dashboard.queries.savings on tiny stores: idle endpoints priced, over-provisioned fleets, spot candidates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard.queries import savings
from tests.dashboard.queries.conftest import END, f

ACCOUNT = "111111111111"
PRICE = 0.5  # $ per instance-hour of ml.m5.large on the tiny bill
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _endpoint(name: str, region: str = "us-east-1", team: str = "vision") -> dict:
    return {"account_id": ACCOUNT, "region": region, "endpoint_name": name, "team": team, "project": "p",
            "status": "InService", "creation_time": T0}


def _variant(name: str, count: int, variant: str = "AllTraffic", region: str = "us-east-1") -> dict:
    return {"account_id": ACCOUNT, "region": region, "endpoint_name": name, "variant_name": variant,
            "instance_type": "ml.m5.large", "current_instance_count": count}


def _summary(name: str, last: datetime | None, inv_7d: float = 0.0) -> dict:
    return {"account_id": ACCOUNT, "region": "us-east-1", "endpoint_name": name, "as_of": END,
            "invocations_7d": inv_7d, "invocations_24h": inv_7d / 7, "last_invocation": last,
            "metrics_since": END - timedelta(days=60)}


BILL = [{"account_id": ACCOUNT, "region": "us-east-1", "date": END.date() - timedelta(days=1),
         "group_by_kind": "SERVICE/USAGE_TYPE", "key1": "Amazon SageMaker", "key2": "USE1-Host:ml.m5.large",
         "unblended_cost_usd": 24 * PRICE, "usage_quantity": 24.0}]


def test_an_endpoint_without_invocations_for_days_is_idle_with_its_monthly_cost(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("quiet"), _endpoint("busy")],
               aws_sagemaker_endpoint_variant=[_variant("quiet", 3), _variant("busy", 1)],
               aws_cloudwatch_endpoint_summary=[_summary("quiet", END - timedelta(days=20)),
                                                _summary("busy", END - timedelta(minutes=5), inv_7d=700)],
               aws_cost_daily=BILL)
    idle = savings.idle_endpoints(f(), 14)
    assert list(idle.endpoint_name) == ["quiet"]
    row = idle.iloc[0]
    assert row.idle_days == pytest.approx(20.0) and row.instances == 3
    assert row.daily_usd == pytest.approx(3 * PRICE * 24)
    assert row.monthly_saving_usd == pytest.approx(3 * PRICE * 24 * 30)
    assert savings.idle_endpoints(f(), 21).empty  # 20 days is not idle for 21


def test_an_endpoint_never_invoked_is_idle_since_metrics_began_or_it_was_created(tiny_store):
    recent = {**_endpoint("recent"), "creation_time": END - timedelta(days=3)}
    tiny_store(aws_sagemaker_endpoint=[_endpoint("new"), recent, _endpoint("busy")],
               aws_sagemaker_endpoint_variant=[_variant("new", 1), _variant("recent", 1), _variant("busy", 1)],
               aws_cloudwatch_endpoint_summary=[_summary("busy", END, inv_7d=10)])
    idle = savings.idle_endpoints(f(), 7)
    assert list(idle.endpoint_name) == ["new"]  # created long ago: idle since metrics began, 60 days
    assert idle.idle_days.iloc[0] == pytest.approx(60.0)
    assert idle.daily_usd.isna().all()  # no price on the bill: unknown, never guessed


def test_nothing_is_idle_before_metrics_are_collected(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("e")], aws_sagemaker_endpoint_variant=[_variant("e", 1)])
    assert savings.idle_endpoints(f(), 1).empty


def test_scalable_variants_are_those_of_the_given_endpoints_above_one_instance(tiny_store):
    tiny_store(aws_sagemaker_endpoint=[_endpoint("a"), _endpoint("a", region="eu-west-1"), _endpoint("b")],
               aws_sagemaker_endpoint_variant=[_variant("a", 3), _variant("a", 2, "Shadow"), _variant("b", 4),
                                               _variant("a", 5, region="eu-west-1"), _variant("a", 1, "One")])
    picked = savings.scalable_variants(
        pd.DataFrame({"account_id": [ACCOUNT], "region": ["us-east-1"], "endpoint_name": ["a"]}))
    assert list(zip(picked.region, picked.variant_name, strict=True)) == [("us-east-1", "AllTraffic"),
                                                                          ("us-east-1", "Shadow")]
    assert savings.scalable_variants(pd.DataFrame(columns=["account_id", "region", "endpoint_name"])).empty


def _cpu(name: str, values: list[float]) -> dict:
    series = {"account_id": ACCOUNT, "region": "us-east-1", "series_id": f"cpu-{name}",
              "namespace": "/aws/sagemaker/Endpoints", "metric_name": "CPUUtilization", "endpoint_name": name}
    hours = [{"account_id": ACCOUNT, "region": "us-east-1", "series_id": f"cpu-{name}", "stat": "Average",
              "hour": END - timedelta(hours=i + 1), "value": v} for i, v in enumerate(values)]
    return {"series": series, "hours": hours}


def test_a_fleet_with_traffic_at_low_cpu_is_overprovisioned_by_the_instances_it_does_not_need(tiny_store):
    low, single, hot = _cpu("low", [10.0] * 48), _cpu("single", [5.0] * 48), _cpu("hot", [70.0] * 48)
    tiny_store(aws_sagemaker_endpoint=[_endpoint(n) for n in ("low", "single", "hot")],
               aws_sagemaker_endpoint_variant=[_variant("low", 6), _variant("single", 1), _variant("hot", 2)],
               aws_cloudwatch_endpoint_summary=[_summary(n, END, inv_7d=1000) for n in ("low", "single", "hot")],
               aws_cloudwatch_metric_series=[low["series"], single["series"], hot["series"]],
               aws_cloudwatch_metric_hourly=low["hours"] + single["hours"] + hot["hours"],
               aws_cost_daily=BILL)
    over = savings.overprovisioned(f(), 20.0).set_index("endpoint_name")
    assert set(over.index) == {"low", "single"}
    # 6 instances at 10 % p95 CPU: a fleet at 50 % needs ceil(6 x 10 / 50) = 2
    assert over.loc["low", "suggestion"] == "6 → 2 instances"
    assert over.loc["low", "monthly_saving_usd"] == pytest.approx(4 * PRICE * savings.HOURS_PER_MONTH)
    assert over.loc["single", "monthly_saving_usd"] == pytest.approx(PRICE / 2 * savings.HOURS_PER_MONTH)


def test_an_endpoint_without_traffic_is_not_overprovisioned_but_idle(tiny_store):
    low = _cpu("low", [1.0] * 48)
    tiny_store(aws_sagemaker_endpoint=[_endpoint("low")], aws_sagemaker_endpoint_variant=[_variant("low", 4)],
               aws_cloudwatch_endpoint_summary=[_summary("low", END - timedelta(days=10))],
               aws_cloudwatch_metric_series=[low["series"]], aws_cloudwatch_metric_hourly=low["hours"])
    assert savings.overprovisioned(f(), 20.0).empty


def _job(name: str, spot: bool, seconds: int, billable: int, team: str = "fraud") -> dict:
    return {"account_id": ACCOUNT, "region": "us-east-1", "training_job_name": name, "team": team,
            "status": "Completed", "spot": spot, "instance_type": "ml.g4dn.xlarge", "instance_count": 1,
            "training_seconds": seconds, "billable_seconds": billable, "creation_time": END - timedelta(days=2)}


def test_the_spot_discount_is_observed_on_spot_jobs_or_the_default(tiny_store):
    tiny_store(aws_sagemaker_training_job=[_job("s1", True, 1000, 300), _job("s2", True, 1000, 300),
                                           _job("od", False, 1000, 1000)])
    assert savings.observed_spot_discount(f(), END) == pytest.approx(0.7)
    tiny_store(aws_sagemaker_training_job=[_job("od", False, 1000, 1000)])
    assert savings.observed_spot_discount(f(), END) == savings.DEFAULT_SPOT_DISCOUNT


def test_on_demand_training_is_a_spot_candidate_saving_the_discount(tiny_store):
    tiny_store(aws_sagemaker_training_job=[_job("od1", False, 7200, 7200), _job("od2", False, 3600, 3600),
                                           _job("sp", True, 3600, 1000)],
               aws_cost_daily=[{**BILL[0], "key2": "USE1-Train:ml.g4dn.xlarge", "unblended_cost_usd": 20.0,
                                "usage_quantity": 10.0}])
    spot = savings.spot_candidates(f(), END, discount=0.6)
    assert len(spot) == 1 and spot.jobs.iloc[0] == 2  # the spot job is not a candidate
    assert spot.cost_usd.iloc[0] == pytest.approx(3 * 2.0)
    assert spot.monthly_saving_usd.iloc[0] == pytest.approx(3 * 2.0 * 0.6)  # 30 days of jobs, scaled to 30


def test_a_one_off_job_is_a_saving_on_that_job_not_a_monthly_one(tiny_store):
    """A one-off $2,477 on-demand sweep was shown as a recurring monthly saving."""
    def job(name, days_ago, itype="ml.g4dn.xlarge", count=1, image="1.dkr.ecr/fraud/lgbm-train:1.4"):
        return {**_job(name, False, 3600, 3600), "creation_time": END - timedelta(days=days_ago),
                "instance_type": itype, "instance_count": count, "image": image}
    tiny_store(aws_sagemaker_training_job=[
        job("fraud-lgbm-20261118-1200-001", 2), job("fraud-lgbm-20261111-1200-002", 9),  # a weekly retrain
        job("vision-resnet-sweep-20261111-1400", 9, itype="ml.p3.16xlarge", count=4,
            image="1.dkr.ecr/vision/resnet-train:1.5")],  # the runaway sweep, run once
        aws_cost_daily=[{**BILL[0], "key2": "USE1-Train:ml.g4dn.xlarge", "unblended_cost_usd": 20.0,
                         "usage_quantity": 10.0},
                        {**BILL[0], "key2": "USE1-Train:ml.p3.16xlarge", "unblended_cost_usd": 281.5,
                         "usage_quantity": 10.0}])
    spot = savings.spot_candidates(f(), END, discount=0.7)
    assert list(spot.recurs) == [True, False]
    weekly, sweep = spot.iloc[0], spot.iloc[1]
    assert weekly.jobs == 2 and weekly.monthly_saving_usd == pytest.approx(2 * 2.0 * 0.7)
    assert pd.isna(weekly.one_off_saving_usd)
    assert sweep.job == "vision-resnet-sweep-20261111-1400" and sweep.cost_usd == pytest.approx(4 * 28.15)
    assert sweep.one_off_saving_usd == pytest.approx(4 * 28.15 * 0.7) and pd.isna(sweep.monthly_saving_usd)
    assert spot.monthly_saving_usd.sum() == pytest.approx(2 * 2.0 * 0.7)  # the monthly total leaves it out


def test_a_job_recurs_with_a_sibling_of_the_last_90_days_by_name_or_by_image_and_shape(tiny_store):
    def job(name, days_ago, image=None, count=1):
        return {**_job(name, False, 3600, 3600), "creation_time": END - timedelta(days=days_ago), "image": image,
                "instance_count": count}
    jobs = [job("ranker-2026-11-18-12-00-00-001", 2), job("ranker-2026-09-01-12-00-00-001", 80),  # SDK names
            job("pipelines-a1b2c3-Train-XyZ", 3, image="1.dkr.ecr/search/train:1.4"),
            job("pipelines-d4e5f6-Train-QrS", 60, image="1.dkr.ecr/search/train:1.5"),  # same step, new tag
            job("pipelines-g7h8-Train-TuV", 4, image="1.dkr.ecr/search/train:1.5", count=2),  # another shape
            job("lonely-experiment", 5)]
    tiny_store(aws_sagemaker_training_job=jobs)
    recent = pd.DataFrame(jobs[:1] + jobs[2:3] + jobs[4:])
    assert list(savings.recurring_jobs(f(), END, recent)) == [True, True, False, False]
    assert savings.job_family("pytorch-training-2026-11-20-12-00-00-123") == "pytorch-training"
