"""Progress of a first collection, for the dashboard to show while a store has little or nothing to read.

The collector writes ``first-collection.json`` beside the store's snapshots while it fills a store that had
nothing published when the cycle began, and removes it when the cycle ends; the dashboard reads it (a few dozen
bytes) and shows "first collection in progress" with how far it is, instead of an empty-store message. A file
not updated for ``STALE_AFTER`` (its collector was killed) is ignored.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

FILE = "first-collection.json"
STALE_AFTER = timedelta(minutes=10)


@dataclass(frozen=True)
class FirstCollection:
    started_at: datetime
    updated_at: datetime
    done: int  # source x account x region runs finished
    total: int  # of how many (an estimate when an account's regions come from its profile)
    last: str  # the source that finished last ("" before the first)

    @property
    def fraction(self) -> float:
        """Share done, below 1 until the cycle ends (the total can be an estimate)."""
        return min(self.done / self.total, 0.99) if self.total > 0 else 0.0


def write(location: Path, state: FirstCollection) -> None:
    """Replace the progress file whole (a reader never sees half of it)."""
    location.mkdir(parents=True, exist_ok=True)
    tmp = location / f".{FILE}.{uuid.uuid4().hex}"
    record = asdict(state) | {"started_at": state.started_at.isoformat(), "updated_at": state.updated_at.isoformat()}
    tmp.write_text(json.dumps(record))
    os.replace(tmp, location / FILE)


def clear(location: Path) -> None:
    (location / FILE).unlink(missing_ok=True)


def read(location: Path, now: datetime | None = None) -> FirstCollection | None:
    """The first collection under way at ``location``, or None (none, unreadable, or stale)."""
    try:
        raw = json.loads((location / FILE).read_text())
        state = FirstCollection(datetime.fromisoformat(raw["started_at"]), datetime.fromisoformat(raw["updated_at"]),
                                int(raw["done"]), int(raw["total"]), str(raw["last"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (now or datetime.now(UTC)) - state.updated_at > STALE_AFTER:
        return None
    return state
