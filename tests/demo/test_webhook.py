"""The demo's webhook receiver (the team's Slack channel in `make demo`): the demo's settings route the alerts to it,
and an alert fired on the demo's settings reaches it through the alerts' own delivery, printed as a log line."""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from dataclasses import replace
from datetime import timedelta

import pytest

import alerts
from demo import up
from demo.webhook import Receiver
from sextant.settings import load
from tests.alerts.conftest import T0, store  # noqa: F401 - the fixture


@pytest.fixture
def receiver():
    out = io.StringIO()
    r = Receiver(out=out)
    threading.Thread(target=r.serve_forever, daemon=True).start()
    yield r, out
    r.shutdown()
    r.server_close()


def test_the_demo_settings_send_the_alerts_to_the_local_receiver_and_hold_no_url(tmp_path):
    path = up.demo_config(port=8765, out=tmp_path / "demo.toml")
    text = path.read_text()
    assert "http://127.0.0.1" not in text  # the receiver's URL is in the environment, never the file
    settings = load(path)
    config = alerts.config(settings.alerts)
    [channel] = config.channels.values()
    assert (channel.name, channel.type, channel.target_env) == ("team-slack", "webhook", up.WEBHOOK_ENV)
    assert settings.alerts.base_url == "http://localhost:8765"


def test_an_alarm_in_the_demo_reaches_the_receiver_as_a_slack_message(store, receiver, monkeypatch, tmp_path):  # noqa: F811
    hook, out = receiver
    monkeypatch.setenv(up.WEBHOOK_ENV, hook.url)
    demo = load(up.demo_config(out=tmp_path / "demo.toml"))
    store.settings = replace(store.settings, alerts=demo.alerts)
    acc = {"account_id": "123456789012", "region": "us-east-1"}
    store.put("aws_sagemaker_endpoint", [{**acc, "endpoint_name": "vision-prod", "status": "InService"}])
    store.put("aws_cloudwatch_alarm", [{**acc, "alarm_name": "vision-prod-gpu-high", "endpoint_name": "vision-prod",
                                        "state_value": "ALARM"}])
    store.evaluate(T0)
    alerts.deliver(store.writer, store.settings, T0 + timedelta(seconds=1))
    [message] = json.loads(urllib.request.urlopen(hook.url + "messages", timeout=5).read())
    assert "vision-prod-gpu-high" in json.dumps(message) and message["blocks"][0]["type"] == "header"
    logged = out.getvalue().splitlines()
    assert len(logged) == 1 and logged[0].startswith("[webhook] ") and "vision-prod-gpu-high" in logged[0]
    assert "localhost:" in json.dumps(message)  # the link to the Sextant view, from the demo's base_url


def test_the_receiver_refuses_what_is_not_a_json_object(receiver):
    hook, out = receiver
    for body in (b"not json", b"[1, 2]"):
        req = urllib.request.Request(hook.url, data=body, method="POST")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(req, timeout=5)
        assert err.value.code == 400
    assert out.getvalue() == ""
