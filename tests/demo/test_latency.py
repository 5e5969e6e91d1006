"""The emulated account's fixed per-request latency (``SEXTANT_DEMO_LATENCY_MS``, demo/server.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from demo import server
from tests.conftest import start_account, stop_account


def test_latency_is_read_from_the_environment_in_milliseconds() -> None:
    assert server.latency_s({}) == 0.0
    assert server.latency_s({server.LATENCY_ENV: ""}) == 0.0
    assert server.latency_s({server.LATENCY_ENV: "50"}) == pytest.approx(0.05)
    assert server.latency_s({server.LATENCY_ENV: " 2.5 "}) == pytest.approx(0.0025)


@pytest.mark.parametrize("value", ["fast", "-1", "70000", "nan"])
def test_a_latency_that_is_not_milliseconds_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match=server.LATENCY_ENV):
        server.latency_s({server.LATENCY_ENV: value})


def _timed(app: server.Latency, path: str) -> float:
    t0 = time.monotonic()
    assert app({"PATH_INFO": path}, lambda *_: None) == [b"ok"]
    return time.monotonic() - t0


def test_the_middleware_waits_before_api_requests_only() -> None:
    app = server.Latency(lambda environ, start_response: [b"ok"], 0.1)
    assert _timed(app, "/") >= 0.1
    assert _timed(app, "/moto-api/reset") < 0.05
    assert _timed(server.Latency(lambda environ, start_response: [b"ok"], 0.0), "/") < 0.05


def test_every_api_request_of_the_account_waits_the_latency(tmp_path: Path) -> None:
    acc = start_account(tmp_path, live=False, env={server.LATENCY_ENV: "300"})
    try:
        sm = acc.client("sagemaker")
        sm.list_endpoints()  # the connection is open
        t0 = time.monotonic()
        assert sm.list_endpoints()["Endpoints"]
        assert time.monotonic() - t0 >= 0.3
    finally:
        stop_account(acc)


def test_an_invalid_latency_stops_the_account_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=server.LATENCY_ENV):
        start_account(tmp_path, live=False, env={server.LATENCY_ENV: "soon"})
