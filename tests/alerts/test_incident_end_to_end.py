"""Issue 15's acceptance, end to end against the emulated account: the incident on the planted incident's endpoint
fires its rule once across repeated collection cycles and resolves once after a scale-up through the action layer;
an SNS topic's SQS subscriber, the demo's local webhook receiver and an EventBridge rule's SQS target each receive
the fired and the resolved message, once.

The incident is the demo's live one (demo/incident.py, asked through demo/control.py like ``python -m demo.control
incident``): traffic over what the endpoint's instances serve, so its ``-5xx-errors`` CloudWatch alarm fires (the
``endpoint_alarm_in_alarm`` rule routes it) and a scale-up ends it. The cycles are the collector's own
(``python -m collectors run --once``: collect, evaluate, publish, send). The one wait is CloudWatch's: the alarm
returns to OK after three calm one-minute periods (polled, up to 5 minutes)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import actions as a
from actions.audit import AuditLog
from demo import control
from demo.webhook import Receiver
from demo.world import MAIN_ACCOUNT, build_world
from sextant.aws import Clients
from sextant.settings import AccountSettings, Settings
from sextant.store import Reader
from tests.alerts.test_channels import drain, queue
from tests.conftest import ROOT, Account, start_account, stop_account, wait_until

ENDPOINT = build_world(7).incident_endpoint().name
ALARM = f"{ENDPOINT}-5xx-errors"
RESOURCE = f"{MAIN_ACCOUNT}/us-east-1/{ALARM}"
RULE = "endpoint_alarm_in_alarm"
HOOK_ENV = "SEXTANT_TEST_TEAM_SLACK"
OPERATOR = a.Actor("oncall@example.com", "operator")


@dataclass
class Incident:
    """A private live account with a control directory, the channels' AWS ends, and the demo's webhook receiver."""

    account: Account
    control: Path
    tmp: Path
    topic: str
    sns_queue: str
    bus: str
    eb_queue: str
    hook: Receiver
    hook_log: io.StringIO

    def collect(self) -> subprocess.CompletedProcess[str]:
        """One collector cycle (the alarms and the endpoints), its alerts evaluated, published and sent."""
        out = subprocess.run(
            [sys.executable, "-m", "collectors", "run", "--once", "--quiet", "--source", "cloudwatch_alarms",
             "--source", "sagemaker_endpoints", "--store", str(self.tmp / "store"),
             "--config", str(self.tmp / "sextant.toml")],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            env={**os.environ, **self.account.env, HOOK_ENV: self.hook.url})
        assert out.returncode == 0, out.stderr
        return out

    def alarm_state(self) -> str:
        [alarm] = self.account.client("cloudwatch").describe_alarms(AlarmNames=[ALARM])["MetricAlarms"]
        return str(alarm["StateValue"])


@pytest.fixture
def incident(tmp_path) -> Iterator[Incident]:
    ctrl = tmp_path / "control"
    # DEMO_SPEEDUP: an endpoint update the scale-up starts is in service in a second, not 30-60 s
    acc = start_account(tmp_path, env={"DEMO_SPEEDUP": "240"}, args=["--control", str(ctrl)])
    hook_log = io.StringIO()
    hook = Receiver(out=hook_log)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        topic = acc.client("sns").create_topic(Name="fraud-oncall-alerts")["TopicArn"]
        sns_url, sns_arn = queue(acc, "sns-subscriber")
        acc.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=sns_arn)
        events = acc.client("events")
        events.create_event_bus(Name="sextant-alerts")
        eb_url, eb_arn = queue(acc, "remediation")
        # the fraud team's remediation listens to its endpoint's alerts only
        events.put_rule(Name="fraud-endpoint-alerts", EventBusName="sextant-alerts", EventPattern=json.dumps(
            {"source": ["sextant.alerts"], "detail-type": ["Sextant Alert"], "detail": {"endpoint_name": [ENDPOINT]}}))
        events.put_targets(Rule="fraud-endpoint-alerts", EventBusName="sextant-alerts",
                           Targets=[{"Id": "remediation", "Arn": eb_arn}])
        (tmp_path / "sextant.toml").write_text(f"""
[alerts]
base_url = "http://localhost:8501"

[alerts.channels.oncall]
type = "sns"
target = "{topic}"

[alerts.channels.bus]
type = "eventbridge"
target = "sextant-alerts"

[alerts.channels.team-slack]
type = "webhook"
target_env = "{HOOK_ENV}"
""")
        yield Incident(acc, ctrl, tmp_path, topic, sns_url, "sextant-alerts", eb_url, hook, hook_log)
    finally:
        hook.shutdown()
        hook.server_close()
        stop_account(acc)


def _transitions(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(f"alert {RULE}: {RESOURCE} ")]


def test_the_incident_fires_once_resolves_once_after_a_scale_up_and_every_channel_gets_both(incident, monkeypatch,
                                                                                          tmp_path):
    answer = control.send(incident.control, {"kind": "incident", "lead_minutes": 5})
    assert answer["ok"], answer
    assert f"incident on {ENDPOINT}" in answer["message"] and "scaling it to 6 or more ends it" in answer["message"]
    wait_until(lambda: incident.alarm_state() == "ALARM", 90, f"{ALARM} in ALARM")

    first = incident.collect()
    assert _transitions(first.stdout) == [f"alert {RULE}: {RESOURCE} new -> pending",
                                          f"alert {RULE}: {RESOURCE} pending -> firing"]
    assert "alerts sent to oncall" in first.stdout and "alerts failed" not in first.stdout
    second = incident.collect()  # still in ALARM: nothing changes, nothing is sent again
    assert _transitions(second.stdout) == [] and incident.alarm_state() == "ALARM"

    # the on-call engineer scales the endpoint through the action layer (operator role, audited)
    for k, v in incident.account.env.items():
        monkeypatch.setenv(k, v)
    env = a.Env(Clients(AccountSettings(regions=("us-east-1",))), Settings(), lambda t, kind: 0.23)
    audit = AuditLog(tmp_path / "audit.sqlite")
    out = a.run_action(a.ScaleEndpoint(MAIN_ACCOUNT, ENDPOINT, "AllTraffic", 6), OPERATOR, env, audit,
                       a.new_token())
    assert out.status == "succeeded", out.message
    # CloudWatch's own pace: three calm one-minute periods after the new capacity is in service
    wait_until(lambda: incident.alarm_state() == "OK", 300, f"{ALARM} back to OK after the scale-up")

    third = incident.collect()
    assert _transitions(third.stdout) == [f"alert {RULE}: {RESOURCE} firing -> resolved"]
    fourth = incident.collect()
    assert _transitions(fourth.stdout) == []

    reader = Reader(tmp_path / "store")
    try:
        con = reader.connection()
        assert con is not None
        assert con.execute("SELECT state, episode, team, endpoint_name FROM sextant_alert WHERE rule = ? AND "
                           "resource = ?", [RULE, RESOURCE]).fetchall() == [("resolved", 1, "fraud", ENDPOINT)]
        assert con.execute("SELECT to_state FROM sextant_alert_event WHERE rule = ? AND resource = ? ORDER BY "
                           "changed_at, to_state = 'firing'", [RULE, RESOURCE]).fetchall() == [
            ("pending",), ("firing",), ("resolved",)]
        assert con.execute("SELECT channel, kind, status, attempts FROM sextant_alert_delivery WHERE rule = ? AND "
                           "resource = ? ORDER BY channel, kind", [RULE, RESOURCE]).fetchall() == [
            ("bus", "fired", "sent", 1), ("bus", "resolved", "sent", 1), ("oncall", "fired", "sent", 1),
            ("oncall", "resolved", "sent", 1), ("team-slack", "fired", "sent", 1),
            ("team-slack", "resolved", "sent", 1)]
    finally:
        reader.close()

    # SNS -> SQS: the incident's two messages, once each (the topic also carries the demo's other alarms in ALARM,
    # e.g. the idle endpoint's: none of them names the incident's endpoint)
    got = drain(incident.account, incident.sns_queue)
    mine = [m for m in got if ENDPOINT in m["Subject"]]
    assert [(m["Subject"].split("]")[0], m["MessageAttributes"]["kind"]["Value"]) for m in mine] == [
        ("[FIRING", "fired"), ("[RESOLVED", "resolved")]
    assert mine[0]["Subject"] == f"[FIRING] {RULE}: {RESOURCE} 1"
    assert mine[1]["Subject"].startswith(f"[RESOLVED] {RULE}: {RESOURCE} ")
    fired = mine[0]["Message"]
    for shown in (f"Resource: {RESOURCE}", f"Rule: {RULE}", "Window: the alarm's own evaluation", "Team: fraud",
                  f"Open in Sextant: http://localhost:8501/endpoints?endpoint={ENDPOINT}"):
        assert shown in fired, shown
    assert "Resolved: " in mine[1]["Message"]
    assert all(ENDPOINT not in m["Message"] for m in got if m not in mine)

    # EventBridge: the rule on the bus routes exactly the endpoint's two events to its SQS target
    routed = drain(incident.account, incident.eb_queue)
    assert [(e["source"], e["detail-type"], e["detail"]["status"], e["detail"]["resource"]) for e in routed] == [
        ("sextant.alerts", "Sextant Alert", "firing", RESOURCE), ("sextant.alerts", "Sextant Alert", "resolved",
                                                                  RESOURCE)]
    assert routed[0]["detail"]["id"] == f"{RULE}|{RESOURCE}|1|fired"

    # the demo's webhook receiver: the Slack-format payloads, and its log lines
    payloads = [p for p in json.loads(_get(incident.hook.url + "messages")) if ENDPOINT in json.dumps(p)]
    assert [p["blocks"][0]["text"]["text"].split("]")[0] for p in payloads] == ["[FIRING", "[RESOLVED"]
    assert all(p["blocks"][0]["type"] == "header" and p["blocks"][1]["text"]["type"] == "plain_text"
               and p["text"].startswith(("[FIRING] ", "[RESOLVED] ")) for p in payloads)
    assert payloads[0]["blocks"][2]["elements"][0]["url"] == f"http://localhost:8501/endpoints?endpoint={ENDPOINT}"
    logged = [line for line in incident.hook_log.getvalue().splitlines() if ENDPOINT in line]
    assert [line.split("]")[0] for line in logged] == ["[webhook"] * 2
    assert logged[0].startswith(f"[webhook] [FIRING] {RULE}: {RESOURCE}")
    assert logged[1].startswith(f"[webhook] [RESOLVED] {RULE}: {RESOURCE}")


def _get(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=5) as answer:
        return answer.read().decode()
