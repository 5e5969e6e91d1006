"""Action controls for pages: a button per action, a confirmation dialog naming the exact change and its cost.

Viewers see no controls (and ``actions.service.run_action`` refuses them anyway). Each dialog
opening gets one idempotency token, kept until the dialog is done, so a double click on Confirm
acts once; a dry run uses no token, so Confirm after a dry run in the same dialog acts, once. A duplicate
(or an action the audit log could not fully record) shows as a warning, not a success. Opening a dialog
reads AWS's current state to plan (read calls only); rendering a page makes no AWS call. A request names
the account and region of the resource it acts on (pages pass the row's ``region``): the dialog picks the
account's clients, the action service calls that region.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

import actions as a
from actions.audit import AuditLog
from actions.identity import identity_for
from dashboard import ui
from dashboard.auth import current_actor
from dashboard.queries.prices import price_lookup
from sextant.aws import Clients
from sextant.redact import redact
from sextant.settings import AccountSettings, Settings, load


def audit_log(settings: Settings | None = None) -> AuditLog:
    settings = settings or load()
    return _audit(settings.actions.audit_path or str(Path(settings.store) / "audit.sqlite"))


@st.cache_resource
def _audit(path: str) -> AuditLog:
    return AuditLog(Path(path))


@st.cache_resource
def _clients(account: AccountSettings) -> Clients:
    """One client factory per account for the life of the process: a role's credentials refresh themselves."""
    return Clients(account)


def _env(account_id: str) -> a.Env:
    """The configured account with this id (or name); the region comes from the request (``a.plan``/``run_action``)."""
    settings = load()
    for account in settings.accounts:
        clients = _clients(account)
        if account.name == account_id or clients.account_id() == account_id:
            return a.Env(clients, settings, price_lookup())
    raise a.ActionError(f"account {account_id} is not configured in sextant.toml [[accounts]]")


def can_act() -> bool:
    return current_actor().can_act()


def _token(key: str) -> str:
    return st.session_state.setdefault(f"_action_token_{key}", a.new_token())


def _show_plan(plan: a.Plan) -> None:
    st.markdown(f"**{ui.plain(plan.summary)}**")
    keys = sorted(set(plan.before) | set(plan.after), key=lambda k: (k not in plan.before, k))
    rows = [{"": k.replace("_", " "), "now": _fmt(plan.before.get(k)), "after": _fmt(plan.after.get(k))}
            for k in keys]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if plan.cost_per_day_delta is not None:
        sign = "+" if plan.cost_per_day_delta >= 0 else "−"
        st.metric("Cost impact", f"{sign}${abs(plan.cost_per_day_delta):,.2f} / day",
                  f"{sign}${abs(plan.cost_per_day_delta) * 30:,.0f} / month", delta_color="inverse")
    if plan.cost_estimate is not None:
        st.metric("Estimated cost of the run", f"${plan.cost_estimate:,.2f}")
    if plan.cost_per_day_delta is None and plan.cost_estimate is None and plan.after.get("instance_type"):
        st.metric("Cost impact", "unknown", help="The collected bill has no line for this instance type yet, and "
                  "Sextant has no price table of its own: collect cost_explorer, or check the AWS price list.")
    for note in plan.notes:
        st.caption(ui.plain(note))
    st.caption("AWS calls: " + ui.plain(", ".join(plan.calls)))


def _fmt(v) -> str:
    if isinstance(v, dict):
        return ", ".join(f"{k}={x}" for k, x in v.items())
    return "–" if v is None else str(v)


def _show_outcome(status: str, message: str, audit_id: int | None, audit_problem: str | None = None,
                  icon: str | None = None) -> None:
    """Green only for what happened as asked and was audited; a duplicate, an unknown outcome, or an action that
    ran but the audit log could not fully record is a warning (the message says plainly that it ran); a failure,
    including an action not run because the audit log could not record it, is an error."""
    text = ui.plain(message) + (f" — audit #{audit_id}" if audit_id is not None else " — not in the audit log")
    if status in ("succeeded", "dry_run") and not audit_problem:
        st.success(text, icon=icon)
    elif status in ("succeeded", "dry_run", "duplicate", "unknown"):
        st.warning(text, icon=icon or ":material/warning:")
    else:  # failed (or not run), refused, invalid
        st.error(text, icon=icon)


@st.dialog("Confirm action", width="large")
def _confirm(request: a.Request, key: str) -> None:
    actor = current_actor()
    token = _token(key)
    try:
        env = _env(request.account_id)
        plan = a.plan(request, actor, env)
    except Exception as exc:  # a.plan raises only ActionError; the account lookup may meet AWS errors
        st.error(ui.plain(redact(exc)))
        st.session_state.pop(f"_action_token_{key}", None)
        return
    _show_plan(plan)
    st.caption(f"Account {request.account_id}, region {request.region_in(env.clients)}.")
    dry = st.toggle("Dry run (plan and audit only)", value=env.settings.actions.dry_run,
                    disabled=env.settings.actions.dry_run, key=f"{key}_dry")
    identity = identity_for(env.clients.account, actor.name)
    as_whom = (f" In AWS: role {identity.role_arn}, session {identity.session_name} (CloudTrail names you)."
               if identity else "")
    st.caption(f"Acting as {actor.name} ({actor.role}); this is recorded in the audit log.{as_whom}")
    if st.button("Dry run" if dry else "Confirm", type="primary", key=f"{key}_confirm"):
        try:
            audit = audit_log(env.settings)
        except Exception as exc:  # the audit log cannot even be opened: nothing may act
            reason = redact(f"{type(exc).__name__}: {exc}")[:300]
            outcome = a.Outcome("failed", f"Not run: the audit log cannot be opened ({reason}), so nothing was sent "
                                "to AWS.", audit_problem=reason)
        else:
            # A dry run uses no token: Confirm after it, in this dialog, acts (once).
            outcome = a.run_action(request, actor, env, audit, token, dry_run=dry)
        last = (outcome.status, outcome.message, outcome.audit_id, outcome.audit_problem)
        st.session_state[f"_action_outcome_{key}"] = last
        _show_outcome(*last)


def action_button(label: str, request: a.Request, key: str, *, icon: str | None = None,
                  type: str = "secondary", help: str | None = None) -> None:
    """A button that opens the confirmation dialog; nothing at all for viewers."""
    if not can_act():
        return
    if st.button(label, key=key, icon=icon, type=type, help=help):
        st.session_state.pop(f"_action_token_{key}", None)  # a fresh token for a fresh confirmation
        _confirm(request, key)
    last = st.session_state.get(f"_action_outcome_{key}")
    if last:
        status, message, audit_id, *problem = last
        _show_outcome(status, message, audit_id, problem[0] if problem else None, icon=":material/history:")


def scale_controls(account_id: str, endpoint: str, variant: str, current: int, key: str,
                   region: str | None = None) -> None:
    """Desired-count input + Scale button (autoscaled variants move their scalable target) for the endpoint in
    ``region`` (the endpoint row's; needed when the account has several regions)."""
    if not can_act():
        return
    limit = load().actions.max_instances_per_variant
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    desired = c1.number_input(f"Instances for {variant} (now {current})", min_value=1, max_value=limit,
                              value=min(max(int(current or 1), 1), limit), step=1, key=f"{key}_n")
    with c2:
        action_button("Scale", a.ScaleEndpoint(account_id, endpoint, variant, int(desired), region=region),
                      f"{key}_scale", icon=":material/tune:", type="primary")
