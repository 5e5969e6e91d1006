"""Cost Explorer in the emulated account: answers computed from the demo's bill, checked like AWS behaves.

Everything goes through plain boto3 against the running account, except the live-state test,
which drives the cost table in-process (no API action that scales an endpoint is needed for it).
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from demo import costs, prices
from demo.model import to_minutes
from demo.world import COST_DAYS, EXTERNAL_ID, MAIN_ACCOUNT, SECOND_ACCOUNT, VariantState, build_world

SERVICE = "Amazon SageMaker"


def _today() -> date:
    return datetime.now(UTC).date()


def _d(days_ago: int) -> str:
    return (_today() - timedelta(days=days_ago)).isoformat()


@pytest.fixture(scope="module")
def ce(account):
    return account.client("ce")


@pytest.fixture(scope="module")
def world():
    return build_world(7)


def _cost(metrics: dict) -> float:
    return float(metrics["UnblendedCost"]["Amount"])


def _total(ce, start: str, end: str, filt: dict | None = None) -> float:
    kwargs = {"Filter": filt} if filt else {}
    r = ce.get_cost_and_usage(TimePeriod={"Start": start, "End": end}, Granularity="MONTHLY",
                              Metrics=["UnblendedCost"], **kwargs)
    return sum(_cost(p["Total"]) for p in r["ResultsByTime"])


def _all_pages(ce, **kwargs) -> list[dict]:
    """Every GetCostAndUsage response of a paged query, in order."""
    pages, token = [], None
    while True:
        pages.append(ce.get_cost_and_usage(**kwargs, **({"NextPageToken": token} if token else {})))
        token = pages[-1].get("NextPageToken")
        if not token:
            return pages


def _dim(key: str, *values: str) -> dict:
    return {"Dimensions": {"Key": key, "Values": list(values)}}


# --------------------------------------------------------------------------- reconciliation


RECONCILE_DAYS = 21


def _overlap(start: datetime, end: datetime, lo: datetime, hi: datetime) -> float:
    """Share of [start, end) inside [lo, hi): AWS bills training by the second, so a job spanning
    midnight is billed on both days."""
    if end <= start:
        return 0.0
    return max(0.0, (min(end, hi) - max(start, lo)).total_seconds()) / (end - start).total_seconds()


def _training_jobs_from_api(sm, since: datetime) -> list[dict] | None:
    """Main-account jobs as DescribeTrainingJob shows them, or None while they lack billable seconds."""
    names = [s["TrainingJobName"] for page in sm.get_paginator("list_training_jobs").paginate(
        CreationTimeAfter=since) for s in page["TrainingJobSummaries"]]
    jobs = [sm.describe_training_job(TrainingJobName=n) for n in names]
    return jobs if any(j.get("BillableTimeInSeconds") for j in jobs) else None


def _expected_from_api(jobs: list[dict], lo: datetime, hi: datetime) -> float:
    total = 0.0
    for j in jobs:
        rc = j["ResourceConfig"]
        rate = prices.hourly(rc["InstanceType"]) * rc["InstanceCount"] / 3600
        start = j.get("TrainingStartTime")
        if start is None:
            continue
        if j.get("BillableTimeInSeconds") is not None:
            total += j["BillableTimeInSeconds"] * rate * _overlap(start, j["TrainingEndTime"], lo, hi)
        else:  # running: billed for its wall time so far, a spot job at the spot share
            share = 1 - prices.SPOT_DISCOUNT if j.get("EnableManagedSpotTraining") else 1.0
            total += max(0.0, (min(hi, datetime.now(UTC)) - max(start, lo)).total_seconds()) * share * rate
    return total


def _expected_from_world(world, lo: datetime, hi: datetime) -> float:
    total = 0.0
    for j in world.training_jobs:
        if j.account != MAIN_ACCOUNT:
            continue
        if j.status != "InProgress":
            total += j.cost * _overlap(j.start, j.end, lo, hi)
        else:
            share = 1 - prices.SPOT_DISCOUNT if j.spot else 1.0
            seconds = max(0.0, (min(hi, j.end) - max(j.start, lo)).total_seconds())
            total += seconds * share * prices.hourly(j.instance_type) * j.instance_count / 3600
    return total


def test_training_cost_reconciles_with_the_training_jobs(account, ce, world):
    """Training lines = Σ BillableTimeInSeconds × hourly × InstanceCount, per day run (main account, 3 weeks)."""
    hi = datetime.combine(_today(), datetime.min.time(), tzinfo=UTC)
    lo = hi - timedelta(days=RECONCILE_DAYS)
    train = {"And": [_dim("LINKED_ACCOUNT", MAIN_ACCOUNT),
                     {"Dimensions": {"Key": "USAGE_TYPE", "Values": ["USE1-Train:ml.", "USE1-Train-Spot:ml."],
                                     "MatchOptions": ["STARTS_WITH"]}}]}
    billed = _total(ce, lo.date().isoformat(), hi.date().isoformat(), train)
    jobs = _training_jobs_from_api(account.client("sagemaker"), lo - timedelta(days=2))
    if jobs is not None:
        expected = _expected_from_api(jobs, lo, hi)
    else:
        # TODO(lead): once the SageMaker fill seeds BillableTimeInSeconds, this branch is dead: drop it.
        expected = _expected_from_world(world, lo, hi)
    assert expected > 1000  # the runaway sweep alone is ~$2,500
    assert billed == pytest.approx(expected, rel=0.01)


def test_processing_cost_reconciles_with_the_processing_jobs(account, ce):
    """Processing lines = Σ InstanceCount × (ProcessingEndTime − ProcessingStartTime) at the hourly rate of the
    type, per day run (main account, 3 weeks); each line's $ per hour is its type's rate."""
    hi = datetime.combine(_today(), datetime.min.time(), tzinfo=UTC)
    lo = hi - timedelta(days=RECONCILE_DAYS)
    sm = account.client("sagemaker")
    names = [s["ProcessingJobName"] for page in sm.get_paginator("list_processing_jobs").paginate(
        CreationTimeAfter=lo - timedelta(days=2)) for s in page["ProcessingJobSummaries"]]
    hours: dict[str, float] = {}
    for n in names:
        d = sm.describe_processing_job(ProcessingJobName=n)
        if "ProcessingStartTime" not in d:  # failed before its instances started: not billed
            continue
        cluster = d["ProcessingResources"]["ClusterConfig"]
        start, end = d["ProcessingStartTime"], d.get("ProcessingEndTime", datetime.now(UTC))
        ran = max(0.0, (min(end, hi) - max(start, lo)).total_seconds())
        hours[cluster["InstanceType"]] = hours.get(cluster["InstanceType"], 0.0) + ran / 3600 * cluster["InstanceCount"]
    r = ce.get_cost_and_usage(
        TimePeriod={"Start": lo.date().isoformat(), "End": hi.date().isoformat()}, Granularity="MONTHLY",
        Metrics=["UnblendedCost", "UsageQuantity"], GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}],
        Filter={"And": [_dim("LINKED_ACCOUNT", MAIN_ACCOUNT),
                        {"Dimensions": {"Key": "USAGE_TYPE", "Values": ["USE1-Processing:ml."],
                                        "MatchOptions": ["STARTS_WITH"]}}]})
    billed: dict[str, list[float]] = {}
    for period in r["ResultsByTime"]:
        for g in period["Groups"]:
            row = billed.setdefault(g["Keys"][0].split(":", 1)[1], [0.0, 0.0])
            row[0] += _cost(g["Metrics"])
            row[1] += float(g["Metrics"]["UsageQuantity"]["Amount"])
    assert sum(hours.values()) > 100
    assert set(billed) == {t for t, h in hours.items() if h > 0}
    for itype, (cost, quantity) in billed.items():
        assert quantity == pytest.approx(hours[itype], rel=0.01), itype
        assert cost == pytest.approx(quantity * prices.hourly(itype), rel=0.01), itype


def test_hosting_cost_reconciles_with_instance_hours(ce, world):
    """Hosting lines = Σ instances × hourly over the last week, from the variant history, per account."""
    lo, hi = _today() - timedelta(days=7), _today()
    minutes = np.arange(to_minutes(datetime.combine(lo, datetime.min.time(), tzinfo=UTC)),
                        to_minutes(datetime.combine(hi, datetime.min.time(), tzinfo=UTC)))
    for acct in (MAIN_ACCOUNT, SECOND_ACCOUNT):
        expected = 0.0
        for key in world.timeline.keys():
            if key[0] != acct:
                continue
            states = world.timeline.states(*key)
            idx = np.searchsorted([to_minutes(s.time) for s in states], minutes, side="right") - 1
            rate = np.array([s.count * prices.hourly(s.instance_type) for s in states])
            expected += rate[idx[idx >= 0]].sum() / 60
        host = {"And": [_dim("LINKED_ACCOUNT", acct),
                        {"Dimensions": {"Key": "USAGE_TYPE", "Values": ["USE1-Host:ml."],
                                        "MatchOptions": ["STARTS_WITH"]}}]}
        assert _total(ce, lo.isoformat(), hi.isoformat(), host) == pytest.approx(expected, rel=0.01)


# --------------------------------------------------------------------------- GetCostAndUsage


def test_tag_grouping_covers_only_the_range_and_sums_to_the_total(ce):
    start, end = _d(12), _d(5)
    period = {"Start": start, "End": end}
    grouped = ce.get_cost_and_usage(TimePeriod=period, Granularity="DAILY", Metrics=["UnblendedCost"],
                                    GroupBy=[{"Type": "TAG", "Key": "team"}])
    plain = ce.get_cost_and_usage(TimePeriod=period, Granularity="DAILY", Metrics=["UnblendedCost"])
    days = [(p["TimePeriod"]["Start"], p["TimePeriod"]["End"]) for p in grouped["ResultsByTime"]]
    assert days == [(_d(i), _d(i - 1)) for i in range(12, 5, -1)]
    assert grouped["GroupDefinitions"] == [{"Type": "TAG", "Key": "team"}]
    for g, p in zip(grouped["ResultsByTime"], plain["ResultsByTime"], strict=True):
        keys = [grp["Keys"] for grp in g["Groups"]]
        assert all(len(k) == 1 and k[0].startswith("team$") for k in keys)
        assert {k[0] for k in keys} == {"team$search", "team$fraud", "team$vision", "team$nlp", "team$forecasting"}
        assert g["Total"] == {}
        assert sum(_cost(grp["Metrics"]) for grp in g["Groups"]) == pytest.approx(_cost(p["Total"]), rel=1e-9)


def test_monthly_granularity_sums_the_daily_amounts(ce):
    start, end = _d(70), _d(1)
    daily = ce.get_cost_and_usage(TimePeriod={"Start": start, "End": end}, Granularity="DAILY",
                                  Metrics=["UnblendedCost", "UsageQuantity"])["ResultsByTime"]
    monthly = ce.get_cost_and_usage(TimePeriod={"Start": start, "End": end}, Granularity="MONTHLY",
                                    Metrics=["UnblendedCost"])["ResultsByTime"]
    assert len(daily) == 69
    assert monthly[0]["TimePeriod"]["Start"] == start and monthly[-1]["TimePeriod"]["End"] == end
    assert len(monthly) >= 3  # 69 days always touch at least three calendar months
    for m in monthly:
        inside = [_cost(d["Total"]) for d in daily if m["TimePeriod"]["Start"] <= d["TimePeriod"]["Start"]
                  < m["TimePeriod"]["End"]]
        assert _cost(m["Total"]) == pytest.approx(sum(inside), rel=1e-9)
    assert all(d["Total"]["UnblendedCost"]["Unit"] == "USD" for d in daily)


def test_linked_account_grouping_shows_both_accounts(ce):
    r = ce.get_cost_and_usage(TimePeriod={"Start": _d(30), "End": _d(0)}, Granularity="MONTHLY",
                              Metrics=["UnblendedCost"], GroupBy=[{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}])
    accounts = {g["Keys"][0] for p in r["ResultsByTime"] for g in p["Groups"] if _cost(g["Metrics"]) > 0}
    assert accounts == {MAIN_ACCOUNT, SECOND_ACCOUNT}
    assert {a["Value"] for a in r["DimensionValueAttributes"]} == accounts


def test_two_groupings_and_filters(ce):
    period = {"Start": _d(20), "End": _d(10)}
    both = ce.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"],
                                 GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "team"}])
    cells = {tuple(g["Keys"]): _cost(g["Metrics"]) for p in both["ResultsByTime"] for g in p["Groups"]}
    vision_sm = sum(v for k, v in cells.items() if k == (SERVICE, "team$vision"))
    filt = {"And": [_dim("SERVICE", SERVICE), {"Tags": {"Key": "team", "Values": ["vision"]}}]}
    assert _total(ce, period["Start"], period["End"], filt) == pytest.approx(vision_sm, rel=1e-9)
    not_sm = _total(ce, period["Start"], period["End"], {"Not": _dim("SERVICE", SERVICE)})
    assert not_sm == pytest.approx(sum(v for k, v in cells.items() if k[0] != SERVICE), rel=1e-9)
    either = {"Or": [_dim("SERVICE", SERVICE), _dim("SERVICE", "AmazonCloudWatch")]}
    assert _total(ce, period["Start"], period["End"], either) == pytest.approx(
        sum(v for k, v in cells.items() if k[0] in (SERVICE, "AmazonCloudWatch")), rel=1e-9)


def test_large_results_are_paged(ce):
    kwargs = dict(TimePeriod={"Start": _d(COST_DAYS), "End": _d(0)}, Granularity="DAILY", Metrics=["UnblendedCost"],
                  GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}, {"Type": "TAG", "Key": "project"}])
    responses = _all_pages(ce, **kwargs)
    assert len(responses) > 1
    pages = [p for r in responses for p in r["ResultsByTime"]]
    assert [p["TimePeriod"]["Start"] for p in pages] == [_d(i) for i in range(COST_DAYS, 0, -1)]
    plain = ce.get_cost_and_usage(**{k: v for k, v in kwargs.items() if k != "GroupBy"})
    assert sum(_cost(g["Metrics"]) for p in pages for g in p["Groups"]) == pytest.approx(
        sum(_cost(p["Total"]) for p in plain["ResultsByTime"]), rel=1e-9)


def test_only_the_last_two_days_are_estimated(ce):
    r = ce.get_cost_and_usage(TimePeriod={"Start": _d(5), "End": _d(-1)}, Granularity="DAILY",
                              Metrics=["UnblendedCost"])
    assert [p["Estimated"] for p in r["ResultsByTime"]] == [False, False, False, False, True, True]


@pytest.mark.parametrize("kwargs", [
    dict(GroupBy=[{"Type": "DIMENSION", "Key": "SERVICE"}, {"Type": "TAG", "Key": "team"},
                  {"Type": "TAG", "Key": "project"}]),
    dict(TimePeriod={"Start": _d(1), "End": _d(3)}),
    dict(TimePeriod={"Start": "2024-13-01", "End": _d(0)}),
    dict(GroupBy=[{"Type": "DIMENSION", "Key": "NOT_A_DIMENSION"}]),
    dict(Metrics=["Cost"]),
    dict(Granularity="WEEKLY"),
], ids=["three-groupby", "start-after-end", "bad-date", "bad-dimension", "bad-metric", "bad-granularity"])
def test_invalid_requests_are_rejected(ce, kwargs):
    request = dict(TimePeriod={"Start": _d(10), "End": _d(0)}, Granularity="DAILY", Metrics=["UnblendedCost"])
    with pytest.raises(ClientError) as err:
        ce.get_cost_and_usage(**{**request, **kwargs})
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


# --------------------------------------------------------------------------- forecast, anomalies, values


def test_forecast_follows_the_recent_trend(ce):
    history = ce.get_cost_and_usage(TimePeriod={"Start": _d(28), "End": _d(0)}, Granularity="DAILY",
                                    Metrics=["UnblendedCost"])["ResultsByTime"]
    typical = float(np.median([_cost(p["Total"]) for p in history]))
    r = ce.get_cost_forecast(TimePeriod={"Start": _d(0), "End": _d(-14)}, Metric="UNBLENDED_COST",
                             Granularity="DAILY", PredictionIntervalLevel=90)
    days = r["ForecastResultsByTime"]
    assert [d["TimePeriod"]["Start"] for d in days] == [_d(-i) for i in range(14)]
    for d in days:
        low, mean, high = (float(d[k]) for k in ("PredictionIntervalLowerBound", "MeanValue",
                                                   "PredictionIntervalUpperBound"))
        assert low <= mean <= high
        assert 0.7 * typical < mean < 1.3 * typical
    assert float(r["Total"]["Amount"]) == pytest.approx(sum(float(d["MeanValue"]) for d in days), rel=1e-6)
    monthly = ce.get_cost_forecast(TimePeriod={"Start": _d(0), "End": _d(-14)}, Metric="BLENDED_COST",
                                   Granularity="MONTHLY")
    assert float(monthly["Total"]["Amount"]) == pytest.approx(float(r["Total"]["Amount"]), rel=1e-6)
    with pytest.raises(ClientError) as err:
        ce.get_cost_forecast(TimePeriod={"Start": _d(3), "End": _d(-3)}, Metric="UNBLENDED_COST", Granularity="DAILY")
    assert err.value.response["Error"]["Code"] == "ValidationException"


def test_the_runaway_training_job_is_the_anomaly(ce, world):
    sweep = next(j for j in world.training_jobs if j.name.startswith("vision-resnet-defect-sweep-"))
    r = ce.get_anomalies(DateInterval={"StartDate": _d(30), "EndDate": _d(0)})
    assert len(r["Anomalies"]) == 1
    a = r["Anomalies"][0]
    assert a["AnomalyStartDate"][:10] == sweep.start.date().isoformat()
    assert a["DimensionValue"] == SERVICE
    cause = a["RootCauses"][0]
    assert (cause["Service"], cause["LinkedAccount"], cause["Region"], cause["UsageType"]) == (
        SERVICE, MAIN_ACCOUNT, "us-east-1", f"USE1-Train:{sweep.instance_type}")
    impact = a["Impact"]
    assert impact["TotalImpact"] == pytest.approx(sweep.cost, rel=0.05)
    assert impact["TotalActualSpend"] == pytest.approx(impact["TotalExpectedSpend"] + impact["TotalImpact"], abs=0.02)
    assert impact["TotalActualSpend"] > 3 * impact["TotalExpectedSpend"]
    assert a["AnomalyScore"]["MaxScore"] > 0
    monitors = ce.get_anomaly_monitors()["AnomalyMonitors"]
    assert [m["MonitorArn"] for m in monitors] == [a["MonitorArn"]]
    assert ce.get_anomalies(DateInterval={"StartDate": _d(30)}, MonitorArn=a["MonitorArn"])["Anomalies"] == [a]
    too_big = {"NumericOperator": "GREATER_THAN", "StartValue": impact["TotalImpact"] + 1}
    assert ce.get_anomalies(DateInterval={"StartDate": _d(30)}, TotalImpact=too_big)["Anomalies"] == []
    assert ce.get_anomalies(DateInterval={"StartDate": _d(5)})["Anomalies"] == []


def test_dimension_values_and_tags(ce, world):
    period = {"Start": _d(30), "End": _d(0)}
    services = {v["Value"] for v in ce.get_dimension_values(TimePeriod=period, Dimension="SERVICE")["DimensionValues"]}
    assert SERVICE in services and "Amazon Simple Storage Service" in services
    accounts = ce.get_dimension_values(TimePeriod=period, Dimension="LINKED_ACCOUNT")["DimensionValues"]
    assert {a["Value"] for a in accounts} == {MAIN_ACCOUNT, SECOND_ACCOUNT}
    assert all(a["Attributes"].get("description") for a in accounts)
    usage = ce.get_dimension_values(TimePeriod=period, Dimension="USAGE_TYPE", SearchString="Host:ml.")
    assert usage["DimensionValues"] and all("Host:ml." in v["Value"] for v in usage["DimensionValues"])
    regions = ce.get_dimension_values(TimePeriod=period, Dimension="REGION")["DimensionValues"]
    assert [r["Value"] for r in regions] == ["us-east-1"]
    assert set(ce.get_tags(TimePeriod=period)["Tags"]) == {"team", "project"}
    assert set(ce.get_tags(TimePeriod=period, TagKey="team")["Tags"]) == {t.team for t in world.teams}
    projects = set(ce.get_tags(TimePeriod=period, TagKey="project")["Tags"])
    assert projects == {p for t in world.teams for p in t.projects}


def test_every_operation_answers_fast(ce):
    period = {"Start": _d(COST_DAYS), "End": _d(-1)}
    calls = {
        "GetCostAndUsage": lambda: ce.get_cost_and_usage(
            TimePeriod=period, Granularity="DAILY", Metrics=["UnblendedCost", "UsageQuantity"],
            GroupBy=[{"Type": "DIMENSION", "Key": "USAGE_TYPE"}, {"Type": "TAG", "Key": "team"}]),
        "GetCostForecast": lambda: ce.get_cost_forecast(TimePeriod={"Start": _d(0), "End": _d(-90)},
                                                        Metric="UNBLENDED_COST", Granularity="MONTHLY"),
        "GetAnomalies": lambda: ce.get_anomalies(DateInterval={"StartDate": _d(COST_DAYS)}),
        "GetAnomalyMonitors": lambda: ce.get_anomaly_monitors(),
        "GetDimensionValues": lambda: ce.get_dimension_values(TimePeriod=period, Dimension="USAGE_TYPE"),
        "GetTags": lambda: ce.get_tags(TimePeriod=period, TagKey="project"),
    }
    for name, call in calls.items():
        started = time.monotonic()
        call()
        assert time.monotonic() - started < 2.0, name


# --------------------------------------------------------------------------- live state (in-process)


def test_todays_cost_follows_a_scale_up():
    """A variant state recorded now (as an UpdateEndpoint action does) bills from now on, today."""
    world = build_world(7)
    now = datetime.now(UTC).replace(microsecond=0)
    if now.hour == 0:
        now = now.replace(hour=1)  # keep the hour before "now" inside today
    table = costs.CostTable(world)
    host = lambda df: df[df["usage_type"] == "USE1-Host:ml.c5.2xlarge"]["unblended_cost"].sum()
    before = host(table.frame(now))
    e = world.endpoint("search-ranker-prod")
    current = world.timeline.at(e.account, e.name, "champion", now)
    hour_ago = now - timedelta(hours=1)
    world.timeline.record(VariantState(hour_ago, e.account, e.name, "champion", current.instance_type,
                                       current.count + 5, current.weight, current.config_name,
                                       current.model_version, "action"))
    after = host(table.frame(now))
    assert after - before == pytest.approx(5 * prices.hourly("ml.c5.2xlarge"), rel=0.02)


# --------------------------------------------------------------------------- who sees what


def _client_in(account, account_id: str, service: str):
    creds = account.client("sts").assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/SextantReadOnly",
                                              RoleSessionName="costs-test", ExternalId=EXTERNAL_ID)["Credentials"]
    return boto3.client(service, endpoint_url=account.url, region_name="us-east-1",
                        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                        aws_session_token=creds["SessionToken"])


def test_the_linked_account_sees_only_its_own_costs(account, ce):
    linked = _client_in(account, SECOND_ACCOUNT, "ce")
    period = {"Start": _d(30), "End": _d(0)}
    group = [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]
    own = linked.get_cost_and_usage(TimePeriod=period, Granularity="MONTHLY", Metrics=["UnblendedCost"],
                                    GroupBy=group)["ResultsByTime"]
    assert {g["Keys"][0] for p in own for g in p["Groups"]} == {SECOND_ACCOUNT}
    payer = _total(ce, period["Start"], period["End"], _dim("LINKED_ACCOUNT", SECOND_ACCOUNT))
    assert sum(_cost(g["Metrics"]) for p in own for g in p["Groups"]) == pytest.approx(payer, rel=1e-9)


def test_an_account_outside_the_world_keeps_motos_answers_without_errors(account):
    other = _client_in(account, "111122223333", "ce")
    period = {"Start": _d(30), "End": _d(0)}
    started = time.monotonic()
    assert other.get_cost_and_usage(TimePeriod=period, Granularity="DAILY",
                                    Metrics=["UnblendedCost"])["ResultsByTime"] == []
    assert other.get_anomalies(DateInterval={"StartDate": _d(30)})["Anomalies"] == []
    assert other.get_tags(TimePeriod=period)["Tags"] == []
    with pytest.raises(ClientError) as err:
        other.get_cost_forecast(TimePeriod={"Start": _d(0), "End": _d(-7)}, Metric="UNBLENDED_COST",
                                Granularity="DAILY")
    assert err.value.response["Error"]["Code"] == "DataUnavailableException"
    assert time.monotonic() - started < 2.0
