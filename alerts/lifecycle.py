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

Silences (:mod:`alerts.silences`): a transition of an alert that an active silence matches still happens and is
recorded, but its messages are written to the outbox as ``suppressed`` (``error`` names the silence) and never sent;
so is a resolved message whose fired message was suppressed (the receivers never heard of that episode). When no
silence matches any more (expired or ended) and the alert still fires in that episode, its suppressed fired messages
are released (``pending``; the detail's ``held_by_silence`` and a line of the text say which silence held them), and
so are suppressed resolved messages whose fired message went out. Silences that cannot be read hold nothing back
(the evaluation says so): a broken audit database never mutes the alerts.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from alerts import messages, rules
from alerts import silences as sil
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
    suppressed: list[tuple[str, str, str, int | None]] = field(default_factory=list)  # rule, resource, kind, silence
    released: list[tuple[str, str, str, str]] = field(default_factory=list)  # rule, resource, kind, channel
    silence_error: str | None = None

    def lines(self) -> list[str]:
        out = [f"alert {r}: {res} {f or 'new'} -> {t}" for r, res, f, t in self.transitions]
        out += [f"alert {r}: {res} {k} message suppressed" + (f" by silence #{i}" if i is not None else
                                                               " (its fired message was)")
                for r, res, k, i in self.suppressed]
        out += [f"alert {r}: {res} {k} message to {c} released (its silence ended)" for r, res, k, c in self.released]
        out += [f"alert rule {r} failed: {e}" for r, e in self.errors.items()]
        out += [f"alert silences not read, nothing held back: {self.silence_error}"] if self.silence_error else []
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
    try:
        silences = sil.active(settings, now)
    except sil.SilenceReadError as exc:
        silences = []
        result.silence_error = redact(exc)
        log.warning("alert silences not read, nothing held back: %s", result.silence_error)
    with writer.transaction() as con:
        # the lease first: an evaluation overlapping this one rewrites the same row, so one of the two commits is
        # refused, even on a store without primary keys (DuckLake), where two first appends of one alert would not be
        con.execute("UPDATE sextant_alert_lease SET evaluated_at = ?", [now])
        cur = con.execute("SELECT * FROM sextant_alert")
        columns = [d[0] for d in cur.description or ()]
        stored: dict[tuple[str, str], dict[str, Any]] = {}
        for v in cur.fetchall():
            a = dict(zip(columns, v, strict=True))
            stored[(a["rule"], a["resource"])] = a
        held = _held(con)
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
                        queued = _queue(rule, new, "fired" if to == "firing" else "resolved", cfg, now,
                                        sil.matching(silences, new), held)
                        deliveries += queued
                        marks = {(d["kind"], d.pop("_silence")) for d in queued if d["status"] == "suppressed"}
                        result.suppressed += [(rule.name, resource, k, i) for k, i in sorted(marks, key=str)]
        writer.upsert(ALERT, [{k: a.get(k) for k in ALERT.column_names} for a in alerts_out])
        writer.upsert(EVENT, events)
        writer.upsert(DELIVERY, deliveries)
        writer.upsert(RULE, rule_rows)
        released = _release(con, silences, now)
        writer.upsert(DELIVERY, released)
        result.released = [(d["rule"], d["resource"], d["kind"], d["channel"]) for d in released]
    result.queued = sum(d["status"] == "pending" for d in deliveries) + len(released)
    return result


def _rule_row(rule: rules.Rule, now: datetime, rows: list[dict[str, Any]] | None, error: str | None) -> dict[str, Any]:
    return {"rule": rule.name, "description": rule.description, "builtin": rule.builtin, "severity": rule.severity,
            "threshold": rule.threshold, "comparison": rule.comparison, "for_s": rule.for_s, "window": rule.window,
            "last_evaluated_at": now, "status": "error" if error else "ok", "error": error,
            "rows": None if rows is None else len(rows),
            "breaching": None if rows is None else sum(rule.breaches(r.get("value")) for r in rows)}


def _queue(rule: rules.Rule, alert: dict[str, Any], kind: str, cfg: AlertConfig, now: datetime,
           silence: sil.Silence | None, held: dict[tuple[str, str, str, int], str]) -> list[dict[str, Any]]:
    """The messages of a transition, one per channel: ``pending``, or ``suppressed`` when ``silence`` matches the
    alert, or (a resolved message) when the fired message of the episode on that channel was suppressed (``held``:
    the suppressed fired messages of current episodes, by channel, rule, resource, episode, with their note)."""
    d = messages.detail(alert, rule, kind, cfg.settings.base_url)
    body = {"subject": messages.subject(d), "text": messages.text(d), "detail": json.dumps(d)}
    out = []
    for ch in _channels(rule, cfg):
        fired_note = held.get((ch, rule.name, alert["resource"], alert["episode"])) if kind == "resolved" else None
        note = silence.note() if silence else (f"suppressed: its fired message was {fired_note}"[:500]
                                               if fired_note else None)
        out.append({"channel": ch, "rule": rule.name, "resource": alert["resource"], "episode": alert["episode"],
                    "kind": kind, "status": "suppressed" if note else "pending", "attempts": 0, "created_at": now,
                    "next_attempt_at": now, "sent_at": None, "error": note, **body})
        if note:
            out[-1]["_silence"] = silence.id if silence else None
    return out


def _rows(con: Any, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    cur = con.execute(sql, params or [])
    columns = [d[0] for d in cur.description or ()]
    return [dict(zip(columns, v, strict=True)) for v in cur.fetchall()]


_SUPPRESSED_OF_CURRENT = """
    SELECT d.*, a.state AS alert_state, a.team AS alert_team, a.account_id AS alert_account_id
    FROM sextant_alert_delivery d
    JOIN sextant_alert a ON a.rule = d.rule AND a.resource = d.resource AND a.episode = d.episode
    WHERE d.status = 'suppressed'"""


def _held(con: Any) -> dict[tuple[str, str, str, int], str]:
    """The suppressed fired messages of the alerts' current episodes, with their note."""
    return {(r["channel"], r["rule"], r["resource"], r["episode"]): r["error"] or "suppressed"
            for r in _rows(con, _SUPPRESSED_OF_CURRENT + " AND d.kind = 'fired'")}


def _release(con: Any, silences: list[sil.Silence], now: datetime) -> list[dict[str, Any]]:
    """The suppressed messages of current episodes that no active silence holds any more, made ``pending``: a fired
    message while its alert still fires, a resolved message whose fired message was sent (or is being sent)."""
    rows = _rows(con, _SUPPRESSED_OF_CURRENT)
    if not rows:
        return []
    fired = {(r["channel"], r["rule"], r["resource"], r["episode"]): r["status"]
             for r in _rows(con, "SELECT channel, rule, resource, episode, status FROM sextant_alert_delivery d "
                                 "WHERE kind = 'fired' AND EXISTS (SELECT 1 FROM sextant_alert a WHERE a.rule = d.rule "
                                 "AND a.resource = d.resource AND a.episode = d.episode)")}
    out = []
    for r in rows:
        alert = {"rule": r["rule"], "resource": r["resource"], "team": r.pop("alert_team"),
                 "account_id": r.pop("alert_account_id")}
        state = r.pop("alert_state")
        if sil.matching(silences, alert) is not None:
            continue
        key = (r["channel"], r["rule"], r["resource"], r["episode"])
        if r["kind"] == "fired" and state != "firing":
            continue  # the episode ended while silenced: its news is old
        if r["kind"] == "resolved" and fired.get(key) not in ("sent", "pending", "failed"):
            continue  # the receivers never heard it fire
        out.append(_released(r, now))
    return out


def _released(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    note = str(row.get("error") or "suppressed")
    try:
        detail = json.loads(row["detail"]) if row.get("detail") else {}
    except ValueError:
        detail = {}
    detail = detail if isinstance(detail, dict) else {}
    held_by = note.split("silence #", 1)[1].split(" ", 1)[0] if "silence #" in note else None
    detail["held_by_silence"] = int(held_by) if held_by and held_by.isdigit() else None
    text = f"{row.get('text') or ''}\nHeld back ({note}); sent when the silence ended at {now:%Y-%m-%d %H:%M} UTC."
    return {**row, "status": "pending", "attempts": 0, "next_attempt_at": now, "error": None, "text": text.strip(),
            "detail": json.dumps(detail)}
