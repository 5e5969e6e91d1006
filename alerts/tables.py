"""The alerts' tables in the store: alerts and their transitions, the rules' last evaluation, the delivery outbox and
its attempts. Defined like the collectors' tables (``sextant.schema.table``, every column described); not scoped to
one account (an alert carries the account and region of its resource, when it has them)."""

from __future__ import annotations

from sextant.schema import ALERT_TABLES, Table, ident
from sextant.store import StoreWriter

ALERT, EVENT, RULE, DELIVERY, ATTEMPT, LEASE = ALERT_TABLES  # defined in the core: system tables of every store
TABLES: tuple[Table, ...] = ALERT_TABLES


def ensure(writer: StoreWriter) -> None:
    """Create the alerts' tables that are missing (the collector's migration creates and documents them with the
    others; this lets ``python -m alerts`` run on a store migrated before alerts existed)."""
    with writer.transaction() as con:
        for t in TABLES:
            cols = ", ".join(f"{ident(c.name)} {c.type}" for c in t.columns)
            if getattr(writer, "primary_keys", True):
                cols += f", PRIMARY KEY ({', '.join(ident(c) for c in t.primary_key)})"
            con.execute(f"CREATE TABLE IF NOT EXISTS {ident(t.name)} ({cols})")
        if not con.execute("SELECT 1 FROM sextant_alert_lease LIMIT 1").fetchall():  # as the store's migration does
            con.execute("INSERT INTO sextant_alert_lease VALUES ('evaluation', NULL)")
