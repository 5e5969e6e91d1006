"""dashboard.ui's table helpers: human headers, enums in words, blanks for missing values, fitted heights."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import ui


@pytest.mark.parametrize(("name", "label"), [
    ("alarm_name", "Alarm"),
    ("state_value", "State value"),
    ("current_instance_count", "Current instance count"),
    ("account_id", "Account"),
    ("run_id", "Run"),
    ("cost_usd", "Cost ($)"),
    ("monthly_saving_usd", "Monthly saving ($)"),
    ("usd_per_hour", "$ per hour"),
    ("p99_now_ms", "p99 now (ms)"),
    ("cpu_p95_pct", "CPU p95 (%)"),
    ("duration_s", "Duration (s)"),
    ("api_calls", "API calls"),
    ("invocations_24h", "Invocations, 24 h"),
    ("error_rate_24h_pct", "Error rate, 24 h (%)"),
    ("last_7d_usd", "Last 7 d ($)"),
    ("ts", "Time"),
    ("region", "Region"),
    ("Endpoint config", "Endpoint config"),  # a label already: kept
    ("$ / 1k inferences", "$ / 1k inferences"),
])
def test_header_turns_a_column_name_into_words_and_units(name, label):
    assert ui.header(name) == label


def test_header_of_a_datetime_column_states_utc():
    assert ui.header("started_at", datetime=True) == "Started (UTC)"
    assert ui.header("creation_time", datetime=True) == "Creation time (UTC)"
    assert ui.header("ts", datetime=True) == "Time (UTC)"
    assert ui.header("window_utc") == "Window (UTC)"


@pytest.mark.parametrize("name", ["alarm_name", "hot_every_s", "series_promoted", "promoted_monthly_usd",
                                  "max_score", "status_code", "endpoint_config_name", "x_1_y"])
def test_no_header_is_snake_case(name):
    assert "_" not in ui.header(name)


@pytest.mark.parametrize(("value", "text"), [
    ("PendingManualApproval", "Pending manual approval"),
    ("InService", "In service"),
    ("InProgress", "In progress"),
    ("GreaterThanThreshold", "Greater than threshold"),
    ("INSUFFICIENT_DATA", "Insufficient data"),
    ("Completed", "Completed"),
    ("OK", "OK"),
    ("ALARM", "ALARM"),
    ("ml.m5.large", "ml.m5.large"),
    ("fraud-txn-scorer-prod", "fraud-txn-scorer-prod"),
    ("", ""),
])
def test_words_spells_enum_values(value, text):
    assert ui.words(value) == text


def test_enums_maps_only_the_named_columns_and_keeps_missing_values():
    df = pd.DataFrame({"status": ["InService", None, "RollingBack"], "name": ["InService", "a", "b"]})
    out = ui.enums(df, "status", "not_there")
    assert out.status.iloc[0] == "In service" and out.status.iloc[2] == "Rolling back"
    assert pd.isna(out.status.iloc[1])
    assert list(out.name) == ["InService", "a", "b"]
    assert (df.status.iloc[0], df.status.iloc[2]) == ("InService", "RollingBack")  # the page's frame is untouched


def test_first_puts_the_key_columns_first_and_keeps_the_rest_in_order():
    df = pd.DataFrame(columns=["account_id", "region", "endpoint_name", "p99_ms", "team"])
    assert list(ui.first(df, "endpoint_name", "p99_ms", "missing").columns) == [
        "endpoint_name", "p99_ms", "account_id", "region", "team"]


def test_plural():
    assert ui.plural(1, "endpoint") == "1 endpoint"
    assert ui.plural(0, "endpoint") == "0 endpoints"
    assert ui.plural(1200, "entry", "entries") == "1,200 entries"


def test_fit_height_fits_the_rows_up_to_a_cap():
    assert ui.fit_height(1) == 2 * ui.ROW_HEIGHT + 3
    assert ui.fit_height(3) < ui.fit_height(9) < ui.fit_height(100) == ui.fit_height(ui.MAX_ROWS)
    assert ui.fit_height(100, 300) == 300  # a page's height is a maximum
    assert ui.fit_height(2, 460) == 3 * ui.ROW_HEIGHT + 3  # ...not empty space to fill


def test_human_config_labels_every_unlabelled_column():
    df = pd.DataFrame({"alarm_name": ["a"], "cost_usd": [1.0], "team": ["t"], "hidden_col": [1],
                       "when": pd.to_datetime(["2026-12-01 10:30"]), "day": pd.to_datetime(["2026-12-01"])})
    config = ui.human_config(df, {"team": "team", "hidden_col": None,
                                  "cost_usd": {"type_config": {"type": "number"}}})
    assert config["alarm_name"] == "Alarm"
    assert config["team"] == "Team"  # the page's label, capitalized
    assert config["hidden_col"] is None
    assert config["cost_usd"]["label"] == "Cost ($)" and config["cost_usd"]["type_config"] == {"type": "number"}
    assert config["when"]["label"] == "When (UTC)" and config["when"]["type_config"]["format"] == "YYYY-MM-DD HH:mm"
    assert config["day"]["type_config"]["format"] == "YYYY-MM-DD"


def test_capitalized_keeps_percentiles_lowercase():
    assert ui.capitalized("last 7 d") == "Last 7 d"
    assert ui.capitalized("p99, 24 h (worst hour)") == "p99, 24 h (worst hour)"
    assert ui.capitalized("$ / day") == "$ / day"


def _render_table() -> None:
    import pandas as pd

    from dashboard import ui

    df = pd.DataFrame({"alarm_name": ["a", None], "threshold": [1.0, None], "state": ["ALARM", "OK"]})
    ui.table(df, "t", height=600)


def test_table_draws_missing_values_blank_with_human_headers():
    at = AppTest.from_function(_render_table).run()
    assert not at.exception
    proto = at.dataframe[0].proto
    assert proto.placeholder == ""  # Streamlit draws "None" for a missing value unless told otherwise
    assert '"alarm_name": {"label": "Alarm"}' in proto.columns


# ---------------------------------------------------------------------- the zone times are shown in

def test_times_are_utc_outside_a_choice():
    assert ui.zone() == "UTC"
    assert ui.when(pd.Timestamp("2026-12-03 14:05", tz="UTC")) == "2026-12-03 14:05 UTC"
    assert ui.when(None) == "–"
    assert ui.known_zone("Europe/Berlin") == "Europe/Berlin"
    assert ui.known_zone("Mars/Olympus_Mons") is None and ui.known_zone("../../etc/passwd") is None


def _render_times() -> None:
    import pandas as pd
    import streamlit as st

    from dashboard import ui

    at = pd.Timestamp("2026-12-03 14:05", tz="UTC")
    df = pd.DataFrame({"started_at": [at], "day": [at.normalize()], "ts": [at]})
    ui.table(df, "t", column_config={"ts": st.column_config.DatetimeColumn("Time (UTC)", format="HH:mm")})
    st.caption(f"Started {ui.when(at)}")


def _times(zone: str | None) -> tuple[dict, str]:
    import json

    at = AppTest.from_function(_render_times)
    if zone:
        at.session_state[ui.ZONE_STATE] = zone
    at.run()
    assert not at.exception
    return json.loads(at.dataframe[0].proto.columns), at.caption[0].value


def test_a_table_shows_its_times_in_utc_by_default():
    columns, caption = _times(None)
    assert columns["started_at"]["label"] == "Started (UTC)" and not columns["started_at"]["type_config"].get(
        "timezone")
    assert columns["ts"]["label"] == "Time (UTC)"
    assert caption == "Started 2026-12-03 14:05 UTC"


def test_a_chosen_zone_converts_a_tables_times_and_names_the_zone():
    columns, caption = _times("America/New_York")
    for name, label in (("started_at", "Started (America/New_York)"), ("ts", "Time (America/New_York)")):
        assert columns[name]["label"] == label
        assert columns[name]["type_config"]["timezone"] == "America/New_York"  # the grid draws them there
    assert columns["day"]["label"] == "Day (UTC)" and not columns["day"]["type_config"].get("timezone")  # a UTC day
    assert caption == "Started 2026-12-03 09:05 America/New_York"
