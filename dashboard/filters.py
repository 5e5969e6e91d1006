"""Sidebar filters, kept in the URL query parameters so that a link reproduces a view."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import ui

RANGES = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7),
          "30d": timedelta(days=30), "90d": timedelta(days=90)}
RANGE_LABELS = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days", "30d": "Last 30 days",
                "90d": "Last 90 days", "custom": "Custom"}
DEFAULT_RANGE = "24h"
# The query parameters the sidebar reads and writes: a link to another page carries them (``nav.params``), so the
# view it opens keeps the viewer's range and scope. ``refresh`` is the sidebar's auto-refresh toggle, ``tz`` the zone
# times are shown in (absent: UTC).
URL_KEYS = ("range", "from", "to", "account", "region", "team", "project", "refresh", "tz")
ZONE_PARAM = "tz"
_ZONE_WRITTEN = "_f_zone_written"  # the zone this sidebar last wrote to the URL (a different ?tz= is a new link)
_ZONE_UNKNOWN = "_f_zone_unknown"  # a ?tz= that names no known zone, said in the sidebar until the viewer picks one
_CHOSEN = "_f_range_chosen"  # set once the viewer picks a range in the sidebar (this session)
_ASKED = "_f_range_default"  # a page's own default range, asked for by current(default_range=...)


@dataclass(frozen=True)
class Filters:
    start: datetime
    end: datetime
    range_key: str = "24h"
    accounts: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()
    range_given: bool = True  # False when neither the link (?range=) nor the viewer chose the range: a default

    def where(self, alias: str = "", team_col: str = "team", project_col: str = "project",
              accounts: bool = True) -> tuple[str, list]:
        """A parameterized SQL condition for the scope filters (not time), and its parameters."""
        p = f"{alias}." if alias else ""
        parts, params = ["TRUE"], []
        for col, values in (("account_id", self.accounts if accounts else ()), ("region", self.regions),
                            (team_col, self.teams), (project_col, self.projects)):
            if values and col:
                parts.append(f"{p}{col} IN (SELECT unnest(?))")
                params.append(list(values))
        return " AND ".join(parts), params


def _qp_list(name: str) -> list[str]:
    value = st.query_params.get_all(name)
    return [v for v in value if v]


def _range_chosen() -> None:
    st.session_state[_CHOSEN] = True


def sidebar(options: dict[str, list[str]]) -> Filters:
    """Draw the filters; read and write them through st.query_params."""
    qp = st.query_params
    asked = st.session_state.pop(_ASKED, None)
    if asked in RANGES:  # a page's default range (see current): the widget starts again from it
        qp["range"] = asked
        st.session_state.pop("f_range", None)
    # The range is given when the link that opened the session named it, when a later URL names another range than
    # the one this sidebar last wrote (a link, the browser's back button), or when the viewer picks one; otherwise it
    # is a default, and a page may ask for its own (see current). A page switch from the navigation clears the URL;
    # links built with nav.params carry a given range only.
    first_run = "_f_written" not in st.session_state
    if asked is None and "range" in qp and (first_run or qp["range"] != st.session_state["_f_written"]):
        st.session_state[_CHOSEN] = True
        if qp["range"] in RANGE_LABELS:
            st.session_state.pop("f_range", None)  # the link's range, not the one the sidebar held
    with st.sidebar:
        keys = list(RANGE_LABELS)
        current = qp.get("range", DEFAULT_RANGE)
        range_key = st.selectbox("Time range", keys, index=keys.index(current if current in keys else DEFAULT_RANGE),
                                 format_func=RANGE_LABELS.get, key="f_range", on_change=_range_chosen)
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        if range_key == "custom":
            default = (now.date() - timedelta(days=7), now.date())
            try:
                default = (datetime.fromisoformat(qp["from"]).date(), datetime.fromisoformat(qp["to"]).date())
            except (KeyError, ValueError):
                pass
            picked = st.date_input("From – to (UTC)", value=default, max_value=now.date(), key="f_dates")
            if isinstance(picked, tuple) and len(picked) == 2:
                start = datetime.combine(picked[0], datetime.min.time(), UTC)
                end = datetime.combine(picked[1], datetime.min.time(), UTC) + timedelta(days=1)
            else:
                start, end = now - timedelta(days=7), now
            qp["from"], qp["to"] = start.date().isoformat(), (end - timedelta(days=1)).date().isoformat()
        else:
            start, end = now - RANGES[range_key], now
        qp["range"] = range_key
        st.session_state["_f_written"] = range_key
        chosen = {}
        for name, label in (("account", "Account"), ("region", "Region"), ("team", "Team"),
                            ("project", "Project")):
            opts = options.get(name, [])
            default = [v for v in _qp_list(name) if v in opts]
            chosen[name] = st.multiselect(label, opts, default=default, key=f"f_{name}",
                                          placeholder="All")
            if chosen[name]:
                qp[name] = chosen[name]
            elif name in qp:
                del qp[name]
        zone_picker()
    return Filters(start, end, range_key, tuple(chosen["account"]), tuple(chosen["region"]),
                   tuple(chosen["team"]), tuple(chosen["project"]), range_given=bool(st.session_state.get(_CHOSEN)))


def _zone_picked() -> None:
    st.session_state.pop(_ZONE_UNKNOWN, None)  # the viewer chose: the notice about the link's zone has done its work


def zone_picker() -> str:
    """The "Times in" picker: UTC (the default) or the zone of the viewer's browser (``st.context.timezone``), kept in
    the URL as ``?tz=`` (absent for UTC) so that a link shows its times as its author saw them. A ``?tz=`` naming no
    known zone is dropped with a notice, and times stay in UTC. Returns the zone, which ``ui.zone()`` reads for the
    rest of the run; the store and the queries stay in UTC (tables and charts convert what they show)."""
    qp = st.query_params
    asked = qp.get(ZONE_PARAM)
    linked = ui.known_zone(asked)
    if asked and linked is None:  # said until the viewer picks a zone or opens a link with a known one
        st.session_state[_ZONE_UNKNOWN] = asked
        del qp[ZONE_PARAM]
    elif linked:
        st.session_state.pop(_ZONE_UNKNOWN, None)
    unknown = st.session_state.get(_ZONE_UNKNOWN)
    if unknown:
        st.warning(f"Unknown time zone in the link ({ui.plain(unknown)}): times are shown in UTC.",
                   icon=":material/schedule:")
    browser = ui.known_zone(st.context.timezone)
    held = ui.known_zone(st.session_state.get("f_zone"))
    # a link's zone (the first URL of the session, or one that differs from what this sidebar wrote) wins over the
    # zone the picker held; a URL without ?tz= (a page switch from the navigation) keeps the picker's
    if linked and (_ZONE_WRITTEN not in st.session_state or linked != st.session_state[_ZONE_WRITTEN]):
        st.session_state.pop("f_zone", None)
        held = None
    options = list(dict.fromkeys(z for z in (ui.UTC, browser, linked, held) if z))
    picked = st.selectbox("Times in", options, index=options.index(linked) if linked else 0, key="f_zone",
                          on_change=_zone_picked,
                          format_func=lambda z: f"{z} (your browser)" if z == browser and z != ui.UTC else z,
                          help="Tables and charts show times in this zone. The data stays in UTC (downloads too).")
    z = ui.known_zone(picked) or ui.UTC
    if z == ui.UTC:
        qp.pop(ZONE_PARAM, None)
    else:
        qp[ZONE_PARAM] = z
    st.session_state[_ZONE_WRITTEN] = z
    st.session_state[ui.ZONE_STATE] = z
    return z


def current(default_range: str = DEFAULT_RANGE) -> Filters:
    """The filters the shell drew for this run (pages call this).

    ``default_range`` is the page's own default: when neither the URL (``?range=``) nor the viewer chose the range
    and it differs, the app reruns once on that range (the sidebar shows it, the URL says it), so a page opened from
    the navigation starts on a range that suits it (Training: 7 days, where finished jobs are) and a shared link
    still opens on the range it names."""
    f: Filters = st.session_state["_filters"]
    if default_range in RANGES and not f.range_given and f.range_key != default_range:
        st.session_state[_ASKED] = default_range
        st.rerun()
    return f


def _to_url(key: str, param: str) -> None:
    st.query_params[param] = str(st.session_state[key])


def url_widget(key: str, param: str, value: object) -> dict[str, Any]:
    """Keyword arguments for a keyed picker whose value lives in the URL as ``param`` (a page's own: ``?resource=``)
    and is drawn with ``value`` (what the URL names, or the page's default): when the URL names another value than
    the widget holds (a link, a row picked elsewhere on the page), the widget follows the URL; when the viewer picks,
    the URL follows the widget (before the rerun, so the page reads the new value)."""
    if value is not None and key in st.session_state and st.session_state[key] != value:
        del st.session_state[key]
    return {"key": key, "on_change": _to_url, "args": (key, param)}


def url_params(query: object) -> dict[str, str | list[str]]:
    """The sidebar's parameters (:data:`URL_KEYS`) present in ``query`` (st.query_params, or any mapping with
    ``get_all``): one value as a string, several as a list."""
    out: dict[str, str | list[str]] = {}
    for key in URL_KEYS:
        values = [v for v in query.get_all(key) if v]  # type: ignore[attr-defined]
        if values:
            out[key] = values[0] if len(values) == 1 else values
    return out


def pinned_window(f: Filters) -> tuple[datetime, datetime, bool]:
    """The ?start=&end= window a link pinned (ISO times, UTC if no zone), else the sidebar's; and whether pinned."""
    try:
        start = datetime.fromisoformat(st.query_params["start"])
        end = datetime.fromisoformat(st.query_params["end"])
        start = start if start.tzinfo else start.replace(tzinfo=UTC)
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
        if start < end:
            return start, end, True
    except (KeyError, ValueError):
        pass
    return f.start, f.end, False


# ---------------------------------------------------------------------- windows: one definition each
# A figure either follows the sidebar's range (and its header says which: ``span_label``) or has a fixed window
# that ends at ``fixed_end`` (and its header names that window). The fixed windows count complete minutes only, so
# a figure read at :59 and at :01 of an hour differs by the traffic of those minutes, not by an hourly bucket.

def minute_floor(t: datetime) -> datetime:
    """``t`` at the start of its minute (a window ending there holds complete minutes only)."""
    return t.replace(second=0, microsecond=0)


def fixed_end(f: Filters, now: datetime | None = None) -> datetime:
    """Where the fixed windows (the 24-hour traffic, "p99 now") end: the range end at a minute, or the start of the
    current minute when the range ends later (a custom range that takes in today), so they hold complete minutes
    only. The same for every relative range (1 h, 24 h, 7 d, ...): they all end now."""
    return min(minute_floor(f.end), minute_floor(now or datetime.now(UTC)))


def span_label(start: datetime, end: datetime) -> str:
    """A window's length for a header: "1 h", "24 h", "7 d" for the sidebar's ranges, "2 h 10 min" for another
    window under two days, "9 d" for whole days, else its UTC days ("Nov 10 – Nov 16")."""
    length = end - start
    for key, span in RANGES.items():
        if length == span:
            return key.replace("h", " h").replace("d", " d")
    minutes = int(length.total_seconds() // 60)
    if 0 < minutes < 48 * 60:
        h, m = divmod(minutes, 60)
        return " ".join(p for p in (f"{h} h" if h else "", f"{m} min" if m else "") if p)
    if length % timedelta(days=1) == timedelta(0):
        return f"{length.days} d"
    last = end - timedelta(microseconds=1)
    return f"{start:%b %d} – {last:%b %d}"


def duration(seconds: float | None) -> str:
    """A length of time for a reader: "45 s", "12 min", "3.5 h", "2.0 d"; "–" when unknown."""
    if seconds is None or pd.isna(seconds):
        return "–"
    s = int(seconds)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"
