"""Collection: is the data fresh, what failed and what to do about it, and what collecting costs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import plotly.graph_objects as go
import streamlit as st

from dashboard import charts, filters, ui
from dashboard.queries import collection
from sextant.settings import load


def _bytes(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:,.1f} TB"


st.title("Collection")
settings = load()
now = datetime.now(UTC)
fresh = collection.freshness(collection.sources(), settings, now)
cost = collection.self_cost(settings, now)

st.caption("What the collectors did, how fresh each source is against its expected cadence, and what the AWS "
           "API calls cost (Cost Explorer $0.01 per request, GetMetricData $0.01 per 1,000 metrics).")

c1, c2, c3, c4 = st.columns(4)
bad = fresh[fresh.status.isin(["stale", "failing", "never"])]
c1.metric("Sources fresh", f"{fresh.status.isin(['fresh', 'partial']).sum()} / {len(fresh)}",
          help="fresh: last success within 2 x the expected cadence (partial: fresh, but an optional operation such "
               "as tags or a forecast failed); late: within 6 x; stale beyond.", border=True)
c2.metric("API calls, last 24 h", f"{cost.api_calls_24h:,}", help=f"{cost.runs_24h} collection cycles",
          border=True)
c3.metric("API spend, last 24 h", ui.money(cost.last_24h_usd, 2), border=True)
over = cost.projected_monthly_usd - cost.budget_usd
c4.metric("Projected per month", ui.money(cost.projected_monthly_usd, 2),
          delta=f"{ui.money(abs(over), 2)} {'over' if over > 0 else 'under'} the {ui.money(cost.budget_usd, 0)} budget",
          delta_color="inverse" if over > 0 else "normal", delta_arrow="up" if over > 0 else "down", border=True,
          help="Last 24 h of runs x 30. Set the budget with [collect] monthly_api_budget_usd in sextant.toml; "
               "the metrics collector stretches its cadence to stay under it.")
disk = collection.store_disk()
st.caption(
    f"Store on disk: {_bytes(disk.total_bytes)} (collector's file {_bytes(disk.writer_bytes)}, {disk.snapshots} "
    f"published snapshot(s) {_bytes(disk.snapshot_bytes)}"
    + (f", left-over temporary copies {_bytes(disk.temporary_bytes)}" if disk.temporary_bytes else "")
    + (f", other files {_bytes(disk.other_bytes)}" if disk.other_bytes else "")
    + "). The collector keeps the newest three snapshots and publishes once per cycle; retention settings "
      "([collect] in sextant.toml) bound the rest.")
if 0 < cost.hours_covered < 23.5:
    st.caption(f"The projection covers only {cost.hours_covered:.1f} h of runs; first runs include the "
               "backfill, so it settles after a day of regular collection.")

st.subheader("Freshness per source")
view = fresh.assign(
    last_error=fresh.last_error.fillna(""), last_hint=fresh.last_hint.fillna(""),
    age=fresh.age_s.map(filters.duration),
    expected_every=fresh.expected_every_s.map(filters.duration),
)
ui.table(view[["source", "status", "account_id", "region", "last_success", "age", "expected_every",
               "last_status", "last_error", "last_hint"]], "collection_freshness", column_config={
    "last_success": st.column_config.DatetimeColumn("last success (UTC)", format="YYYY-MM-DD HH:mm"),
    "expected_every": "expected every",
    "last_status": "last run", "last_error": "last error",
    "last_hint": st.column_config.TextColumn("what to do", width="large"),
})
if not bad.empty:
    st.warning("Not fresh: " + ", ".join(sorted(set(bad.source))) + ". Run `python -m collectors run` (or "
               "schedule it with `--every 5m`); a failing source says what to do above.", icon=":material/warning:")
partial = fresh[fresh.status == "partial"]
if not partial.empty:
    st.info("Partial: " + ", ".join(sorted(set(partial.source))) + ". Their main tables are fresh; an optional "
            "operation failed (last error names it), and the table it fills keeps its previous rows.",
            icon=":material/info:")

lake = settings.store_backend == "ducklake"
tab_runs, tab_errors, tab_cost, *tab_lake = st.tabs(["Runs", "Errors and partial runs", "API cost",
                                                     *(["Store maintenance"] if lake else [])])
with tab_runs:
    runs = collection.collection_runs()
    if runs.empty:
        ui.empty("No collection has run yet: run `python -m collectors run`.")
    else:
        event = ui.table(runs, "collection_runs", on_select="rerun", column_config={
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "ended_at": st.column_config.DatetimeColumn("ended (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "duration_s": st.column_config.NumberColumn("duration", format="%.1f s"),
            "cost_usd": st.column_config.NumberColumn("API $", format="$%.4f"),
            "api_calls": st.column_config.NumberColumn("API calls", format="%d"),
            "partial": st.column_config.NumberColumn("partial", format="%d",
                                                     help="Sources whose optional operations (tags, activities, "
                                                          "forecast...) failed; their main tables landed."),
        })
        picked = event.selection.rows if event is not None else []
        run_id = runs.run_id.iloc[picked[0]] if picked else runs.run_id.iloc[0]
        st.caption(f"Sources of run `{run_id}`" + ("" if picked else " (the newest; select a run above)"))
        detail = collection.collection_run_sources(run_id)
        detail["api_calls_by_operation"] = detail.api_calls_by_operation.map(
            lambda t: ", ".join(f"{k} {v}" for k, v in sorted(json.loads(t or "{}").items(), key=lambda kv: -kv[1])))
        ui.table(detail, "collection_run_sources", column_config={
            "estimated_cost_usd": st.column_config.NumberColumn("API $", format="$%.4f"),
            "duration_s": st.column_config.NumberColumn("duration", format="%.1f s"),
            "api_calls_by_operation": st.column_config.TextColumn("calls by operation", width="large"),
            "error": st.column_config.TextColumn("error / failed operations", width="large"),
            "hint": st.column_config.TextColumn("what to do", width="large"),
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format="HH:mm:ss"),
            "ended_at": st.column_config.DatetimeColumn("ended (UTC)", format="HH:mm:ss"),
        })

with tab_errors:
    errors = collection.collection_errors()
    if errors.empty:
        st.success("No source has failed or been partial.", icon=":material/check_circle:")
    else:
        ui.table(errors, "collection_errors", column_config={
            "ended_at": st.column_config.DatetimeColumn("when (UTC)", format="YYYY-MM-DD HH:mm"),
            "error": st.column_config.TextColumn("error", width="large"),
            "hint": st.column_config.TextColumn("what to do", width="large"),
        })

with tab_cost:
    if cost.by_source.empty:
        ui.empty("No run in the last 24 h: the self-cost meter needs recent runs.")
    else:
        fig = go.Figure(go.Bar(x=cost.by_source.projected_monthly_usd, y=cost.by_source.source, orientation="h",
                               text=[ui.money(v, 2) for v in cost.by_source.projected_monthly_usd],
                               textposition="auto", marker_color=charts.color("spend")))
        fig.add_vline(x=cost.budget_usd, line_dash="dash", line_color=charts.color("budget"),
                      annotation_text=f"budget {ui.money(cost.budget_usd)}", annotation_position="top")
        fig.update_layout(title="Projected monthly API spend by source (last 24 h x 30)", height=320,
                          xaxis_title="USD per month", yaxis_title=None, hovermode="closest",
                          yaxis={"autorange": "reversed"})
        st.plotly_chart(fig, width="stretch", key="collection_cost_chart")
        ui.table(cost.by_source, "collection_cost_by_source", column_config={
            "cost_usd": st.column_config.NumberColumn("last 24 h", format="$%.4f"),
            "projected_monthly_usd": st.column_config.NumberColumn("per month", format="$%.2f"),
        })
    plan = collection.metrics_plan()
    if not plan.empty:
        st.caption("The metrics collector's own plan: queries per cycle at its cadence, fitted to the budget.")
        promo = collection.metrics_promotions()
        st.caption(f"Freshness follows attention: {ui.plural(promo.series, 'series', 'series')} polled on the hot "
                   f"cadence while an alarm on them or their endpoint is in ALARM, adding "
                   f"{ui.money(promo.monthly_usd, 2)} a month to the plan's {ui.money(promo.estimated_monthly_usd, 2)} "
                   "(within the budget: the cadences are fitted with them counted).")
        ui.table(plan, "collection_metrics_plan", column_config={
            "polled_at": st.column_config.DatetimeColumn("polled (UTC)", format="YYYY-MM-DD HH:mm"),
            "estimated_monthly_usd": st.column_config.NumberColumn("plan $ / month", format="$%.2f"),
            "budget_usd": st.column_config.NumberColumn("budget", format="$%.2f"),
            "hot_every_s": st.column_config.NumberColumn("hot cadence", format="%d s"),
            "cold_every_s": st.column_config.NumberColumn("cold cadence", format="%d s"),
            "series_promoted": st.column_config.NumberColumn("series promoted (alarms)", format="%d"),
            "promoted_monthly_usd": st.column_config.NumberColumn("promotions $ / month", format="$%.2f"),
        })

for tab in tab_lake:
    with tab:
        done = collection.maintenance_runs()
        st.caption(f"The collector maintains the DuckLake store at most every "
                   f"{filters.duration(settings.maintain_every_s)} ([store] maintain_every): it expires snapshots "
                   f"older than {filters.duration(settings.keep_snapshots_s)} ([store] keep_snapshots), merges small "
                   "files, writes inlined rows out as Parquet and deletes the files no snapshot reads any more.")
        if done.empty:
            ui.empty("No maintenance yet: the collector runs it after a cycle once it is due.")
        else:
            ui.table(done, "collection_maintenance", column_config={
                "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm"),
                "seconds": st.column_config.NumberColumn("took", format="%.1f s"),
                "snapshots_before": st.column_config.NumberColumn("snapshots before", format="%d"),
                "snapshots_after": st.column_config.NumberColumn("snapshots after", format="%d"),
                "files_before": st.column_config.NumberColumn("files read before", format="%d"),
                "files_after": st.column_config.NumberColumn("files read after", format="%d"),
                "files_tracked_after": st.column_config.NumberColumn("files tracked", format="%d"),
                "error": st.column_config.TextColumn("error", width="large"),
            })
