"""Against the emulated account: a scale of an autoscaled variant with a timed restore puts the previous min/max back
exactly once when due, as the person who scheduled it, with an audit row; `sextant collect` runs due restores."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

import actions as a
import sextant_cli
from actions.schedule import RestoreSchedule, schedule_after_scale
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings
from tests.conftest import Account, start_account, stop_account

MAIN = "123456789012"
OPERATOR = a.Actor("oncall@example.com", "operator")


@pytest.fixture(scope="module")
def acc(tmp_path_factory) -> Iterator[Account]:
    with pytest.MonkeyPatch.context() as mp:
        acc = start_account(tmp_path_factory.mktemp("restore"), env={"DEMO_SPEEDUP": "240"})
        for k, v in acc.env.items():
            mp.setenv(k, v)
        yield acc
    stop_account(acc)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(store=str(tmp_path / "store"), accounts=(AccountSettings(regions=("us-east-1",)),),
                    actions=ActionSettings(max_instances_per_variant=12))


def _bounds(acc, endpoint):
    t = acc.client("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[f"endpoint/{endpoint}/variant/AllTraffic"])["ScalableTargets"][0]
    return t["MinCapacity"], t["MaxCapacity"]


def test_a_due_restore_puts_the_previous_bounds_back_exactly_once(acc, settings):
    endpoint = "fraud-txn-scorer-prod"
    audit = a.restore.audit_for(settings)
    env = a.Env(Clients(settings.accounts[0]), settings)
    before = _bounds(acc, endpoint)
    req = a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", before[1], restore_after_s=3600)
    plan = a.plan(req, OPERATOR, env)
    assert plan.notes[0].startswith(f"This pins {endpoint}/AllTraffic at {before[1]}: min = max = {before[1]}")
    out = a.run_action(req, OPERATOR, env, audit, a.new_token())
    assert out.status == "succeeded", out.message
    assert "min/max go back to" in out.message
    assert _bounds(acc, endpoint) == (before[1], before[1])
    [restore] = RestoreSchedule(audit).for_variant(MAIN, "us-east-1", endpoint, "AllTraffic")
    assert (restore.min_capacity, restore.max_capacity, restore.scale_audit_id) == (*before, out.audit_id)

    assert a.run_due_restores(settings, audit, now=restore.due_at - timedelta(seconds=1)) == []
    assert _bounds(acc, endpoint) == (before[1], before[1]), "not due yet: nothing changes"
    [result] = a.run_due_restores(settings, audit, now=restore.due_at + timedelta(seconds=1))  # past due
    assert result.outcome.status == "succeeded", result.outcome.message
    assert _bounds(acc, endpoint) == before
    assert a.run_due_restores(settings, audit, now=restore.due_at + timedelta(hours=1)) == []

    rows = audit.frame()
    restores = rows[rows.action == "restore_scalable_target"]
    assert len(restores) == 1, "restored once"
    row = restores.iloc[0]
    assert (row.result, row.actor, row.role, row.target, row.region) == (
        "succeeded", OPERATOR.name, "operator", f"{endpoint}/AllTraffic", "us-east-1")
    assert row.aws_request_id
    assert RestoreSchedule(audit).get(restore.id).status == "done"


def test_sextant_collect_runs_a_past_due_restore(acc, settings, monkeypatch):
    endpoint = "search-query-embed-prod"
    audit = a.restore.audit_for(settings)
    env = a.Env(Clients(settings.accounts[0]), settings)
    before = _bounds(acc, endpoint)
    out = a.run_action(a.ScaleEndpoint(MAIN, endpoint, "AllTraffic", before[1]), OPERATOR, env, audit,
                       a.new_token())
    assert out.status == "succeeded", out.message
    assert _bounds(acc, endpoint) == (before[1], before[1])
    schedule_after_scale(audit, scale_audit_id=out.audit_id, delay_s=60, actor=OPERATOR.name, role=OPERATOR.role,
                         account_id=MAIN, region="us-east-1", endpoint=endpoint, variant="AllTraffic",
                         min_capacity=before[0], max_capacity=before[1],
                         now=datetime.now(UTC) - timedelta(minutes=5))  # due four minutes ago
    monkeypatch.chdir(settings.store.rsplit("/", 1)[0])  # no sextant.toml here: the environment's account
    status = sextant_cli.main(["collect", "--once", "--source", "application_autoscaling", "--store",
                               settings.store, "--quiet"])
    assert status == 0
    assert _bounds(acc, endpoint) == before
    rows = audit.frame()
    assert list(rows[rows.action == "restore_scalable_target"].result) == ["succeeded"]
