"""The seeded alarm history, in-process: nothing is stamped after the moment the account was seeded.

A change stamped in the future is in DescribeAlarms (StateUpdatedTimestamp) before DescribeAlarmHistory admits it
(EndDate = now), so a collector running in the seed's first minute saw it as an observed change and the next one
as a history item: two collections of a frozen account differed (a clean-clone CI failure, tests/collectors/
test_partial.py). Replayed changes land 20-59 s after their period ends, as CloudWatch's do, capped at the seed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from moto import mock_aws
from moto.cloudwatch import models as cw_models

from demo import metrics
from demo.world import build_world

WORLD = build_world(7)


def _seed(now: datetime) -> list[datetime]:
    """Seed the alarms at ``now`` into a fresh in-memory account: every state-change stamp (history and current)."""
    with mock_aws():
        metrics.install(WORLD)
        metrics.seed_alarms(WORLD, now)
        stamps = []
        for account in {e.account for e in WORLD.endpoints}:
            for alarm in cw_models.cloudwatch_backends[account][metrics.REGION].alarms.values():
                stamps += [h["Timestamp"] for h in alarm.history if h["HistoryItemType"] == "StateUpdate"]
                stamps.append(alarm.state_updated_timestamp)
    return [s.replace(tzinfo=UTC) for s in stamps]


def test_seeded_alarm_changes_are_never_in_the_future():
    first = _seed(datetime.now(UTC).replace(microsecond=0))
    # Seed again one second after the period in which the latest change happened: that change is replayed as the
    # seed's very last evaluation, and without the cap would be stamped 20-59 s after the seed.
    latest = max(first).replace(second=0)
    now = latest + timedelta(seconds=1)
    stamps = _seed(now)
    assert stamps and max(stamps) <= now, [s for s in stamps if s > now]
    assert now in stamps, "the last minute's change is still recorded, at the seed's own time"
