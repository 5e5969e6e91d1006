"""Carrying out scheduled restores (:mod:`actions.schedule`), and cancelling them.

:func:`run_due_restores` is the due work of the collector's cycle (``sextant collect`` calls it once per cycle):
each restore whose time has come is claimed (so it runs once, whoever else runs due work), then acted on with
``run_action`` — RegisterScalableTarget with the saved bounds, in the resource's own account and region, as the
person who scheduled it (their operator role session, :mod:`actions.identity`), with its own audit row. Nothing
is read from AWS when nothing is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from actions.audit import AuditLog, AuditRow, open_audit
from actions.roles import Actor
from actions.schedule import RestoreSchedule, ScheduledRestore
from actions.service import ActionError, Env, Outcome, RestoreScalableTarget, run_action
from sextant.aws import Clients
from sextant.redact import redact
from sextant.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RestoreResult:
    restore: ScheduledRestore
    outcome: Outcome

    def line(self) -> str:
        r = self.restore
        return redact(f"restore #{r.id} {r.account_id}/{r.region} {r.target} -> min {r.min_capacity} / max "
                      f"{r.max_capacity}: {self.outcome.status}: {self.outcome.message}")[:600]


def audit_for(settings: Settings) -> AuditLog:
    """The audit log the dashboard writes (:func:`actions.audit.open_audit`: PostgreSQL on the shared backend, else
    ``[actions] audit_path``, default ``<store>/audit.sqlite``)."""
    return open_audit(settings)


def account_clients(settings: Settings) -> Callable[[str], Clients]:
    """Clients for an account id (or name) among the configured accounts; built once per id, only when needed."""
    cache: dict[str, Clients] = {}

    def lookup(account_id: str) -> Clients:
        if account_id not in cache:
            for account in settings.accounts:
                clients = Clients(account)
                if account.name == account_id or clients.account_id() == account_id:
                    cache[account_id] = clients
                    break
            else:
                raise ActionError(f"account {account_id} is not configured in sextant.toml [[accounts]]")
        return cache[account_id]

    return lookup


def run_due_restores(settings: Settings, audit: AuditLog | None = None,
                     clients_for: Callable[[str], Clients] | None = None,
                     now: datetime | None = None) -> list[RestoreResult]:
    """Carry out every scheduled restore whose time has come, once each; returns what each did.

    A restore another runner claimed first, or one cancelled meanwhile, is skipped. Each one acted on leaves its
    audit row (``restore_scalable_target``: requested then succeeded/failed, or refused/invalid with no call) and
    its schedule row ends ``done`` or ``failed`` with that row's id. An error of one restore never stops the
    others."""
    audit = audit or audit_for(settings)
    schedule = RestoreSchedule(audit)
    lookup = clients_for or account_clients(settings)
    results = []
    for restore in schedule.due(now):
        if not schedule.claim(restore.id, now):
            continue
        outcome = _restore(restore, settings, audit, lookup)
        try:
            schedule.finish(restore.id, outcome.status == "succeeded", outcome.audit_id, outcome.message)
        except Exception as exc:  # the audit row holds the outcome; the schedule row stays "running"
            log.warning("restore #%s ran (%s) but its schedule row could not be updated: %s", restore.id,
                        outcome.status, redact(exc))
        results.append(RestoreResult(restore, outcome))
    return results


def _restore(restore: ScheduledRestore, settings: Settings, audit: AuditLog,
             lookup: Callable[[str], Clients]) -> Outcome:
    actor = Actor(restore.actor, restore.role)
    request = RestoreScalableTarget(restore.account_id, restore.endpoint, restore.variant, restore.min_capacity,
                                    restore.max_capacity, restore.id, region=restore.region)
    try:
        env = Env(lookup(restore.account_id), settings)
    except Exception as exc:  # the account is gone from the settings, or unreachable: one audit row, no write
        message = redact(f"not run: the account's clients could not be built ({type(exc).__name__}: {exc})")[:1000]
        outcome = Outcome("failed", message)
        try:
            outcome.audit_id = audit.append(AuditRow(
                actor.name, actor.role, request.ACTION, request.target, restore.account_id, restore.region,
                {"schedule_id": restore.id, "min_capacity": restore.min_capacity,
                 "max_capacity": restore.max_capacity}, None, None, "failed", False, error=message))
        except Exception as audit_exc:
            outcome.audit_problem = redact(f"not audited: {audit_exc}")[:300]
        return outcome
    return run_action(request, actor, env, audit, f"restore-{restore.id}-of-{restore.scale_audit_id}")


def cancel_restore(audit: AuditLog, schedule_id: int, actor: Actor) -> Outcome:
    """Cancel a scheduled restore that has not started (operators and admins), with its audit row."""
    schedule = RestoreSchedule(audit)
    restore = schedule.get(schedule_id)
    if restore is None:
        return Outcome("invalid", f"there is no scheduled restore #{schedule_id}")
    params = {"schedule_id": schedule_id, "scale_audit_id": restore.scale_audit_id}

    def row(result: str, error: str | None = None) -> int:
        return audit.append(AuditRow(actor.name[:320], actor.role[:20], "cancel_restore", restore.target,
                                     restore.account_id, restore.region, params, None, None, result, False,
                                     error=error))

    if not actor.can_act():
        message = f"{actor.name} is a {actor.role}: only operators and admins can cancel a restore"
        return Outcome("refused", message, audit_id=row("refused", message))
    if not schedule.cancel(schedule_id, actor.name, f"cancelled by {actor.name}"):
        now = schedule.get(schedule_id)
        message = f"restore #{schedule_id} is {now.status if now else 'gone'}: only a scheduled one can be cancelled"
        return Outcome("invalid", message, audit_id=row("invalid", message))
    return Outcome("succeeded", f"restore #{schedule_id} of {restore.target} cancelled: min/max stay as they are",
                   audit_id=row("succeeded"))


def due_work(settings: Settings) -> list[str]:
    """The actions' due work for one collector cycle (``sextant collect`` runs it after each cycle): the scheduled
    restores whose time has come, and intents whose process ended before recording their outcome (settled as
    ``unknown``); one line per restore acted on and per intent settled."""
    settled = [f"  audit row #{i}: no outcome recorded, marked unknown" for i in audit_for(settings).settle_orphans()]
    return [*settled, *(f"  restore {r.line()}" for r in run_due_restores(settings))]
