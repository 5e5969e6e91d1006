"""The registry (collectors/__init__.py): one list of sources, run in an order their declared dependencies give,
whatever the order of the list; unknown dependencies and cycles are refused by name."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

import collectors
from collectors import cloudwatch_alarms, cloudwatch_metrics, sagemaker_endpoints, sagemaker_training


def _fake(name: str, *depends_on: str) -> SimpleNamespace:
    return SimpleNamespace(NAME=name, GLOBAL=False, DEPENDS_ON=depends_on, TABLES=(), collect=None)


def _names(sources) -> list[str]:
    return [s.NAME for s in sources]


def test_any_order_of_the_registry_runs_every_dependency_before_its_dependents():
    rng = random.Random(12)
    for _ in range(200):
        shuffled = list(collectors.SOURCES)
        rng.shuffle(shuffled)
        order = _names(collectors.run_order(shuffled))
        assert sorted(order) == sorted(_names(collectors.SOURCES))
        for s in collectors.SOURCES:
            assert all(order.index(d) < order.index(s.NAME) for d in s.DEPENDS_ON), (s.NAME, order)


def test_metrics_run_after_the_endpoints_training_jobs_and_alarms_they_read():
    assert set(cloudwatch_metrics.DEPENDS_ON) == {"sagemaker_endpoints", "sagemaker_training", "cloudwatch_alarms"}
    order = collectors.run_order([cloudwatch_metrics, cloudwatch_alarms, sagemaker_training, sagemaker_endpoints])
    assert _names(order) == ["cloudwatch_alarms", "sagemaker_training", "sagemaker_endpoints", "cloudwatch_metrics"]


def test_the_order_given_is_kept_where_no_dependency_decides():
    assert collectors.run_order([cloudwatch_alarms, sagemaker_endpoints]) == [cloudwatch_alarms, sagemaker_endpoints]
    assert collectors.run_order(collectors.SOURCES) == collectors.SOURCES  # the registry is already in a valid order


def test_a_dependency_left_out_of_a_selection_is_not_added():
    assert collectors.run_order([cloudwatch_metrics]) == [cloudwatch_metrics]  # it reads what is stored


def test_a_dependency_on_an_unknown_source_is_refused_by_name():
    with pytest.raises(ValueError, match="source b depends on unknown source.s. nope; known: a, b"):
        collectors.check([_fake("a"), _fake("b", "nope")])


def test_a_dependency_cycle_is_refused_with_the_cycle():
    with pytest.raises(ValueError, match="cycle: (a depends on c depends on b depends on a|"
                                         "b depends on a depends on c depends on b|"
                                         "c depends on b depends on a depends on c)"):
        collectors.check([_fake("a", "c"), _fake("b", "a"), _fake("c", "b"), _fake("d")])


def test_a_name_listed_twice_is_refused():
    with pytest.raises(ValueError, match="listed twice: a"):
        collectors.check([_fake("a"), _fake("a")])


def test_every_table_is_filled_by_exactly_one_source():
    names = [t.name for t in collectors.all_tables()]
    assert len(names) == len(set(names))


def test_one_module_per_service_with_the_tables_the_dashboard_reads():
    tables = {s.NAME: {t.name for t in s.TABLES} for s in collectors.SOURCES}
    assert tables["ecr"] == {"aws_ecr_repository", "aws_ecr_image", "aws_ecr_image_finding"}
    assert tables["cloudformation"] == {"aws_cloudformation_stack", "aws_cloudformation_stack_resource"}
    assert tables["eventbridge"] == {"aws_eventbridge_rule"}
    assert tables["stepfunctions"] == {"aws_sfn_state_machine", "aws_sfn_execution"}
    assert tables["application_autoscaling"] == {"aws_application_autoscaling_scalable_target",
                                                 "aws_application_autoscaling_policy",
                                                 "aws_application_autoscaling_activity"}


def test_the_store_records_the_registry():
    docs = {d.name: d for d in collectors.source_docs()}
    assert list(docs) == _names(collectors.SOURCES)
    assert docs["cloudwatch_metrics"].depends_on == ("sagemaker_endpoints", "sagemaker_training", "cloudwatch_alarms")
    assert docs["cost_explorer"].global_service and "aws_cost_daily" in docs["cost_explorer"].tables


def test_by_name_keeps_working():
    assert collectors.by_name(None) == collectors.SOURCES
    assert collectors.by_name(["cloudwatch_alarms", "sagemaker_endpoints"]) == [cloudwatch_alarms, sagemaker_endpoints]
    with pytest.raises(ValueError, match="unknown source.s. ml_platform; known: sagemaker_endpoints"):
        collectors.by_name(["ml_platform"])
