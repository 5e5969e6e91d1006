"""What a collector sees (collectors/base.py): the typed cursor, and the store inside its run's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from collectors.base import Context, Cursor, epoch_ms, from_epoch_ms
from sextant.schema import table
from sextant.store import Writer

T = datetime(2026, 11, 30, 10, 15, 30, 250000, tzinfo=UTC)


def test_a_position_is_stored_as_iso_and_read_back_as_the_same_instant():
    c = Cursor()
    c.advance("last_modified", T.astimezone(timezone(timedelta(hours=2))))
    assert c.moved() == {"last_modified": "2026-11-30T10:15:30.250000+00:00"}
    assert Cursor(c.moved()).get("last_modified") == T


def test_a_tuple_key_is_stored_joined_with_a_bar():
    c = Cursor({"abc|p99": "2026-11-30T10:15:30.250000+00:00"})
    assert c.get(("abc", "p99")) == T
    c.advance(("stream:/aws/sagemaker/Endpoints/x", "AllTraffic/i-1"), T)
    assert list(c.moved()) == ["stream:/aws/sagemaker/Endpoints/x|AllTraffic/i-1"]


def test_values_written_by_earlier_versions_are_read():
    stored = {"ms": str(epoch_ms(T)), "day": "2026-11-30", "naive": "2026-11-30T10:15:30.250000"}
    c = Cursor(stored)
    assert c.get("ms") == T  # log cursors were epoch milliseconds
    assert c.get("day") == datetime(2026, 11, 30, tzinfo=UTC)  # the Cost Explorer backfill cursor was a date
    assert c.get("naive") == T


def test_only_the_positions_moved_are_written_and_get_sees_them():
    c = Cursor({"a": "2026-11-30T00:00:00+00:00", "b": "2026-11-30T00:00:00+00:00"})
    assert c.get("missing") is None
    c.advance("b", T)
    assert c.get("b") == T and c.moved() == {"b": T.isoformat()}


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        Cursor().advance("k", datetime(2026, 11, 30))


def test_a_marker_that_is_not_a_time_is_kept_as_text():
    c = Cursor({"discovered_resources": "3f2a"})
    assert c.text("discovered_resources") == "3f2a"
    c.set_text("discovered_resources", "9b1c")
    assert c.moved() == {"discovered_resources": "9b1c"}


def test_epoch_milliseconds_round_trip_exactly():
    for ms in (0, 1, 1_764_497_730_123, 1_764_497_730_999):
        assert epoch_ms(from_epoch_ms(ms)) == ms


def test_delete_removes_only_this_account_and_region_rows(tmp_path):
    thing = table("fake_thing", "A row.", [("k", "VARCHAR", "Key.")], ["k"])
    w = Writer(tmp_path / "store")
    try:
        w.migrate([thing])
        with w.transaction():
            w.upsert(thing, [{"account_id": a, "region": r, "k": k} for a in ("1", "2") for r in ("x", "y")
                             for k in ("gone", "kept")])
            ctx = Context(clients=None, account_id="1", region="x", settings=None,
                          run_sql=lambda sql, params: w.con.execute(sql, params).fetchall())
            ctx.delete(thing, "k", ["gone"])
            left = ctx.sql("SELECT account_id, region, k FROM fake_thing ORDER BY ALL")
    finally:
        w.close()
    assert ("1", "x", "gone") not in left and len(left) == 7


def test_a_context_without_a_store_says_so():
    with pytest.raises(RuntimeError, match="no store"):
        Context(clients=None, account_id="1", region="x", settings=None).sql("SELECT 1")


def test_the_owner_columns_come_from_the_tags_tag_keys_names():
    from sextant.aws import Clients
    from sextant.settings import AccountSettings, CollectSettings, Settings

    tags = {"owner": "vision", "product": "defects", "team": "not-this", "env": "prod"}
    ctx = Context(Clients(AccountSettings()), "123456789012", "us-east-1",
                  Settings(collect=CollectSettings(tag_keys=("owner", "product"))))
    assert ctx.owners(tags) == {"team": "vision", "project": "defects", "env": "prod"}
    default = Context(Clients(AccountSettings()), "123456789012", "us-east-1", Settings())
    assert default.owners(tags) == {"team": "not-this", "project": None, "env": "prod"}
    assert default.owners(None) == {"team": None, "project": None, "env": None}


def test_cost_explorer_groups_by_the_team_and_project_tags_under_their_roles():
    from collectors.cost_explorer import kinds

    tagged = {kind: group for kind, group in kinds(("owner", "product")) if kind.startswith("TAG:")}
    assert tagged == {"TAG:team/SERVICE": [{"Type": "TAG", "Key": "owner"}, {"Type": "DIMENSION", "Key": "SERVICE"}],
                      "TAG:project/SERVICE": [{"Type": "TAG", "Key": "product"},
                                              {"Type": "DIMENSION", "Key": "SERVICE"}]}
