"""dashboard.charts: one colour map by meaning for every chart, thresholds, change markers that do not collide,
each chart's freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import plotly.express as px
import pytest

from dashboard import charts

NOW = datetime(2026, 12, 2, 16, 30, tzinfo=UTC)

FAMILIES = {
    "percentiles": ["p50", "p90", "p99"],
    "log levels": ["ERROR", "WARN", "INFO"],
    "alarm states": ["ALARM", "OK", "INSUFFICIENT_DATA"],
    "health": ["degraded", "idle", "ok"],
    "job statuses": ["Failed", "Completed", "InProgress", "Stopped"],
    "pipeline statuses": ["Failed", "Succeeded", "Executing", "Stopped"],
    "errors": ["invocations", "4xx", "5xx"],
}


@pytest.mark.parametrize("family", FAMILIES)
def test_every_member_of_a_family_has_one_colour_of_its_own(family):
    colours = [charts.color(name) for name in FAMILIES[family]]
    assert all(colours), dict(zip(FAMILIES[family], colours, strict=True))
    assert len(set(colours)) == len(colours), dict(zip(FAMILIES[family], colours, strict=True))


def test_p99_is_the_alarming_colour_and_p50_the_calm_one():
    assert charts.color("p99") != charts.color("p50")
    assert charts.color("p99") == charts.color("ALARM") == charts.color("ERROR") == charts.color("Failed")
    assert charts.color("p99") != charts.color("OK")  # never green
    assert charts.color("p50") not in {charts.color("ALARM"), charts.color("WARN")}
    # failure and success mean one thing on every page, whatever the case or the series' variant
    assert charts.color("Completed") == charts.color("Succeeded") == charts.color("OK") == charts.color("ok")
    assert charts.color("Error") == charts.color("ERROR")
    assert charts.color("p99 · AllTraffic") == charts.color("p99")
    assert charts.color("vision") is None  # a team means nothing: it gets a palette colour


def _trace_colours(fig) -> dict[str, str]:
    return {t.name: (t.marker.color if t.type == "bar" else t.line.color) for t in fig.data if t.name}


def test_a_series_has_the_same_colour_in_every_chart_builder():
    ts = pd.date_range(NOW - timedelta(hours=1), NOW, freq="1min")
    latency = pd.concat([pd.DataFrame({"ts": ts, "value": 1.0, "series": p}) for p in ("p99", "p50", "p90")])
    lines = charts.time_series(latency, "ts", "value", "series", title="ModelLatency percentiles", unit="ms")
    levels = pd.concat([pd.DataFrame({"ts": ts, "events": 3, "level": lv}) for lv in ("INFO", "ERROR", "WARN")])
    bars = charts.time_series(levels, "ts", "events", "level", title="Log lines", unit="lines", kind="bar")
    statuses = pd.DataFrame({"start": [NOW] * 3, "end": [NOW + timedelta(hours=1)] * 3,
                             "status": ["Failed", "Succeeded", "Stopped"], "name": ["a", "b", "c"]})
    gantt = charts.apply_colors(px.timeline(statuses, x_start="start", x_end="end", y="name", color="status"))
    drawn = {**_trace_colours(lines), **_trace_colours(bars), **_trace_colours(gantt)}
    for name in ("p50", "p90", "p99", "INFO", "WARN", "ERROR", "Failed", "Succeeded", "Stopped"):
        assert drawn[name] == charts.color(name), name
    # the ERROR bars and the p99 line alarm in the same colour; the same levels in the other order, the same colours
    assert drawn["ERROR"] == drawn["p99"]
    again = charts.time_series(levels.iloc[::-1], "ts", "events", "level", title="Log lines", unit="lines")
    assert _trace_colours(again) == _trace_colours(bars)


def test_series_without_a_meaning_keep_their_colour_across_charts_and_differ_within_one():
    teams = ["vision", "nlp", "fraud", "search", "ads", "risk"]
    one = charts.colors_for(teams)
    assert len(set(one.values())) == len(teams)
    assert charts.colors_for(reversed(teams)) == one
    assert not set(one.values()) & {charts.color("ALARM"), charts.color("OK"), charts.color("WARN")}
    assert charts.colors_for(["other", "vision"])["other"] == charts.color("other")


def test_variants_of_one_meaning_share_its_colour_and_differ_by_dash():
    ts = pd.date_range(NOW - timedelta(minutes=5), NOW, freq="1min")
    df = pd.concat([pd.DataFrame({"ts": ts, "value": 1.0, "series": f"p99 · {v}"}) for v in ("a", "b")])
    fig = charts.time_series(df, "ts", "value", "series", title="t", unit="ms")
    assert {t.line.color for t in fig.data} == {charts.color("p99")}
    assert len({t.line.dash or "solid" for t in fig.data}) == 2


def test_threshold_is_a_labelled_line_in_the_charts_unit():
    fig = charts.threshold(charts.time_series(pd.DataFrame({"ts": [NOW], "value": [3.0]}), "ts", "value",
                                              title="p99", unit="ms"), 1079.82, "a-p99 > 1,080 ms")
    (line,) = [s for s in fig.layout.shapes if s.y0 == s.y1]
    assert line.y0 == pytest.approx(1079.82) and line.line.color == charts.color("threshold")
    assert [a.text for a in fig.layout.annotations] == ["a-p99 &gt; 1,080 ms"]  # AWS text, escaped


def _events(minutes: list[int]) -> pd.DataFrame:
    kinds = ["deploy", "scaling", "rollback", "scaling", "scaling"]
    return pd.DataFrame({"time": [NOW - timedelta(hours=24) + timedelta(minutes=m) for m in minutes],
                         "kind": kinds[:len(minutes)],
                         "label": [f"{k}: fraud-txn-scorer-v{i}" for i, k in enumerate(kinds[:len(minutes)])]})


def _chart():
    ts = pd.date_range(NOW - timedelta(hours=24), NOW, freq="10min")
    return charts.time_series(pd.DataFrame({"ts": ts, "value": 1.0}), "ts", "value", title="Invocations", unit="/min")


def test_labels_of_close_changes_do_not_overlap():
    # deploy, scale, rollback within 75 minutes of a 24-hour chart: a few pixels apart
    fig = charts.mark_events(_chart(), _events([13 * 60 + 45, 14 * 60 + 30, 15 * 60]), width_px=880)
    labels = [a for a in fig.layout.annotations if a.text != "▾"]
    assert [a.text.split(":")[0] for a in labels] == ["deploy", "scaling", "rollback"]
    assert len({a.y for a in labels}) == 3  # each on its own line
    assert all("fraud-txn-scorer" in a.hovertext for a in fig.layout.annotations)
    # one dotted line per change in its kind's colour, one legend entry per kind
    lines = [s for s in fig.layout.shapes if s.x0 == s.x1]
    assert [s.line.color for s in lines] == [charts.color(k) for k in ("deploy", "scaling", "rollback")]
    assert [t.name for t in fig.data if t.x is not None and len(t.x) == 1 and t.x[0] is None] == \
        ["deploy", "scaling", "rollback"]


def test_changes_far_apart_share_the_top_line_and_extra_ones_fold_into_hover_marks():
    far = charts.mark_events(_chart(), _events([60, 12 * 60]))
    assert {a.y for a in far.layout.annotations} == {1}
    crowded = charts.mark_events(_chart(), _events([600, 601, 602, 603, 604]), rows=3)
    texts = [a.text for a in crowded.layout.annotations]
    assert texts.count("▾") == 2 and len(texts) == 5


def test_freshness_names_the_newest_point_and_the_series_that_lag():
    ts = pd.date_range(NOW - timedelta(hours=2), NOW - timedelta(minutes=1), freq="1min")
    df = pd.concat([pd.DataFrame({"ts": ts, "series": "p99"}),
                    pd.DataFrame({"ts": ts[ts <= NOW - timedelta(minutes=38)], "series": "p50"}),
                    pd.DataFrame({"ts": ts[ts <= NOW - timedelta(minutes=38)], "series": "p90"})])
    assert charts.freshness(df, "ts", "series", now=NOW) == \
        "newest point 16:29 UTC (1 min ago); p50, p90 to 15:52 UTC (38 min ago)"
    assert charts.freshness(df[df.series == "p99"], "ts", "series", now=NOW) == "newest point 16:29 UTC (1 min ago)"
    assert charts.freshness(df.iloc[:0], "ts", now=NOW) == ""
    assert charts.ago(NOW - timedelta(hours=30), NOW) == "Dec 01 10:30 UTC (30 h ago)"


# ---------------------------------------------------------------------- the zone times are shown in

BERLIN = "Europe/Berlin"


@pytest.fixture
def in_berlin(monkeypatch):
    """The viewer picked their browser's zone (the sidebar's "Times in"; ``ui.zone`` reads it)."""
    monkeypatch.setattr(charts.ui, "zone", lambda: BERLIN)


def _wall(t: datetime) -> pd.Timestamp:
    return pd.Timestamp(t).tz_convert(BERLIN).tz_localize(None)


def test_times_are_charted_in_utc_by_default():
    fig = _chart()
    assert pd.Timestamp(fig.data[0].x[0]) == pd.Timestamp(NOW - timedelta(hours=24)).tz_localize(None)  # UTC
    assert fig.layout.xaxis.title.text == "time (UTC)"
    assert charts.ago(NOW - timedelta(minutes=3), NOW) == "16:27 UTC (3 min ago)"


def test_a_chosen_zone_moves_every_time_on_the_axis_and_names_the_zone(in_berlin):
    fig = charts.shade_periods(_chart(), pd.DataFrame({"start": [NOW - timedelta(hours=2)], "end": [NOW]}))
    fig = charts.mark_events(fig, _events([60]))
    assert pd.Timestamp(fig.data[0].x[0]) == _wall(NOW - timedelta(hours=24))  # 16:30 UTC is 17:30 in Berlin
    assert fig.layout.xaxis.title.text == f"time ({BERLIN})"
    (rect,) = [s for s in fig.layout.shapes if s.type == "rect"]
    assert (pd.Timestamp(rect.x0), pd.Timestamp(rect.x1)) == (_wall(NOW - timedelta(hours=2)), _wall(NOW))
    (marker,) = [s for s in fig.layout.shapes if s.type == "line"]
    assert pd.Timestamp(marker.x0) == _wall(NOW - timedelta(hours=23))
    assert f"{_wall(NOW - timedelta(hours=23)):%H:%M} {BERLIN}" in fig.layout.annotations[0].hovertext
    assert charts.ago(NOW - timedelta(minutes=3), NOW) == f"17:27 {BERLIN} (3 min ago)"
    naive = charts.shown(pd.Series([datetime(2026, 7, 1, 12, 0)]))  # a naive time is UTC (summer: UTC+2)
    assert naive.iloc[0] == pd.Timestamp("2026-07-01 14:00")


def test_days_stay_utc_days_whatever_the_zone(in_berlin):
    days = pd.DataFrame({"date": pd.to_datetime(["2026-11-30", "2026-12-01"]), "cost_usd": [3.0, 4.0]})
    fig = charts.time_series(days, "date", "cost_usd", title="Daily cost", unit="USD per day", kind="bar")
    assert [pd.Timestamp(x) for x in fig.data[0].x] == list(days.date)  # a bill's day is not moved to 01:00
    assert fig.layout.xaxis.title.text == "day (UTC)"
