"""The collection cycle (collectors/runner.py): sources run after those they read; the cursor is loaded before a
source and written with its rows, or not at all; a source split out of another inherits its cursor. Against the
emulated account: a second account through AssumeRole shows its own resources; listings of more than a page are
collected completely."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import boto3
import duckdb
import pytest
from botocore.exceptions import ClientError

from collectors import runner
from collectors.base import Batch, Context
from sextant.aws import CallCounter
from sextant.schema import table
from sextant.settings import AccountSettings, Settings
from sextant.store import Writer
from tests.collectors.conftest import Collection, all_items, ok, ops

THING = table("fake_thing", "A row a fake source writes.", [("k", "VARCHAR", "Key.")], ["k"])
SEEN = datetime(2026, 11, 30, 10, 15, tzinfo=UTC)


class _NoAws:
    """Clients of an account whose sources call no AWS API."""

    regions = ("eu-west-1",)

    def __init__(self) -> None:
        self.counter = CallCounter()

    def account_id(self) -> str:
        return "1"

    def for_source(self) -> _NoAws:
        return self


def _source(name: str, collect: Any, depends_on: tuple[str, ...] = ()) -> SimpleNamespace:
    return SimpleNamespace(NAME=name, GLOBAL=False, DEPENDS_ON=depends_on, TABLES=(THING,), collect=collect)


def _cycle(tmp_path, *sources: SimpleNamespace, before: dict[tuple[str, str], str] | None = None
           ) -> tuple[runner.CycleResult, dict[str, dict[str, str]], int]:
    """One cycle of ``sources`` into a store in tmp_path (watermarks ``before`` seeded, by (source, key)); the
    cycle, every source's stored cursor, and the rows of fake_thing."""
    w = Writer(tmp_path / "store")
    try:
        w.migrate([THING])
        with w.transaction():
            for (source, key), value in (before or {}).items():
                w.set_watermarks("1", "eu-west-1", source, {key: value})
        cycle = runner.run_cycle(Settings(store=tmp_path / "store"), w, list(sources),
                                 clients_for=lambda _: _NoAws())
        stored = {s.NAME: w.watermarks("1", "eu-west-1", s.NAME) for s in sources}
        rows = w.con.execute("SELECT count(*) FROM fake_thing").fetchone()[0]
    finally:
        w.close()
    return cycle, stored, rows


def test_the_cursor_is_written_with_the_rows_and_read_back_next_run(tmp_path):
    read: list[datetime | None] = []

    def collect(ctx: Context) -> Iterator[Batch]:
        read.append(ctx.cursor.get(("series", "p99")))
        yield THING, [ctx.rows(k="a")]
        ctx.cursor.advance(("series", "p99"), SEEN)

    cycle, stored, rows = _cycle(tmp_path, _source("fake", collect))
    ok(cycle)
    assert stored["fake"] == {"series|p99": "2026-11-30T10:15:00+00:00"} and rows == 1
    ok(_cycle(tmp_path, _source("fake", collect))[0])
    assert read == [None, SEEN]


def test_a_failed_run_leaves_neither_rows_nor_cursor(tmp_path):
    def collect(ctx: Context) -> Iterator[Batch]:
        ctx.cursor.advance("last_modified", SEEN)
        yield THING, [ctx.rows(k="a")]
        raise RuntimeError("the API broke mid-way")

    cycle, stored, rows = _cycle(tmp_path, _source("fake", collect))
    assert [r.status for r in cycle.results] == ["failed"]
    assert stored["fake"] == {} and rows == 0


@pytest.mark.parametrize("raised", [RuntimeError("Query interrupted"), duckdb.InterruptException("INTERRUPT Error")])
def test_an_interrupt_inside_a_statement_stops_the_cycle_and_records_no_failure(tmp_path, raised):
    """SIGTERM / Ctrl-C inside a DuckDB statement surfaces as an exception (inside a DuckLake catalog's PostgreSQL
    query, "Query interrupted"): a stop, with the source rolled back and no failed run row."""
    def collect(ctx: Context) -> Iterator[Batch]:
        yield THING, [ctx.rows(k="a")]
        raise raised

    with pytest.raises(KeyboardInterrupt):
        _cycle(tmp_path, _source("fake", collect))
    w = Writer(tmp_path / "store")
    try:
        assert w.con.execute("SELECT count(*) FROM fake_thing").fetchone()[0] == 0
        assert w.con.execute("SELECT count(*) FROM sextant_collection_run").fetchone()[0] == 0
    finally:
        w.close()


def test_a_source_runs_after_the_sources_it_reads_whatever_the_order_given(tmp_path):
    def collect(ctx: Context) -> Iterator[Batch]:
        yield from ()

    cycle, _, _ = _cycle(tmp_path, _source("metrics", collect, ("endpoints",)), _source("alarms", collect),
                         _source("endpoints", collect))
    assert [r.source for r in cycle.results] == ["alarms", "endpoints", "metrics"]


def test_a_source_split_out_of_another_inherits_its_cursor_once(tmp_path):
    """application_autoscaling's tables were filled by sagemaker_endpoints, under whose name existing stores keep
    the scaling-activity cursor: the new source starts from it and writes it under its own name."""
    read: list[datetime | None] = []

    def collect(ctx: Context) -> Iterator[Batch]:
        read.append(ctx.cursor.get("activity_start"))
        yield from ()

    old = {("sagemaker_endpoints", "activity_start"): "2026-11-30T10:15:00+00:00"}
    ok(_cycle(tmp_path, _source("application_autoscaling", collect), before=old)[0])
    cycle, stored, _ = _cycle(tmp_path, _source("application_autoscaling", collect),
                              before={("application_autoscaling", "activity_start"): "2026-12-01T08:00:00+00:00"})
    ok(cycle)
    assert read == [SEEN, datetime(2026, 12, 1, 8, tzinfo=UTC)]  # its own cursor, once it has one, wins
    assert stored["application_autoscaling"] == {"activity_start": "2026-12-01T08:00:00+00:00"}

# The emulated organisation's second account (demo/world.py); product code never imports demo.
SECOND_ACCOUNT = "210987654321"
CROSS_ACCOUNT_ROLE = f"arn:aws:iam::{SECOND_ACCOUNT}:role/SextantReadOnly"
EXTERNAL_ID = "sextant-demo"


def test_second_account_through_assume_role_shows_its_own_resources(account, tmp_path):
    collection = Collection(tmp_path / "store", accounts=(
        AccountSettings(name="forecasting", role_arn=CROSS_ACCOUNT_ROLE, external_id=EXTERNAL_ID),))
    ok(collection.run(["sagemaker_endpoints", "sagemaker_training"]))
    creds = account.client("sts").assume_role(RoleArn=CROSS_ACCOUNT_ROLE, RoleSessionName="test",
                                              ExternalId=EXTERNAL_ID)["Credentials"]
    sm = boto3.client("sagemaker", region_name=account.env["AWS_REGION"], endpoint_url=account.url,
                      aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                      aws_session_token=creds["SessionToken"])
    endpoints = {e["EndpointName"] for e in all_items(sm, "list_endpoints", "Endpoints")}
    jobs = {j["TrainingJobName"] for j in all_items(sm, "list_training_jobs", "TrainingJobSummaries")}
    main = {e["EndpointName"] for e in all_items(account.client("sagemaker"), "list_endpoints", "Endpoints")}
    assert endpoints and endpoints.isdisjoint(main)
    assert collection.query("SELECT DISTINCT account_id FROM aws_sagemaker_endpoint") == [(SECOND_ACCOUNT,)]
    assert {r[0] for r in collection.query("SELECT endpoint_name FROM aws_sagemaker_endpoint")} == endpoints
    assert {r[0] for r in collection.query("SELECT training_job_name FROM aws_sagemaker_training_job")} == jobs


@pytest.mark.slow
def test_more_than_a_hundred_endpoints_and_training_jobs_are_collected_completely(fresh_account, tmp_path,
                                                                                  monkeypatch):
    for key, value in fresh_account.env.items():
        monkeypatch.setenv(key, value)
    sm = fresh_account.client("sagemaker")
    role = "arn:aws:iam::123456789012:role/SageMakerExecution"
    sm.create_model(ModelName="paging-model", ExecutionRoleArn=role,
                    PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/paging:1"})
    sm.create_endpoint_config(EndpointConfigName="paging-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "paging-model", "InstanceType": "ml.t2.medium",
        "InitialInstanceCount": 1}])
    for i in range(105):
        sm.create_endpoint(EndpointName=f"paging-endpoint-{i:03d}", EndpointConfigName="paging-config")
        sm.create_training_job(
            TrainingJobName=f"paging-job-{i:03d}", RoleArn=role,
            AlgorithmSpecification={"TrainingImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/paging:1",
                                    "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://paging/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 600})
    endpoints = {e["EndpointName"] for e in all_items(sm, "list_endpoints", "Endpoints")}
    jobs = {j["TrainingJobName"] for j in all_items(sm, "list_training_jobs", "TrainingJobSummaries")}
    assert len(endpoints) > 100 and len(jobs) > 100
    collection = Collection(tmp_path / "store")
    ok(collection.run(["sagemaker_endpoints", "sagemaker_training"]))
    assert {r[0] for r in collection.query("SELECT endpoint_name FROM aws_sagemaker_endpoint")} == endpoints
    assert {r[0] for r in collection.query("SELECT training_job_name FROM aws_sagemaker_training_job")} == jobs
    assert ops(collection.calls(), "ListTrainingJobs") >= 2  # 100 per page: paged, not truncated


# ----------------------------------------------------------------------------------- partial failure, hints, redaction
def _client_error(code: str, operation: str, message: str = "not authorized", status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, operation)


def test_an_optional_call_that_fails_makes_the_run_partial_and_keeps_the_core_rows(tmp_path):
    def collect(ctx: Context) -> Iterator[Batch]:
        yield THING, [ctx.rows(k="core")]

        def denied() -> list[dict]:
            raise _client_error("AccessDeniedException", "DescribeScalingActivities")

        activities = ctx.optional("application-autoscaling:DescribeScalingActivities", denied)
        assert activities is None and ctx.failed("application-autoscaling:DescribeScalingActivities")
        ctx.cursor.advance("core", SEEN)

    cycle, stored, rows = _cycle(tmp_path, _source("fake", collect))
    [r] = cycle.results
    assert (r.status, rows, stored["fake"]) == ("partial", 1, {"core": SEEN.isoformat()})
    assert cycle.partial == [r] and cycle.failed == []
    assert r.error.startswith("application-autoscaling:DescribeScalingActivities: AccessDeniedException")
    assert r.hint.startswith("grant application-autoscaling:DescribeScalingActivities to the collector's role")


def test_an_operation_the_account_lacks_is_called_once_per_run(tmp_path):
    calls: list[str] = []

    def collect(ctx: Context) -> Iterator[Batch]:
        for item in ("a", "b", "c"):
            def describe(item: str = item) -> dict:
                calls.append(item)
                raise _client_error("500", "DescribeThing", "<!doctype html><title>500 Internal Server Error</title>"
                                    "<p>The server encountered an internal error and was unable to complete your "
                                    "request.", 500)

            ctx.optional("thing:DescribeThing", describe)
        yield from ()

    [r] = _cycle(tmp_path, _source("fake", collect))[0].results
    assert calls == ["a"]
    assert r.status == "partial" and r.error == "thing:DescribeThing: not implemented (HTTP 500)"
    assert "does not implement thing:DescribeThing" in r.hint


def test_a_denied_item_does_not_stop_the_next_items(tmp_path):
    """IAM may deny one resource and allow the next (resource-level conditions): each item is asked once."""
    calls: list[str] = []

    def collect(ctx: Context) -> Iterator[Batch]:
        for item in ("a", "b", "c"):
            def tags(item: str = item) -> dict:
                calls.append(item)
                if item == "b":
                    raise _client_error("AccessDeniedException", "ListTags")
                return {"team": item}

            if ctx.optional("sagemaker:ListTags", tags) is not None:
                yield THING, [ctx.rows(k=item)]

    cycle, _, rows = _cycle(tmp_path, _source("fake", collect))
    assert calls == ["a", "b", "c"] and rows == 2 and cycle.results[0].status == "partial"


@pytest.mark.parametrize("code", ["InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied",
                                  "UnrecognizedClientException"])
def test_sts_refusing_the_caller_says_the_credentials_are_wrong_not_to_grant_a_permission(code):
    hint = runner.hint_for(_client_error(code, "GetCallerIdentity"), "sagemaker_endpoints", "sts")
    assert "credentials" in hint and "cannot be denied by IAM" in hint
    assert "grant" not in hint and "aws:GetCallerIdentity" not in hint


def test_an_account_whose_credentials_sts_refuses_is_recorded_with_the_credentials_hint(tmp_path):
    class Refused(_NoAws):
        def account_id(self) -> str:
            raise _client_error("InvalidClientTokenId", "GetCallerIdentity",
                                "The security token included in the request is invalid.", 403)

    w = Writer(tmp_path / "store")
    try:
        w.migrate([THING])
        cycle = runner.run_cycle(Settings(store=tmp_path / "store"), w,
                                 [_source("fake", lambda ctx: iter(()))], clients_for=lambda _: Refused())
        [(status, hint)] = w.con.execute("SELECT status, hint FROM sextant_collection_run").fetchall()
    finally:
        w.close()
    assert [r.status for r in cycle.results] == ["failed"] and status == "failed"
    assert "sts:GetCallerIdentity cannot be denied by IAM" in hint and "grant" not in hint


def test_assume_role_denied_names_the_role_trust_not_get_caller_identity():
    hint = runner.hint_for(_client_error("AccessDenied", "AssumeRole"), "sagemaker_endpoints", "sts")
    assert "role_arn" in hint and "trust policy" in hint


TOKEN = "FwoGZXIvYXdzEJr" + "Q" * 300  # a session token's shape: hundreds of base64 characters
SIGNATURE_MESSAGE = ("The request signature we calculated does not match the signature you provided. Check your AWS "
                     "Secret Access Key and signing method. The Canonical String for this request should have been\n"
                     f"'POST\n/\n\ncontent-type:application/x-amz-json-1.1\nhost:api.sagemaker.us-east-1.amazonaws.com\n"
                     f"x-amz-date:20261202T120000Z\nx-amz-security-token:{TOKEN}\n\ncontent-type;host;x-amz-date;"
                     "x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'\n\n"
                     "The String-to-Sign should have been\n'AWS4-HMAC-SHA256\n20261202T120000Z\n...'")


@pytest.mark.parametrize("where", ["core", "optional"])
def test_a_session_token_in_a_signature_error_reaches_no_run_row_and_no_log(tmp_path, caplog, where):
    def collect(ctx: Context) -> Iterator[Batch]:
        yield THING, [ctx.rows(k="a")]

        def signed() -> None:
            raise _client_error("SignatureDoesNotMatch", "ListTags", SIGNATURE_MESSAGE, 403)

        if where == "core":
            signed()
        ctx.optional("sagemaker:ListTags", signed)

    with caplog.at_level("DEBUG", logger="sextant"):
        cycle, _, _ = _cycle(tmp_path, _source("fake", collect))
    [r] = cycle.results
    assert r.status == ("failed" if where == "core" else "partial")
    assert "SignatureDoesNotMatch" in r.error and caplog.text
    w = Writer(tmp_path / "store")
    try:
        stored = w.con.execute("SELECT error || ' ' || hint FROM sextant_collection_run").fetchall()
    finally:
        w.close()
    for text in (r.error, r.hint, stored[0][0], caplog.text):
        assert TOKEN[:40] not in text and TOKEN[-40:] not in text
        assert "x-amz-security-token:F" not in text
