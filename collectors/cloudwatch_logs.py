"""CloudWatch Logs of SageMaker endpoints and training jobs: groups, streams and events.

Incremental: the log groups ``/aws/sagemaker/Endpoints/*`` and ``/aws/sagemaker/TrainingJobs`` are
listed by prefix; in each group the streams are listed newest first (orderBy LastEventTime) and
listing stops at the first stream whose lastEventTimestamp is not newer than the group's cursor
(the newest lastEventTimestamp seen last run) or older than ``logs_days``. A stream whose
lastEventTimestamp is not after its own cursor (the timestamp of the last event stored) costs no
call; the others are read with FilterLogEvents from their cursor (inclusive: events of the same
millisecond that arrived late are read again and deduplicated by event id), at most
``logs_max_events_per_stream`` per run; the rest is read next run. CloudWatch Logs updates
lastEventTimestamp eventually (usually within the hour), so an event can show up a run late.

Each event gets a level parsed from the message (ERROR/WARN/INFO/DEBUG; a "Traceback", or an
"...Exception"/"...Error:" without a level, is ERROR) and the resource: endpoint and variant from
the group and the stream (``VARIANT/INSTANCE``), training job from the stream (``JOB/algo-N-...``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from collectors.base import Batch, Context, epoch_ms, from_epoch_ms, paginate
from sextant.schema import table

NAME = "cloudwatch_logs"
GLOBAL = False
DEPENDS_ON: tuple[str, ...] = ()

ENDPOINT_PREFIX = "/aws/sagemaker/Endpoints/"
TRAINING_GROUP = "/aws/sagemaker/TrainingJobs"

LOG_GROUP = table("aws_logs_log_group", "A CloudWatch Logs log group of SageMaker endpoints or training jobs.", [
    ("log_group", "VARCHAR", "Log group name."),
    ("arn", "VARCHAR", "Log group ARN."),
    ("creation_time", "TIMESTAMPTZ", "When the group was created."),
    ("retention_days", "INTEGER", "Retention in days; NULL keeps events forever."),
    ("stored_bytes", "BIGINT", "Bytes stored, in bytes (as CloudWatch Logs reports it, updated with a lag)."),
    ("endpoint_name", "VARCHAR", "Endpoint, for /aws/sagemaker/Endpoints/NAME groups."),
    ("observed_at", "TIMESTAMPTZ", "When the collector last listed the group."),
], ["log_group"])

LOG_STREAM = table("aws_logs_log_stream", "A log stream: one endpoint instance, or one training job host.", [
    ("log_group", "VARCHAR", "Log group name."),
    ("log_stream", "VARCHAR", "Log stream name: VARIANT/INSTANCE_ID (endpoints), JOB/algo-N-EPOCH (training)."),
    ("creation_time", "TIMESTAMPTZ", "When the stream was created."),
    ("first_event_at", "TIMESTAMPTZ", "Timestamp of the first event."),
    ("last_event_at", "TIMESTAMPTZ", "Timestamp of the last event (updated by CloudWatch Logs with a lag)."),
    ("last_ingestion_at", "TIMESTAMPTZ", "When the last event was ingested."),
    ("stored_bytes", "BIGINT", "Bytes stored, in bytes (deprecated by AWS; often 0)."),
    ("endpoint_name", "VARCHAR", "Endpoint, from the group name."),
    ("variant_name", "VARCHAR", "Production variant, from the stream name prefix (endpoint streams)."),
    ("training_job_name", "VARCHAR", "Training job, from the stream name prefix (training streams)."),
    ("events_read", "BIGINT", "Events read from the stream by the collector, all runs."),
    ("observed_at", "TIMESTAMPTZ", "When the collector last listed the stream."),
], ["log_group", "log_stream"])

LOG_EVENT = table("aws_logs_event", "A log event of a SageMaker endpoint instance or training job host.", [
    ("log_group", "VARCHAR", "Log group name."),
    ("log_stream", "VARCHAR", "Log stream name."),
    ("event_id", "VARCHAR", "Event id given by CloudWatch Logs (unique in the group)."),
    ("ts", "TIMESTAMPTZ", "Event timestamp (millisecond precision)."),
    ("ingestion_time", "TIMESTAMPTZ", "When CloudWatch Logs ingested the event."),
    ("level", "VARCHAR", "ERROR, WARN, INFO or DEBUG, parsed from the message; NULL when none is found."),
    ("message", "VARCHAR", "The log line."),
    ("endpoint_name", "VARCHAR", "Endpoint, from the group name."),
    ("variant_name", "VARCHAR", "Production variant, from the stream name."),
    ("training_job_name", "VARCHAR", "Training job, from the stream name."),
], ["log_group", "log_stream", "event_id"])

TABLES = (LOG_GROUP, LOG_STREAM, LOG_EVENT)

_LEVEL = re.compile(r"\b(ERROR|CRITICAL|FATAL|SEVERE|WARN(?:ING)?|INFO|DEBUG|TRACE)\b"
                    r"|\[(error|crit|alert|emerg|warn|notice|info|debug)\]")
_LEVELS = {"ERROR": "ERROR", "CRITICAL": "ERROR", "FATAL": "ERROR", "SEVERE": "ERROR", "WARN": "WARN",
           "WARNING": "WARN", "INFO": "INFO", "DEBUG": "DEBUG", "TRACE": "DEBUG", "error": "ERROR",
           "crit": "ERROR", "alert": "ERROR", "emerg": "ERROR", "warn": "WARN", "notice": "INFO", "info": "INFO",
           "debug": "DEBUG"}
_EXCEPTION = re.compile(r"\b\w*(Exception|Error)\b(:|$)|\bException\b")


def parse_level(message: str) -> str | None:
    """The level of a log line: the first level word, except that a traceback is always an ERROR."""
    if "Traceback" in message:
        return "ERROR"
    m = _LEVEL.search(message)
    if m:
        return _LEVELS[m.group(1) or m.group(2)]
    if _EXCEPTION.search(message):
        return "ERROR"
    return None


def resource(group: str, stream: str | None) -> dict[str, str | None]:
    endpoint = group[len(ENDPOINT_PREFIX):] if group.startswith(ENDPOINT_PREFIX) else None
    prefix = stream.split("/", 1)[0] if stream and "/" in stream else None
    return {"endpoint_name": endpoint, "variant_name": prefix if endpoint else None,
            "training_job_name": prefix if group == TRAINING_GROUP else None}


def _ts(ms: int | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, UTC) if ms is not None else None


def collect(ctx: Context) -> Iterator[Batch]:
    logs = ctx.client("logs")
    cfg = ctx.settings.collect
    oldest_ms = int((ctx.now - timedelta(days=cfg.logs_days)).timestamp() * 1000)
    read_before = {(g, s): n for g, s, n in ctx.sql(
        "SELECT log_group, log_stream, events_read FROM aws_logs_log_stream WHERE account_id = ? AND region = ?",
        [ctx.account_id, ctx.region])}

    groups = []
    for prefix in (ENDPOINT_PREFIX, TRAINING_GROUP):
        for g in paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=prefix):
            name = g["logGroupName"]
            if prefix == TRAINING_GROUP and name != TRAINING_GROUP:
                continue
            groups.append(g)
    yield LOG_GROUP, [ctx.rows(
        log_group=g["logGroupName"], arn=g.get("arn"), creation_time=_ts(g.get("creationTime")),
        retention_days=g.get("retentionInDays"), stored_bytes=g.get("storedBytes"),
        endpoint_name=resource(g["logGroupName"], None)["endpoint_name"], observed_at=ctx.now) for g in groups]

    for g in groups:
        group = g["logGroupName"]
        group_key = f"group:{group}"
        group_mark = epoch_ms(ctx.cursor.get(group_key)) or 0
        streams = _streams(logs, group, max(group_mark, oldest_ms))
        newest = max([group_mark, *(s["lastEventTimestamp"] for s in streams)])
        stream_rows, events = [], []
        for s in streams:
            name = s["logStreamName"]
            key = (f"stream:{group}", name)
            mark = epoch_ms(ctx.cursor.get(key))
            read = 0
            if mark is None or s["lastEventTimestamp"] > mark:
                got = _read_events(logs, group, name, max(mark or oldest_ms, oldest_ms),
                                   cfg.logs_max_events_per_stream)
                read = len(got)
                events.extend(got)
                if got:
                    reached = max(e["timestamp"] for e in got)
                    ctx.cursor.advance(key, from_epoch_ms(reached))
                    if reached < s["lastEventTimestamp"]:  # capped: keep the stream listed next run
                        newest = min(newest, s["lastEventTimestamp"])
                elif mark is None:
                    ctx.cursor.advance(key, from_epoch_ms(s["lastEventTimestamp"]))
            stream_rows.append(ctx.rows(
                log_group=group, log_stream=name, creation_time=_ts(s.get("creationTime")),
                first_event_at=_ts(s.get("firstEventTimestamp")), last_event_at=_ts(s.get("lastEventTimestamp")),
                last_ingestion_at=_ts(s.get("lastIngestionTime")), stored_bytes=s.get("storedBytes"),
                events_read=(read_before.get((group, name)) or 0) + read, observed_at=ctx.now,
                **resource(group, name)))
        yield LOG_STREAM, stream_rows
        yield LOG_EVENT, _events_frame(ctx, group, events)
        if newest > group_mark:
            ctx.cursor.advance(group_key, from_epoch_ms(newest))


def _streams(logs: Any, group: str, since_ms: int) -> list[dict[str, Any]]:
    """The group's streams with an event at or after since_ms, listed newest first (stops at the first older)."""
    out: list[dict[str, Any]] = []
    for page in logs.get_paginator("describe_log_streams").paginate(
            logGroupName=group, orderBy="LastEventTime", descending=True):
        for s in page.get("logStreams", []):
            last = s.get("lastEventTimestamp")
            if last is None:
                continue  # no event yet
            if last < since_ms:
                return out  # newest first: every later stream is known or too old
            out.append(s)
    return out


def _read_events(logs, group: str, stream: str, start_ms: int, cap: int) -> list[dict]:
    """Events of one stream from start_ms (inclusive), oldest first, at most cap."""
    out: list[dict] = []
    kwargs = {"logGroupName": group, "logStreamNames": [stream], "startTime": start_ms}
    while len(out) < cap:
        page = logs.filter_log_events(limit=min(cap - len(out), 10000), **kwargs)
        out.extend(page.get("events", []))
        token = page.get("nextToken")
        if not token or token == kwargs.get("nextToken"):
            break
        kwargs["nextToken"] = token
    return out[:cap]


def _events_frame(ctx: Context, group: str, events: list[dict]) -> pd.DataFrame:
    if not events:
        return pd.DataFrame(columns=LOG_EVENT.column_names)
    res = [resource(group, e["logStreamName"]) for e in events]
    return pd.DataFrame({
        "account_id": ctx.account_id, "region": ctx.region, "log_group": group,
        "log_stream": [e["logStreamName"] for e in events],
        "event_id": [str(e.get("eventId") or f"{e['timestamp']}-{e.get('ingestionTime')}") for e in events],
        "ts": pd.to_datetime([e["timestamp"] for e in events], unit="ms", utc=True),
        "ingestion_time": pd.to_datetime([e.get("ingestionTime") for e in events], unit="ms", utc=True),
        "level": [parse_level(e.get("message", "")) for e in events],
        "message": [e.get("message", "") for e in events],
        "endpoint_name": [r["endpoint_name"] for r in res], "variant_name": [r["variant_name"] for r in res],
        "training_job_name": [r["training_job_name"] for r in res],
    })
