"""Silences and acknowledgements of alerts: what a person decides about the alerts, made in the dashboard, audited.

Neither calls AWS. Like the restore schedule and the refresh queue, each is one small table in the audit database
(SQLite, beside ``audit``) that the dashboard writes and the collector's cycle reads:

- ``alert_silence``: a silence matches alerts by rule and/or resource (at least one), optionally narrowed to a team
  and an account, with a reason (required), who made it, and an expiry (at most :data:`MAX_SILENCE` ahead). While
  a silence matches an alert, the alert's transitions still happen and are recorded, but its messages are recorded
  in the outbox as ``suppressed`` (naming the silence) instead of being sent (:mod:`alerts.silences`, read by
  :func:`alerts.evaluate`); after the expiry (or an early end) messages flow again. **Transitions, enforced by the
  database:** what a silence matches, why, by whom and until when never changes; it can be ended early once
  (``ended_at``/``ended_by``); no DELETE.
- ``alert_ack``: an acknowledgement of one *episode* of a firing alert (who, when, an optional note). One per
  episode (UNIQUE); the next episode of the same alert starts unacknowledged. Rows never change, no DELETE.

Every attempt leaves one audit row, as :func:`actions.service.run_action` does for AWS actions: ``refused`` (a
viewer: nothing written), ``invalid`` (bad input, an unknown rule or alert: a clear message, nothing written),
``dry_run``, ``duplicate``, or an intent (``requested``) completed as ``succeeded`` / ``failed`` around the write.

The alerts package reads ``alert_silence`` by its column names (it imports no actions: the house's layers);
``tests/alerts/test_silences.py`` holds the two sides to one table and one matching rule (:func:`matches` here,
``alerts.silences.matches`` there).
"""

from __future__ import annotations

import sqlite3
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from actions.audit import AuditLog, AuditRow, AuditTable
from actions.roles import Actor
from actions.service import ACCOUNT_RE, ActionError, Outcome
from sextant.redact import redact
from sextant.settings import Settings
from sextant.store import Reader

SILENCE_ACTION = "silence_alerts"
END_SILENCE_ACTION = "end_silence"
ACK_ACTION = "acknowledge_alert"
MAX_SILENCE = timedelta(days=30)  # a silence longer than a month is a rule to change, not a silence
MIN_SILENCE = timedelta(minutes=1)
MAX_REASON = 500
MAX_KEY = 300  # a rule name or a resource (account/region/name)
MAX_TEAM = 100
RECENT = timedelta(days=7)  # how long an expired or ended silence is still listed

SILENCE_TABLE = """
CREATE TABLE IF NOT EXISTS alert_silence (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    rule TEXT,
    resource TEXT,
    team TEXT,
    account_id TEXT,
    reason TEXT NOT NULL CHECK (length(trim(reason)) > 0),
    expires_at TEXT NOT NULL CHECK (expires_at > created_at),
    audit_id INTEGER NOT NULL UNIQUE,
    ended_at TEXT,
    ended_by TEXT,
    CHECK (rule IS NOT NULL OR resource IS NOT NULL)
);
CREATE INDEX IF NOT EXISTS alert_silence_expiry ON alert_silence(expires_at);
"""
_FIXED = ("id", "created_at", "actor", "role", "rule", "resource", "team", "account_id", "reason", "expires_at",
          "audit_id")
_SAME = " AND ".join(f"NEW.{c} IS OLD.{c}" for c in _FIXED)
SILENCE_TRIGGERS = f"""
CREATE TRIGGER IF NOT EXISTS alert_silence_end_once BEFORE UPDATE ON alert_silence
WHEN NOT ({_SAME} AND OLD.ended_at IS NULL AND NEW.ended_at IS NOT NULL AND NEW.ended_by IS NOT NULL)
BEGIN SELECT RAISE(ABORT, 'a silence never changes; it can only be ended early, once'); END;
CREATE TRIGGER IF NOT EXISTS alert_silence_no_delete BEFORE DELETE ON alert_silence
BEGIN SELECT RAISE(ABORT, 'silences are kept'); END;
"""
ACK_TABLE = """
CREATE TABLE IF NOT EXISTS alert_ack (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rule TEXT NOT NULL,
    resource TEXT NOT NULL,
    episode INTEGER NOT NULL,
    acked_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    role TEXT NOT NULL,
    note TEXT,
    audit_id INTEGER NOT NULL UNIQUE,
    UNIQUE (rule, resource, episode)
);
CREATE TRIGGER IF NOT EXISTS alert_ack_no_update BEFORE UPDATE ON alert_ack
BEGIN SELECT RAISE(ABORT, 'acknowledgements never change'); END;
CREATE TRIGGER IF NOT EXISTS alert_ack_no_delete BEFORE DELETE ON alert_ack
BEGIN SELECT RAISE(ABORT, 'acknowledgements are kept'); END;
"""


def now_utc() -> datetime:
    return datetime.now(UTC)


def _iso(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("a silence or acknowledgement time must carry its zone")
    return t.astimezone(UTC).isoformat(timespec="seconds")


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text).astimezone(UTC) if text else None


# --------------------------------------------------------------------------- the tables


@dataclass(frozen=True)
class Silence:
    """One silence (see the module's docstring)."""

    id: int
    created_at: datetime
    actor: str
    role: str
    rule: str | None
    resource: str | None
    team: str | None
    account_id: str | None
    reason: str
    expires_at: datetime
    audit_id: int
    ended_at: datetime | None = None
    ended_by: str | None = None

    @classmethod
    def of(cls, row: sqlite3.Row) -> Silence:
        d: dict[str, Any] = dict(row)
        for k in ("created_at", "expires_at", "ended_at"):
            d[k] = _time(d[k])
        return cls(**d)

    @property
    def until(self) -> datetime:
        """When it stops (or stopped) suppressing: its expiry, or its early end."""
        return min(self.expires_at, self.ended_at) if self.ended_at else self.expires_at

    def active(self, now: datetime) -> bool:
        return self.created_at <= now < self.until

    def scope(self) -> str:
        """What it matches, in words."""
        parts = [f"rule {self.rule}" if self.rule else "any rule",
                 f"resource {self.resource}" if self.resource else "any resource"]
        if self.team:
            parts.append(f"team {self.team}")
        if self.account_id:
            parts.append(f"account {self.account_id}")
        return ", ".join(parts)


def matches(silence: Silence | CreateSilence, alert: Mapping[str, Any]) -> bool:
    """Whether ``silence`` covers ``alert`` (a mapping with rule, resource, team, account_id): every field the silence
    names equals the alert's; a field it leaves empty matches anything. The same rule as ``alerts.silences.matches``."""
    return all(want is None or alert.get(k) == want
               for k, want in (("rule", silence.rule), ("resource", silence.resource), ("team", silence.team),
                               ("account_id", silence.account_id)))


class Silences(AuditTable):
    """The ``alert_silence`` table in the audit database of ``audit``."""

    SCHEMA = SILENCE_TABLE + SILENCE_TRIGGERS

    def add(self, *, actor: str, role: str, rule: str | None, resource: str | None, team: str | None,
            account_id: str | None, reason: str, expires_at: datetime, audit_id: int,
            now: datetime | None = None) -> Silence:
        with self._connect() as con:
            row_id = con.execute(
                "INSERT INTO alert_silence (created_at, actor, role, rule, resource, team, account_id, reason, "
                "expires_at, audit_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_iso(now or now_utc()), actor[:320], role[:20], rule, resource, team, account_id, reason,
                 _iso(expires_at), audit_id]).lastrowid
        found = self.get(int(row_id or 0))
        if found is None:
            raise RuntimeError("the silence was not written")
        return found

    def get(self, silence_id: int) -> Silence | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM alert_silence WHERE id = ?", [silence_id]).fetchone()
        return Silence.of(row) if row else None

    def listed(self, now: datetime | None = None, recent: timedelta = RECENT) -> list[Silence]:
        """Active silences, and those that expired or ended within ``recent``; newest first."""
        since = _iso((now or now_utc()) - recent)
        with self._connect() as con:
            rows = con.execute("SELECT * FROM alert_silence WHERE expires_at >= ? OR ended_at >= ? "
                               "ORDER BY id DESC", [since, since]).fetchall()
        return [Silence.of(r) for r in rows]

    def active(self, now: datetime | None = None) -> list[Silence]:
        now = now or now_utc()
        return [s for s in self.listed(now, timedelta(0)) if s.active(now)]

    def end(self, silence_id: int, by: str, now: datetime | None = None) -> bool:
        """End a silence now; False when it has already ended or expired."""
        at = _iso(now or now_utc())
        with self._connect() as con:
            n = con.execute("UPDATE alert_silence SET ended_at = ?, ended_by = ? WHERE id = ? AND ended_at IS NULL "
                            "AND expires_at > ?", [at, by[:320], silence_id, at]).rowcount
        return n == 1


@dataclass(frozen=True)
class Ack:
    """One acknowledgement of one episode of an alert."""

    id: int
    rule: str
    resource: str
    episode: int
    acked_at: datetime
    actor: str
    role: str
    note: str | None
    audit_id: int

    @classmethod
    def of(cls, row: sqlite3.Row) -> Ack:
        d: dict[str, Any] = dict(row)
        d["acked_at"] = _time(d["acked_at"])
        return cls(**d)


class Acks(AuditTable):
    """The ``alert_ack`` table in the audit database of ``audit``."""

    SCHEMA = ACK_TABLE

    def add(self, *, rule: str, resource: str, episode: int, actor: str, role: str, note: str | None, audit_id: int,
            now: datetime | None = None) -> Ack:
        """Record an acknowledgement; a second one of the same episode is refused by the table (IntegrityError)."""
        with self._connect() as con:
            row_id = con.execute(
                "INSERT INTO alert_ack (rule, resource, episode, acked_at, actor, role, note, audit_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [rule, resource, episode, _iso(now or now_utc()), actor[:320], role[:20], note, audit_id]).lastrowid
        with self._connect() as con:
            row = con.execute("SELECT * FROM alert_ack WHERE id = ?", [row_id]).fetchone()
        return Ack.of(row)

    def of_episode(self, rule: str, resource: str, episode: int) -> Ack | None:
        with self._connect() as con:
            row = con.execute("SELECT * FROM alert_ack WHERE rule = ? AND resource = ? AND episode = ?",
                              [rule, resource, episode]).fetchone()
        return Ack.of(row) if row else None

    def since(self, when: datetime) -> list[Ack]:
        """Acknowledgements made at or after ``when``, oldest first."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM alert_ack WHERE acked_at >= ? ORDER BY id", [_iso(when)]).fetchall()
        return [Ack.of(r) for r in rows]


# --------------------------------------------------------------------------- what the store says


@dataclass(frozen=True)
class StoreAlert:
    """An alert as the store has it (its current or last episode)."""

    rule: str
    resource: str
    episode: int
    state: str
    team: str | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class StoreAlerts:
    """What validation needs from the store: the alert of (rule, resource), the rules known, whether a resource has
    (had) an alert (of a rule, when given)."""

    alert: Callable[[str, str], StoreAlert | None]
    rules: Callable[[], set[str]]
    has_resource: Callable[[str, str | None], bool]


def store_alerts(reader: Reader) -> StoreAlerts:
    """The store's answers, read from the newest published snapshot."""

    def rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cur = reader.cursor()
        if cur is None:
            raise ActionError("the store has nothing published yet: wait for the first collection to finish")
        try:
            found: list[tuple[Any, ...]] = cur.execute(sql, params).fetchall()
        finally:
            cur.close()
        return found

    def alert(rule: str, resource: str) -> StoreAlert | None:
        found = rows("SELECT rule, resource, episode, state, team, account_id FROM sextant_alert "
                     "WHERE rule = ? AND resource = ?", [rule, resource])
        return StoreAlert(*found[0]) if found else None

    def known_rules() -> set[str]:
        return {r[0] for r in rows("SELECT rule FROM sextant_alert_rule UNION SELECT rule FROM sextant_alert", [])}

    def has_resource(resource: str, rule: str | None) -> bool:
        return bool(rows("SELECT 1 FROM sextant_alert WHERE resource = ? AND (? IS NULL OR rule = ?) LIMIT 1",
                         [resource, rule, rule]))

    return StoreAlerts(alert, known_rules, has_resource)


# --------------------------------------------------------------------------- the requests


def _clean(value: Any, what: str, limit: int, *, required: bool = False) -> str | None:
    """A text field: None when empty (an error when ``required``), else stripped, printable and at most ``limit``."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ActionError(f"{what} is required")
        return None
    if not isinstance(value, str):
        raise ActionError(f"{what} must be text")
    text = value.strip()
    if len(text) > limit:
        raise ActionError(f"{what} is {len(text)} characters long: at most {limit}")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") and c not in "\n\t" for c in text):
        raise ActionError(f"{what} holds control or invisible characters")
    return text


def _one_line(value: Any, what: str, limit: int) -> str | None:
    text = _clean(value, what, limit)
    if text is not None and ("\n" in text or "\t" in text):
        raise ActionError(f"{what} must be one line")
    return text


@dataclass(frozen=True)
class CreateSilence:
    """Silence the alerts of ``rule`` and/or ``resource`` (optionally only ``team``'s / ``account_id``'s) until
    ``expires_at`` (UTC, within :data:`MAX_SILENCE`), for ``reason``."""

    ACTION: ClassVar[str] = SILENCE_ACTION
    rule: str | None = None
    resource: str | None = None
    team: str | None = None
    account_id: str | None = None
    reason: str = ""
    expires_at: datetime | None = None

    @property
    def target(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in (("rule", self.rule), ("resource", self.resource),
                                                 ("team", self.team), ("account", self.account_id)) if v) or "-"

    def cleaned(self, now: datetime) -> CreateSilence:
        """The request with its texts stripped; raises ActionError with a clear message on bad input."""
        rule = _one_line(self.rule, "the rule", MAX_KEY)
        resource = _one_line(self.resource, "the resource", MAX_KEY)
        if rule is None and resource is None:
            raise ActionError("a silence names a rule, a resource, or both")
        team = _one_line(self.team, "the team", MAX_TEAM)
        account = _one_line(self.account_id, "the account", 20)
        if account is not None and not ACCOUNT_RE.fullmatch(account):
            raise ActionError(f"account {account!r} is not a 12-digit AWS account id")
        reason = _clean(self.reason, "a reason", MAX_REASON, required=True)
        t = self.expires_at
        if not isinstance(t, datetime) or t.tzinfo is None:
            raise ActionError("an expiry (a time with its zone) is required")
        if t < now + MIN_SILENCE:
            raise ActionError(f"the expiry {t.astimezone(UTC):%Y-%m-%d %H:%M} UTC is in the past (or less than a "
                              "minute away): a silence ends in the future")
        if t > now + MAX_SILENCE:
            raise ActionError(f"the expiry {t.astimezone(UTC):%Y-%m-%d %H:%M} UTC is more than "
                              f"{MAX_SILENCE.days} days away: change the rule instead, or silence again later")
        return CreateSilence(rule, resource, team, account, reason or "", t.astimezone(UTC))

    def parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k in ("rule", "resource", "team", "account_id", "reason"):
            v = getattr(self, k)
            out[k] = v[:MAX_REASON] if isinstance(v, str) else (None if v is None else str(v)[:80])
        t = self.expires_at
        out["expires_at"] = _iso(t) if isinstance(t, datetime) and t.tzinfo else (None if t is None else str(t)[:80])
        return out


@dataclass(frozen=True)
class Acknowledge:
    """Acknowledge episode ``episode`` of the firing alert (``rule``, ``resource``), with an optional ``note``."""

    ACTION: ClassVar[str] = ACK_ACTION
    rule: str
    resource: str
    episode: int
    note: str = ""

    @property
    def target(self) -> str:
        return f"{str(self.rule)[:MAX_KEY]} {str(self.resource)[:MAX_KEY]}"

    def parameters(self) -> dict[str, Any]:
        return {"rule": str(self.rule)[:MAX_KEY], "resource": str(self.resource)[:MAX_KEY],
                "episode": self.episode if isinstance(self.episode, int) else str(self.episode)[:40],
                "note": str(self.note or "")[:MAX_REASON]}


# --------------------------------------------------------------------------- acting


class _Audited:
    """One audit row per attempt; an intent completed around a write."""

    def __init__(self, audit: AuditLog, actor: Actor, action: str, target: str, account_id: str | None,
                 params: dict[str, Any]) -> None:
        self.audit, self.actor, self.action, self.target = audit, actor, action, target[:500]
        self.account_id, self.params = account_id, params

    def _row(self, result: str, *, error: str | None = None, after: dict[str, Any] | None = None,
             dry: bool = False) -> AuditRow:
        return AuditRow(str(self.actor.name)[:320], str(self.actor.role)[:20], self.action, self.target,
                        self.account_id, None, self.params, None, after, result, dry, error=error)

    def record(self, outcome: Outcome, *, after: dict[str, Any] | None = None, dry: bool = False) -> Outcome:
        outcome.message = redact(outcome.message)[:1000]
        try:
            outcome.audit_id = self.audit.append(self._row(outcome.status, error=None if outcome.ok else
                                                           outcome.message, after=after, dry=dry))
        except Exception as exc:
            reason = redact(f"{type(exc).__name__}: {exc}")[:300]
            outcome.audit_problem = f"not audited: {reason}"
            outcome.message = redact(f"{outcome.message} (the audit log could not record this: {reason})")[:1200]
        return outcome

    def act(self, write: Callable[[int], tuple[str, dict[str, Any]]]) -> Outcome:
        """The intent, ``write(intent id)`` (returns the message and the state after), the completion."""
        try:
            intent = self.audit.append(self._row("requested"))
        except Exception as exc:
            reason = redact(f"{type(exc).__name__}: {exc}")[:300]
            return Outcome("failed", f"Not done: the audit log could not record it ({reason}).",
                           audit_problem=f"intent not written: {reason}")
        try:
            message, after = write(intent)
            outcome = Outcome("succeeded", message, audit_id=intent, result=after)
        except ActionError as exc:
            outcome = Outcome("invalid", str(exc), audit_id=intent)
        except Exception as exc:
            outcome = Outcome("failed", redact(f"not done: {type(exc).__name__}: {exc}")[:800], audit_id=intent)
        outcome.message = redact(outcome.message)[:1000]
        try:
            self.audit.complete(intent, "succeeded" if outcome.status == "succeeded" else "failed", None,
                                None if outcome.ok else outcome.message, outcome.result or None)
        except Exception as exc:
            reason = redact(f"{type(exc).__name__}: {exc}")[:300]
            outcome.audit_problem = f"audit #{intent} could not be completed ({reason}); it says 'requested'"
        return outcome


def _who(actor: Actor, verb: str) -> str:
    return f"{actor.name} is a {actor.role}: only operators and admins can {verb}"


def _store_error(exc: Exception) -> ActionError:
    if isinstance(exc, ActionError):
        return exc
    return ActionError(redact(f"the store could not be read ({type(exc).__name__}: {exc})")[:400])


def create_silence(request: CreateSilence, actor: Actor, settings: Settings, audit: AuditLog, store: StoreAlerts, *,
                   dry_run: bool = False, now: datetime | None = None) -> Outcome:
    """Silence alerts: authorized, validated (against the store: the rule must be known, the resource must have an
    alert), audited. ``succeeded`` (``result`` holds ``silence_id``), ``dry_run``, ``refused``, ``invalid`` or
    ``failed``; one audit row each (an intent completed, for a write). No AWS call."""
    now = now or now_utc()
    acting = _Audited(audit, actor, SILENCE_ACTION, _safe_target(request), _account(request.account_id),
                      request.parameters())
    if not actor.can_act():
        return acting.record(Outcome("refused", _who(actor, "silence alerts")))
    try:
        clean = request.cleaned(now)
        _known(clean, store)
    except ActionError as exc:
        return acting.record(Outcome("invalid", str(exc)))
    assert clean.expires_at is not None
    what = f"{clean.target} until {clean.expires_at:%Y-%m-%d %H:%M} UTC"
    if dry_run or settings.actions.dry_run:
        return acting.record(Outcome("dry_run", f"dry run: would silence {what}"), dry=True)

    def write(intent: int) -> tuple[str, dict[str, Any]]:
        s = Silences(audit).add(actor=actor.name, role=actor.role, rule=clean.rule, resource=clean.resource,
                                team=clean.team, account_id=clean.account_id, reason=clean.reason,
                                expires_at=clean.expires_at or now, audit_id=intent, now=now)
        return (f"silence #{s.id} on {what}: its alerts still change state, their messages are held back",
                {"silence_id": s.id, "expires_at": _iso(s.expires_at)})

    return acting.act(write)


def _safe_target(request: CreateSilence) -> str:
    try:
        return request.target
    except Exception:
        return "<unreadable>"


def _account(value: Any) -> str | None:
    return value[:20] if isinstance(value, str) and value else None


def _known(clean: CreateSilence, store: StoreAlerts) -> None:
    try:
        if clean.rule is not None and clean.rule not in store.rules():
            raise ActionError(f"there is no rule {clean.rule!r}: name a rule the Alerts page lists")
        if clean.resource is not None and not store.has_resource(clean.resource, clean.rule):
            of = f" of rule {clean.rule}" if clean.rule else ""
            raise ActionError(f"there is no alert{of} on resource {clean.resource!r}: silence a resource the Alerts "
                              "page shows (account/region/name)")
    except Exception as exc:
        raise _store_error(exc) from None


def end_silence(audit: AuditLog, silence_id: int, actor: Actor, now: datetime | None = None) -> Outcome:
    """End a silence now (operators and admins), with its audit row; messages flow again from the next cycle."""
    now = now or now_utc()
    silences = Silences(audit)
    found = silences.get(silence_id) if isinstance(silence_id, int) and not isinstance(silence_id, bool) else None
    acting = _Audited(audit, actor, END_SILENCE_ACTION, found.scope() if found else f"silence #{silence_id}",
                      found.account_id if found else None, {"silence_id": str(silence_id)[:40]})
    if not actor.can_act():
        return acting.record(Outcome("refused", _who(actor, "end a silence")))
    if found is None:
        return acting.record(Outcome("invalid", f"there is no silence #{str(silence_id)[:40]}"))
    if not silences.end(silence_id, actor.name, now):
        return acting.record(Outcome("invalid", f"silence #{silence_id} has already ended (at "
                                                f"{found.until:%Y-%m-%d %H:%M} UTC)"))
    return acting.record(Outcome("succeeded", f"silence #{silence_id} ({found.scope()}) ended: messages flow again "
                                              "from the next evaluation"), after={"ended_at": _iso(now)})


def acknowledge(request: Acknowledge, actor: Actor, audit: AuditLog, store: StoreAlerts, *,
                now: datetime | None = None) -> Outcome:
    """Acknowledge one episode of a firing alert: authorized, validated against the store (the alert exists, fires,
    and is still in that episode), audited. ``succeeded``, ``duplicate`` (already acknowledged: says by whom),
    ``refused``, ``invalid`` or ``failed``. No AWS call."""
    now = now or now_utc()
    acting = _Audited(audit, actor, ACK_ACTION, request.target, None, request.parameters())
    if not actor.can_act():
        return acting.record(Outcome("refused", _who(actor, "acknowledge alerts")))
    try:
        rule = _one_line(request.rule, "the rule", MAX_KEY)
        resource = _one_line(request.resource, "the resource", MAX_KEY)
        if rule is None or resource is None:
            raise ActionError("an acknowledgement names the alert's rule and resource")
        if isinstance(request.episode, bool) or not isinstance(request.episode, int) or request.episode < 1:
            raise ActionError("the episode must be a whole number from 1")
        note = _clean(request.note, "the note", MAX_REASON)
        try:
            found = store.alert(rule, resource)
        except Exception as exc:
            raise _store_error(exc) from None
        if found is None:
            raise ActionError(f"there is no alert of rule {rule} on {resource}")
        if found.episode != request.episode or found.state != "firing":
            raise ActionError(f"the alert of rule {rule} on {resource} is {found.state} (episode {found.episode}): "
                              "only a firing alert can be acknowledged; reload the page")
    except ActionError as exc:
        return acting.record(Outcome("invalid", str(exc)))
    acks = Acks(audit)
    earlier = acks.of_episode(rule, resource, request.episode)
    if earlier is not None:
        return acting.record(_already(earlier))

    def write(intent: int) -> tuple[str, dict[str, Any]]:
        try:
            ack = acks.add(rule=rule, resource=resource, episode=request.episode, actor=actor.name, role=actor.role,
                           note=note, audit_id=intent, now=now)
        except sqlite3.IntegrityError:
            other = acks.of_episode(rule, resource, request.episode)
            raise ActionError(_already(other).message if other else "already acknowledged") from None
        return (f"acknowledged {rule} on {resource} (episode {ack.episode})",
                {"ack_id": ack.id, "acked_at": _iso(ack.acked_at)})

    return acting.act(write)


def _already(ack: Ack) -> Outcome:
    return Outcome("duplicate", f"already acknowledged by {ack.actor} at {ack.acked_at:%Y-%m-%d %H:%M} UTC "
                                f"(episode {ack.episode})", result={"ack_id": ack.id})
