"""Small shared pieces of page UI: tables with CSV/Parquet downloads, empty states, money, AWS text made safe.

Tables read like a console, not like a DataFrame: every column without a label of its own gets a human header
from its name (:func:`header`: ``cost_usd`` -> "Cost ($)", ``account_id`` -> "Account"), missing values are drawn
blank (never "None"), the grid is as tall as its rows (up to :data:`MAX_ROWS`), datetimes say their zone, and
pages put the columns a user came for first (:func:`first`) and show AWS enums in words (:func:`enums`).

Times are stored and queried in UTC and shown in the zone the viewer picked in the sidebar (:func:`zone`: UTC unless
they chose their browser's zone): tables convert their datetime columns for display only, and captions format a time
with :func:`when`, which names the zone."""

from __future__ import annotations

import functools
import io
import math
import re
import string
import zoneinfo
from datetime import datetime
from typing import Any

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

_TAG = re.compile(r"<[A-Za-z!/?][^<>]*(?:>|$)")  # a tag, or one cut off at the end
_ESCAPE = {ord(c): "\\" + c for c in string.punctuation}
_SPACE = re.compile(r"\s+")

ROW_HEIGHT = 35  # Streamlit's default row (and header) height in pixels
MAX_ROWS = 15  # a table taller than this scrolls inside its grid

# Name tokens that are written differently in a header: acronyms, and units that move to the end in brackets.
_ACRONYMS = {"api", "arn", "aws", "cpu", "gpu", "id", "ip", "kms", "s3", "sql", "url", "uri", "vpc", "ecr", "iam",
             "ml", "az", "ami", "sns", "sqs", "ce", "oidc", "rpm", "json", "csv", "utc"}
_UNITS = {"usd": "$", "ms": "ms", "pct": "%", "s": "s", "sec": "s", "min": "min", "h": "h", "hours": "h",
          "utc": "UTC", "gb": "GB", "mb": "MB", "bytes": "bytes", "rpm": "per minute"}
_WINDOWS = re.compile(r"^(\d+)(m|h|d)$")  # 24h -> 24 h, 7d -> 7 d
_PERCENTILE = re.compile(r"^p\d{2}$")  # p50, p99 stay lowercase
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_ENUM_CAMEL = re.compile(r"[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*")  # InService, PendingManualApproval
_ENUM_UPPER = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")  # INSUFFICIENT_DATA


def plain(value: object, missing: str = "–") -> str:
    """``value`` (a tag value, a name, a failure or alarm reason, a log line: anything AWS or a user supplied) as
    text for an element that renders Markdown (st.markdown, st.caption, st.subheader, st.warning, labels, help):
    HTML tags removed, every ASCII punctuation character escaped with a backslash (so no link, image, emphasis,
    code span, heading, table, autolink, ``:color[...]`` or ``:material/...:`` directive and no ``$`` math can form),
    line breaks and runs of white space folded into one space. None and NaN read as ``missing``."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return missing
    text = _SPACE.sub(" ", _TAG.sub("", str(value))).strip()
    return text.translate(_ESCAPE) if text else missing


UTC = "UTC"
ZONE_STATE = "_zone"  # the zone the sidebar chose for this session's times (dashboard.filters draws the picker)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {UTC}


def known_zone(name: object) -> str | None:
    """``name`` when it is a time zone name this machine knows (IANA: "Europe/Berlin", "UTC"), else None."""
    return name if isinstance(name, str) and name in _zones() else None


def zone() -> str:
    """The zone times are shown in: the viewer's choice in the sidebar ("Times in"), UTC by default (and outside a
    Streamlit run). The store and the queries stay in UTC; only what is shown is converted."""
    if get_script_run_ctx(suppress_warning=True) is None:
        return UTC
    return known_zone(st.session_state.get(ZONE_STATE)) or UTC


def local(t: datetime | pd.Timestamp | Any) -> pd.Timestamp:
    """``t`` (a UTC time; naive is read as UTC) in the zone times are shown in (:func:`zone`)."""
    ts = pd.Timestamp(t)
    return (ts.tz_localize(UTC) if ts.tzinfo is None else ts).tz_convert(zone())


def when(t: datetime | pd.Timestamp | Any, fmt: str = "%Y-%m-%d %H:%M", missing: str = "–") -> str:
    """``t`` formatted in the zone times are shown in, followed by the zone's name: "2026-12-03 14:05 UTC",
    "2026-12-03 15:05 Europe/Berlin". A missing time reads ``missing``."""
    if t is None or pd.isna(t):
        return missing
    return f"{local(t).strftime(fmt)} {zone()}"


def money(x: float | None, digits: int = 0) -> str:
    return "–" if x is None or pd.isna(x) else f"${x:,.{digits}f}"


def empty(message: str) -> None:
    """An empty state that says what to do next."""
    st.info(message, icon=":material/info:")


def header(name: object, *, datetime: bool = False) -> str:
    """A human header for a column named ``name``: snake_case in words with the first letter capitalized,
    acronyms in capitals (``api_calls`` -> "API calls"), a trailing ``_id`` dropped (``account_id`` -> "Account"),
    windows spaced (``invocations_24h`` -> "Invocations, 24 h"), units moved to the end in brackets
    (``cost_usd`` -> "Cost ($)", ``p99_ms`` -> "p99 (ms)", ``share_pct`` -> "Share (%)", ``duration_s`` ->
    "Duration (s)"); ``usd_per_hour`` reads "$ per hour", ``alarm_name`` "Alarm". ``datetime`` columns say
    "(UTC)" (``started_at`` -> "Started (UTC)"); ``ts`` is "Time"."""
    text = str(name)
    if not re.fullmatch(r"[A-Za-z0-9_]+", text) or "_" not in text and not text.islower():
        return text  # already a label (or not a plain identifier): keep it as written
    tokens = [t for t in text.lower().split("_") if t]
    if not tokens:
        return text
    if tokens == ["ts"]:
        tokens = ["time"]
    unit = None
    if len(tokens) > 1 and tokens[-1] in _UNITS:
        unit = _UNITS[tokens.pop()]
    if len(tokens) > 1 and tokens[-1] in ("id", "name"):
        tokens.pop()  # account_id -> Account, alarm_name -> Alarm
    if datetime and len(tokens) > 1 and tokens[-1] in ("at", "ts"):
        tokens.pop()  # started_at -> Started (UTC)
    words: list[str] = []
    window = None
    for i, t in enumerate(tokens):
        m = _WINDOWS.match(t)
        if m and i == len(tokens) - 1 and i > 0:
            window = f"{m.group(1)} {m.group(2)}"
        elif t == "usd":
            words.append("$")
        elif t in _ACRONYMS:
            words.append(t.upper())
        else:
            words.append(t)
    if words and words[0] == words[0].lower() and not _PERCENTILE.match(words[0]) and words[0] != "$":
        words[0] = words[0][:1].upper() + words[0][1:]
    label = " ".join(words) if words else (window or text)
    if window and words:
        label += f" {window}" if words[-1].lower() in ("last", "previous", "prev", "next", "per") else f", {window}"
    if unit and unit != "UTC":
        label += f" ({unit})"
    if datetime or unit == "UTC":
        label += " (UTC)"
    return label


def words(value: object) -> object:
    """An AWS enum value in words: ``PendingManualApproval`` -> "Pending manual approval", ``InService`` ->
    "In service", ``INSUFFICIENT_DATA`` -> "Insufficient data". Capitals-only values without underscores
    (``OK``, ``ALARM``) and anything else (names, numbers, missing values) are returned as they are."""
    if not isinstance(value, str):
        return value
    if _ENUM_CAMEL.fullmatch(value):
        parts = _CAMEL.split(value)
    elif _ENUM_UPPER.fullmatch(value):
        parts = value.lower().split("_")
    else:
        return value
    out = [parts[0][:1].upper() + parts[0][1:]] + [p if p.isupper() and len(p) > 1 else p.lower() for p in parts[1:]]
    return " ".join(out)


def enums(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``df`` with the enum values of ``columns`` (status, approval, state...) in words (:func:`words`), for
    display: the page keeps the raw values for its own logic. Columns not in ``df`` are ignored."""
    present = [c for c in columns if c in df.columns]
    return df.assign(**{c: df[c].map(words) for c in present}) if present else df


def first(df: pd.DataFrame, *columns: str) -> pd.DataFrame:
    """``df`` with ``columns`` (those present) first, in that order, and the rest after them as they were: the
    columns a user came for are in the first screen of a wide table."""
    lead = [c for c in columns if c in df.columns]
    return df[lead + [c for c in df.columns if c not in lead]]


def plural(n: int, noun: str, many: str | None = None) -> str:
    """``1 endpoint``, ``2 endpoints`` (``many`` for irregular plurals)."""
    return f"{n:,} {noun if n == 1 else (many or noun + 's')}"


def fit_height(rows: int, cap: int | None = None) -> int:
    """The pixel height of a grid that shows its header and ``rows`` rows (at most :data:`MAX_ROWS`, or at most
    ``cap`` pixels) without empty space under them."""
    fitted = ROW_HEIGHT * (min(rows, MAX_ROWS) + 1) + 3  # header + rows + the grid's border
    return min(fitted, cap) if cap else fitted


def capitalized(label: str) -> str:
    """``label`` with its first letter in capitals ("last 7 d" -> "Last 7 d"), except a percentile ("p99 now")."""
    if not label[:1].islower() or re.match(r"p\d{2}\b", label):
        return label
    return label[:1].upper() + label[1:]


def human_config(df: pd.DataFrame, column_config: dict[str, Any] | None = None) -> dict[str, Any]:
    """``column_config`` completed for ``df``: a column with no label of its own gets :func:`header` of its name; a
    datetime column with no configuration a UTC datetime column (a date when every value is at midnight); every
    label starts with a capital (:func:`capitalized`), so one table does not mix "cost" and "Team"."""
    config: dict[str, Any] = dict(column_config or {})
    for name in df.columns:
        given = config.get(name, ...)
        if given is None:
            continue  # hidden
        if isinstance(given, str):
            config[name] = capitalized(given)
            continue
        if isinstance(given, dict) and given.get("label"):
            config[name] = {**given, "label": capitalized(given["label"])}
            continue
        is_time = pd.api.types.is_datetime64_any_dtype(df[name])
        if given is ...:
            if is_time:
                times = df[name].dropna()
                dated = times.empty or bool((times == times.dt.normalize()).all())
                config[name] = st.column_config.DatetimeColumn(header(name, datetime=True),
                                                               format="YYYY-MM-DD" if dated else "YYYY-MM-DD HH:mm")
            else:
                config[name] = header(name)
        elif isinstance(given, dict) and not given.get("label"):
            config[name] = {**given, "label": header(name, datetime=is_time)}
    shown = zone()
    if shown != UTC:
        config = {name: in_zone(c, shown) for name, c in config.items()}
    return config


_HOURS = re.compile(r"[Hhk]")  # a moment.js format that shows the time of day


def in_zone(config: Any, name: str) -> Any:
    """A column's configuration with its times shown in the zone ``name``: a datetime column whose format shows the
    time of day gets that zone (the data stays UTC: the grid converts what it draws) and its label names the zone
    instead of UTC ("Time (UTC)" -> "Time (Europe/Berlin)"). Days (a format without hours: a bill's day, a UTC day)
    and every other column are left as they are."""
    if not isinstance(config, dict):
        return config
    types = config.get("type_config") or {}
    fmt = types.get("format")
    if types.get("type") != "datetime" or types.get("timezone") or (fmt and not _HOURS.search(str(fmt))):
        return config
    label = config.get("label")
    return {**config, "type_config": {**types, "timezone": name},
            "label": re.sub(r"\bUTC\b", name, label) if isinstance(label, str) else label}


def table(df: pd.DataFrame, key: str, *, column_config: dict[str, Any] | None = None, height: int | None = None,
          on_select: str = "ignore", selection_mode: str | list[str] = "single-row", downloads: bool = True,
          human: bool = True) -> Any:
    """A dataframe with CSV and Parquet downloads under it (unless ``downloads`` is False); returns the selection
    event when selectable. Columns without a label get a human header (:func:`human_config`), missing values are
    drawn blank, and the grid is as tall as its rows: ``height`` is a maximum, never empty space to fill.
    ``human=False`` keeps the column names as headers (a SQL result, where the name is what the user wrote)."""
    config = human_config(df, column_config) if human else dict(column_config or {})
    kwargs = {"hide_index": True, "width": "stretch", "column_config": config, "key": key,
              "placeholder": "", "height": fit_height(len(df), height)}
    if on_select != "ignore":
        kwargs.update(on_select=on_select, selection_mode=selection_mode)
    event = st.dataframe(df, **kwargs)
    if not downloads:
        return event
    c1, c2, _ = st.columns([1, 1, 6])
    # The files are built when a download is clicked (a callable ``data``), not on every rerun of every page: a
    # large result is not copied twice more into memory just in case.
    c1.download_button("CSV", lambda: csv_bytes(df), f"{key}.csv", "text/csv", key=f"{key}_csv",
                       icon=":material/download:")
    c2.download_button("Parquet", lambda: parquet_bytes(df), f"{key}.parquet", "application/vnd.apache.parquet",
                       key=f"{key}_parquet", icon=":material/download:")
    return event


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode()


def parquet_bytes(df: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return buf.getvalue()
