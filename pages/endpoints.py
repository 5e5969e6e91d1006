"""Endpoints: every SageMaker endpoint with its health and cost; select one (or ?endpoint=NAME) for its detail."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard import action_ui, charts, filters, lineage, nav, ui
from dashboard.queries import endpoints as eq
from dashboard.queries import incidents as iq
from dashboard.queries import logs as lq


def _overview(f: filters.Filters, df: pd.DataFrame) -> None:
    idle = df[df.invocations_24h == 0]
    upto = ui.when(eq.traffic_end(df, f), "%b %d %H:%M")  # the traffic windows (the last collection's minute)
    now_to = ui.when(filters.fixed_end(f), "%b %d %H:%M")  # p99 now
    c = st.columns(5)
    c[0].metric("Endpoints", len(df))
    c[1].metric("Instances", int(df.instances.fillna(0).sum()))
    c[2].metric("Invocations, 24 h", f"{int(df.invocations_24h.sum()):,}",
                help=f"The 1,440 complete minutes to {upto}, whatever the sidebar's range.")
    c[3].metric("Hosting cost / day", ui.money(df.cost_per_day.sum(min_count=1)),
                help="Instances now × the hourly rate the bill shows for the instance type × 24.")
    c[4].metric("Idle (no invocations in 24 h)", len(idle),
                delta=f"{ui.money(idle.cost_per_day.sum(min_count=1))}/day" if len(idle) else None,
                delta_color="inverse" if len(idle) else "off")
    if df.cost_per_day.isna().any():
        st.caption("Cost is blank where the bill has no hosting line (USE1-Host:<type>) for the instance type.")
    shown = ui.first(ui.enums(df, "status"), "endpoint_name", "status", "p99_now_ms", "error_rate_5xx", "cost_per_1k",
                     "cost_per_day", "invocations_24h", "error_rate", "p99_ms", "peak_p99_ms", "capacity")
    event = ui.table(shown, "endpoints", on_select="rerun", selection_mode=["single-row", "single-cell"],
                     column_config={
        "endpoint_name": st.column_config.TextColumn("Endpoint", pinned=True, help="Click a name to open the endpoint"),
        "status": "Status", "capacity": "Instances (type × count)",
        "instance_type": None, "instances": None, "variants": None,
        "autoscaling_min": st.column_config.NumberColumn("AS min", help="Autoscaling minimum instances"),
        "autoscaling_max": st.column_config.NumberColumn("AS max", help="Autoscaling maximum instances"),
        "invocations_24h": st.column_config.NumberColumn("Invocations, 24 h", format="localized",
                                                         help=f"The 24 hours to {upto}"),
        "p99_now_ms": st.column_config.NumberColumn("p99 now (ms)", format="%.1f",
                                                    help="Worst per-minute ModelLatency p99 of the 15 minutes to "
                                                         f"{now_to}"),
        "p99_ms": st.column_config.NumberColumn("p99, 24 h (ms)", format="%.1f",
                                                help="ModelLatency p99 of each hour, weighted by invocations"),
        "peak_p99_ms": st.column_config.NumberColumn("Peak p99, 24 h (ms)", format="%.1f",
                                                     help="Worst hourly ModelLatency p99 in the 24 hours"),
        "error_rate": st.column_config.NumberColumn("Error rate, 24 h", format="percent",
                                                    help="(4xx + 5xx) / invocations over the 24 hours"),
        "error_rate_5xx": st.column_config.NumberColumn("5xx rate, 24 h", format="percent"),
        "cost_per_day": st.column_config.NumberColumn("Cost / day", format="dollar"),
        "cost_per_1k": st.column_config.NumberColumn("$ / 1k inferences", format="$%.4f",
                                                     help="Cost per day / invocations in the 24 hours × 1000"),
        "team": "Team", "project": "Project", "env": "Env", "account_id": "Account", "region": "Region",
        "endpoint_config_name": "Endpoint config",
        "last_modified_time": st.column_config.DatetimeColumn("Last change (UTC)", format="YYYY-MM-DD HH:mm"),
    })
    st.caption("Click an endpoint's name (or select its row) for its latency, errors, utilization, capacity, alarms "
               "and logs.")
    opened = nav.picked(event, shown, "endpoint_name")
    if opened:
        nav.go(nav.ENDPOINTS, endpoint=opened)


def _chart(df: pd.DataFrame, metrics: list[str], *, title: str, unit: str, events: pd.DataFrame,
           by_variant: bool, kind: str = "line", alarms: pd.DataFrame | None = None,
           periods: pd.DataFrame | None = None, alerts: pd.DataFrame | None = None):
    """A chart of ``metrics`` with the thresholds of the alarms that watch them and, from ``periods``
    (``queries.incidents.alarm_intervals``), the times those alarms were in ALARM shaded; Sextant's own alert
    episodes about the endpoint (``alerts``: ``queries.incidents.alert_episodes``) as strips under the lines."""
    part = df[df.metric.isin(metrics)].copy()
    if part.empty:
        return None
    part["series"] = part.metric + (charts.SEPARATOR + part.variant_name if by_variant else "")
    if not by_variant:
        agg = "sum" if kind == "bar" or metrics[0] in ("invocations", "4xx", "5xx") else "max"
        part = part.groupby(["ts", "series"], as_index=False).value.agg(agg)
    fig = charts.time_series(part, "ts", "value", "series", title=title, unit=unit, kind=kind)
    charts.subtitle(fig, charts.freshness(part, "ts", "series"))  # each chart: how fresh its own series are
    if alarms is not None and not alarms.empty:
        watching = alarms[alarms.metric.isin(metrics)]
        charts.alarm_thresholds(fig, watching, unit)
        if periods is not None and not periods.empty:
            for alarm in watching.alarm_name.drop_duplicates():
                charts.shade_periods(fig, periods[periods.alarm_name == alarm], label=f"{alarm} in ALARM")
    if alerts is not None:
        charts.alert_marks(fig, alerts)
    return _tidy(charts.mark_events(fig, events))


def _alerts_caption(alerts: pd.DataFrame) -> None:
    """Under charts that drew Sextant's alert strips: what they are."""
    fired = alerts[alerts.start.notna()] if not alerts.empty else alerts
    if fired.empty:
        return
    st.caption(f"Strips under the lines: {ui.plural(len(fired), 'episode')} of Sextant's own alerts about this "
               "endpoint (rules over the store, Alerts page), from firing to resolved, coloured by severity, one "
               "lane per rule; hover the ⚠ for the rule, the value that fired it and the threshold. Shaded behind "
               "the lines: a CloudWatch alarm in ALARM.")


def _tidy(fig):
    """Room for the legend and the freshness line under the title (the shared template puts both at the top)."""
    return fig.update_layout(margin={"t": 84}, title={"y": 0.97, "yanchor": "top"})


def _scale_panel(e: pd.Series, variants: pd.DataFrame) -> None:
    """Operators: set a variant's instance count (on an autoscaled variant, the scalable target's min/max)."""
    with st.expander("Scale this endpoint", icon=":material/tune:"):
        if pd.notna(e.autoscaling_min):
            st.caption(f"Autoscaled between {int(e.autoscaling_min)} and {int(e.autoscaling_max)} instances: Scale "
                       "moves the scalable target's min/max to the count you set, instead of fighting the autoscaler.")
        if e.status != "InService":
            st.caption(f"The endpoint is {ui.plain(ui.words(e.status))} in the last collection; AWS accepts a change "
                       "only when it is in service (the confirmation checks it live).")
        for v in variants.itertuples():
            current = v.desired_instance_count if pd.notna(v.desired_instance_count) else v.current_instance_count
            action_ui.scale_controls(e.account_id, e.endpoint_name, v.variant_name,
                                     int(current) if pd.notna(current) else 1, key=f"ep_scale_{v.variant_name}",
                                     region=e.region)
        st.caption("The confirmation shows the change in instances and $ per day before anything is sent. The "
                   "charts show the effect after the next collection.")


def _detail(f: filters.Filters, name: str) -> None:
    row = eq.endpoint(f, name)
    if st.button("All endpoints", icon=":material/arrow_back:", key="ep_back"):
        for k in ("endpoint", "start", "end"):
            st.query_params.pop(k, None)
        st.rerun()
    if row.empty:
        ui.empty(f"Endpoint {ui.plain(name)} is not in the store or not in the sidebar's scope (account, region, "
                 "team). Clear the filters, or check the name.")
        return
    e = row.iloc[0]
    start, end, _ = filters.pinned_window(f)
    st.subheader(ui.plain(name))
    st.caption(f"{ui.plain(ui.words(e.status))} · {ui.plain(e.capacity)} · team {ui.plain(e.team)} · "
               f"{ui.plain(e.env)} · "
               f"account {ui.plain(e.account_id)} {ui.plain(e.region)} · config {ui.plain(e.endpoint_config_name)} · "
               f"window {ui.local(start):%Y-%m-%d %H:%M} – {ui.when(end)}")
    lineage.model_line(e.account_id, e.region, name)  # what serves here, and what made it (Models, Training)
    account, region = e.account_id, e.region
    metrics = eq.endpoint_metrics(account, region, name, start, end)
    events = eq.config_events(account, region, name, start, end)
    baseline = eq.latency_baseline(account, region, name, start)

    p99 = metrics[metrics.metric == "p99"]
    upto = ui.when(eq.traffic_end(row, f), "%b %d %H:%M")  # the traffic windows (the last collection's minute)
    now_to = ui.when(filters.fixed_end(f), "%b %d %H:%M")  # p99 now
    c = st.columns(5)
    c[0].metric("Invocations, 24 h", f"{int(e.invocations_24h):,}",
                help=f"The 1,440 complete minutes to {upto}, whatever the chart's range.")
    c[1].metric("p99 now (ms)", f"{e.p99_now_ms:,.1f}" if pd.notna(e.p99_now_ms) else "–",
                help=f"Worst per-minute ModelLatency p99 of the 15 minutes to {now_to}, whatever the chart's range "
                     "(the Endpoints table and the Overview show the same figure).")
    c[2].metric(f"Peak p99, {filters.span_label(start, end)} (ms)",
                f"{p99.value.max():,.1f}" if not p99.empty else "–",
                delta=f"{p99.value.max() / baseline:.1f}× the 7-day median" if baseline and not p99.empty else None,
                delta_color="inverse")
    c[3].metric("Error rate, 24 h", f"{e.error_rate:.2%}" if pd.notna(e.error_rate) else "–",
                help=f"(4xx + 5xx) / invocations over the 24 hours to {upto}.")
    c[4].metric("Cost / day", ui.money(e.cost_per_day, 2),
                help=f"$ / 1k inferences: {e.cost_per_1k:.4f}" if pd.notna(e.cost_per_1k) else None)
    variants = eq.endpoint_variants(account, region, name)
    # every viewer sees a change the store does not show yet (and a scheduled restore of the autoscaling bounds)
    action_ui.pending_notice(account, region, name, variants, (e.autoscaling_min, e.autoscaling_max))
    action_ui.refresh_control(account, region, name, key="ep_refresh")  # operators: read its series now
    if action_ui.can_act() and not variants.empty:
        _scale_panel(e, variants)
    resolution = "1-minute points (5-minute where older than a day)" if eq.fine_grained(start, end) \
        else "hourly rollup (percentiles: the worst period of each hour)"
    st.caption(f"Resolution: {resolution}. Dotted lines: deploys, rollbacks, scaling. Invocations, 5xx and p99 "
               "are refreshed every hot cycle, the other series every cold cycle (Collection page), so their lines "
               "can end earlier.")
    if metrics.empty:
        ui.empty("No CloudWatch points for this endpoint in the window. Widen the time range, or run the "
                 "cloudwatch_metrics collector.")

    _tabs(name, account, region, start, end, metrics, events, variants)


TABS = ("Latency & traffic", "Utilization", "Capacity", "Changes", "Alarms", "Logs", "Variants")


def _tabs(name: str, account: str, region: str, start: datetime, end: datetime, metrics: pd.DataFrame,
          events: pd.DataFrame, variants: pd.DataFrame) -> None:
    """The detail's tabs; only the open one is built (its queries run and its charts are sent). The open tab is in
    the URL (``?tab=Alarms`` links straight to it); a click on another tab reruns the page to build that one."""
    marked = events if len(events) <= 25 else events[events.kind != "scaling"]

    def alarms() -> pd.DataFrame:  # their thresholds and ALARM periods are drawn on the charts of what they watch
        return eq.alarms(account, region, name)

    def periods() -> pd.DataFrame:
        return iq.alarm_intervals(account, region, name, start, end)

    def alerts() -> pd.DataFrame:  # Sextant's own alerts about the endpoint: strips on every chart of the window
        return iq.alert_episodes(account, region, name, start, end)

    build = {
        "Latency & traffic": lambda: _latency_tab(metrics, marked, by_variant=len(variants) > 1, alarms=alarms(),
                                                  periods=periods(), alerts=alerts()),
        "Utilization": lambda: _utilization_tab(metrics, marked, alarms(), periods(), alerts()),
        "Capacity": lambda: _capacity_tab(account, region, name, start, end, marked, alerts()),
        "Changes": lambda: _changes_tab(name, start, end, events),
        "Alarms": lambda: _alarms_tab(account, region, name, start, end, alarms()),
        "Logs": lambda: _logs_tab(account, region, name, start, end),
        "Variants": lambda: _variants_tab(variants),
    }
    for tab, label in zip(st.tabs(list(TABS), key="tab", bind="query-params"), TABS, strict=True):
        if tab.open is not False:  # None: a Streamlit that does not track the open tab builds every one
            with tab:
                build[label]()


def _variants_tab(variants: pd.DataFrame) -> None:
    ui.table(ui.enums(variants, "approval_status"), "ep_variants", column_config={
        "variant_name": "Variant", "current_instance_count": "Instances now",
        "desired_instance_count": "Instances desired",
        "current_weight": st.column_config.NumberColumn("Weight", format="%.2f"),
        "model_version": st.column_config.NumberColumn("Version", format="v%d"), "approval_status": "Approval",
        "endpoint_config_name": "Endpoint config"})


def _latency_tab(metrics: pd.DataFrame, marked: pd.DataFrame, by_variant: bool, alarms: pd.DataFrame,
                 periods: pd.DataFrame, alerts: pd.DataFrame) -> None:
    drawn = False
    for metrics_, title, unit, kind in (
            (["p50", "p90", "p99"], "ModelLatency percentiles", "ms", "line"),
            (["invocations"], "Invocations", "per minute", "line"),
            (["4xx", "5xx"], "Errors", "per minute", "line")):
        fig = _chart(metrics, metrics_, title=title, unit=unit, events=marked, by_variant=by_variant, kind=kind,
                     alarms=alarms, periods=periods, alerts=alerts)
        if fig is not None:
            st.plotly_chart(fig, key=f"ep_{title}")
            drawn = True
    if drawn:
        _alerts_caption(alerts)


def _utilization_tab(metrics: pd.DataFrame, marked: pd.DataFrame, alarms: pd.DataFrame,
                     periods: pd.DataFrame, alerts: pd.DataFrame) -> None:
    drawn = False
    for m in ("CPU", "memory", "GPU", "GPU memory", "disk"):
        fig = _chart(metrics, [m], title=f"{m} utilization (average per instance)", unit="%", events=marked,
                     by_variant=True, alarms=alarms, periods=periods, alerts=alerts)
        if fig is not None:
            st.plotly_chart(fig, key=f"ep_util_{m}")
            drawn = True
    if not drawn:
        ui.empty("No instance metrics (/aws/sagemaker/Endpoints) collected for this endpoint in the window.")
    else:
        _alerts_caption(alerts)


def _capacity_tab(account: str, region: str, name: str, start: datetime, end: datetime, marked: pd.DataFrame,
                  alerts: pd.DataFrame) -> None:
    counts = eq.instance_count_history(account, region, name, start, end)
    if counts.empty:
        ui.empty("No capacity history: the variant history and scaling activities are empty for this window.")
    else:
        fig = charts.time_series(counts, "time", "instances", "variant_name", title="Instances", unit="instances")
        fig.update_traces(line_shape="hv")
        changed = counts[(counts.time > pd.Timestamp(start)) & (counts.time < pd.Timestamp(end))]
        charts.subtitle(fig, f"newest point {charts.ago(changed.time.max())}; a count holds until the next change"
                        if not changed.empty else "no change or observation in the window: the count held throughout")
        st.plotly_chart(_tidy(charts.mark_events(charts.alert_marks(fig, alerts), marked)), key="ep_capacity")
        _alerts_caption(alerts)
    acts = eq.scaling_activities(account, region, name, start, end)
    if not acts.empty:
        ui.table(ui.enums(acts.drop(columns=["count"]), "status_code"), "ep_scaling", column_config={
            "variant_name": "Variant", "status_code": "Status",
            "time": st.column_config.DatetimeColumn("Ended (UTC)", format="YYYY-MM-DD HH:mm"),
            "start_time": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm")})


def _changes_tab(name: str, start: datetime, end: datetime, events: pd.DataFrame) -> None:
    if events.empty:
        ui.empty("No deploys, rollbacks or scaling in the window.")
    else:
        ui.table(events, "ep_changes", column_config={
            "time": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm"),
            "kind": "Kind", "label": "What", "detail": "Detail"})
    st.page_link(nav.page(nav.INCIDENT), label="Open the incident timeline of this endpoint",
                 icon=":material/timeline:",
                 query_params=nav.params(resource=name, start=start.isoformat(), end=end.isoformat()))


def _alarms_tab(account: str, region: str, name: str, start: datetime, end: datetime, al: pd.DataFrame) -> None:
    if al.empty:
        ui.empty("No CloudWatch alarms watch this endpoint. Add p99-latency and 5xx alarms.")
    else:
        # thresholds in ms for latencies (CloudWatch's are microseconds), Sums per their period: see eq.alarm_units
        ui.table(ui.first(ui.enums(al, "state_value", "comparison_operator"), "alarm_name", "state_value",
                          "metric_name", "comparison_operator", "threshold", "threshold_unit", "variant_name",
                          "state_updated_at"), "ep_alarms", column_config={
            "alarm_name": "Alarm", "state_value": "State", "metric_name": "Metric", "variant_name": "Variant",
            "comparison_operator": "Comparison", "threshold_unit": "Unit", "statistic": "Statistic",
            "threshold": st.column_config.NumberColumn("Threshold", format="%.4g"),
            "metric": None, "chart_threshold": None,
            "period_s": st.column_config.NumberColumn("Period", format="%d s"),
            "evaluation_periods": st.column_config.NumberColumn("Evaluation periods", format="%d"),
            "state_reason": st.column_config.TextColumn("Reason", width="large"),
            "state_updated_at": st.column_config.DatetimeColumn("State since (UTC)", format="YYYY-MM-DD HH:mm")})
    changes = eq.alarm_changes(account, region, name, start, end)
    if not changes.empty:
        st.markdown("**State changes in the window**")
        ui.table(ui.first(ui.enums(changes, "old_state", "new_state"), "time", "alarm_name", "metric_name"),
                 "ep_alarm_changes", column_config={
            "alarm_name": "Alarm", "old_state": "From", "new_state": "To", "metric_name": "Metric",
            "reason": st.column_config.TextColumn("Reason", width="large"),
            "time": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss")})
    # the recommended CloudWatch alarms and their state; operators create, update or delete them (actions.alarms)
    action_ui.recommended_alarms(account, region, name, eq.endpoint_variants(account, region, name),
                                 eq.latency_baseline(account, region, name, end), al)


def _logs_tab(account: str, region: str, name: str, start: datetime, end: datetime) -> None:
    errors = lq.log_events(start, end, levels=["ERROR"], endpoint=name, accounts=(account,),
                           regions=(region,), limit=200)
    st.page_link(nav.page(nav.LOGS), label="Search this endpoint's logs", icon=":material/article:",
                 query_params=nav.params(resource=name, level="ERROR", start=start.isoformat(),
                                         end=end.isoformat()))
    if errors.empty:
        ui.empty("No ERROR log lines from this endpoint in the window.")
    else:
        st.caption(f"{len(errors)} most recent ERROR lines in the window")
        ui.table(errors[["ts", "variant_name", "message", "log_stream"]], "ep_errors", column_config={
            "variant_name": "Variant",
            "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "message": st.column_config.TextColumn("Message", width="large")})

st.title("Endpoints")
f = filters.current()
selected = st.query_params.get("endpoint")
if selected:
    _detail(f, selected)
else:
    table = eq.endpoints(f)
    if table.empty:
        ui.empty("No endpoints collected yet. Run `make collect` (or `make demo`) and reload.")
    else:
        st.caption(f"{ui.plural(len(table), 'endpoint')} · traffic, latency and errors over the 24 hours to "
                   f"{ui.when(eq.traffic_end(table, f))} (a fixed window, whatever the sidebar's range); "
                   "p99 now: the worst minute of the last 15")
        _overview(f, table)
