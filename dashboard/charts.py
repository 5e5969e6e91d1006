"""One Plotly template for every chart, and builders that put units and the time zone on the axes.

Plotly renders a subset of HTML (links included) in trace names, titles and annotations: every text that may come
from AWS (a team tag, an endpoint name, an event label) goes through :func:`text` first."""

from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

TEMPLATE = "sextant"
COLORS = ["#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#0969da", "#bf3989", "#57606a"]

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
pio.templates.default = "plotly+" + TEMPLATE


def text(value: object) -> str:
    """``value`` as literal text in a Plotly label (HTML escaped)."""
    return html.escape(str(value), quote=False)


def time_series(df: pd.DataFrame, x: str, y: str, color: str | None = None, *, title: str, unit: str,
                kind: str = "line", height: int = 300) -> go.Figure:
    """A time chart with the unit on the y axis and UTC on the x axis."""
    fig = go.Figure()
    groups = [(None, df)] if color is None else list(df.groupby(color, sort=True))
    for name, part in groups:
        trace = go.Bar if kind == "bar" else go.Scatter
        kwargs = {} if kind == "bar" else {"mode": "lines"}
        fig.add_trace(trace(x=part[x], y=part[y], name=text(name) if name is not None else y, **kwargs))
    fig.update_layout(title=text(title), height=height, yaxis_title=unit, xaxis_title="time (UTC)",
                      barmode="stack" if kind == "bar" else None, showlegend=color is not None)
    return fig


def mark_events(fig: go.Figure, events: pd.DataFrame, at: str = "time", label: str = "label") -> go.Figure:
    """Vertical dashed lines for configuration changes, deploys and scaling, labelled on hover."""
    for row in events.itertuples():
        fig.add_vline(x=getattr(row, at), line_dash="dot", line_color="rgba(110,110,110,0.7)")
        fig.add_annotation(x=getattr(row, at), y=1, yref="paper", text=text(str(getattr(row, label))[:40]),
                           showarrow=False, textangle=-90, xanchor="right", yanchor="top",
                           font={"size": 10, "color": "gray"})
    return fig
