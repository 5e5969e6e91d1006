"""Changes made but not yet seen by a collection: what a page shows as pending after an action.

The audit log is the record: a ``succeeded`` scale (or restore) row holds the state the action left
(``state_after``) and when it completed, so every viewer, in any session, sees the same pending change. A change is

- ``pending`` until the store's collected state of the variant matches ``state_after`` (as observed after the
  action, when the observation time is known);
- ``confirmed`` once it does (the page then shows nothing: its numbers show the change);
- ``unconfirmed`` when no collection has shown it ``PENDING_TIMEOUT`` after the action (AWS may have refused it
  later, the autoscaler moved on, or the collector is not running): a warning, until ``NOTICE_WINDOW`` has passed.

Only the newest change of each variant counts: a later one supersedes it. No Streamlit here
(``dashboard/action_ui.py`` renders it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from actions.audit import AuditLog

ACTIONS = ("scale_endpoint", "scale_to_minimum", "restore_scalable_target")
PENDING_TIMEOUT = timedelta(minutes=30)  # an endpoint update can take ~10 min, plus a collection cycle or two
NOTICE_WINDOW = timedelta(hours=6)  # how long an unconfirmed change is still mentioned


@dataclass(frozen=True)
class Change:
    """A succeeded change to one variant, from its audit row."""

    audit_id: int
    action: str
    actor: str
    account_id: str
    region: str
    endpoint: str
    variant: str
    at: datetime  # when AWS accepted it (the row's completion time)
    before: dict[str, Any]
    after: dict[str, Any]

    @property
    def instance_count(self) -> int | None:
        n = self.after.get("instance_count")
        return int(n) if isinstance(n, int | float) else None

    @property
    def bounds(self) -> tuple[int, int] | None:
        lo, hi = self.after.get("min_capacity"), self.after.get("max_capacity")
        return (int(lo), int(hi)) if isinstance(lo, int | float) and isinstance(hi, int | float) else None

    def describe(self) -> str:
        """One sentence: what was asked, by whom, when (UTC)."""
        when = f"{self.at:%H:%M} UTC" + ("" if self.at.date() == datetime.now(UTC).date() else f" {self.at:%b %d}")
        bounds = self.bounds
        was = (self.before.get("min_capacity"), self.before.get("max_capacity"))
        if self.action == "restore_scalable_target" and bounds:
            return (f"Restoring {self.variant}'s autoscaling min/max to {bounds[0]}/{bounds[1]} (scheduled restore) "
                    f"at {when}")
        text = f"Scaling {self.variant} to {self.instance_count} instances requested by {self.actor} at {when}"
        if bounds:
            text += f" (autoscaling min/max {bounds[0]}/{bounds[1]}, were {was[0]}/{was[1]})"
        return text


@dataclass(frozen=True)
class Observed:
    """A variant as the store last collected it."""

    instance_count: int | None  # current (in service); desired when current is unknown
    min_capacity: int | None = None
    max_capacity: int | None = None
    observed_at: datetime | None = None  # when the collector saw it (None: not known to the page)


def _dict(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _utc(text: str) -> datetime:
    t = datetime.fromisoformat(text)
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).astimezone(UTC)


def recent_changes(audit: AuditLog, account_id: str, region: str, endpoint: str,
                   now: datetime | None = None, window: timedelta = NOTICE_WINDOW) -> list[Change]:
    """The newest succeeded change of each variant of ``endpoint`` completed within ``window`` before ``now``."""
    now = now or datetime.now(UTC)
    rows = audit.succeeded_changes(ACTIONS, account_id, region, endpoint, now - window)
    newest: dict[str, Change] = {}
    for r in rows:
        params = _dict(r["parameters"])
        variant = params.get("variant")
        if not isinstance(variant, str):
            continue
        newest[variant] = Change(r["id"], r["action"], r["actor"], account_id, region, endpoint, variant,
                                 _utc(r["completed_at"]), _dict(r["state_before"]), _dict(r["state_after"]))
    return sorted(newest.values(), key=lambda c: c.variant)


def matches(change: Change, seen: Observed) -> bool:
    """Whether the collected state shows what the change left: the instance count asked for (on an autoscaled
    variant: within the new bounds, since the autoscaler still acts between them) and the new bounds, when the
    page knows them."""
    bounds = change.bounds
    if bounds is None:
        return seen.instance_count is not None and seen.instance_count == change.instance_count
    if seen.min_capacity is not None and seen.max_capacity is not None:
        if (seen.min_capacity, seen.max_capacity) != bounds:
            return False
        if change.action == "restore_scalable_target":  # the bounds are the whole change
            return True
    return seen.instance_count is not None and bounds[0] <= seen.instance_count <= bounds[1]


def status(change: Change, seen: Observed | None, now: datetime | None = None,
           timeout: timedelta = PENDING_TIMEOUT) -> str:
    """``confirmed`` | ``pending`` | ``unconfirmed`` (see the module's docstring)."""
    now = now or datetime.now(UTC)
    fresh = seen is not None and (seen.observed_at is None or seen.observed_at >= change.at)
    if seen is not None and fresh and matches(change, seen):
        return "confirmed"
    return "unconfirmed" if now - change.at > timeout else "pending"
