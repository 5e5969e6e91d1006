"""Cost: the bill by any grouping with anomalies and the forecast, unit economics, and savings to act on."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import actions
from dashboard import action_ui, charts, filters, nav, ui
from dashboard.queries import cost, savings
from sextant.settings import load

PERIODS = {"mtd": "Month to date", "30d": "30 days", "90d": "90 days", "sidebar": "Sidebar range"}
GROUP_LABELS = {"service": "Service", "usage type": "Usage type", "team": "Team", "project": "Project",
                "account": "Account"}
TOP_GROUPS = 8


def _period(key: str, f: filters.Filters, today: date) -> tuple[date, date]:
    """[start, end) in days; end is tomorrow (today included, partial)."""
    end = today + timedelta(days=1)
    if key == "mtd":
        return today.replace(day=1), end
    if key == "90d":
        return today - timedelta(days=89), end
    if key == "sidebar":
        last = (f.end - timedelta(microseconds=1)).date()  # f.end is exclusive (midnight for custom ranges)
        return f.start.date(), min(last + timedelta(days=1), end)
    return today - timedelta(days=29), end


def _qp_choice(name: str, options: list[str], default: str) -> str:
    value = st.query_params.get(name, default)
    return value if value in options else default


def _trend(df: pd.DataFrame, anomalies: pd.DataFrame, fc: pd.DataFrame, start: date, end: date,
           today: date) -> go.Figure:
    """Stacked daily bars of the top groups, anomalies marked, forecast bars to month end."""
    totals = df.groupby("group").cost_usd.sum().sort_values(ascending=False)
    top = list(totals.index[:TOP_GROUPS])
    d = df.assign(group=df.group.where(df.group.isin(top), "other"))
    d = d.groupby(["date", "group"], as_index=False).cost_usd.sum()
    d["date"] = pd.to_datetime(d.date)
    fig = charts.time_series(d, "date", "cost_usd", "group", title="Daily cost", unit="USD per day", kind="bar",
                             height=420)
    order = {charts.text(g): i for i, g in enumerate([*top, "other"])}  # trace names are escaped text
    fig.data = tuple(sorted(fig.data, key=lambda t: order.get(t.name, 99)))
    for t in fig.data:
        t.hovertemplate = "%{y:$,.2f}"
    daily = d.groupby("date").cost_usd.sum()
    if not fc.empty and end > today:
        pf = fc.iloc[0]
        days = pd.date_range(pd.Timestamp(pf.period_start), pd.Timestamp(pf.period_end) - timedelta(days=1))
        if len(days):
            # forecast covers today too: show the part of today still to come on top of today's actual
            per_day = float(pf.mean_usd) / len(days)
            future = days[days > pd.Timestamp(today)]
            if len(future):
                fig.add_trace(go.Bar(x=future, y=[per_day] * len(future), name="forecast",
                                     marker_color=charts.color("forecast"), marker_opacity=0.45,
                                     marker_line={"color": charts.color("forecast"), "width": 1},
                                     hovertemplate="forecast %{y:$,.2f}/day<extra></extra>"))
    if not anomalies.empty:
        a = anomalies.copy()
        a["x"] = pd.to_datetime(a.start_date)
        a = a[(a.x >= pd.Timestamp(start)) & (a.x < pd.Timestamp(end))]
        if not a.empty:
            y = [float(daily.get(x, 0.0)) for x in a.x]
            fig.add_trace(go.Scatter(
                x=a.x, y=y, mode="markers+text", name="anomaly", text=["⚠"] * len(a), textposition="top center",
                marker={"symbol": "triangle-down", "size": 14, "color": charts.color("anomaly")},
                customdata=a[["service", "usage_type", "total_impact_usd"]].fillna("").assign(
                    service=lambda x: x.service.map(charts.text), usage_type=lambda x: x.usage_type.map(charts.text)
                ).values,
                hovertemplate="<b>anomaly</b> %{customdata[0]} %{customdata[1]}<br>"
                              "impact %{customdata[2]:$,.0f}<extra></extra>"))
            for x in a.x:
                fig.add_vrect(x0=x - timedelta(hours=12), x1=x + timedelta(hours=12), fillcolor=charts.color("anomaly"),
                              opacity=0.08, line_width=0)
    fig.update_layout(xaxis_title="day (UTC)", hovermode="x unified", legend_title_text=None,
                      yaxis_tickprefix="$", yaxis_tickformat=",.0f")
    return fig


st.title("Cost")
f = filters.current()
settings = load()
now = datetime.now(UTC)
today = now.date()
if not cost.has_bill():
    ui.empty("No cost collected yet. The cost_explorer collector fills it (Cost Explorer refreshes up to 3 times "
             "a day; each request costs $0.01). Run `python -m collectors run --source cost_explorer`.")
    st.stop()

c1, c2 = st.columns([1, 1])
period = c1.segmented_control("Period", list(PERIODS), format_func=PERIODS.get, key="cost_period",
                              default=_qp_choice("period", list(PERIODS), "30d")) or "30d"
group = c2.segmented_control("Group by", list(GROUP_LABELS), format_func=GROUP_LABELS.get, key="cost_by",
                             default=_qp_choice("by", list(GROUP_LABELS), "service")) or "service"
st.query_params["period"], st.query_params["by"] = period, group
start, end = _period(period, f, today)

df = cost.daily_cost(f, group, start, end)
fc = cost.forecast(today)
anoms = cost.anomalies(start, end)
total = float(df.cost_usd.sum()) if not df.empty else 0.0
avg = cost.daily_average(df, start, end, today)

m1, m2, m3, m4 = st.columns(4)
span = {"30d": "last 30 days", "sidebar": f"{start:%b %d} – {end - timedelta(days=1):%b %d}"}.get(
    period, PERIODS[period].lower())
m1.metric(f"Total, {span}", ui.money(total),
          border=True, height="stretch",
          help=f"{start:%Y-%m-%d} to {end - timedelta(days=1):%Y-%m-%d} UTC, today partial. Unblended cost.")
m2.metric("Per day, complete days (average)", ui.money(avg.usd), border=True, height="stretch",
          help=f"Average of the {avg.days} complete days {avg.first:%b %d} – {avg.last:%b %d}: today (partial) left "
               "out." if avg.days else "No complete day in the period yet: today is partial.")
if not fc.empty:
    gap = float(fc.month_end_usd.iloc[0]) - settings.monthly_budget_usd
    m3.metric("Month-end forecast", ui.money(fc.month_end_usd.iloc[0]), border=True, height="stretch",
              delta=f"{ui.money(abs(gap))} {'over' if gap > 0 else 'under'} budget",
              delta_color="inverse" if gap > 0 else "normal", delta_arrow="up" if gap > 0 else "down",
              help="Spend this month before today + Cost Explorer's forecast to month end (whole bill).")
else:
    m3.metric("Month-end forecast", "–", border=True, height="stretch", help="No forecast collected yet.")
m4.metric("Anomalies in the period", len(anoms), border=True, height="stretch",
          delta=f"+{ui.money(anoms.total_impact_usd.sum())} over expected" if len(anoms) else None,
          delta_color="inverse", help="AWS Cost Anomaly Detection, as collected.")

ignored = df.attrs.get("ignored", [])
if ignored:
    st.caption(f"⚠ Grouped by {group}, the bill cannot be narrowed by "
               f"{', '.join(ignored)} (Cost Explorer groups by two keys at most): "
               "those sidebar filters are not applied here.")
if f.regions:
    st.caption("The region filter does not apply to cost: Cost Explorer is collected once per account.")

# the open tab is in the URL (?tab=Savings links straight to the savings); only the open tab's queries run
tab_trend, tab_unit, tab_savings = st.tabs(["Breakdown & trend", "Unit economics", "Savings"], key="tab",
                                           bind="query-params")

def _breakdown() -> None:
    if df.empty:
        ui.empty("No cost in this period and scope. Widen the period or clear the sidebar filters.")
    else:
        st.plotly_chart(_trend(df, anoms, fc, start, end, today), width="stretch", key="cost_trend")
        st.caption("Stacked by " + GROUP_LABELS[group].lower() + f" (top {TOP_GROUPS}, the rest as 'other'). "
                   "Red markers: cost anomalies; grey bars: forecast to month end (whole bill, spread evenly).")
        ui.table(cost.breakdown(df, f, group, today), "cost_breakdown", column_config={
                     "cost_usd": st.column_config.NumberColumn("cost", format="dollar"),
                     "share_pct": st.column_config.ProgressColumn("share", format="%.1f%%", min_value=0,
                                                                  max_value=100),
                     "last_7d_usd": st.column_config.NumberColumn(
                         "last 7 d", format="dollar",
                         help="The last 7 complete days, whatever the period (as the Overview's movers)"),
                     "previous_7d_usd": st.column_config.NumberColumn("prev. 7 d", format="dollar",
                                                                      help="The 7 days before those"),
                     "change_pct": st.column_config.NumberColumn("7 d change", format="%+.1f%%"),
                 })
        if not anoms.empty:
            st.markdown("**Cost anomalies**")
            ui.table(ui.first(anoms.drop(columns=["anomaly_id"]), "start_date", "service", "usage_type",
                              "total_impact_usd"), "cost_anomalies", column_config={
                "start_date": st.column_config.DateColumn("From", format="YYYY-MM-DD"),
                "end_date": st.column_config.DateColumn("To", format="YYYY-MM-DD"),
                "linked_account": "Account",
                "total_impact_usd": st.column_config.NumberColumn("impact", format="dollar"),
                "total_actual_spend_usd": st.column_config.NumberColumn("actual", format="dollar"),
                "total_expected_spend_usd": st.column_config.NumberColumn("expected", format="dollar"),
                "total_impact_pct": st.column_config.NumberColumn("impact %", format="%.0f%%"),
            })


def _unit_economics() -> None:
    ustart = datetime.combine(start, datetime.min.time(), UTC)
    uend = min(datetime.combine(end, datetime.min.time(), UTC), now)
    st.markdown("**Cost per 1,000 inferences, per endpoint**")
    unit = cost.endpoint_unit_cost(f, ustart, uend)
    if unit.empty:
        ui.empty("No endpoints or variant history collected yet: the sagemaker_endpoints collector fills them.")
    else:
        ui.table(ui.first(unit, "endpoint_name", "usd_per_1k_inferences", "hosting_usd", "invocations",
                          "instance_hours", "usd_per_hour"), "cost_unit_endpoints", column_config={
            "endpoint_name": "Endpoint",
            "instance_hours": st.column_config.NumberColumn("instance-hours", format="%.0f"),
            "usd_per_hour": st.column_config.NumberColumn("$ / hour", format="$%.3f"),
            "hosting_usd": st.column_config.NumberColumn("hosting", format="dollar"),
            "invocations": st.column_config.NumberColumn("invocations", format="localized"),
            "usd_per_1k_inferences": st.column_config.NumberColumn("$ / 1k inferences", format="$%.4f"),
        })
        st.caption("Hosting = instance-hours of each variant in the period (from the collected variant history; "
                   "the earliest observed state is assumed to hold before it) × the $ per instance-hour the account "
                   "paid for that instance type (Cost Explorer usage type `*Host:<type>`, cost ÷ hours, last 30 "
                   "days). Invocations from CloudWatch. Storage and data transfer are not included.")
    st.markdown("**Cost per training hour, per team**")
    tu = cost.training_unit_cost(f, ustart, uend)
    if tu.empty:
        ui.empty("No training jobs in the period.")
    else:
        ui.table(ui.first(tu, "team", "usd_per_training_hour", "cost_usd"), "cost_unit_training", column_config={
            "training_hours": st.column_config.NumberColumn("instance-hours", format="%.1f"),
            "cost_usd": st.column_config.NumberColumn("cost", format="dollar"),
            "usd_per_training_hour": st.column_config.NumberColumn("$ / training hour", format="$%.2f"),
            "spot_share_pct": st.column_config.ProgressColumn("spot share", format="%.0f%%", min_value=0,
                                                              max_value=100),
        })
        st.caption("Jobs created in the period. Cost = billable seconds × instances × the on-demand $ per hour "
                   "paid for the type (usage type `*Train:<type>`); training hours = training seconds × instances.")


def _scale_idle_down(idle: pd.DataFrame) -> None:
    """Operators: one guarded step per idle variant down to its minimum (autoscaling min, else 1 instance)."""
    for v in savings.scalable_variants(idle).itertuples():
        c1, c2 = st.columns([3, 2], vertical_alignment="center")
        c1.markdown(f"{ui.plain(v.endpoint_name)} / {ui.plain(v.variant_name)}: {int(v.current_instance_count)} "
                    "instances")
        with c2:
            action_ui.action_button("Scale to minimum", actions.ScaleToMinimum(v.account_id, v.endpoint_name,
                                                                               v.variant_name, region=v.region),
                                    f"cost_min_{v.account_id}_{v.endpoint_name}_{v.variant_name}",
                                    icon=":material/trending_down:",
                                    help="To the autoscaling minimum, else 1 instance; the confirmation shows the "
                                         "saving per day")


def _savings() -> None:
    st.caption("Estimates to act on, in $ per month where the cost recurs (a one-off training job's saving is shown "
               "on that job and left out of the monthly totals). Prices are what the bill shows for each instance "
               "type.")
    s1, s2, s3 = st.columns(3)
    # the thresholds are in the URL (?idle_days=&cpu_below=&spot_discount=): a shared link shows the same lists
    idle_days = s1.number_input("Idle: no invocations for (days)", min_value=1, max_value=90, value=14,
                                key="idle_days", bind="query-params")
    cpu_max = s2.slider("Over-provisioned: p95 CPU below (%)", 5, 60, 20, key="cpu_below", bind="query-params")
    observed = savings.observed_spot_discount(f, now)
    discount = s3.slider("Spot discount (%)", 10, 90, round(observed * 100), key="spot_discount", bind="query-params",
                         help=f"Default: observed on your spot jobs of the last 90 days ({observed:.0%}: 1 − "
                              "billable ÷ training seconds).") / 100
    idle = savings.idle_endpoints(f, int(idle_days))
    over = savings.overprovisioned(f, float(cpu_max))
    spot = savings.spot_candidates(f, now, discount)
    sums = [float(x.monthly_saving_usd.sum()) if not x.empty else 0.0 for x in (idle, over, spot)]
    t1, t2, t3, t4 = st.columns(4)
    t1.metric("Potential savings / month", ui.money(sum(sums)), border=True, height="stretch")
    t2.metric("Idle endpoints", ui.money(sums[0]), delta=ui.plural(len(idle), "endpoint"), delta_color="off",
              delta_arrow="off", border=True, height="stretch")
    t3.metric("Over-provisioned", ui.money(sums[1]), delta=ui.plural(len(over), "endpoint"), delta_color="off",
              delta_arrow="off", border=True, height="stretch")
    recurring = spot[spot.recurs.astype(bool)] if not spot.empty else spot
    once = float(spot.one_off_saving_usd.sum()) if not spot.empty else 0.0
    t4.metric("Training on spot / month", ui.money(sums[2]),
              delta=ui.plural(int(recurring.jobs.sum()) if not recurring.empty else 0, "recurring job")
                    + (f" · one-off jobs {ui.money(once)} once, not counted" if once else ""),
              delta_color="off", delta_arrow="off", border=True, height="stretch")

    st.markdown(f"**Idle endpoints** — zero invocations for {idle_days}+ days")
    if idle.empty:
        st.success(f"No endpoint has gone {idle_days} days without an invocation in the metrics collected.",
                   icon=":material/check_circle:")
    else:
        idle_view = idle[["endpoint_name", "monthly_saving_usd", "idle_days", "daily_usd", "last_invocation",
                          "instance_type", "instances", "team", "account_id"]]
        clicked = ui.table(idle_view, "cost_idle", on_select="rerun", selection_mode="single-cell", column_config={
            "endpoint_name": st.column_config.TextColumn("endpoint", help="Click a name to open the endpoint"),
            "idle_days": st.column_config.NumberColumn("idle (days)", format="%.0f",
                                                       help="At least: bounded by the metrics collected."),
            "last_invocation": st.column_config.DatetimeColumn("last invoked (UTC)", format="YYYY-MM-DD"),
            "daily_usd": st.column_config.NumberColumn("$ / day", format="$%.2f"),
            "monthly_saving_usd": st.column_config.NumberColumn("saving / month", format="dollar"),
        })
        opened = nav.picked(clicked, idle_view, "endpoint_name")
        if opened:
            nav.go(nav.ENDPOINTS, endpoint=opened)
        st.caption("Click an endpoint's name to open it. Saving = instances serving now × $ per instance-hour × 24 "
                   "× 30. Delete the endpoint (or scale "
                   "to zero with serverless or async inference) if nobody calls it.")
        if action_ui.can_act():
            _scale_idle_down(idle)

    st.markdown(f"**Over-provisioned endpoints** — p95 hourly CPU below {cpu_max}% over 7 days")
    if over.empty:
        st.success("No endpoint with traffic runs below the CPU threshold.", icon=":material/check_circle:")
    else:
        over_view = ui.first(over, "endpoint_name", "monthly_saving_usd", "cpu_p95_pct", "suggestion")
        clicked_over = ui.table(over_view, "cost_overprovisioned", on_select="rerun", selection_mode="single-cell",
                                column_config={
            "endpoint_name": st.column_config.TextColumn("Endpoint", help="Click a name to open the endpoint"),
            "cpu_p95_pct": st.column_config.NumberColumn("p95 CPU", format="%.1f%%"),
            "monthly_saving_usd": st.column_config.NumberColumn("saving / month", format="dollar"),
        })
        opened = nav.picked(clicked_over, over_view, "endpoint_name")
        if opened:
            nav.go(nav.ENDPOINTS, endpoint=opened)
        st.caption("Several instances: the ones a fleet at 50% p95 CPU would not need. One instance: half its cost "
                   "(one size smaller in the same family). CPUUtilization as CloudWatch reports it.")

    st.markdown(f"**Training that could run on spot** — on-demand jobs of the last 30 days × {discount:.0%}")
    if spot.empty:
        st.success("No on-demand training in the last 30 days.", icon=":material/check_circle:")
    else:
        ui.table(ui.first(spot, "team", "instance_type", "jobs", "monthly_saving_usd", "one_off_saving_usd"),
                 "cost_spot", column_config={
            "cost_usd": st.column_config.NumberColumn("on-demand cost, 30 d", format="dollar"),
            "recurs": st.column_config.CheckboxColumn(
                "recurs", help="Another job of the last 90 days shares its name (without the timestamp) or its image "
                               "and instances: a retrain or a pipeline step. Otherwise a one-off."),
            "job": st.column_config.TextColumn("one-off job"),
            "monthly_saving_usd": st.column_config.NumberColumn("saving / month", format="dollar",
                                                                help="Recurring jobs only"),
            "one_off_saving_usd": st.column_config.NumberColumn("saving on this job (once)", format="dollar",
                                                                help="Not a monthly saving: the job ran once"),
        })
        st.caption("Managed spot training needs checkpointing (and MaxWaitTimeInSeconds) so an interruption "
                   "resumes instead of restarting.")


with tab_trend:
    if tab_trend.open:
        _breakdown()
with tab_unit:
    if tab_unit.open:
        _unit_economics()
with tab_savings:
    if tab_savings.open:
        _savings()
