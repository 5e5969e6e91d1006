"""Channels against the emulated account: SNS to an SQS subscriber, an EventBridge rule to an SQS target, and a
local webhook receiver; a failing receiver is retried and recorded while the others deliver; a planted secret never
reaches the store or the logs."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import alerts
from tests.alerts.conftest import T0, traffic

SECRET = "T0SECRET/B0SECRET/xoxb-planted-secret-9f8e7d"


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST body and answers ``status``."""

    def __init__(self, status: int) -> None:
        received: list[dict] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args) -> None:  # the test's output stays quiet
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    ok, broken = Receiver(200), Receiver(500)
    yield ok, broken
    ok.close()
    broken.close()


def queue(account, name: str) -> tuple[str, str]:
    sqs = account.client("sqs")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    return url, sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def drain(account, url: str) -> list[dict]:
    sqs, out = account.client("sqs"), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
        out += [json.loads(m["Body"]) for m in batch]
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_fired_and_resolved_reach_sns_eventbridge_and_webhooks_and_a_failing_one_is_retried(
        account, store, receivers, monkeypatch, caplog):
    ok, broken = receivers
    suffix = str(id(store))
    topic = account.client("sns").create_topic(Name=f"alerts-{suffix}")["TopicArn"]
    sns_url, sns_arn = queue(account, f"sns-sub-{suffix}")
    account.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_arn)
    events = account.client("events")
    bus = f"sextant-{suffix}"
    events.create_event_bus(Name=bus)
    eb_url, eb_arn = queue(account, f"eb-target-{suffix}")
    events.put_rule(Name="sextant-alerts", EventBusName=bus,
                    EventPattern=json.dumps({"source": ["sextant.alerts"], "detail-type": ["Sextant Alert"]}))
    events.put_targets(Rule="sextant-alerts", EventBusName=bus, Targets=[{"Id": "q", "Arn": eb_arn}])
    monkeypatch.setenv("SEXTANT_TEST_SLACK", ok.url(f"services/{SECRET}"))
    monkeypatch.setenv("SEXTANT_TEST_BROKEN", broken.url(f"hooks/{SECRET}"))
    store.configure(base_url="https://sextant.example.com", channels={
        "oncall": {"type": "sns", "target": topic},
        "bus": {"type": "eventbridge", "target": bus},
        "slack": {"type": "webhook", "target_env": "SEXTANT_TEST_SLACK"},
        "broken": {"type": "webhook", "target_env": "SEXTANT_TEST_BROKEN"}})
    caplog.set_level(logging.DEBUG, logger="sextant")

    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 120)])
    store.evaluate(T0)
    first = alerts.deliver(store.writer, store.settings, T0)
    assert first.sent == {"oncall": 1, "bus": 1, "slack": 1} and first.failed == {"broken": 1}
    for minute in (1, 2):  # repeated cycles: nothing new to send
        store.evaluate(T0 + timedelta(minutes=minute))
        assert alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=minute)).sent == {}
    store.put("aws_cloudwatch_endpoint_traffic", [traffic("ep-a", 1000, 0)])
    store.evaluate(T0 + timedelta(minutes=3))
    alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=3))

    got = drain(account, sns_url)
    assert [m["Subject"].split("]")[0] for m in got] == ["[FIRING", "[RESOLVED"]
    assert "ep-a" in got[0]["Message"] and "12.00 %" in got[0]["Message"] and "endpoint_5xx_rate" in got[0]["Message"]
    assert "https://sextant.example.com/endpoints?endpoint=ep-a" in got[0]["Message"]
    routed = drain(account, eb_url)
    assert [(e["detail-type"], e["source"], e["detail"]["status"]) for e in routed] == [
        ("Sextant Alert", "sextant.alerts", "firing"), ("Sextant Alert", "sextant.alerts", "resolved")]
    assert routed[0]["detail"]["resource"] == "123456789012/us-east-1/ep-a" and routed[0]["detail"]["window"]
    assert [p["blocks"][0]["text"]["text"].split("]")[0] for p in ok.received] == ["[FIRING", "[RESOLVED"]
    assert ok.received[0]["blocks"][0]["text"]["type"] == "plain_text"

    # the broken receiver: tried when due, backing off (30 s, 60 s, 120 s...), every attempt recorded, while SNS,
    # EventBridge and the other webhook delivered; after max_attempts the message is failed
    tried = store.rows("SELECT attempt, status, error FROM sextant_alert_attempt WHERE channel = 'broken' "
                       "AND kind = 'fired' ORDER BY attempt")
    assert [a for a, _, _ in tried] == [1, 2, 3] and len(broken.received) == 3  # at 0 s, 60 s, 120 s; not 180 s
    assert {(s, e) for _, s, e in tried} == {("failed", "SendError: the webhook answered HTTP 500")}
    alerts.deliver(store.writer, store.settings, T0 + timedelta(minutes=10))
    assert store.rows("SELECT status, attempts FROM sextant_alert_delivery WHERE channel = 'broken' "
                      "AND kind = 'fired'") == [("failed", 4)]
    assert len(broken.received) == 4

    # the planted secret: in no text column of any table (the scan finds what is there: the endpoint), in no log
    def found(needle: str) -> list[tuple[str, str]]:
        columns = store.rows("SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = "
                             "current_database() AND schema_name = 'main' AND data_type IN ('VARCHAR', 'JSON')")
        return [(t, c) for t, c in columns
                if store.rows(f'SELECT count(*) FROM "{t}" WHERE contains("{c}"::VARCHAR, ?)', [needle]) != [(0,)]]

    assert ("sextant_alert", "resource") in found("ep-a")
    assert found("planted") == [] and found("B0SECRET") == []
    assert "planted" not in caplog.text and "SECRET" not in caplog.text


def test_a_rate_limit_holds_a_storm_to_n_messages_a_minute(store, receivers, monkeypatch):
    ok, _ = receivers
    monkeypatch.setenv("SEXTANT_TEST_SLACK", ok.url("services/x"))
    store.configure(channels={"slack": {"type": "webhook", "target_env": "SEXTANT_TEST_SLACK",
                                        "rate_per_minute": 3}})
    store.put("aws_cloudwatch_endpoint_traffic", [traffic(f"ep-{i}", 1000, 500) for i in range(7)])
    store.evaluate(T0)
    assert alerts.deliver(store.writer, store.settings, T0).held == {"slack": 4}
    assert alerts.deliver(store.writer, store.settings, T0 + timedelta(seconds=30)).sent == {}
    assert alerts.deliver(store.writer, store.settings, T0 + timedelta(seconds=61)).sent == {"slack": 3}
    assert alerts.deliver(store.writer, store.settings, T0 + timedelta(seconds=122)).sent == {"slack": 1}
    assert len(ok.received) == 7
