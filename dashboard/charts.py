"""One Plotly template for every chart, one colour map by meaning, and builders that put units and the time zone
on the axes, thresholds, alarm periods, change markers and each chart's freshness.

Colours follow what a series *means*, the same on every page: latency percentiles go from calm (p50) to alarming
(p99), log levels, alarm and health states, job and pipeline statuses, error kinds and the cost chart's forecast and
anomalies each have one colour (:data:`MEANING`, read through :func:`color`). A series without a meaning (a team, a
service, a job) gets a palette colour chosen from its name (:func:`colors_for`), so a team keeps its colour from one
chart to the next.

Plotly renders a subset of HTML (links included) in trace names, titles and annotations: every text that may come
from AWS (a team tag, an endpoint name, an event label) goes through :func:`text` first.

Times are UTC in the store; a chart shows them in the zone the viewer picked (``dashboard.ui.zone``, UTC by default):
every time placed on an x axis goes through :func:`shown` (the builders here do it for their traces, shaded periods
and markers; a page that adds its own traces does it too) and the axis says the zone (:func:`time_title`)."""

from __future__ import annotations

import html
import zlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from dashboard import ui

TEMPLATE = "sextant"

RED = "#cf222e"
ORANGE = "#e16f24"
AMBER = "#bf8700"
GREEN = "#1a7f37"
BLUE = "#0969da"
LIGHT_BLUE = "#54aeff"
PURPLE = "#8250df"
PINK = "#bf3989"
TEAL = "#1b7c83"
GRAY = "#8c959f"
LIGHT_GRAY = "#d0d7de"

# Series without a meaning (teams, services, jobs, hosts): none of them red, amber or green, which say something.
PALETTE = ["#0969da", "#8250df", "#1b7c83", "#bf3989", "#6e7781", "#54aeff", "#a475f9", "#3192aa", "#e85aad",
           "#0550ae"]
COLORS = PALETTE  # the template's colorway

MEANING: dict[str, str] = {
    # latency percentiles: calm to alarming
    "p50": LIGHT_BLUE, "p90": AMBER, "p99": RED, "overhead p99": PURPLE,
    # traffic and errors
    "invocations": BLUE, "4xx": ORANGE, "5xx": RED,
    # instance utilization
    "CPU": BLUE, "memory": PURPLE, "GPU": ORANGE, "GPU memory": PINK, "disk": TEAL,
    # log levels
    "ERROR": RED, "FATAL": RED, "CRITICAL": RED, "WARN": AMBER, "WARNING": AMBER, "INFO": BLUE, "DEBUG": GRAY,
    "TRACE": LIGHT_GRAY, "NONE": LIGHT_GRAY,
    # alarm states and endpoint health
    "ALARM": RED, "OK": GREEN, "INSUFFICIENT_DATA": GRAY, "degraded": RED, "idle": GRAY,
    # job, pipeline and step statuses
    "Failed": RED, "Completed": GREEN, "Succeeded": GREEN, "InProgress": BLUE, "Running": BLUE, "Executing": BLUE,
    "Starting": LIGHT_BLUE, "Pending": LIGHT_BLUE, "Stopped": GRAY, "Stopping": GRAY, "NotStarted": LIGHT_GRAY,
    "TimedOut": ORANGE, "Aborted": GRAY, "MaxRuntimeExceeded": ORANGE, "MaxWaitTimeExceeded": ORANGE,
    "Interrupted": ORANGE, "Downloading": LIGHT_BLUE, "DownloadingTrainingImage": LIGHT_BLUE, "Training": BLUE,
    "Uploading": TEAL, "LaunchingMLInstances": LIGHT_BLUE, "PreparingTrainingStack": LIGHT_BLUE,
    "Restarting": AMBER, "Updating": LIGHT_BLUE,
    # cost chart and API spend
    "forecast": GRAY, "anomaly": RED, "other": LIGHT_GRAY, "budget": RED, "spend": BLUE,
    # change markers
    "deploy": BLUE, "rollback": ORANGE, "create": GRAY, "config": PINK, "scaling": PURPLE,
    # the alarm threshold line, alarm periods and the normal level
    "threshold": RED, "baseline": GREEN,
}
_FOLDED = {k.casefold(): v for k, v in MEANING.items()}
SEPARATOR = " · "  # "p99 · AllTraffic": a meaning, then what distinguishes the series (a variant, a host)
DASHES = ["solid", "dash", "dot", "dashdot", "longdash", "longdashdot"]

pio.templates[TEMPLATE] = go.layout.Template(layout=go.Layout(
    font={"family": "Inter, system-ui, sans-serif", "size": 13},
    colorway=COLORS,
    margin={"l": 10, "r": 10, "t": 48, "b": 10},
    hovermode="x unified",
    title={"x": 0, "xanchor": "left", "y": 0.98, "yanchor": "top"},
    # the legend sits top-right, on the title's line, so the two never overlap a short title
    legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
    xaxis={"showgrid": False, "title": {"text": "time (UTC)"}},
    yaxis={"gridcolor": "rgba(128,128,128,0.2)", "zeroline": False},
))
# merged with Plotly's own template once, here: a default of "plotly+sextant" made every go.Figure() merge the two
# (deep copies of Plotly's large template), 34 ms a figure, ~0.3 s of a page with ten charts; a single name: 0.6 ms
pio.templates[TEMPLATE] = pio.templates.merge_templates("plotly", pio.templates[TEMPLATE])
pio.templates.default = TEMPLATE


def text(value: object) -> str:
    """``value`` as literal text in a Plotly label (HTML escaped)."""
    return html.escape(str(value), quote=False)


def color(name: object) -> str | None:
    """The colour of what ``name`` means (a percentile, a level, a state, a status...), or None. A series named
    "p99 · AllTraffic" means p99; case is ignored ("Error" is ERROR)."""
    key = html.unescape(str(name))
    return MEANING.get(key) or _FOLDED.get(key.casefold()) or _FOLDED.get(key.split(SEPARATOR)[0].casefold())


def colors_for(names: Iterable[object]) -> dict[str, str]:
    """{name: colour} for the series of one chart: the meaning's colour where there is one, otherwise a palette
    colour picked from the name (the same name gets the same colour on every chart, unless two names of this chart
    would share it: one of them then takes the next free colour, whatever the order they come in)."""
    out: dict[str, str] = {}
    taken: set[str] = set()
    free = []
    for n in names:
        key = str(n)
        c = color(key)
        if c:
            out[key] = c
        else:
            free.append(key)
    for key in sorted(free, key=lambda k: (zlib.crc32(html.unescape(k).encode()) % len(PALETTE), k)):
        start = zlib.crc32(html.unescape(key).encode()) % len(PALETTE)
        ring = [PALETTE[(start + i) % len(PALETTE)] for i in range(len(PALETTE))]
        pick = next((p for p in ring if p not in taken), ring[0])
        out[key] = pick
        taken.add(pick)
    return out


def apply_colors(fig: go.Figure) -> go.Figure:
    """Colour every trace of ``fig`` by its name (:func:`colors_for`), e.g. a ``plotly.express`` figure whose
    traces are statuses; series of one meaning ("p99 · a", "p99 · b") are told apart by their dash."""
    names = [t.name for t in fig.data if t.name is not None]
    mapping = colors_for(dict.fromkeys(names))
    seen: dict[str, int] = {}
    for t in fig.data:
        if t.name is None or t.name not in mapping:
            continue
        c = mapping[t.name]
        if isinstance(t, go.Bar):
            t.marker.color = c
        else:
            t.line.color = c
            if t.mode and "markers" in t.mode:
                t.marker.color = c
            n = seen.get(c, 0)
            seen[c] = n + 1
            if n and color(t.name):
                t.line.dash = DASHES[n % len(DASHES)]
    return fig


def shown(times: Any) -> Any:
    """UTC times (a Series, an array, a scalar; naive ones read as UTC) as a chart's x axis shows them: unchanged in
    UTC, else the wall-clock times of the zone the viewer picked (``ui.zone()``; Plotly has no zones, so every time
    on one axis must be converted alike: traces, shaded periods, markers)."""
    z = ui.zone()
    if z == ui.UTC:
        return times
    if isinstance(times, (pd.Series, pd.Index)) or (hasattr(times, "__len__") and not isinstance(times, str)):
        converted = pd.to_datetime(pd.Series(times) if not isinstance(times, pd.Series) else times, utc=True)
        return converted.dt.tz_convert(z).dt.tz_localize(None)
    t = pd.Timestamp(times)
    return (t.tz_localize(UTC) if t.tzinfo is None else t).tz_convert(z).tz_localize(None)


def time_title() -> str:
    """The title of a time axis: "time (UTC)", or "time (Europe/Berlin)" when the viewer picked that zone."""
    return f"time ({ui.zone()})"


def days_only(times: pd.Series) -> bool:
    """True when every time is a midnight: days (a bill's days are UTC days), which no zone moves (as a table's
    date column, see ``ui.human_config``)."""
    t = pd.to_datetime(times, utc=True).dropna()
    return not t.empty and bool((t == t.dt.normalize()).all())


def time_series(df: pd.DataFrame, x: str, y: str, color: str | None = None, *, title: str, unit: str,
                kind: str = "line", height: int = 300) -> go.Figure:
    """A time chart with the unit on the y axis and the shown zone on the x axis (:func:`shown`), each series in its
    meaning's colour. Days (every x at midnight: daily cost) stay UTC days, on a "day (UTC)" axis."""
    fig = go.Figure()
    dated = days_only(df[x])
    groups = [(None, df)] if color is None else list(df.groupby(color, sort=True))
    for name, part in groups:
        trace = go.Bar if kind == "bar" else go.Scatter
        kwargs = {} if kind == "bar" else {"mode": "lines"}
        fig.add_trace(trace(x=part[x] if dated else shown(part[x]), y=part[y],
                            name=text(name) if name is not None else y, showlegend=color is not None, **kwargs))
    apply_colors(fig)
    fig.update_layout(title=text(title), height=height, yaxis_title=unit,
                      xaxis_title="day (UTC)" if dated else time_title(),
                      barmode="stack" if kind == "bar" else None, showlegend=True)
    return fig


def ago(when: datetime | pd.Timestamp, now: datetime | None = None) -> str:
    """"HH:MM UTC (N min ago)" (hours or days when longer ago; the date when not today), in the zone times are shown
    in ("HH:MM Europe/Berlin (N min ago)")."""
    now = now or datetime.now(UTC)
    z = ui.zone()
    t = pd.Timestamp(when)
    t = t.tz_localize(UTC) if t.tzinfo is None else t.tz_convert(UTC)
    minutes = max(0, int((pd.Timestamp(now) - t).total_seconds() // 60))
    since = (f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago" if minutes < 48 * 60
             else f"{minutes // 1440} days ago")
    t = t.tz_convert(z)
    day = "" if t.date() == pd.Timestamp(now).tz_convert(z).date() else f"{t:%b %d} "
    return f"{day}{t:%H:%M} {z} ({since})"


LAG = pd.Timedelta(minutes=5)  # a series whose newest point is this much older than the chart's newest is named


def freshness(df: pd.DataFrame, x: str, series: str | None = None, now: datetime | None = None,
              lag: pd.Timedelta = LAG) -> str:
    """What a chart drew, how fresh: "newest point HH:MM UTC (N min ago)", and the series whose newest point is
    over ``lag`` older than that ("; GPU · a to 15:52 UTC (35 min ago)"). Empty for an empty frame."""
    if df.empty or df[x].isna().all():
        return ""
    newest = pd.Timestamp(df[x].max())
    out = f"newest point {ago(newest, now)}"
    if series is not None:
        last = df.groupby(series)[x].max().sort_values()
        late: dict[str, list[str]] = {}  # series that end at the same time are named together
        for name, t in last.items():
            if newest - pd.Timestamp(t) > lag:
                late.setdefault(ago(t, now), []).append(str(name))
        behind = [f"{', '.join(names)} to {when}" for when, names in late.items()]
        if behind:
            out += "; " + "; ".join(behind[:3]) + ("; …" if len(behind) > 3 else "")
    return out


def subtitle(fig: go.Figure, note: str) -> go.Figure:
    """A small grey line under the chart's title (e.g. its :func:`freshness`)."""
    if note:
        fig.update_layout(title_subtitle_text=text(note), title_subtitle_font={"size": 11, "color": "#57606a"})
    return fig


def threshold(fig: go.Figure, y: float, label: str, **where: object) -> go.Figure:
    """A dashed horizontal line at ``y`` (in the chart's unit) labelled ``label`` (an alarm's name and threshold);
    ``where`` takes ``row``/``col`` on a figure of subplots."""
    fig.add_hline(y=y, line_dash="dash", line_width=1.5, line_color=MEANING["threshold"],
                  annotation_text=text(label), annotation_position="bottom right",
                  annotation_font={"size": 10, "color": MEANING["threshold"]},
                  annotation_bgcolor="rgba(255,255,255,0.8)", **where)
    return fig


OPERATORS = {"GreaterThanThreshold": ">", "GreaterThanOrEqualToThreshold": "≥", "LessThanThreshold": "<",
             "LessThanOrEqualToThreshold": "≤", "GreaterThanUpperThreshold": ">", "LessThanLowerThreshold": "<",
             "LessThanLowerOrGreaterThanUpperThreshold": "outside"}


def alarm_thresholds(fig: go.Figure, alarms: pd.DataFrame, unit: str, **where: object) -> go.Figure:
    """The threshold of each alarm in ``alarms`` (rows of ``queries.endpoints.alarms``: alarm_name,
    comparison_operator, threshold and threshold_unit in the alarm's terms, chart_threshold in the chart's
    ``unit``) as a labelled line, e.g. "a-5xx > 50 per 5 min (10 per minute)"."""
    for name, operator, own_value, own_unit, value in alarms[
            ["alarm_name", "comparison_operator", "threshold", "threshold_unit", "chart_threshold"]
    ].itertuples(index=False, name=None):
        if pd.isna(value):
            continue
        op = OPERATORS.get(str(operator), str(operator or ""))
        label = f"{name} {op} " + f"{float(own_value):,.4g} {own_unit or ''}".strip()
        if abs(float(value) - float(own_value)) > 1e-9:
            label += f" ({float(value):,.4g} {unit})"
        threshold(fig, float(value), label, **where)
    return fig


def _placeholder(t: go.BaseTraceType) -> bool:
    """A trace that only holds a legend entry (x = [None])."""
    return t.x is not None and len(t.x) == 1 and t.x[0] is None


def _legend_entry(fig: go.Figure, name: str, c: str, *, dash: str | None = None, square: bool = False) -> None:
    """A legend entry with no data (a kind of marker, a shaded period): nothing to hover, nothing to zoom to."""
    if any(t.name == name and _placeholder(t) for t in fig.data):
        return
    if square:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                 marker={"symbol": "square", "size": 12, "color": c}))
    else:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, hoverinfo="skip",
                                 line={"color": c, "dash": dash or "solid", "width": 1.5}))


def shade_periods(fig: go.Figure, periods: pd.DataFrame, start: str = "start", end: str = "end",
                  label: str = "in ALARM") -> go.Figure:
    """Shade each [start, end) of ``periods`` (ALARM periods) in the alarm colour, with one legend entry."""
    fill = "rgba(207,34,46,0.12)"
    for s, e in periods[[start, end]].itertuples(index=False, name=None):
        fig.add_vrect(x0=shown(s), x1=shown(e), fillcolor=fill, line_width=0, layer="below")
    if not periods.empty:
        _legend_entry(fig, label, fill, square=True)
    return fig


def _span(fig: go.Figure, times: pd.Series) -> tuple[pd.Timestamp, pd.Timestamp]:
    xs = [pd.to_datetime(pd.Series(list(t.x)), utc=True, errors="coerce") for t in fig.data
          if t.x is not None and len(t.x) and not _placeholder(t)]
    allx = pd.concat([*xs, pd.to_datetime(times, utc=True)]).dropna()
    return allx.min(), allx.max()


LABEL_CHARS = 30  # a change marker's label, cut to this many characters (the whole of it on hover)


def mark_events(fig: go.Figure, events: pd.DataFrame, at: str = "time", label: str = "label", kind: str = "kind", *,
                width_px: int = 880, rows: int = 3) -> go.Figure:
    """Dotted vertical lines for deploys, rollbacks, scaling and configuration changes, in their kind's colour,
    with a legend entry per kind. Labels are horizontal at the top of the plot, each on the first of ``rows``
    lines where it overlaps no other label (estimated for a plot ``width_px`` wide); a label that fits on none is
    a small ▾ whose text shows on hover, like every label's full text."""
    if events.empty:
        return fig
    ev = events.sort_values(at, kind="stable")
    ev = ev.copy()
    ev[at] = shown(ev[at])  # the wall-clock times of the axis (the traces are converted alike)
    lo, hi = _span(fig, ev[at])
    width = max((hi - lo).total_seconds(), 1.0)
    placed: list[list[tuple[float, float]]] = [[] for _ in range(rows)]
    for r in ev.itertuples():
        t = getattr(r, at)
        what = str(getattr(r, kind, "") or "")
        c = color(what) or GRAY
        fig.add_vline(x=t, line_dash="dot", line_width=1.2, line_color=c, opacity=0.8)
        full = str(getattr(r, label))
        short = full if len(full) <= LABEL_CHARS else full[:LABEL_CHARS - 1] + "…"
        at_x = pd.Timestamp(t)
        at_x = at_x.tz_localize(UTC) if at_x.tzinfo is None else at_x  # as _span reads the axis (naive: as UTC)
        x_px = (at_x - lo).total_seconds() / width * width_px
        w = 5.0 * len(short) + 10
        right = x_px + w > width_px  # near the right edge the label ends at its line
        box = (x_px - w, x_px) if right else (x_px, x_px + w)
        row = next((i for i, boxes in enumerate(placed)
                    if all(box[1] + 4 <= b0 or box[0] >= b1 + 4 for b0, b1 in boxes)), None)
        hover = text(f"{pd.Timestamp(t):%Y-%m-%d %H:%M} {ui.zone()} · {full}")
        if row is None:
            fig.add_annotation(x=t, y=1, yref="paper", text="▾", showarrow=False, yanchor="bottom",
                               font={"size": 10, "color": c}, hovertext=hover)
            continue
        placed[row].append(box)
        fig.add_annotation(x=t, y=1 - 0.09 * row, yref="paper", text=text(short), hovertext=hover, showarrow=False,
                           xanchor="right" if right else "left", yanchor="top", xshift=-2 if right else 2,
                           font={"size": 10, "color": c}, bgcolor="rgba(255,255,255,0.8)")
    for k in dict.fromkeys(str(v) for v in ev[kind]) if kind in ev.columns else []:
        _legend_entry(fig, k, color(k) or GRAY, dash="dot")
    fig.update_layout(showlegend=True)
    return fig



ALERT_LANES = 4  # rules get a lane each under the plot's data; a fifth and later share the last one
_LANE, _LANE_GAP = 0.065, 0.02  # a lane's height and the gap under it, as fractions of the plot's height (~11 px)


def alert_label(severity: object) -> str:
    """The legend entry of Sextant's alerts of one severity ("Sextant alert, critical")."""
    return f"Sextant alert, {severity}"


def _axes(fig: go.Figure, where: dict[str, Any]) -> tuple[str, str]:
    """The layout names of the x and y axes of the subplot ``where`` names (row/col), or of a plain figure."""
    if "row" in where:
        sub = fig.get_subplot(where["row"], where.get("col", 1))
        return sub.xaxis.plotly_name, sub.yaxis.plotly_name
    return "xaxis", "yaxis"


def alert_marks(fig: go.Figure, episodes: pd.DataFrame, *, width_px: int = 880, **where: Any) -> go.Figure:
    """Sextant's own alert episodes (rows of ``queries.incidents.alert_episodes``) as strips in lanes under the
    plot's data, from firing to resolved (clipped to the window: ``start``/``end``; an episode that never fired is not
    drawn), in their severity's colour (critical red, warning amber, info blue), one lane per rule: the y axis gives up
    the bottom of its height to the lanes, so a strip never hides a line. Each strip starts with a ⚠ and the rule's
    name (just ⚠ where the name would overlap its lane's previous one; nothing where that ⚠ would, a flapping rule)
    whose hover names the rule, severity, fired and resolved times in the shown zone, the value that fired it and the
    threshold; one legend entry per severity.
    ``where`` takes ``row``/``col`` on a figure of subplots. The CloudWatch alarms' ALARM periods are shaded the full
    height (:func:`shade_periods`): the two never look alike."""
    drawn = episodes[episodes.start.notna() & episodes.end.notna()] if not episodes.empty else episodes
    if drawn.empty:
        return fig
    drawn = drawn.sort_values("start", kind="stable")
    drawn = drawn.assign(x0=shown(drawn.start), x1=shown(drawn.end), fired=shown(drawn.fired_at),
                         resolved=shown(drawn.resolved_at))  # the axis's clock, converted once
    lanes = {rule: min(i, ALERT_LANES - 1) for i, rule in enumerate(dict.fromkeys(drawn.rule))}
    xname, yname = _axes(fig, where)
    d0, d1 = fig.layout[yname].domain or (0.0, 1.0)
    height = d1 - d0
    reserved = (max(lanes.values()) + 1) * (_LANE + _LANE_GAP) + _LANE_GAP
    fig.layout[yname].domain = (d0 + reserved * height, d1)  # the data above the lanes
    fig.layout[xname].update(anchor="free", position=d0)  # the time axis under them
    xref = xname.replace("axis", "")
    lo, hi = _span(fig, pd.concat([drawn.x0, drawn.x1]))
    width = max((hi - lo).total_seconds(), 1.0)
    right_edge: dict[int, float] = {}  # per lane: where its last name ends, and its last ⚠ (estimated pixels)
    marked: dict[int, float] = {}
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    z = ui.zone()
    for r in drawn.itertuples():
        c = color(r.severity) or GRAY
        lane = lanes[r.rule]
        y0 = d0 + (_LANE_GAP + lane * (_LANE + _LANE_GAP)) * height
        y1 = y0 + _LANE * height
        x0, x1 = r.x0, r.x1
        shapes.append({"type": "rect", "xref": xref, "yref": "paper", "x0": x0, "x1": x1, "y0": y0, "y1": y1,
                       "fillcolor": c, "opacity": 0.45, "line": {"width": 0}, "layer": "below"})
        at = pd.Timestamp(x0)
        at = at.tz_localize(UTC) if at.tzinfo is None else at  # as _span reads the axis (naive: as UTC)
        x_px = (at - lo).total_seconds() / width * width_px
        if x_px < marked.get(lane, -1e9) + 10:  # a flapping rule: its ⚠ would cover the one just before
            continue
        marked[lane] = x_px
        fired = f"fired {r.fired:%Y-%m-%d %H:%M} {z}"
        until = (f"resolved {r.resolved:%Y-%m-%d %H:%M} {z}" if pd.notna(r.resolved)
                 else "still firing")
        value = "–" if pd.isna(r.fired_value) else f"{float(r.fired_value):.4g}"
        limit = f"{r.comparison or ''} {float(r.threshold):.4g}".strip() if pd.notna(r.threshold) else "–"
        lines = [f"Sextant alert {r.rule} ({r.severity})", f"{fired}, {until}",
                 f"value {value} when it fired, threshold {limit}"]
        if isinstance(r.description, str) and r.description:
            lines.append(r.description)
        hover = "<br>".join(text(line) for line in lines)
        name = str(r.rule)
        short = name if len(name) <= LABEL_CHARS else name[:LABEL_CHARS - 1] + "…"
        label = f"⚠ {short}" if x_px >= right_edge.get(lane, -1e9) + 4 else "⚠"
        right_edge[lane] = max(right_edge.get(lane, -1e9), x_px + 5.5 * len(label) + 6)
        notes.append({"x": x0, "y": (y0 + y1) / 2, "xref": xref, "yref": "paper", "text": text(label),
                      "hovertext": hover, "showarrow": False, "xanchor": "left", "yanchor": "middle", "xshift": 2,
                      "font": {"size": 10, "color": "#24292f"}})
    # added at once: one add_shape / add_annotation per episode copies every shape before it (300 episodes: 37 s)
    fig.update_layout(shapes=[*fig.layout.shapes, *shapes], annotations=[*fig.layout.annotations, *notes])
    for severity in dict.fromkeys(str(s) for s in drawn.severity):
        _legend_entry(fig, alert_label(severity), color(severity) or GRAY, square=True)
    fig.update_layout(showlegend=True)
    return fig
