"""Pending changes from the audit log: the newest succeeded change of each variant is pending until the collected
state shows it, then confirmed; unconfirmed after the timeout; forgotten after the notice window."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

import pytest

from actions import pending
from actions.audit import AuditLog, AuditRow
from actions.pending import Observed

MAIN = "123456789012"


@pytest.fixture
def audit(tmp_path) -> AuditLog:
    return AuditLog(tmp_path / "audit.sqlite")


def _scale(audit, count, before=2, result="succeeded", dry_run=False, variant="AllTraffic", endpoint="ep",
           bounds=None, action="scale_endpoint", region="us-east-1"):
    after = {"instance_count": count, "instance_type": "ml.m5.xlarge"}
    was = {"instance_count": before, "instance_type": "ml.m5.xlarge"}
    if bounds:
        after.update(min_capacity=bounds[0], max_capacity=bounds[1])
        was.update(min_capacity=2, max_capacity=8)
    params = {"account_id": MAIN, "endpoint": endpoint, "variant": variant, "desired_count": count}
    row = AuditRow("jane@example.com", "operator", action, f"{endpoint}/{variant}", MAIN, region, params, was,
                   None, "requested" if result != "dry_run" else "dry_run", dry_run, token=None)
    rid = audit.append(row)
    if result != "dry_run":
        audit.complete(rid, result, "req", None, after if result == "succeeded" else None)
    return rid


def _at(audit, rid) -> datetime:
    return datetime.fromisoformat(audit.get(rid)["completed_at"])


def test_a_scale_is_pending_until_the_collection_shows_the_count(audit):
    rid = _scale(audit, 4)
    [change] = pending.recent_changes(audit, MAIN, "us-east-1", "ep")
    assert change.audit_id == rid and change.instance_count == 4 and change.actor == "jane@example.com"
    assert change.describe().startswith("Scaling AllTraffic to 4 instances requested by jane@example.com at ")
    now = _at(audit, rid) + timedelta(minutes=2)
    assert pending.status(change, Observed(2), now) == "pending"
    assert pending.status(change, None, now) == "pending"
    assert pending.status(change, Observed(4), now) == "confirmed"


def test_an_observation_from_before_the_action_does_not_confirm_it(audit):
    rid = _scale(audit, 4)
    [change] = pending.recent_changes(audit, MAIN, "us-east-1", "ep")
    at = _at(audit, rid)
    assert pending.status(change, Observed(4, observed_at=at - timedelta(minutes=1)), at) == "pending"
    assert pending.status(change, Observed(4, observed_at=at + timedelta(minutes=1)), at) == "confirmed"


def test_unconfirmed_after_the_timeout_and_forgotten_after_the_window(audit):
    rid = _scale(audit, 4)
    at = _at(audit, rid)
    [change] = pending.recent_changes(audit, MAIN, "us-east-1", "ep", now=at + timedelta(hours=1))
    assert pending.status(change, Observed(2), at + pending.PENDING_TIMEOUT - timedelta(seconds=1)) == "pending"
    assert pending.status(change, Observed(2), at + pending.PENDING_TIMEOUT + timedelta(seconds=1)) == "unconfirmed"
    assert pending.recent_changes(audit, MAIN, "us-east-1", "ep",
                                  now=at + pending.NOTICE_WINDOW + timedelta(seconds=1)) == []


def test_an_autoscaled_scale_is_confirmed_by_its_bounds_and_a_count_within_them(audit):
    _scale(audit, 6, bounds=(6, 8))
    [change] = pending.recent_changes(audit, MAIN, "us-east-1", "ep")
    now = change.at + timedelta(minutes=1)
    assert "autoscaling min/max 6/8, were 2/8" in change.describe()
    assert pending.status(change, Observed(5, 2, 8), now) == "pending", "old bounds: not yet collected"
    assert pending.status(change, Observed(5, 6, 8), now) == "pending", "count not yet in the new bounds"
    assert pending.status(change, Observed(7, 6, 8), now) == "confirmed", "the autoscaler acts within the bounds"
    assert pending.status(change, Observed(6), now) == "confirmed", "bounds unknown to the page: the count decides"


def test_only_real_successes_of_this_endpoint_count_and_the_newest_per_variant(audit):
    _scale(audit, 3)
    newest = _scale(audit, 5)
    _scale(audit, 9, result="failed")
    _scale(audit, 9, result="dry_run", dry_run=True)
    _scale(audit, 9, endpoint="other")
    _scale(audit, 9, region="eu-west-1")
    shadow = _scale(audit, 1, variant="Shadow")
    changes = pending.recent_changes(audit, MAIN, "us-east-1", "ep")
    assert [(c.variant, c.audit_id) for c in changes] == [("AllTraffic", newest), ("Shadow", shadow)]


def test_a_restore_is_pending_until_its_bounds_are_collected(audit):
    params = {"account_id": MAIN, "endpoint": "ep", "variant": "AllTraffic", "min_capacity": 2, "max_capacity": 8,
              "schedule_id": 1}
    rid = audit.append(AuditRow("jane@example.com", "operator", "restore_scalable_target", "ep/AllTraffic", MAIN,
                                "us-east-1", params, {"min_capacity": 6, "max_capacity": 8}, None, "requested",
                                False))
    audit.complete(rid, "succeeded", "req", None, {"min_capacity": 2, "max_capacity": 8})
    [change] = pending.recent_changes(audit, MAIN, "us-east-1", "ep")
    assert change.describe().startswith("Restoring AllTraffic's autoscaling min/max to 2/8")
    now = change.at + timedelta(minutes=1)
    assert pending.status(change, Observed(6, 6, 8), now) == "pending"
    assert pending.status(change, Observed(6, 2, 8), now) == "confirmed"


def test_rows_are_read_with_bound_values_only(audit):
    """A name that would break a query built by string formatting is just a name that matches nothing."""
    _scale(audit, 4)
    assert pending.recent_changes(audit, MAIN, "us-east-1", "ep' OR '1'='1") == []
    with sqlite3.connect(audit.path) as con:
        assert con.execute("SELECT count(*) FROM audit").fetchone()[0] == 1
