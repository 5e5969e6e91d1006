"""An operator's refresh of one endpoint's metrics, on tiny in-process stores: with ``ctx.refresh`` the metrics plan
makes every pair of that endpoint's series due whatever its cadence and nothing else; ``runner.run_refresh`` reads
them in one GetMetricData request (botocore's Stubber fails on any other call: no ListMetrics), writes points, cursors
and series rows, and no collection-run or poll row; the collector loop looks for requests every POLL_S seconds while
it waits between cycles, and after each source of a cycle."""

from __future__ import annotations

import json
import time
from argparse import Namespace
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from threading import Event

import pytest
from botocore.stub import Stubber

import collectors
from collectors import __main__ as cli
from collectors import cloudwatch_metrics as cwm
from collectors import runner
from collectors.base import Context, Cursor, Refresh
from collectors.sagemaker_endpoints import ENDPOINT
from sextant.aws import Clients
from sextant.settings import AccountSettings, CollectSettings, Settings
from sextant.store import Writer

ACCOUNT, REGION = "111122223333", "us-east-1"
ENDPOINTS_NS, SAGEMAKER_NS = "/aws/sagemaker/Endpoints", "AWS/SageMaker"
METRICS = ((ENDPOINTS_NS, "GPUUtilization"), (ENDPOINTS_NS, "CPUUtilization"), (SAGEMAKER_NS, "Invocations"),
           (SAGEMAKER_NS, "ModelLatency"))


def _series(endpoint: str, namespace: str, metric: str) -> cwm.Series:
    dims = {"EndpointName": endpoint, "VariantName": "AllTraffic"}
    return cwm.Series(cwm.series_id(namespace, metric, dims), namespace, metric, dims, endpoint, "AllTraffic",
                      stats=cwm.stats_for(namespace, metric))


def _endpoint(endpoint: str) -> dict[str, cwm.Series]:
    return {s.sid: s for s in (_series(endpoint, ns, m) for ns, m in METRICS)}


def _pairs(series: dict[str, cwm.Series]) -> set[tuple[str, str]]:
    return {(s.sid, stat) for s in series.values() for stat in s.stats}


@pytest.fixture
def writer(tmp_path) -> Iterator[Writer]:
    w = Writer(tmp_path / "store")
    collectors.migrate(w)
    try:
        yield w
    finally:
        w.close()


def _plan(writer: Writer, pollable: dict[str, cwm.Series], now: datetime, polled_ago: timedelta,
          refresh: Refresh | None) -> cwm.Plan:
    fetched = (now - polled_ago).isoformat()
    cursor = Cursor({Cursor.key((s.sid, stat)): fetched for s in pollable.values() for stat in s.stats})
    ctx = Context(clients=None, account_id=ACCOUNT, region=REGION,  # type: ignore[arg-type]
                  settings=Settings(collect=CollectSettings()), cursor=cursor,
                  run_sql=lambda sql, params: writer.con.execute(sql, params).fetchall(), now=now, refresh=refresh)
    return cwm._plan(ctx, now, pollable, {})


def test_a_refresh_makes_every_pair_due_whatever_its_cadence(writer):
    now = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)
    vision = _endpoint("vision-prod")
    # read a minute ago: due at neither cadence (hot 5 min, cold 1 h), so a cycle reads nothing
    assert _plan(writer, vision, now, timedelta(minutes=1), None).queries == []
    plan = _plan(writer, vision, now, timedelta(minutes=1), Refresh(frozenset({"vision-prod"})))
    assert {(q.series.sid, q.stat) for q in plan.queries} == _pairs(vision)
    assert {(q.period, q.end, q.backfill) for q in plan.queries} == {(60, now, False)}
    assert plan.deferred == 0
    assert set(plan.poll_class.values()) == {"cold"}, "a refresh promotes nothing: the series keep their class"


# ---------------------------------------------------------------------------- run_refresh, GetMetricData stubbed


def _store(writer: Writer, endpoints: dict[str, dict[str, cwm.Series]], polled: datetime) -> None:
    """Endpoints, their series and cursors as a cycle left them, every pair read through ``polled``."""
    with writer.transaction():
        writer.upsert(ENDPOINT, [{"account_id": ACCOUNT, "region": REGION, "endpoint_name": e} for e in endpoints])
        writer.upsert(cwm.SERIES, [{
            "account_id": ACCOUNT, "region": REGION, "series_id": s.sid, "namespace": s.namespace,
            "metric_name": s.metric, "dimensions": json.dumps(s.dims, sort_keys=True), "endpoint_name": s.endpoint,
            "variant_name": s.variant, "stats": ",".join(s.stats), "poll_class": "cold", "last_polled_at": polled,
        } for series in endpoints.values() for s in series.values()])
        writer.set_watermarks(ACCOUNT, REGION, cwm.NAME, {
            **{Cursor.key((s.sid, stat)): polled.isoformat() for series in endpoints.values()
               for s in series.values() for stat in s.stats},
            "discovered_at": polled.isoformat()})


def _clients(monkeypatch) -> tuple[Clients, Stubber, list[dict]]:
    """Clients whose CloudWatch answers only the GetMetricData calls the test adds; the requests are recorded."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    clients = Clients(AccountSettings(regions=(REGION,)))
    cw = clients.client("cloudwatch", REGION)
    sent: list[dict] = []
    cw.meta.events.register("provide-client-params.cloudwatch.GetMetricData",
                            lambda params, **_: sent.append(params))
    return clients, Stubber(cw), sent


def _answer(n: int, at: datetime) -> dict:
    """A GetMetricData answer: two points for each of the queries q0..q{n-1}."""
    return {"MetricDataResults": [
        {"Id": f"q{i}", "Label": "x", "Timestamps": [at - timedelta(minutes=1), at], "Values": [1.0, 2.0],
         "StatusCode": "Complete"} for i in range(n)], "Messages": []}


def test_run_refresh_reads_only_that_endpoints_series_in_one_request_and_records_no_cycle(writer, monkeypatch):
    now = datetime.now(UTC)
    polled = cwm._floor(now - timedelta(minutes=40), 60)  # cold series, read 40 minutes ago: not due
    vision, quiet = _endpoint("vision-prod"), _endpoint("quiet-dev")
    _store(writer, {"vision-prod": vision, "quiet-dev": quiet}, polled)
    clients, stubber, sent = _clients(monkeypatch)
    n = len(_pairs(vision))
    stubber.add_response("get_metric_data", _answer(n, cwm._floor(now, 60) - timedelta(minutes=2)))
    with stubber:
        run = runner.run_refresh(Settings(), writer, clients, ACCOUNT, REGION, "vision-prod")
        stubber.assert_no_pending_responses()
    assert (run.status, run.error) == ("succeeded", None)
    assert (run.series, run.queries, run.requests, run.datapoints, run.api_calls) == (len(vision), n, 1, 2 * n, 1)
    assert run.cost_usd == pytest.approx(n * 0.01 / 1000)
    [request] = sent
    assert {q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in request["MetricDataQueries"]} == {
        "vision-prod"}
    assert request["StartTime"] == polled - cwm.SETTLE

    con = writer.con
    cursors = dict(con.execute("SELECT key, value FROM sextant_watermark WHERE source = ?", [cwm.NAME]).fetchall())
    moved = {k for k, v in cursors.items() if "|" in k and datetime.fromisoformat(v) > polled}
    assert moved == {Cursor.key(p) for p in _pairs(vision)}, "only the refreshed endpoint's cursors move"
    [(points,)] = con.execute("SELECT count(*) FROM aws_cloudwatch_metric_point").fetchall()
    assert points == 2 * n
    polled_at = dict(con.execute("SELECT endpoint_name, max(last_polled_at) FROM aws_cloudwatch_metric_series "
                                 "GROUP BY ALL").fetchall())
    assert polled_at["vision-prod"] > polled and polled_at["quiet-dev"] == polled
    assert con.execute("SELECT count(*) FROM aws_cloudwatch_metric_hourly").fetchone()[0] > 0
    assert con.execute("SELECT count(*) FROM sextant_collection_run").fetchone()[0] == 0, "not a collection run"
    assert con.execute("SELECT count(*) FROM aws_cloudwatch_metric_poll").fetchone()[0] == 0, "not a plan"


def test_a_refresh_that_aws_refuses_moves_nothing(writer, monkeypatch):
    now = datetime.now(UTC)
    polled = cwm._floor(now - timedelta(minutes=40), 60)
    _store(writer, {"vision-prod": _endpoint("vision-prod")}, polled)
    clients, stubber, _ = _clients(monkeypatch)
    stubber.add_client_error("get_metric_data", "AccessDenied", "not allowed", 403)
    with stubber:
        run = runner.run_refresh(Settings(), writer, clients, ACCOUNT, REGION, "vision-prod")
    assert run.status == "failed" and "AccessDenied" in (run.error or "")
    assert writer.con.execute("SELECT count(*) FROM aws_cloudwatch_metric_point").fetchone()[0] == 0
    values = {v for k, v in writer.watermarks(ACCOUNT, REGION, cwm.NAME).items() if "|" in k}
    assert values == {polled.isoformat()}
    assert writer.con.execute("SELECT count(*) FROM sextant_collection_run").fetchone()[0] == 0


# ---------------------------------------------------------------------------- the collector loop


def test_the_loop_looks_for_refresh_requests_every_poll_s_while_it_waits_between_cycles(monkeypatch, tmp_path):
    cycles: list[float] = []
    calls: list[tuple[float, object]] = []

    def cycle(settings, writer, sources, args, stop, between=None) -> int:
        cycles.append(time.monotonic())
        return 0

    def refresh_work(settings, refresher) -> list[str]:
        calls.append((time.monotonic(), refresher))
        if len(calls) == 6:
            raise KeyboardInterrupt  # as Ctrl-C during a refresh
        return []

    monkeypatch.setattr(cli, "_cycle", cycle)
    monkeypatch.setattr(cli, "POLL_S", 0.05)
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    monkeypatch.chdir(tmp_path)  # no sextant.toml
    status = cli.main(["run", "--every", "1m", "--store", str(tmp_path / "store"), "--quiet"],
                      refresh_work=refresh_work)
    assert status == 130
    assert len(cycles) == 1, "served while waiting, long before the next cycle"
    assert len(calls) == 6 and all(isinstance(r, cli.Refresher) for _, r in calls)
    gaps = [b - a for (a, _), (b, _) in zip(calls[1:], calls[2:], strict=False)]
    assert all(0.04 <= g < 1.0 for g in gaps), gaps


def test_no_refresh_work_when_the_metrics_source_is_not_collected_here(monkeypatch, tmp_path):
    calls: list[object] = []
    monkeypatch.setattr(cli, "_cycle", lambda *a, **k: 0)
    monkeypatch.setattr(cli.signal, "signal", lambda *a: None)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "--once", "--source", "ecr", "--store", str(tmp_path / "store"), "--quiet"],
                    refresh_work=lambda s, r: calls.append(r) or []) == 0
    assert calls == []
    assert cli.main(["run", "--once", "--store", str(tmp_path / "store"), "--quiet"],
                    refresh_work=lambda s, r: calls.append(r) or []) == 0
    assert len(calls) == 1, "after the cycle"


def test_a_cycle_looks_for_refresh_requests_after_each_source(monkeypatch):
    def run_cycle(settings, w, srcs, account, since, progress):
        cycle = runner.CycleResult("r")
        for i in range(3):
            r = runner.SourceResult(f"s{i}", "1", REGION, "succeeded")
            progress(r)
            cycle.results.append(r)
        return cycle

    class Published:
        location = None

        def published(self) -> str:
            return "snapshot"

        def publish(self) -> None:
            pass

    between: list[int] = []
    monkeypatch.setattr(runner, "run_cycle", run_cycle)
    settings = Settings(accounts=(AccountSettings(name="a", regions=(REGION,)),))
    assert cli._cycle(settings, Published(), [], Namespace(quiet=True, account=None, since=None), Event(),
                      lambda: between.append(1)) == 0
    assert len(between) == 3
