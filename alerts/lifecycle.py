"""Evaluation: every rule's query, then each alert's state moved in one store transaction.

States: a breaching resource starts an episode as ``pending`` (or ``firing`` at once when the rule has no
for-duration); ``pending`` becomes ``firing`` once it has breached for the rule's for-duration; a firing alert whose
resource no longer breaches is ``resolved``, a pending one ``inactive`` (nothing was sent). A resolved or inactive
alert that breaches again starts the next episode. The key (rule, resource) is the table's primary key: one alert
per rule and resource whatever the number of cycles or evaluators.

Idempotent: an evaluation that finds every alert in the state it is in changes no state, writes no transition and
queues no message. A transition to firing or resolved queues one message per channel in the outbox
(``sextant_alert_delivery``) in the same transaction; :mod:`alerts.delivery` sends them after the commit. A rule
whose query fails is recorded with its error and its alerts are left as they were (never resolved by a failure).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts import messages, rules
from alerts.config import AlertConfig, config
from alerts.tables import ALERT, DELIVERY, EVENT, RULE
from sextant.redact import redact
from sextant.settings import Settings
from sextant.store import StoreWriter

log = logging.getLogger("sextant.alerts")
ACTIVE = ("pending", "firing")


@dataclass
class Evaluation:
    """What one evaluation did: its transitions (rule, resource, from, to), rules that failed, messages queued."""

    at: datetime
    transitions: list[tuple[str, str, str | None, str]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    queued: int = 0
    rules: int = 0

    def lines(self) -> list[str]:
        out = [f"alert {r}: {res} {f or 'new'} -> {t}" for r, res, f, t in self.transitions]
        out += [f"alert rule {r} failed: {e}" for r, e in self.errors.items()]
        return out


def _channels(rule: rules.Rule, cfg: AlertConfig) -> tuple[str, ...]:
    if rule.channels:
        return rule.channels
    return cfg.settings.default_channels or tuple(cfg.channels)


def _step(rule: rules.Rule, alert: dict[str, Any] | None, row: dict[str, Any] | None,
          now: datetime) -> tuple[dict[str, Any] | None, list[str]]:
    """The alert after this evaluation (None: unchanged and not seen) and the states it entered, in order."""
    breaching = row is not None and rule.breaches(row.get("value"))
    state = alert["state"] if alert else None
    value = row.get("value") if row is not None else None
    facts = {k: row.get(k) for k in ("account_id", "region", "team", "endpoint_name")} if row is not None else {}
    if breaching and state not in ACTIVE:
        fire = rule.for_s <= 0
        new = {**(alert or {}), "rule": rule.name, "resource": (row or {})["resource"],
               "episode": (alert["episode"] + 1) if alert else 1, "state": "firing" if fire else "pending",
               "started_at": now, "fired_at": now if fire else None, "resolved_at": None}
        entered = ["pending", "firing"] if fire else ["pending"]
    elif breaching and state == "pending" and alert and (now - alert["started_at"]).total_seconds() >= rule.for_s:
        new, entered = {**alert, "state": "firing", "fired_at": now}, ["firing"]
    elif breaching and alert:
        new, entered = dict(alert), []
    elif state in ACTIVE and alert:
        to = "resolved" if state == "firing" else "inactive"
        new, entered = {**alert, "state": to, "resolved_at": now}, [to]
    else:
        return None, []
    new.update(facts or {k: new.get(k) for k in ("account_id", "region", "team", "endpoint_name")})
    new.update(value=value, severity=rule.severity, threshold=rule.threshold, comparison=rule.comparison,
               last_evaluated_at=now, name=(row or {}).get("name", new.get("name")))
    return new, entered


def evaluate(writer: StoreWriter, settings: Settings, now: datetime) -> Evaluation:
    """Evaluate every rule of ``settings`` over the store of ``writer`` at ``now`` (UTC) and record the result in
    one transaction (the caller publishes). Raises AlertConfigError for wrong ``[alerts]`` settings."""
    cfg = config(settings.alerts)
    result = Evaluation(now)
    all_rules = rules.all_rules(cfg, settings)
    result.rules = len(all_rules)
    found: dict[str, list[dict[str, Any]]] = {}
    took: dict[str, float] = {}
    for rule in all_rules:  # read-only cursors, outside the write transaction: every source has committed
        started = time.monotonic()
        try:
            found[rule.name] = rules.run(writer.con, rule, now)
        except rules.RuleError as exc:
            result.errors[rule.name] = redact(exc)
            log.warning("alert rule %s failed: %s", rule.name, result.errors[rule.name])
        took[rule.name] = (time.monotonic() - started) * 1000
    with writer.transaction() as con:
        cur = con.execute("SELECT * FROM sextant_alert")
        columns = [d[0] for d in cur.description or ()]
        stored: dict[tuple[str, str], dict[str, Any]] = {}
        for v in cur.fetchall():
            a = dict(zip(columns, v, strict=True))
            stored[(a["rule"], a["resource"])] = a
        alerts_out, events, deliveries, rule_rows = [], [], [], []
        for rule in all_rules:
            rows = found.get(rule.name)
            rule_rows.append({**_rule_row(rule, now, rows, result.errors.get(rule.name)),
                              "duration_ms": took[rule.name]})
            if rows is None:
                continue
            by_resource = {r["resource"]: r for r in rows}
            keys = set(by_resource) | {res for (name, res), a in stored.items()
                                       if name == rule.name and a["state"] in ACTIVE}
            for resource in sorted(keys):
                alert = stored.get((rule.name, resource))
                new, entered = _step(rule, alert, by_resource.get(resource), now)
                if new is None:
                    continue
                alerts_out.append(new)
                before = alert["state"] if alert and alert["episode"] == new["episode"] else None
                for to in entered:
                    events.append({"rule": rule.name, "resource": resource, "episode": new["episode"],
                                   "to_state": to, "from_state": before, "changed_at": now, "value": new["value"]})
                    result.transitions.append((rule.name, resource, before, to))
                    before = to
                    if to in ("firing", "resolved"):
                        deliveries += _queue(rule, new, "fired" if to == "firing" else "resolved", cfg, now)
        writer.upsert(ALERT, [{k: a.get(k) for k in ALERT.column_names} for a in alerts_out])
        writer.upsert(EVENT, events)
        writer.upsert(DELIVERY, deliveries)
        writer.upsert(RULE, rule_rows)
    result.queued = len(deliveries)
    return result


def _rule_row(rule: rules.Rule, now: datetime, rows: list[dict[str, Any]] | None, error: str | None) -> dict[str, Any]:
    return {"rule": rule.name, "description": rule.description, "builtin": rule.builtin, "severity": rule.severity,
            "threshold": rule.threshold, "comparison": rule.comparison, "for_s": rule.for_s, "window": rule.window,
            "last_evaluated_at": now, "status": "error" if error else "ok", "error": error,
            "rows": None if rows is None else len(rows),
            "breaching": None if rows is None else sum(rule.breaches(r.get("value")) for r in rows)}


def _queue(rule: rules.Rule, alert: dict[str, Any], kind: str, cfg: AlertConfig,
           now: datetime) -> list[dict[str, Any]]:
    d = messages.detail(alert, rule, kind, cfg.settings.base_url)
    body = {"subject": messages.subject(d), "text": messages.text(d), "detail": json.dumps(d)}
    return [{"channel": ch, "rule": rule.name, "resource": alert["resource"], "episode": alert["episode"],
             "kind": kind, "status": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now,
             "sent_at": None, "error": None, **body} for ch in _channels(rule, cfg)]
