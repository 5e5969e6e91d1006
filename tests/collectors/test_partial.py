"""Partial failure within a source (collectors.base.Context.optional): with any one optional operation failing (not
implemented, denied, or a forecast's DataUnavailableException), the source's other tables are exactly a clean
run's, the table that operation fills keeps the rows it had, the run row says ``partial`` with the operation and
its hint, and the failing call is made once (no retries; after "not implemented" it is not called again).

Against a frozen emulated account (no simulated time passing), so that two collections see the same data; one
source per run. Each case: a faulty first collection (an empty store), a clean one (it catches up: nothing was
skipped for good), then a faulty one with tags and the bill due again (the failing call is made, and nothing
collected before is deleted or replaced)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest

import collectors
from collectors import runner
from sextant.settings import Settings
from sextant.store import Writer
from tests.conftest import Account, start_account, stop_account
from tests.reliability import storecmp
from tests.reliability.faults import FaultyClients, OperationFault

TAG_COLUMNS = {"team", "project", "env", "tags", "pipeline_execution_arn", "pipeline_step_name"}
KINDS = ("not_implemented", "access_denied")

# (source, operation, tables the operation fills, first_only: only one item's call fails)
OPERATIONS = [
    ("application_autoscaling", "application-autoscaling:DescribeScalingActivities",
     ("aws_application_autoscaling_activity",), False),
    ("cloudwatch_alarms", "cloudwatch:DescribeAlarmHistory", ("aws_cloudwatch_alarm_state_change",), False),
    ("cost_explorer", "ce:GetCostForecast", ("aws_cost_forecast",), False),
    ("cost_explorer", "ce:GetAnomalies", ("aws_cost_anomaly",), False),
    ("sagemaker_endpoints", "sagemaker:ListTags", ("aws_sagemaker_endpoint",), False),
    ("sagemaker_training", "sagemaker:ListTags", ("aws_sagemaker_training_job",), False),
    ("sagemaker_processing", "sagemaker:ListTags", ("aws_sagemaker_processing_job",), False),
    ("sagemaker_registry", "sagemaker:ListTags", ("aws_sagemaker_model",), False),
    ("sagemaker_pipelines", "sagemaker:ListTags", ("aws_sagemaker_pipeline",), False),
    ("sagemaker_endpoints", "sagemaker:DescribeEndpoint", ("aws_sagemaker_endpoint", "aws_sagemaker_endpoint_variant",
                                                          "aws_sagemaker_endpoint_variant_history"), True),
    ("sagemaker_training", "sagemaker:DescribeTrainingJob", ("aws_sagemaker_training_job",
                                                             "aws_sagemaker_training_job_status_transition"), True),
    ("sagemaker_processing", "sagemaker:DescribeProcessingJob", ("aws_sagemaker_processing_job",), True),
    ("sagemaker_registry", "sagemaker:DescribeModel", ("aws_sagemaker_model",), True),
    ("sagemaker_registry", "sagemaker:DescribeModelPackage", ("aws_sagemaker_model_package",), True),
    ("sagemaker_endpoints", "sagemaker:DescribeEndpointConfig", ("aws_sagemaker_endpoint_config",
                                                                "aws_sagemaker_endpoint_variant",
                                                                "aws_sagemaker_endpoint_variant_history"), True),
    ("ecr", "ecr:DescribeImageScanFindings", ("aws_ecr_image", "aws_ecr_image_finding"), True),
    ("cloudformation", "cloudformation:ListStackResources", ("aws_cloudformation_stack",
                                                            "aws_cloudformation_stack_resource"), True),
    ("eventbridge", "events:ListTargetsByRule", ("aws_eventbridge_rule",), True),
    ("stepfunctions", "states:GetExecutionHistory", ("aws_sfn_execution",), True),
]
CASES = [pytest.param(source, op, tables, first_only, kind, id=f"{op}-{kind}")
         for source, op, tables, first_only in OPERATIONS
         for kind in KINDS + (("data_unavailable",) if op == "ce:GetCostForecast" else ())]
# Tables the emulated account changes as wall-clock time passes, even frozen (scheduled pipeline executions).
MOVING = {"sagemaker_pipelines": {"aws_sagemaker_pipeline_execution", "aws_sagemaker_pipeline_execution_step"}}


@pytest.fixture(scope="module")
def frozen(tmp_path_factory) -> Iterator[Account]:
    """An emulated account whose simulated time stands still (``--no-live``): two collections see the same data."""
    acc = start_account(tmp_path_factory.mktemp("frozen"), live=False)
    yield acc
    stop_account(acc)


def _settings(store: Path, due: bool = False) -> Settings:
    """The bill is never held back by its refresh interval; with ``due``, tags are due for every resource."""
    base = Settings(store=store)
    return replace(base, collect=replace(base.collect, cost_refresh_every_s=0,
                                         tags_every_s=0 if due else base.collect.tags_every_s))


def _collect(store: Path, source: str, fault: OperationFault | None = None, due: bool = False
             ) -> tuple[runner.SourceResult, dict[str, int]]:
    """One cycle of ``source`` (with ``fault`` on its clients): its result and the API calls it made."""
    made: list[FaultyClients] = []

    def clients_for(account):
        made.append(FaultyClients(account, injector=fault))
        return made[-1]

    writer = Writer(store)
    try:
        collectors.migrate(writer)
        cycle = runner.run_cycle(_settings(store, due), writer, collectors.by_name([source]), clients_for=clients_for)
    finally:
        writer.close()
    [result] = cycle.results
    return result, made[0].counter.snapshot()


def _dump(store: Path, source: str) -> dict[str, list[tuple]]:
    return storecmp.dump_file(store / "writer.duckdb", [source])


def _tables(dump: dict[str, list[tuple]], leave_out: set[str]) -> dict[str, list[tuple]]:
    return {t: rows for t, rows in dump.items() if t not in leave_out}


def _calls(calls: dict[str, int], operation: str) -> int:
    service, op = operation.split(":", 1)
    return sum(n for k, n in calls.items() if k.split(":", 1)[1] == op)


def _without_tags(store: Path, table: str) -> tuple[list[tuple], list[tuple]]:
    """(rows without the tag columns, the tag columns' distinct values) of ``table``."""
    con = duckdb.connect(str(store / "writer.duckdb"), read_only=True)
    try:
        cols = [r[0] for r in con.execute("SELECT column_name FROM duckdb_columns() WHERE table_name = ? "
                                          "ORDER BY column_index", [table]).fetchall()]
        keep = [c for c in cols if c not in TAG_COLUMNS | storecmp.VOLATILE_COLUMNS]
        tags = [c for c in cols if c in TAG_COLUMNS]
        rows = sorted(con.execute(f"SELECT {', '.join(keep)} FROM {table}").fetchall(), key=repr)
        values = con.execute(f"SELECT DISTINCT {', '.join(tags)} FROM {table}").fetchall()
    finally:
        con.close()
    return rows, values


_clean: dict[str, tuple[dict[str, list[tuple]], Path]] = {}


def _clean_run(source: str, tmp_path_factory) -> tuple[dict[str, list[tuple]], Path]:
    """A clean first collection of ``source`` (once per module): its dump and store."""
    if source not in _clean:
        store = tmp_path_factory.mktemp(f"clean-{source}") / "store"
        result, _ = _collect(store, source)
        assert result.status == "succeeded", (result.error, result.hint)
        _clean[source] = (_dump(store, source), store)
    return _clean[source]


@pytest.mark.parametrize(("source", "operation", "tables", "first_only", "kind"), CASES)
def test_one_failing_operation_loses_only_what_it_fills(frozen, tmp_path, tmp_path_factory, monkeypatch, source,
                                                        operation, tables, first_only, kind):
    for key, value in frozen.env.items():
        monkeypatch.setenv(key, value)
    clean, clean_store = _clean_run(source, tmp_path_factory)
    affected = set(tables) | MOVING.get(source, set())
    assert any(clean[t] for t in tables), f"the frozen account has nothing for {tables}"
    store = tmp_path / "store"

    # 1. Faulty first collection: every other table equals a clean run's; the run is partial, naming the operation.
    fault = OperationFault(operation, kind, first_only=first_only)
    result, calls = _collect(store, source, fault)
    assert result.status == "partial", (result.status, result.error, result.hint)
    assert operation in result.error and result.hint
    if kind == "access_denied":
        assert f"grant {operation}" in result.hint
    made = _calls(calls, operation)
    assert fault.injected >= 1 and fault.attempts == made, "a failing call was retried"
    if kind == "not_implemented" or first_only:
        assert fault.injected == 1, "an operation the account lacks is called once"
    got = _dump(store, source)
    assert storecmp.differences(_tables(clean, affected | {"sextant_watermark"}),
                                _tables(got, affected | {"sextant_watermark"})) == {}
    if operation == "sagemaker:ListTags":  # the rows land, without tags
        [table] = tables
        rows, tag_values = _without_tags(store, table)
        assert rows == _without_tags(clean_store, table)[0]
        assert tag_values == [tuple(None for _ in tag_values[0])]
    db = duckdb.connect(str(store / "writer.duckdb"), read_only=True)
    try:
        [(status, error)] = db.execute("SELECT status, error FROM sextant_collection_run").fetchall()
    finally:
        db.close()
    assert status == "partial" and operation in error

    # 2. A clean collection catches up: nothing the failure skipped is skipped for good.
    result, _ = _collect(store, source)
    assert result.status == "succeeded", (result.error, result.hint)
    assert storecmp.differences(_tables(clean, MOVING.get(source, set())),
                                _tables(_dump(store, source), MOVING.get(source, set()))) == {}

    # 3. Faulty again with tags and the bill due: the failing call is made, and what was collected stays.
    before = _dump(store, source)
    fault = OperationFault(operation, kind, first_only=first_only)
    result, calls = _collect(store, source, fault, due=True)
    assert fault.attempts == _calls(calls, operation)
    if fault.injected:
        assert result.status == "partial" and operation in result.error, (result.status, result.error)
    else:  # an unchanged item is not described again
        assert first_only and result.status == "succeeded"
    leave_out = MOVING.get(source, set()) | {"sextant_watermark"}
    assert storecmp.differences(_tables(before, leave_out), _tables(_dump(store, source), leave_out)) == {}
