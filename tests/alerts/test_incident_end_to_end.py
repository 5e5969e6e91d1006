"""Issue 15's acceptance, end to end against the emulated account (line 1; line 2's two shards at the end): the
incident on the planted incident's endpoint fires its rule once across repeated collection cycles and resolves once
after a scale-up through the action layer; an SNS topic's SQS subscriber, the demo's local webhook receiver and an
EventBridge rule's SQS target each receive the fired and the resolved message, once.

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
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

import actions as a
import alerts
import collectors
from actions.audit import AuditLog
from demo import control
from demo.webhook import Receiver
from demo.world import MAIN_ACCOUNT, build_world
from sextant.aws import Clients
from sextant.lake import LakeConfig, LakeWriter
from sextant.settings import AccountSettings, AlertSettings, Settings
from sextant.store import Reader
from tests.alerts.conftest import T0, traffic
from tests.alerts.test_channels import drain, queue
from tests.conftest import ROOT, Account, start_account, stop_account, wait_until
from tests.lake_fixtures import postgres, s3_bucket, s3_endpoint, store_case  # noqa: F401 - fixtures

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


@pytest.mark.emulated  # its own emulated account and collector processes, ~4 min: make test only
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


# --------------------------------------------------------------------------- two collector shards
# Two collector shards evaluating the same rule produce one alert (issue 15, acceptance line 2).
#
# Shards (``python -m collectors run --shard K/N``) share one DuckLake store, and each evaluates every rule at the end
# of its cycle (alerts/lifecycle.py): one writer each, no PRIMARY KEY in the lake. Here the two evaluations are made to
# overlap at their worst: both read the alerts inside their transaction before either commits, then both write. The
# lake's optimistic concurrency must let one commit and refuse the other (the refused shard evaluates again at its
# next cycle, and then finds the alert there): one alert, one transition of each state, one message per channel. The
# second commit is made after the first has landed, so what refuses it is the lake's conflict check on what both
# changed, not the catalog being busy at that instant (a SQLite catalog refuses it as a stale snapshot, "database is
# locked"; on PostgreSQL, DuckLake's own check must).

SHARD_RESOURCE = "123456789012/us-east-1/ep-a"
CHANNELS = {"oncall": {"type": "sns", "target": "arn:aws:sns:us-east-1:123456789012:oncall"},
            "hook": {"type": "webhook", "target_env": "SEXTANT_TEST_HOOK"}}


class Shard(LakeWriter):
    """A shard's writer on the shared lake; with ``overlap``, its transactions wait, once they have read the
    alerts, until the other shard's has too (both then write on what they read); with ``after``, it commits only
    once that event is set; ``committed`` is set when its own transaction has ended."""

    overlap: threading.Barrier | None = None
    after: threading.Event | None = None
    committed: threading.Event | None = None

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        try:
            with super().transaction() as con:
                if self.overlap is not None:
                    con.execute("SELECT count(*) FROM sextant_alert").fetchall()  # the snapshot is taken
                    self.overlap.wait(timeout=60)
                yield con
                if self.after is not None:
                    assert self.after.wait(timeout=60), "the other shard never committed"
        finally:
            if self.committed is not None:
                self.committed.set()


def _refused(exc: object) -> bool:
    """A commit the shared store refused for another writer's (what the collector retries, collectors.runner):
    DuckLake's conflict check, or a SQLite catalog's snapshot that another commit made stale."""
    text = str(exc).lower()
    return isinstance(exc, duckdb.TransactionException) and ("conflict" in text or "database is locked" in text)


# the local lake (SQLite catalog) and the multi-node one (PostgreSQL catalog, data on S3), where shards run
@pytest.fixture(params=[pytest.param("lake-local", marks=pytest.mark.slow),
                        pytest.param("lake-postgres-s3", marks=pytest.mark.emulated)])
def lake(request, tmp_path) -> Iterator[tuple[Settings, Shard, Shard]]:
    settings = replace(store_case(request.param, tmp_path, request).settings, alerts=AlertSettings(channels=CHANNELS))
    first = Shard(LakeConfig.from_settings(settings))
    first.migrate(list(collectors.all_tables()))
    with first.transaction():
        first.upsert(next(t for t in collectors.all_tables() if t.name == "aws_cloudwatch_endpoint_traffic"),
                     [traffic("ep-a", 1000, 120)])  # 12 % 5xx: endpoint_5xx_rate fires
    second = Shard(LakeConfig.from_settings(settings))
    yield settings, first, second
    first.close()
    second.close()


def _evaluate_together(settings: Settings, shards: tuple[Shard, Shard], now) -> list[object]:
    """Both shards evaluate at ``now`` at the same time; each one's Evaluation or the exception it raised."""
    barrier, landed = threading.Barrier(2), threading.Event()
    shards[0].committed, shards[1].after = landed, landed  # the first commits, then the second tries
    out: list[object] = [None, None]

    def run(i: int) -> None:
        shards[i].overlap = barrier
        try:
            out[i] = alerts.evaluate(shards[i], settings, now)
        except Exception as exc:  # the refused commit: what the collector's cycle prints and goes on from
            out[i] = exc
        finally:
            shards[i].overlap = shards[i].after = shards[i].committed = None

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def _rows(shard: Shard, sql: str) -> list[tuple]:
    with shard.transaction() as con:
        return con.execute(sql, [SHARD_RESOURCE]).fetchall()


def test_two_shards_evaluating_the_same_rule_at_once_make_one_alert_and_one_message_per_channel(lake):
    # (before the evaluation lease, on a PostgreSQL catalog both overlapping shards committed: two first appends of
    # one alert do not conflict in DuckLake, and the alert, its events and its messages were doubled)
    settings, first, second = lake
    results = _evaluate_together(settings, (first, second), T0)
    for shard in (first, second):  # each shard sees the one alert, its two transitions and one message a channel
        assert _rows(shard, "SELECT rule, state, episode FROM sextant_alert WHERE resource = ?") == [
            ("endpoint_5xx_rate", "firing", 1)]
        assert sorted(_rows(shard, "SELECT to_state FROM sextant_alert_event WHERE resource = ?")) == [
            ("firing",), ("pending",)]
        assert sorted(_rows(shard, "SELECT channel, kind FROM sextant_alert_delivery WHERE resource = ?")) == [
            ("hook", "fired"), ("oncall", "fired")]
    assert isinstance(results[0], alerts.Evaluation), results  # the first to commit
    assert [t[3] for t in results[0].transitions if t[1] == SHARD_RESOURCE] == ["pending", "firing"]
    assert _refused(results[1]), results  # the second: refused, what the collector's cycle prints and goes on from

    # the refused shard's next cycle, and the other's, at the same time again: the alert is there, nothing changes
    again = _evaluate_together(settings, (first, second), T0 + timedelta(minutes=1))
    assert isinstance(again[0], alerts.Evaluation) and again[0].transitions == [] and again[0].queued == 0, again
    assert _refused(again[1]), again  # both rewrote the alert's last evaluation
    assert _rows(second, "SELECT count(*) FROM sextant_alert WHERE resource = ?") == [(1,)]
    assert _rows(second, "SELECT count(*) FROM sextant_alert_delivery WHERE resource = ?") == [(2,)]


def test_two_shards_one_after_the_other_keep_one_alert_through_its_resolution(lake):
    settings, first, second = lake
    alerts.evaluate(first, settings, T0)
    assert alerts.evaluate(second, settings, T0 + timedelta(seconds=30)).transitions == []
    with second.transaction():
        second.upsert(next(t for t in collectors.all_tables() if t.name == "aws_cloudwatch_endpoint_traffic"),
                      [traffic("ep-a", 1000, 1)])
    resolved = alerts.evaluate(second, settings, T0 + timedelta(minutes=1))
    assert [t[2:] for t in resolved.transitions if t[1] == SHARD_RESOURCE] == [("firing", "resolved")]
    assert alerts.evaluate(first, settings, T0 + timedelta(minutes=1, seconds=30)).transitions == []
    assert _rows(first, "SELECT state, episode FROM sextant_alert WHERE resource = ?") == [("resolved", 1)]
    assert sorted(_rows(first, "SELECT channel, kind FROM sextant_alert_delivery WHERE resource = ?")) == [
        ("hook", "fired"), ("hook", "resolved"), ("oncall", "fired"), ("oncall", "resolved")]
