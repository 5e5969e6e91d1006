"""dashboard.queries.logs on tiny stores: the search condition, events newest first, counts per bucket, resources."""

from __future__ import annotations

from datetime import timedelta

from dashboard.queries import logs as lq
from tests.dashboard.queries.conftest import END

ACCOUNT = "111111111111"
REGION = "us-east-1"
START = END - timedelta(hours=1)


def _line(i, minutes_before_end, level="INFO", message="ok", endpoint="a", job=None, account=ACCOUNT, region=REGION):
    return {"account_id": account, "region": region, "log_group": "/aws/sagemaker/Endpoints/x", "log_stream": "s",
            "event_id": str(i), "ts": END - timedelta(minutes=minutes_before_end), "level": level,
            "message": message, "endpoint_name": None if job else endpoint, "training_job_name": job,
            "variant_name": None if job else "AllTraffic"}


LINES = [
    _line(1, 50, "ERROR", "CUDA out of memory"),
    _line(2, 40, "INFO", "request served"),
    _line(3, 30, "WARN", "Timeout talking to model"),
    _line(4, 20, "ERROR", "upstream timeout"),
    _line(5, 90, "ERROR", "before the window"),
    _line(6, 0, "ERROR", "at the window end"),
    _line(7, 10, "ERROR", "training failed", job="job-1"),
    _line(8, 15, "ERROR", "other endpoint", endpoint="b"),
]


def test_log_events_are_newest_first_within_the_window(tiny_store):
    tiny_store(aws_logs_event=LINES)
    df = lq.log_events(START, END)
    assert df.message.tolist() == ["training failed", "other endpoint", "upstream timeout",
                                   "Timeout talking to model", "request served", "CUDA out of memory"]
    assert df.resource.tolist()[:2] == ["job-1", "b"]
    assert str(df.ts.dt.tz) == "UTC"
    assert len(lq.log_events(START, END, limit=2)) == 2


def test_log_search_filters_text_case_blind_levels_and_resource(tiny_store):
    tiny_store(aws_logs_event=LINES)
    assert lq.log_events(START, END, text="TIMEOUT").message.tolist() == ["upstream timeout",
                                                                          "Timeout talking to model"]
    assert lq.log_events(START, END, levels=["ERROR"], endpoint="a").message.tolist() == [
        "upstream timeout", "CUDA out of memory"]
    assert lq.log_events(START, END, levels=["WARN", "INFO"], endpoint="a").level.tolist() == ["WARN", "INFO"]
    assert lq.log_events(START, END, job="job-1").message.tolist() == ["training failed"]


def test_an_endpoint_name_in_two_accounts_keeps_the_account_filter(tiny_store):
    tiny_store(aws_logs_event=[_line(1, 5, message="mine"), _line(2, 6, message="theirs", account="222222222222")],
               aws_sagemaker_endpoint=[{"account_id": a, "region": REGION, "endpoint_name": "a"}
                                       for a in (ACCOUNT, "222222222222")])
    assert lq.log_events(START, END, endpoint="a", accounts=(ACCOUNT,)).message.tolist() == ["mine"]


def test_log_counts_bucket_by_the_span_and_level(tiny_store):
    tiny_store(aws_logs_event=LINES)
    counts = lq.log_counts(START, END, endpoint="a")
    assert counts.events.sum() == 4  # a's lines in the window
    assert (counts.ts.diff().dropna() >= timedelta(minutes=1)).all()  # one-minute buckets for an hour
    wide = lq.log_counts(END - timedelta(days=1), END, levels=["ERROR"])
    assert set(wide.level) == {"ERROR"} and wide.events.sum() == 5
    assert all(ts.minute % 5 == 0 for ts in wide.ts)  # five-minute buckets for a day
    assert list(lq.log_counts(START, END, text="nothing matches").columns) == ["ts", "level", "events"]


def test_log_resources_rank_by_errors(tiny_store):
    tiny_store(aws_logs_event=LINES)
    res = lq.log_resources(START, END)
    rows = res[["kind", "name", "events", "errors"]].values.tolist()
    assert rows[0] == ["endpoint", "a", 4, 2]  # most errors first; the two tied after it in either order
    assert sorted(rows[1:]) == [["endpoint", "b", 1, 1], ["training job", "job-1", 1, 1]]


def test_log_queries_of_an_empty_store_keep_their_columns(tiny_store):
    tiny_store()
    assert lq.log_events(START, END).empty
    assert list(lq.log_resources(START, END).columns) == ["kind", "name", "events", "errors"]


def test_the_bucket_of_the_counts_is_named_by_the_window_not_guessed_from_the_data():
    """The chart's axis read "lines per 0 min" (the bucket was guessed from two levels sharing a minute)."""
    assert [lq.bucket_seconds(END - span, END) for span in
            (timedelta(hours=1), timedelta(hours=6), timedelta(days=1), timedelta(days=7))] == [60, 60, 300, 3600]
