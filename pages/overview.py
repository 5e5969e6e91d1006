"""Overview: spend against last month and the budget, what moved, what is unhealthy, what needs attention."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import streamlit as st

from dashboard import filters, nav, ui
from dashboard.queries import catalog, cost, endpoints
from dashboard.queries.overview import overview
from sextant.settings import load

st.title("Overview")
f = filters.current()
settings = load()
now = datetime.now(UTC)
today = now.date()

if not cost.has_bill() and catalog.tables_doc().empty:
    ui.empty("Nothing collected yet. Run `make demo`, or `python -m collectors run` against your account, then "
             "reload.")
    st.stop()

# ------------------------------------------------------------------ headline numbers
ov = overview(f, settings, now)
mtd, fc, eps, alarms = ov.month, ov.forecast, ov.endpoints, ov.alarms
failed_jobs, failed_runs = ov.failed_jobs, ov.failed_runs

c1, c2, c3, c4 = st.columns(4)
change = mtd.change_pct
c1.metric(
    f"Spend {mtd.month_start:%B} to date", ui.money(mtd.mtd_usd),
    delta=None if change is None else f"{change:+.1f}% vs last month",
    delta_color="inverse", border=True, height="stretch",
    chart_data=list(mtd.daily.cost_usd.round(2)) if len(mtd.daily) > 1 else None, chart_type="bar",
    help="Unblended cost from Cost Explorer, today included (today is partial). The comparison uses complete "
         f"days only, the same {mtd.days} days of each month: {ui.money(mtd.complete_usd)} through yesterday vs "
         f"{ui.money(mtd.previous_same_days_usd)} over the same days of last month.")
budget = settings.monthly_budget_usd
if not fc.empty:
    end_usd = float(fc.month_end_usd.iloc[0])
    gap = end_usd - budget
    c2.metric("Month-end forecast", ui.money(end_usd),
              delta=f"{ui.money(abs(gap))} {'over' if gap > 0 else 'under'} budget",
              delta_color="inverse" if gap > 0 else "normal", delta_arrow="up" if gap > 0 else "down",
              border=True, height="stretch",
              help=f"Spend before {fc.period_start.iloc[0]:%b %d} plus Cost Explorer's forecast to month end "
                   f"(80% interval {ui.money(fc.month_end_lower_usd.iloc[0])}–"
                   f"{ui.money(fc.month_end_upper_usd.iloc[0])}), whole bill. Budget {ui.money(budget)}: "
                   "[budget] monthly_usd in sextant.toml.")
else:
    c2.metric("Month-end forecast", "–", help="No Cost Explorer forecast collected yet (or the month ends today).",
              border=True, height="stretch")
counts = eps.health.value_counts() if not eps.empty else pd.Series(dtype=int)
c3.metric("Endpoints degraded / idle", f"{counts.get('degraded', 0)} / {counts.get('idle', 0)}",
          delta=f"{counts.get('ok', 0)} of {len(eps)} ok", delta_color="off", delta_arrow="off",
          border=True, height="stretch",
          help="degraded: a CloudWatch alarm watching it is in ALARM; or 5xx > 1% of invocations over the last "
               "hour or 24 h; or p99 ModelLatency now (worst minute of the last 15) or in the worst hour of 24 h "
               "> 2× its own 7-day median. idle: no invocations for 7+ days (alarms in ALARM named in the reason). "
               "Never ok while an alarm watching it is in ALARM.")
c4.metric("Alarms firing · failures 24 h", f"{len(alarms)} · {len(failed_jobs) + len(failed_runs)}",
          delta=f"{len(failed_jobs)} training, {len(failed_runs)} pipeline runs", delta_color="off",
          delta_arrow="off", border=True, height="stretch")

if mtd.honoured or mtd.ignored:
    msg = "the forecast is for the whole bill"
    if mtd.ignored and mtd.honoured:
        msg = (f"spend honours the {mtd.honoured[0]} filter only (Cost Explorer groups the bill by two keys at "
               f"most); {msg}")
    st.caption(f"With the sidebar filters: {msg}.")

# ------------------------------------------------------------------ needs attention + movers
left, right = st.columns([1, 1], gap="large")
with left:
    st.subheader("Needs attention")
    items: list[tuple[int, str, nav.PageSpec, str, dict]] = []  # severity, label, page, icon, query params
    firing = ov.firing
    if not firing.empty:
        rules_named = ", ".join(sorted(set(firing.rule))[:3]) + ("…" if firing.rule.nunique() > 3 else "")
        items.append((0, f"**{ui.plural(len(firing), 'alert')} firing** ({ui.plain(rules_named)})", nav.ALERTS,
                      ":material/notifications_active:", {}))
    for r in eps[eps.health == "degraded"].itertuples():
        items.append((0, f"**{ui.plain(r.endpoint_name)}** degraded: {ui.plain(r.reason)}", nav.ENDPOINTS,
                      ":material/error:", {"endpoint": r.endpoint_name}))
    for r in alarms.itertuples():
        target = {"endpoint": r.endpoint_name} if isinstance(r.endpoint_name, str) and r.endpoint_name else {}
        items.append((1, f"**{ui.plain(r.alarm_name)}** in ALARM since {pd.Timestamp(r.since):%b %d %H:%M}",
                      nav.ENDPOINTS, ":material/notifications_active:", target))
    for r in failed_jobs.itertuples():
        items.append((1, f"Training job **{ui.plain(r.training_job_name)}** failed: "
                         f"{ui.plain(str(r.failure_reason or '')[:90], '')}",
                      nav.TRAINING, ":material/model_training:", {"job": r.training_job_name}))
    for r in failed_runs.itertuples():
        step = f" at step {ui.plain(r.failed_step)}" if isinstance(r.failed_step, str) else ""
        items.append((1, f"Pipeline **{ui.plain(r.pipeline_name)}** run failed{step}", nav.PIPELINES,
                      ":material/account_tree:", {"pl_pipeline": r.pipeline_name, "pl_status": "Failed"}))
    if not fc.empty and float(fc.month_end_usd.iloc[0]) > budget:
        items.append((1, f"Month-end forecast {ui.money(fc.month_end_usd.iloc[0])} is over the "
                         f"{ui.money(budget)} budget", nav.COST, ":material/trending_up:", {}))
    for r in ov.anomalies.itertuples():
        items.append((2, f"Cost anomaly {r.start_date:%b %d}: +{ui.money(r.total_impact_usd)} on "
                         f"{ui.plain(r.usage_type or r.service)}", nav.COST, ":material/warning:", {}))
    for r in eps[eps.health == "idle"].itertuples():
        items.append((2, f"**{ui.plain(r.endpoint_name)}** idle: {ui.plain(r.reason)} — see the savings on the "
                         "Cost page", nav.COST, ":material/bedtime:", {"tab": "Savings"}))
    fresh = ov.freshness
    failing = sorted(set(fresh[fresh.status.isin(["failing", "never"])].source))
    if failing:
        items.append((1, f"Collection failing for {', '.join(failing)}", nav.COLLECTION,
                      ":material/sync_problem:", {}))
    if not items:
        st.success("Nothing needs attention: endpoints healthy, no alarm firing, no failure in 24 h.",
                   icon=":material/check_circle:")
    items.sort(key=lambda i: i[0])
    with st.container(height=330 if len(items) > 8 else "content", border=False):
        for _, label, page, icon, params in items:
            st.page_link(nav.page(page), label=label, icon=icon, query_params=nav.params(**params))

with right:
    st.subheader("Top movers")
    st.caption("Last 7 complete days vs the 7 before.")
    tabs = st.tabs(["By service", "By team"])
    for tab, group in zip(tabs, ("service", "team"), strict=True):
        with tab:
            mv = ov.movers[group]
            if mv.empty:
                ui.empty("No cost collected yet: the cost_explorer collector fills it (refreshes 3 times a day).")
                continue
            ui.table(mv[["group", "last_7d_usd", "change_usd", "change_pct"]], f"ov_movers_{group}", downloads=False,
                     column_config={
                "group": st.column_config.TextColumn(group),
                "last_7d_usd": st.column_config.NumberColumn("last 7 d", format="dollar"),
                "previous_7d_usd": st.column_config.NumberColumn("prev. 7 d", format="dollar"),
                "change_usd": st.column_config.NumberColumn("change", format="dollar"),
                "change_pct": st.column_config.NumberColumn("%", format="%+.0f%%"),
            })

# ------------------------------------------------------------------ endpoints by health
st.subheader("Endpoints by health")
as_of = ov.metrics_as_of
if eps.empty:
    ui.empty("No endpoints collected yet: the sagemaker_endpoints collector fills them.")
else:
    upto = ui.when(endpoints.traffic_end(eps, f))
    st.caption(f"Invocations, 5xx and p99 over the 24 hours to {upto}; p99 now: the worst minute of the 15 to "
               f"{ui.when(filters.fixed_end(f))} (the Endpoints page's figures, whatever the sidebar's range). Idle "
               f"days from the metrics through {ui.when(as_of)}. Click an endpoint's name for its charts and changes."
               if as_of else "No CloudWatch metrics collected yet: health reflects alarms and idle/ok only.")
    view = eps[["endpoint_name", "health", "reason", "p99_now_ms", "error_rate_24h_pct", "invocations_24h",
                "p99_24h_ms", "p99_baseline_ms", "team", "last_invocation", "account_id"]]
    clicked = ui.table(view, "ov_health", downloads=False, on_select="rerun", selection_mode="single-cell",
                       column_config={
                     "endpoint_name": st.column_config.TextColumn("endpoint", pinned=True,
                                                                  help="Click a name to open the endpoint"),
                     "reason": st.column_config.TextColumn("why", width="large"),
                     "invocations_24h": st.column_config.NumberColumn("invocations, 24 h", format="localized"),
                     "error_rate_24h_pct": st.column_config.NumberColumn("5xx, 24 h", format="%.2f%%"),
                     "p99_now_ms": st.column_config.NumberColumn("p99 now", format="%.0f ms",
                                                                 help="Worst minute of the last 15"),
                     "p99_24h_ms": st.column_config.NumberColumn("p99, 24 h (worst hour)", format="%.0f ms"),
                     "p99_baseline_ms": st.column_config.NumberColumn("usual p99", format="%.0f ms",
                                                                      help="Median hourly p99 of the 7 days before"),
                     "last_invocation": st.column_config.DatetimeColumn("last invoked (UTC)",
                                                                        format="YYYY-MM-DD HH:mm"),
                 })
    opened = nav.picked(clicked, view, "endpoint_name")
    if opened:
        nav.go(nav.ENDPOINTS, endpoint=opened)

# ------------------------------------------------------------------ failures and alarms
a, b = st.columns(2, gap="large")
with a:
    st.subheader("Alarms in ALARM")
    if alarms.empty:
        st.success("No alarm is firing.", icon=":material/check_circle:")
    else:
        ui.table(alarms[["alarm_name", "since", "metric_name", "state_reason"]], "ov_alarms", downloads=False,
                 column_config={
                         "since": st.column_config.DatetimeColumn("since (UTC)", format="MMM DD HH:mm"),
                         "state_reason": st.column_config.TextColumn("reason", width="medium")})
with b:
    st.subheader("Failures in the last 24 h")
    if failed_jobs.empty and failed_runs.empty:
        st.success("No training job or pipeline run failed in the last 24 hours.", icon=":material/check_circle:")
    if not failed_jobs.empty:
        jobs = failed_jobs[["training_job_name", "failed_at", "failure_reason", "team", "spot"]]
        clicked_job = ui.table(jobs, "ov_failed_jobs", downloads=False, on_select="rerun",
                               selection_mode="single-cell", column_config={
                "training_job_name": st.column_config.TextColumn("training job", help="Click a name to open the job"),
                "failed_at": st.column_config.DatetimeColumn("failed (UTC)", format="MMM DD HH:mm"),
                "failure_reason": st.column_config.TextColumn("reason", width="large")})
        job = nav.picked(clicked_job, jobs, "training_job_name")
        if job:
            nav.go(nav.TRAINING, job=job)
    if not failed_runs.empty:
        ui.table(failed_runs[["pipeline_name", "failed_at", "failed_step", "failure_reason", "team"]],
                 "ov_failed_runs", downloads=False, column_config={
                         "failed_at": st.column_config.DatetimeColumn("failed (UTC)", format="MMM DD HH:mm"),
                         "failure_reason": st.column_config.TextColumn("reason", width="large")})
