"""The live incident knob (demo/incident.py): on the planted incident's endpoint, one alarm fires (5xx errors) and a
scale-up through the account's own API ends it; computed with the same model and alarm evaluation the account
runs, at the busiest and the quietest hour."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from demo import control, incident, metrics
from demo.model import to_minutes
from demo.world import VariantState, build_world
from tests.conftest import ROOT

ANCHOR = datetime(2026, 12, 2, tzinfo=UTC)  # a Wednesday: the endpoint at its weekday load


def _targets(world) -> dict[str, metrics.Target]:
    e = world.incident_endpoint()
    return {s.name.removeprefix(f"{e.name}-"): metrics.Target(s.series, s.stat, s.period // 60, s.periods, s.to_alarm,
                                                             s.threshold, s.comparison, s.missing)
            for s in metrics.alarm_specs(world) if s.series.endpoint.name == e.name}


def _states(world, target: metrics.Target, first: datetime, last: datetime, now: datetime) -> list[tuple[int, str]]:
    """(evaluation end minute, state) at the alarm's first evaluation in [first, last] and each change after."""
    computer = metrics.Computer(world, to_minutes(now))
    return [(end, state) for end, state, _ in metrics.evaluate(computer, target, to_minutes(first), to_minutes(last))]


@pytest.mark.parametrize("hour", [15, 3])  # the daily peak and the nightly trough
def test_the_incident_fires_the_5xx_alarm_only_and_a_scale_up_to_the_recovery_count_ends_it(hour):
    world = build_world(7, ANCHOR)
    e = world.incident_endpoint()
    asked = ANCHOR + timedelta(hours=hour, minutes=20, seconds=17)
    live = incident.start(world, asked, lead_minutes=5)
    assert (live.endpoint, live.instances, live.since) == (e.name, 3, asked.replace(second=0) - timedelta(minutes=5))
    assert live.rpm == pytest.approx(incident.LOAD * 3 * e.capacity_rpm)
    assert live.recovery == 6 and "scaling it to 6 or more ends it" in live.message()

    scaled = asked + timedelta(minutes=3, seconds=40)  # the operator scales 3 minutes after asking
    world.timeline.record(VariantState(scaled, e.account, e.name, live.variant, e.variants[0].instance_type,
                                       live.recovery, 1.0, "cfg", e.variants[0].model_version, "autoscaling"))
    after = scaled + timedelta(minutes=20)
    targets = _targets(world)
    assert set(targets) == {"p99-latency", "5xx-errors", "cpu-high"}

    fired, calm = to_minutes(live.since) + 3, to_minutes(scaled) + 3  # 3 of 5 one-minute periods, each way
    assert _states(world, targets["5xx-errors"], live.since - timedelta(minutes=30), after, after) == [
        (to_minutes(live.since) - 30, "OK"), (fired, "ALARM"), (calm, "OK")]
    for quiet in ("p99-latency", "cpu-high"):  # under their thresholds, or too short to fill their periods
        assert [s for _, s in _states(world, targets[quiet], live.since - timedelta(minutes=30), after, after)] \
            == ["OK"], quiet


def test_without_the_scale_up_the_incident_goes_on():
    world = build_world(7, ANCHOR)
    asked = ANCHOR + timedelta(hours=10, minutes=2)
    live = incident.start(world, asked)
    assert live.since == asked + timedelta(minutes=1)  # no lead: minutes already served stay as they were
    later = asked + timedelta(minutes=40)
    assert [s for _, s in _states(world, _targets(world)["5xx-errors"], asked, later, later)] == ["OK", "ALARM"]


@pytest.mark.parametrize("lead", [-1, 11, 2.5, True, "5"])
def test_a_lead_outside_zero_to_ten_minutes_is_refused_and_changes_nothing(lead):
    world = build_world(7, ANCHOR)
    with pytest.raises(ValueError, match="lead_minutes"):
        incident.handle(world, {"kind": "incident", "lead_minutes": lead}, ANCHOR + timedelta(hours=9))
    assert world.surges == {}


def test_the_incident_command_reaches_the_running_account_or_says_none_answered(tmp_path):
    res = subprocess.run([sys.executable, "-m", "demo.control", "--control", str(tmp_path), "incident"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "DEMO_CONTROL_TIMEOUT": "1"})
    assert res.returncode == 1 and "no running demo answered" in res.stderr
    assert list(tmp_path.iterdir()) == []  # the unanswered request is taken back
    # served by an account in this process: the request the command writes is the incident's, with its reply
    (tmp_path / "r.request.json").write_text(json.dumps({"kind": "incident", "lead_minutes": 11}))
    assert control.serve(tmp_path, {"incident": lambda req, now: incident.handle(build_world(7, ANCHOR), req, now)},
                         ANCHOR) == 1
    reply = json.loads((tmp_path / "r.reply.json").read_text())
    assert not reply["ok"] and "lead_minutes must be a whole number in [0, 10]" in reply["message"]
