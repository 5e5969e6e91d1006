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

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

import actions as a
from actions import alert_actions as aa
from actions import pending
from actions import refresh as rf
from actions.alarms import (
    SNS_ARN_RE,
    CreateRecommendedAlarms,
    DeleteManagedAlarms,
    monthly_cost,
    p99_threshold_ms,
    recommended,
)
from actions.audit import AuditLog, audit_dsn, local_audit_path
from actions.identity import identity_for
from actions.schedule import RestoreSchedule
from actions.service import restore_note
from dashboard import data, ui
from dashboard.auth import current_actor
from dashboard.queries.prices import price_lookup
from sextant import prices
from sextant.aws import Clients
from sextant.redact import redact
from sextant.settings import AccountSettings, Settings, load


def audit_log(settings: Settings | None = None) -> AuditLog:
    """The audit trail (PostgreSQL on the shared backend, else the local file: actions.audit.open_audit's choice)."""
    settings = settings or load()
    return _audit(str(local_audit_path(settings)), audit_dsn(settings) or "")


@st.cache_resource
def _audit(path: str, dsn: str = "") -> AuditLog:
    """``dsn`` empty: the SQLite file ``path`` (also where the schedule and the refresh queue live on any backend)."""
    if dsn:
        from actions.audit_pg import PostgresAuditLog

        return PostgresAuditLog(dsn, Path(path))
    return AuditLog(Path(path))


@st.cache_resource
def _schedule(path: str) -> RestoreSchedule:
    return RestoreSchedule(_audit(path))


def restore_schedule(settings: Settings | None = None) -> RestoreSchedule:
    settings = settings or load()
    return _schedule(settings.actions.audit_path or str(Path(settings.store) / "audit.sqlite"))


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


def _show_plan(plan: a.Plan, loud: tuple[str, ...] = ()) -> None:
    """The plan; the notes in ``loud`` as warnings (what the user must not miss), the others as captions."""
    st.markdown(f"**{ui.plain(plan.summary)}**")
    for note in loud:
        st.warning(ui.plain(note), icon=":material/push_pin:")
    keys = sorted(set(plan.before) | set(plan.after), key=lambda k: (k not in plan.before, k))
    rows = [{"": k.replace("_", " "), "now": _fmt(plan.before.get(k)), "after": _fmt(plan.after.get(k))}
            for k in keys]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    if plan.cost_per_day_delta is not None:
        sign = "+" if plan.cost_per_day_delta >= 0 else "−"
        month = abs(plan.cost_per_day_delta) * 30
        if month < 10:  # cents a month (CloudWatch alarms): the month is the figure, with its cents
            st.metric("Cost impact", f"{sign}${month:,.2f} / month", f"{sign}${abs(plan.cost_per_day_delta):,.4f} "
                      "/ day", delta_color="inverse")
        else:
            st.metric("Cost impact", f"{sign}${abs(plan.cost_per_day_delta):,.2f} / day",
                      f"{sign}${month:,.0f} / month", delta_color="inverse")
    if plan.cost_estimate is not None:
        st.metric("Estimated cost of the run", f"${plan.cost_estimate:,.2f}")
    if plan.cost_per_day_delta is None and plan.cost_estimate is None and plan.after.get("instance_type"):
        st.metric("Cost impact", "unknown", help="The collected bill has no line for this instance type yet, and "
                  "Sextant has no price table of its own: collect cost_explorer, or check the AWS price list.")
    for note in plan.notes:
        if note not in loud:
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
    autoscaled = isinstance(request, a.ScaleEndpoint) and "min_capacity" in plan.before
    _show_plan(plan, loud=tuple(plan.notes[:1]) if autoscaled else ())
    if autoscaled and isinstance(request, a.ScaleEndpoint):
        request = _restore_choice(request, plan, request.region_in(env.clients), key)
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
        if outcome.status == "succeeded":  # it ran: close the dialog; the page shows the change as pending
            _remember(request, outcome, actor.name, env)
            st.session_state[f"_action_toast_{key}"] = outcome.message
            st.session_state.pop(f"_action_token_{key}", None)
            st.rerun()
        _show_outcome(*last)


RESTORE_CHOICES = {"1 h": 3600, "4 h": 4 * 3600, "24 h": 24 * 3600, "never": None}


def _restore_choice(request: a.ScaleEndpoint, plan: a.Plan, region: str, key: str) -> a.ScaleEndpoint:
    """On an autoscaled variant: when (if ever) to put the previous min/max back; the request with that choice."""
    lo, hi = plan.before["min_capacity"], plan.before["max_capacity"]
    choice = st.radio(f"Restore min/max to ({lo}, {hi}) after", list(RESTORE_CHOICES), index=len(RESTORE_CHOICES) - 1,
                      horizontal=True, key=f"{key}_restore",
                      help="A scheduled scale-back, audited: the collector's first cycle after that time sets the "
                           "scalable target back to these bounds, as you. You can cancel it on the endpoint's page.")
    after_s = RESTORE_CHOICES[str(choice)]
    try:
        waiting = [r for r in restore_schedule().for_variant(request.account_id, region, request.endpoint,
                                                             request.variant) if r.status == "scheduled"]
    except Exception:  # the schedule cannot be read: the confirmation still works, the note is left out
        waiting = []
    for r in waiting:
        st.caption(ui.plain(f"Restore #{r.id} (by {r.actor}) already puts min/max back to {r.min_capacity}/"
                            f"{r.max_capacity} at {r.due_at:%H:%M} UTC; "
                            + ("a new restore replaces it with the same bounds." if after_s else
                               "it stays scheduled unless you cancel it.")))
    if after_s is None:
        st.caption(f"No restore: the bounds stay as set until someone changes them (they were {lo}/{hi}).")
        return replace(request, restore_after_s=None)
    st.caption(ui.plain(restore_note(after_s, lo, hi)))
    return replace(request, restore_after_s=after_s)


def _remember(request: a.Request, outcome: a.Outcome, actor: str, env: a.Env) -> None:
    """This session remembers the change as pending (even if the audit log could not complete its row); every other
    session reads it from the audit log (:func:`actions.pending.recent_changes`)."""
    endpoint, variant = getattr(request, "endpoint", None), getattr(request, "variant", None)
    if not (isinstance(endpoint, str) and isinstance(variant, str) and outcome.plan):
        return
    try:
        region = request.region_in(env.clients)
    except a.ActionError:
        return
    st.session_state.setdefault("_pending_changes", {})[outcome.audit_id or a.new_token()] = pending.Change(
        outcome.audit_id or 0, request.ACTION, actor, request.account_id, region, endpoint, variant,
        datetime.now(UTC), dict(outcome.plan.before), dict(outcome.result or outcome.plan.after))


def _changes(account_id: str, region: str, endpoint: str) -> tuple[list[pending.Change], str | None]:
    """The newest change per variant: the audit log's, and this session's that the log lacks; and a problem."""
    found: dict[str, pending.Change] = {}
    problem = None
    try:
        for c in pending.recent_changes(audit_log(), account_id, region, endpoint):
            found[c.variant] = c
    except Exception as exc:
        problem = redact(f"{type(exc).__name__}: {exc}")[:300]
    now = datetime.now(UTC)
    for c in st.session_state.get("_pending_changes", {}).values():
        if (c.account_id, c.region, c.endpoint) == (account_id, region, endpoint) \
                and now - c.at <= pending.NOTICE_WINDOW and (c.variant not in found or found[c.variant].at < c.at):
            found[c.variant] = c
    return sorted(found.values(), key=lambda c: c.variant), problem


def _observed(variants: pd.DataFrame, variant: str, autoscaling: tuple[Any, Any] | None) -> pending.Observed | None:
    rows = variants[variants.variant_name == variant] if "variant_name" in variants else variants.iloc[0:0]
    if rows.empty:
        return None
    v = rows.iloc[0]

    def num(name: str) -> int | None:
        value = v.get(name)
        return int(value) if value is not None and pd.notna(value) else None

    count = num("current_instance_count")
    lo, hi = num("min_capacity"), num("max_capacity")
    if lo is None and autoscaling is not None and len(variants) == 1 and all(pd.notna(x) for x in autoscaling):
        lo, hi = int(autoscaling[0]), int(autoscaling[1])
    seen = v.get("observed_at")
    at = pd.Timestamp(seen).tz_convert(UTC).to_pydatetime() if seen is not None and pd.notna(seen) \
        and pd.Timestamp(seen).tzinfo else None
    return pending.Observed(count if count is not None else num("desired_instance_count"), lo, hi, at)


def pending_notice(account_id: str, region: str, endpoint_name: str, variants: pd.DataFrame,
                   autoscaling: tuple[Any, Any] | None = None, *, key: str = "pending") -> dict[str, str]:
    """Changes to this endpoint that the store does not show yet, for every viewer: "Scaling AllTraffic to 4
    instances requested by jane at 14:03 UTC — pending until the next collection confirms it"; nothing once the
    collected state matches what the action left (its audit row's ``state_after``); a warning when no collection
    has shown it within ``actions.pending.PENDING_TIMEOUT``. Also the restores scheduled for it (operators can
    cancel them) and a restore that failed.

    ``variants``: the store's rows of the endpoint's variants (``variant_name``, ``current_instance_count``,
    ``desired_instance_count``; ``min_capacity``/``max_capacity``/``observed_at`` when the page has them);
    ``autoscaling``: the endpoint's (min, max) from the store, used for a one-variant endpoint. Returns the state
    shown per variant (pending | unconfirmed | confirmed). Reads the audit database only; no AWS call."""
    shown: dict[str, str] = {}
    changes, problem = _changes(account_id, region, endpoint_name)
    now = datetime.now(UTC)
    for c in changes:
        state = pending.status(c, _observed(variants, c.variant, autoscaling), now)
        shown[c.variant] = state
        if state == "pending":
            st.info(ui.plain(f"{c.describe()} — pending until the next collection confirms it."),
                    icon=":material/hourglass_top:")
        elif state == "unconfirmed":
            minutes = int(pending.PENDING_TIMEOUT.total_seconds() // 60)
            st.warning(ui.plain(f"{c.describe()} — not confirmed: no collection has shown it within {minutes} "
                                "minutes. Check the endpoint in AWS (it may still be updating, or the autoscaler "
                                "moved it), and that the collector is running."), icon=":material/warning:")
    _restores_notice(account_id, region, endpoint_name, now, key)
    if problem:
        st.caption(ui.plain(f"Pending changes from other sessions are not shown: the audit log could not be read "
                            f"({problem})."))
    if toast := st.session_state.pop("_action_toast_pending", None):
        st.toast(ui.plain(toast), icon=":material/check_circle:")
    return shown


def _restores_notice(account_id: str, region: str, endpoint: str, now: datetime, key: str) -> None:
    try:
        restores = restore_schedule().for_variant(account_id, region, endpoint, since=now - pending.NOTICE_WINDOW)
    except Exception:
        return
    for r in restores:
        if r.status == "scheduled":
            c1, c2 = st.columns([5, 1], vertical_alignment="center")
            c1.info(ui.plain(f"{r.variant}'s autoscaling min/max go back to {r.min_capacity}/{r.max_capacity} at "
                             f"{r.due_at:%H:%M} UTC{'' if r.due_at.date() == now.date() else f' {r.due_at:%b %d}'} "
                             f"(restore #{r.id}, scheduled by {r.actor})."), icon=":material/schedule:")
            if can_act() and c2.button("Cancel restore", key=f"{key}_cancel_{r.id}", icon=":material/cancel:"):
                out = a.cancel_restore(audit_log(), r.id, current_actor())
                st.session_state["_action_toast_pending"] = out.message
                st.rerun()
        elif r.status == "running":
            st.info(ui.plain(f"Restoring {r.variant}'s min/max to {r.min_capacity}/{r.max_capacity} now "
                             f"(restore #{r.id})."), icon=":material/sync:")
        elif r.status == "failed":
            st.warning(ui.plain(f"The scheduled restore #{r.id} of {r.variant} to min/max {r.min_capacity}/"
                                f"{r.max_capacity} failed: {r.message or 'no reason recorded'}"
                                + (f" (audit #{r.restore_audit_id})" if r.restore_audit_id else "")
                                + ". The bounds are as the scale left them."), icon=":material/warning:")


def action_button(label: str, request: a.Request, key: str, *, icon: str | None = None,
                  type: str = "secondary", help: str | None = None) -> None:
    """A button that opens the confirmation dialog; nothing at all for viewers."""
    if not can_act():
        return
    if st.button(label, key=key, icon=icon, type=type, help=help):
        st.session_state.pop(f"_action_token_{key}", None)  # a fresh token for a fresh confirmation
        _confirm(request, key)
    if toast := st.session_state.pop(f"_action_toast_{key}", None):  # the dialog closed on success
        st.toast(ui.plain(toast), icon=":material/check_circle:")
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
    settings = load()
    limit = settings.actions.max_instances_per_variant
    now = f"now {current}"
    try:
        asked = next((c for c in _changes(account_id, region or _only_region(settings, account_id), endpoint)[0]
                      if c.variant == variant and c.instance_count != current), None)
    except Exception:
        asked = None
    if asked is not None and datetime.now(UTC) - asked.at <= pending.PENDING_TIMEOUT:
        now = f"now {current} in the last collection; {asked.instance_count} requested, pending"
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    desired = c1.number_input(f"Instances for {variant} ({now})", min_value=1, max_value=limit,
                              value=min(max(int(current or 1), 1), limit), step=1, key=f"{key}_n")
    with c2:
        action_button("Scale", a.ScaleEndpoint(account_id, endpoint, variant, int(desired), region=region),
                      f"{key}_scale", icon=":material/tune:", type="primary")


# --------------------------------------------------------------------------- managed CloudWatch alarms

ALARMS_LABEL = "Create / update recommended alarms"
DELETE_ALARMS_LABEL = "Delete Sextant's alarms"


def alarm_topic_default(settings: Settings, region: str) -> str:
    """The SNS topic the recommended alarms notify by default: the first ``[alerts.channels.*]`` of type ``sns`` whose
    ``target`` is a topic ARN in ``region`` ("" when none is)."""
    for channel in settings.alerts.channels.values():
        target = channel.get("target") if isinstance(channel, dict) and channel.get("type") == "sns" else None
        if isinstance(target, str) and (m := SNS_ARN_RE.fullmatch(target)) and m.group(1) == region:
            return target
    return ""


def recommended_alarms(account_id: str, region: str, endpoint: str, variants: pd.DataFrame,
                       baseline_ms: float | None, alarms: pd.DataFrame, *, key: str = "ep_rec_alarms") -> None:
    """The endpoint's recommended CloudWatch alarms (:mod:`actions.alarms`) with the state the store has for each
    (``alarms``: the store's rows of the endpoint's alarms), for everyone; for operators, a topic box and the buttons
    that open the confirmation dialog (plan, cost, dry run, audit). Rendering makes no AWS call.

    ``variants``: the store's variants (``variant_name``, ``instance_type``); ``baseline_ms``: the endpoint's 7-day
    p99 baseline from the store (None: none; the endpoint then counts as without traffic)."""
    settings = load()
    pairs = [(str(v.variant_name), v.instance_type if isinstance(v.instance_type, str) else None)
             for v in variants.itertuples()] if {"variant_name", "instance_type"} <= set(variants.columns) else []
    st.markdown("**Recommended alarms**")
    if not pairs:
        st.caption("The store has no production variant of this endpoint: nothing to recommend yet.")
        return
    had_traffic = baseline_ms is not None
    p99_ms, source = p99_threshold_ms(baseline_ms, settings)
    specs = recommended(endpoint, pairs, p99_ms=p99_ms, errors_5xx=CreateRecommendedAlarms.errors_5xx_per_5min,
                        zero_minutes=CreateRecommendedAlarms.zero_invocations_minutes, had_traffic=had_traffic)
    state = dict(zip(alarms.alarm_name, alarms.state_value, strict=True)) \
        if {"alarm_name", "state_value"} <= set(alarms.columns) else {}
    rows = pd.DataFrame([{"alarm_name": s.name, "variant_name": s.variant, "watches": s.describe(),
                          "state": state.get(s.name, "not created") or "unknown",
                          "monthly_usd": prices.CLOUDWATCH_ALARM_MONTH} for s in specs])
    ui.table(rows, "ep_recommended_alarms", column_config={
        "alarm_name": "Alarm", "variant_name": "Variant", "watches": st.column_config.TextColumn("Watches",
                                                                                                width="large"),
        "state": st.column_config.TextColumn("State (last collection)"),
        "monthly_usd": st.column_config.NumberColumn("$ / month", format="$%.2f")})
    st.caption(ui.plain(
        f"{len(specs)} alarm(s), ${monthly_cost(len(specs)):.2f} a month at CloudWatch's list price. p99 threshold "
        f"{p99_ms:g} ms from {source}. Each notifies an SNS topic on ALARM and OK and is tagged managed-by = sextant"
        + ("" if had_traffic else "; no zero-invocations alarm: the store shows no traffic for this endpoint") + "."))
    if not can_act():
        return
    topic = st.text_input("SNS topic ARN the alarms notify", value=alarm_topic_default(settings, region),
                          key=f"{key}_topic", placeholder=f"arn:aws:sns:{region}:{account_id}:ml-oncall",
                          help="Default: the first [alerts.channels.*] of type sns in this region.")
    c1, c2 = st.columns(2)
    with c1:
        action_button(ALARMS_LABEL, CreateRecommendedAlarms(
            account_id, endpoint, sns_topic_arn=topic.strip(), p99_baseline_ms=baseline_ms, had_traffic=had_traffic,
            region=region), f"{key}_create", icon=":material/notifications:", type="primary")
    if any(s.name in state for s in specs):
        with c2:
            action_button(DELETE_ALARMS_LABEL, DeleteManagedAlarms(account_id, endpoint, region=region),
                          f"{key}_delete", icon=":material/notifications_off:",
                          help="Deletes only the alarms tagged managed-by = sextant on this endpoint.")


def _only_region(settings: Settings, account_id: str) -> str:
    """The region of a request that names none: the account's only configured region, else none (nothing matches)."""
    for account in settings.accounts:
        if account.name == account_id or len(settings.accounts) == 1:
            return account.regions[0] if len(account.regions) == 1 else ""
    return ""


# --------------------------------------------------------------------------- refresh an endpoint's metrics now

REFRESH_LABEL = "Refresh metrics now"
REFRESH_NOTICE_FOR = rf.MAX_WAIT + timedelta(minutes=5)  # a request older than this is no longer mentioned


@st.cache_resource
def _refresh_queue(path: str) -> rf.RefreshQueue:
    return rf.RefreshQueue(_audit(path))


def refresh_queue(settings: Settings | None = None) -> rf.RefreshQueue:
    settings = settings or load()
    return _refresh_queue(settings.actions.audit_path or str(Path(settings.store) / "audit.sqlite"))


def _in_store() -> rf.Lookup:
    """The endpoint as the newest published snapshot has it (its series, metric queries, last read)."""
    return rf.store_lookup(data.reader())


def refresh_control(account_id: str, region: str, endpoint: str, *, key: str | None = None) -> None:
    """A "Refresh metrics now" button for operators (viewers see nothing): a dialog with what will be read and its
    estimated cost, then a request to the collector (audited, :mod:`actions.refresh`); until the store shows the
    refresh, the notice "refresh requested at HH:MM:SS UTC — the charts update when the collector has read it" (it
    checks every few seconds, and reruns the page once the collector has published what it read). ``region``: the
    endpoint row's. Rendering makes no AWS call: the dialog reads the store, the notice the audit database."""
    if not can_act():
        return
    key = key or f"refresh_{account_id}_{region}_{endpoint}"
    request = a.RefreshEndpoint(account_id, endpoint, region)
    if st.button(REFRESH_LABEL, key=key, icon=":material/refresh:",
                 help="Ask the collector to read every metric series of this endpoint once, now, whatever its "
                      "cadence (about 20 seconds); shows what it reads and costs first."):
        _refresh_dialog(request, key)
    if toast := st.session_state.pop(f"_refresh_toast_{key}", None):
        st.toast(ui.plain(toast), icon=":material/refresh:")
    _refresh_notice(request, key)


@st.dialog("Refresh this endpoint's metrics now", width="large")
def _refresh_dialog(request: a.RefreshEndpoint, key: str) -> None:
    actor = current_actor()
    settings = load()
    try:
        plan = a.plan_refresh(request, actor, settings, _in_store())
    except a.ActionError as exc:
        st.error(ui.plain(redact(exc)))
        return
    st.markdown(f"**{ui.plain(plan.summary)}**")
    c1, c2, c3 = st.columns(3)
    c1.metric("Series", f"{plan.before['series']:,}")
    c2.metric("Metric queries", f"{plan.before['metric_queries']:,}")
    c3.metric("Estimated cost", rf.usd(plan.cost_estimate or 0.0), help="GetMetricData list price per metric "
              "requested (sextant/prices.py), whatever the datapoints")
    st.caption(ui.plain(f"Last read: {plan.before['last_read']}. Account {request.account_id}, region "
                        f"{request.region}."))
    for note in plan.notes:
        st.caption(ui.plain(note))
    dry = st.toggle("Dry run (plan and audit only)", value=settings.actions.dry_run,
                    disabled=settings.actions.dry_run, key=f"{key}_dry")
    st.caption(ui.plain(f"Requested as {actor.name} ({actor.role}); this is recorded in the audit log."))
    if st.button("Dry run" if dry else "Refresh now", type="primary", key=f"{key}_confirm"):
        try:
            audit = audit_log(settings)
        except Exception as exc:  # the audit log cannot even be opened: nothing is requested
            reason = redact(f"{type(exc).__name__}: {exc}")[:300]
            outcome = a.Outcome("failed", f"Not requested: the audit log cannot be opened ({reason}).",
                                audit_problem=reason)
        else:
            outcome = a.request_refresh(request, actor, settings, audit, _in_store(), dry_run=dry)
        if outcome.status in ("succeeded", "duplicate") and not outcome.audit_problem:
            st.session_state[f"_refresh_toast_{key}"] = outcome.message  # the dialog closes; the notice follows
            st.rerun()
        _show_outcome(outcome.status, outcome.message, outcome.audit_id, outcome.audit_problem)


def _store_shows(request: a.RefreshEndpoint, r: rf.RefreshRequest) -> bool:
    """Whether the published store holds what the request read: its series read through the request's minute."""
    try:
        found = _in_store()(request.account_id, request.region, request.endpoint)
    except Exception:
        return False
    minute = r.requested_at.replace(second=0, microsecond=0)
    return found is not None and found.polled_at is not None and found.polled_at >= minute


def _refresh_state(request: a.RefreshEndpoint, r: rf.RefreshRequest) -> str:
    """waiting (queued, being read, or read but not yet in the published store) | done | failed | expired."""
    if r.waiting or (r.status == "done" and not _store_shows(request, r)):
        return "waiting"
    return r.status


def _refresh_notice(request: a.RefreshEndpoint, key: str) -> None:
    try:
        r = refresh_queue().latest(request.account_id, request.region, request.endpoint)
    except Exception:
        return
    if r is None or datetime.now(UTC) - r.requested_at > REFRESH_NOTICE_FOR:
        return
    state = _refresh_state(request, r)
    if state == "waiting":
        _refresh_waiting(request, r.id)
    elif state == "done":
        st.caption(ui.plain(f"Metrics refreshed: requested at {r.requested_at:%H:%M:%S} UTC by {r.actor}, "
                            f"{r.message or 'read'} (audit #{r.audit_id})."))
    else:
        st.warning(ui.plain(f"The refresh requested at {r.requested_at:%H:%M:%S} UTC was not read: "
                            f"{r.message or r.status} (audit #{r.audit_id})."), icon=":material/warning:")


@st.fragment(run_every=3)
def _refresh_waiting(request: a.RefreshEndpoint, request_id: int) -> None:
    """The notice while the collector has not read the request; it looks again every 3 s, and reruns the page (the
    charts read the new snapshot) once the store shows the refresh or the request ended otherwise."""
    try:
        r = refresh_queue().get(request_id)
    except Exception:
        r = None
    if r is None or _refresh_state(request, r) != "waiting":
        st.rerun()
        return
    st.info(ui.plain(f"Refresh requested at {r.requested_at:%H:%M:%S} UTC — the charts update when the collector "
                     "has read it"), icon=":material/sync:")


# --------------------------------------------------------------------------- silences and acknowledgements of alerts


def _audit_path(settings: Settings | None = None) -> str:
    settings = settings or load()
    return settings.actions.audit_path or str(Path(settings.store) / "audit.sqlite")


@st.cache_resource
def _silences(path: str) -> aa.Silences:
    return aa.Silences(_audit(path))


@st.cache_resource
def _acks(path: str) -> aa.Acks:
    return aa.Acks(_audit(path))


def alert_silences(settings: Settings | None = None) -> aa.Silences:
    """The silences of alerts (:mod:`actions.alert_actions`), in the audit database."""
    return _silences(_audit_path(settings))


def alert_acks(settings: Settings | None = None) -> aa.Acks:
    """The acknowledgements of alerts, in the audit database."""
    return _acks(_audit_path(settings))


def alert_store() -> aa.StoreAlerts:
    """The store's alerts and rules as the newest published snapshot has them (what a silence or an acknowledgement
    is checked against)."""
    return aa.store_alerts(data.reader())


def show_outcome(outcome: a.Outcome | tuple[Any, ...], icon: str | None = None) -> None:
    """An action's outcome as the dialogs show it (green only for what happened as asked and was audited)."""
    if isinstance(outcome, a.Outcome):
        outcome = (outcome.status, outcome.message, outcome.audit_id, outcome.audit_problem)
    _show_outcome(*outcome, icon=icon)
