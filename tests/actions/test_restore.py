"""Scheduled restores without AWS: the schedule's transitions, one claim per restore, superseding, cancelling, and
run_due_restores acting once (AWS answered by botocore's Stubber, which fails on any call not expected)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

import actions as a
from actions.schedule import RestoreSchedule, schedule_after_scale
from sextant.aws import Clients
from sextant.settings import AccountSettings, ActionSettings, Settings

MAIN = "123456789012"
T0 = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)
OPERATOR = a.Actor("oncall@example.com", "operator")
SETTINGS = Settings(actions=ActionSettings(max_instances_per_variant=12))
RID = "endpoint/fraud/variant/AllTraffic"
DIM = "sagemaker:variant:DesiredInstanceCount"


@pytest.fixture
def audit(tmp_path) -> a.AuditLog:
    return a.AuditLog(tmp_path / "audit.sqlite")


def _schedule(audit, scale_audit_id=1, delay_s=3600, lo=2, hi=8, variant="AllTraffic", now=T0):
    return schedule_after_scale(audit, scale_audit_id=scale_audit_id, delay_s=delay_s, actor=OPERATOR.name,
                                role=OPERATOR.role, account_id=MAIN, region="us-east-1", endpoint="fraud",
                                variant=variant, min_capacity=lo, max_capacity=hi, now=now)


def test_a_restore_is_due_at_its_time_and_claimed_once(audit):
    r = _schedule(audit)
    s = RestoreSchedule(audit)
    assert r.due_at == T0 + timedelta(hours=1) and r.status == "scheduled"
    assert s.due(T0 + timedelta(minutes=59)) == []
    assert [d.id for d in s.due(T0 + timedelta(hours=1))] == [r.id]
    assert s.claim(r.id) is True
    assert s.claim(r.id) is False, "a second runner must not take it"
    assert s.due(T0 + timedelta(hours=2)) == []
    row = audit.frame().iloc[0]
    assert (row.action, row.result, row.target) == ("schedule_restore", "succeeded", "fraud/AllTraffic")
    assert '"min_capacity": 2' in row.state_after and '"max_capacity": 8' in row.state_after


@pytest.mark.parametrize("sql", [
    "UPDATE restore_schedule SET status = 'done'",  # scheduled -> done skips the claim
    "UPDATE restore_schedule SET min_capacity = 1",
    "UPDATE restore_schedule SET due_at = '2020-01-01T00:00:00+00:00'",
    "UPDATE restore_schedule SET status = 'running', actor = 'someone-else'",
    "DELETE FROM restore_schedule",
])
def test_the_schedule_allows_only_its_transitions(audit, sql):
    _schedule(audit)
    with sqlite3.connect(audit.path) as con, pytest.raises(sqlite3.IntegrityError):
        con.execute(sql)


def test_a_finished_restore_cannot_run_or_be_cancelled_again(audit):
    s = RestoreSchedule(audit)
    r = _schedule(audit)
    assert s.claim(r.id)
    s.finish(r.id, True, 7, "done")
    with pytest.raises(RuntimeError):
        s.finish(r.id, False, 8, "again")
    assert s.cancel(r.id, "x") is False
    assert s.get(r.id).status == "done" and s.get(r.id).restore_audit_id == 7


def test_one_restore_per_scale(audit):
    _schedule(audit, scale_audit_id=5)
    with pytest.raises(sqlite3.IntegrityError):
        _schedule(audit, scale_audit_id=5)


def test_a_second_pin_restores_the_bounds_before_the_first(audit):
    first = _schedule(audit, scale_audit_id=1, lo=2, hi=8)
    second = _schedule(audit, scale_audit_id=2, lo=6, hi=8, delay_s=4 * 3600)  # its "before" is the first pin
    s = RestoreSchedule(audit)
    assert (second.min_capacity, second.max_capacity) == (2, 8)
    assert s.get(first.id).status == "cancelled" and "superseded" in s.get(first.id).message
    assert [r.id for r in s.due(T0 + timedelta(days=1))] == [second.id]
    assert list(audit.frame().action) == ["cancel_restore", "schedule_restore", "schedule_restore"]


def test_cancel_is_for_operators_and_audited(audit):
    r = _schedule(audit)
    refused = a.cancel_restore(audit, r.id, a.Actor("viewer@example.com", "viewer"))
    assert refused.status == "refused" and RestoreSchedule(audit).get(r.id).status == "scheduled"
    done = a.cancel_restore(audit, r.id, OPERATOR)
    assert done.status == "succeeded" and RestoreSchedule(audit).get(r.id).status == "cancelled"
    assert a.cancel_restore(audit, r.id, OPERATOR).status == "invalid"
    assert a.cancel_restore(audit, 999, OPERATOR).status == "invalid"
    assert list(audit.frame().result[:3]) == ["invalid", "succeeded", "refused"]
    assert a.run_due_restores(SETTINGS, audit, lambda _: pytest.fail("a cancelled restore must not act"),
                              now=T0 + timedelta(days=1)) == []


def _stubbed_clients(current=(6, 8), restored=(2, 8)) -> tuple[Clients, Stubber]:
    clients = Clients(AccountSettings(regions=("us-east-1",)))
    aas = boto3.client("application-autoscaling", region_name="us-east-1", aws_access_key_id="x",
                       aws_secret_access_key="y")
    stub = Stubber(aas)
    stub.add_response("describe_scalable_targets", {"ScalableTargets": [{
        "ServiceNamespace": "sagemaker", "ResourceId": RID, "ScalableDimension": DIM,
        "MinCapacity": current[0], "MaxCapacity": current[1], "RoleARN": "arn:aws:iam::123456789012:role/x",
        "CreationTime": T0}]}, {"ServiceNamespace": "sagemaker", "ResourceIds": [RID],
                                "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"})
    stub.add_response("register_scalable_target", {"ResponseMetadata": {"RequestId": "req-1"}},
                      {"ServiceNamespace": "sagemaker", "ResourceId": RID,
                       "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
                       "MinCapacity": restored[0], "MaxCapacity": restored[1]})
    stub.activate()
    clients._clients[("application-autoscaling", "us-east-1")] = aas
    return clients, stub


def test_run_due_restores_puts_the_bounds_back_once_as_the_scheduler(audit):
    r = _schedule(audit)
    clients, stub = _stubbed_clients()
    assert a.run_due_restores(SETTINGS, audit, lambda _: clients, now=T0 + timedelta(minutes=30)) == []
    [result] = a.run_due_restores(SETTINGS, audit, lambda _: clients, now=T0 + timedelta(hours=1))
    stub.assert_no_pending_responses()
    assert result.outcome.status == "succeeded", result.outcome.message
    again = a.run_due_restores(SETTINGS, audit, lambda _: clients, now=T0 + timedelta(hours=2))
    assert again == [], "a restore acts once"  # the stub would also fail on a third call
    row = audit.get(result.outcome.audit_id)
    assert (row["action"], row["result"], row["actor"], row["aws_request_id"]) == (
        "restore_scalable_target", "succeeded", OPERATOR.name, "req-1")
    assert '"min_capacity": 6' in row["state_before"] and '"min_capacity": 2' in row["state_after"]
    done = RestoreSchedule(audit).get(r.id)
    assert (done.status, done.restore_audit_id) == ("done", result.outcome.audit_id)


def test_a_restore_whose_account_is_gone_fails_once_with_an_audit_row(audit):
    r = _schedule(audit)

    def gone(account_id):
        raise a.ActionError(f"account {account_id} is not configured")

    [result] = a.run_due_restores(SETTINGS, audit, gone, now=T0 + timedelta(hours=1))
    assert result.outcome.status == "failed" and "not configured" in result.outcome.message
    assert audit.get(result.outcome.audit_id)["action"] == "restore_scalable_target"
    assert RestoreSchedule(audit).get(r.id).status == "failed"
    assert a.run_due_restores(SETTINGS, audit, gone, now=T0 + timedelta(hours=2)) == []


def test_a_restore_claimed_by_another_runner_is_left_to_it(audit):
    r = _schedule(audit)
    assert RestoreSchedule(audit).claim(r.id)
    assert a.run_due_restores(SETTINGS, audit, lambda _: pytest.fail("claimed elsewhere"),
                              now=T0 + timedelta(hours=1)) == []


@pytest.mark.parametrize("req, message", [
    (a.ScaleEndpoint(MAIN, "ep", "AllTraffic", 2, restore_after_s=10), "restore after"),
    (a.ScaleEndpoint(MAIN, "ep", "AllTraffic", 2, restore_after_s=30 * 86400), "restore after"),
    (a.ScaleEndpoint(MAIN, "ep", "AllTraffic", 2, restore_after_s=True), "restore after"),
    (a.RestoreScalableTarget(MAIN, "ep", "AllTraffic", 5, 3, 1), "maximum capacity"),
    (a.RestoreScalableTarget(MAIN, "ep", "AllTraffic", 0, 3, 1), "minimum capacity"),
])
def test_bad_restore_requests_are_refused_before_any_call(audit, req, message):
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), SETTINGS)
    out = a.run_action(req, OPERATOR, env, audit, a.new_token())
    assert out.status == "invalid" and message in out.message
    assert audit.count() == 1 and env.clients.counter.total() == 0
