"""dashboard.filters: where the fixed windows end, and how a header names a window's length."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.filters import Filters, fixed_end, span_label

NOW = datetime(2026, 11, 20, 15, 1, 42, tzinfo=UTC)


def test_the_fixed_windows_end_at_the_range_end_for_every_relative_range():
    end = NOW.replace(second=0)
    ends = {fixed_end(Filters(end - span, end, key), now=NOW) for key, span in
            (("1h", timedelta(hours=1)), ("24h", timedelta(days=1)), ("7d", timedelta(days=7)))}
    assert ends == {datetime(2026, 11, 20, 15, 1, tzinfo=UTC)}


def test_the_fixed_windows_hold_complete_minutes_only():
    tomorrow = datetime(2026, 11, 21, tzinfo=UTC)  # a custom range that takes in today ends at midnight
    assert fixed_end(Filters(tomorrow - timedelta(days=7), tomorrow, "custom"), now=NOW) == NOW.replace(second=0)
    past = datetime(2026, 11, 10, tzinfo=UTC)
    assert fixed_end(Filters(past - timedelta(days=7), past, "custom"), now=NOW) == past


def test_a_header_names_the_windows_length():
    end = NOW.replace(second=0)
    assert [span_label(end - d, end) for d in (timedelta(hours=1), timedelta(days=1), timedelta(days=7))] == \
        ["1 h", "24 h", "7 d"]
    assert span_label(end - timedelta(hours=2, minutes=10), end) == "2 h 10 min"
    assert span_label(datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)) == "9 d"
    assert span_label(datetime(2026, 11, 10, 6, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC)) == \
        "Nov 10 – Nov 18"


class _Query(dict):
    def get_all(self, key):
        return list(self.get(key, []))


def test_a_link_to_another_page_carries_the_zone_times_are_shown_in():
    from dashboard.filters import url_params

    assert url_params(_Query(range=["7d"], tz=["Europe/Berlin"], endpoint=["a"])) == \
        {"range": "7d", "tz": "Europe/Berlin"}  # the sidebar's parameters, the zone among them; not the page's own
    assert "tz" not in url_params(_Query(range=["7d"]))  # no zone named: UTC, the default
