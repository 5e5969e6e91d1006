"""Start the emulated AWS account: a moto server on loopback, filled, seeded and kept alive.

Each fill module in ``FILLS`` exposes:

- ``install(world)``: patch what moto lacks (missing operations, statuses, fast queries).
  Called once per process, before the server answers its first request.
- ``seed(world)``: write the world's history into moto's in-process backends.
- ``tick(world, now)`` (optional): advance the simulation to ``now``; called every few seconds.

Product code never imports this package: it reaches the account through boto3 and
``AWS_ENDPOINT_URL`` like any other AWS account.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from demo import control
from demo import world as world_mod

log = logging.getLogger("demo")

TICK_SECONDS = 5.0
# A fixed wait before each API request is answered, in milliseconds (``SEXTANT_DEMO_LATENCY_MS``; 0, the default,
# none): a real AWS API answers in tens of milliseconds, the emulated account in about one, so without it a
# measurement of parallel collection measures this machine's cores rather than AWS's latency (bench/shards.py).
# The emulator's own control requests (``/moto-api/``) are not delayed.
LATENCY_ENV = "SEXTANT_DEMO_LATENCY_MS"


def latency_s(env: dict[str, str] | None = None) -> float:
    """The per-request latency the environment asks for, in seconds; ValueError for anything but a number >= 0."""
    text = (os.environ if env is None else env).get(LATENCY_ENV, "").strip()
    if not text:
        return 0.0
    try:
        ms = float(text)
    except ValueError:
        raise ValueError(f"{LATENCY_ENV}={text!r}: expected milliseconds, e.g. 50") from None
    if not 0 <= ms <= 60_000:
        raise ValueError(f"{LATENCY_ENV}={text!r}: must be between 0 and 60000 ms")
    return ms / 1000.0


class Latency:
    """WSGI middleware: wait ``seconds`` before handing each API request to moto (each request has its own thread in
    the threaded server, so concurrent requests wait side by side, as they would on AWS)."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if self.seconds > 0 and not environ.get("PATH_INFO", "").startswith("/moto-api"):
            time.sleep(self.seconds)
        return self.app(environ, start_response)


def _server(host: str, port: int, latency: float) -> Any:
    """moto's threaded server, its WSGI app behind :class:`Latency` when ``latency`` > 0."""
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer

    class Server(ThreadedMotoServer):
        def _server_entry(self) -> None:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                MotoRequestHandler,
                create_backend_app,
            )
            from werkzeug.serving import make_server

            app = DomainDispatcherApplication(create_backend_app)
            self._server = make_server(self._ip_address, self._port, Latency(app, latency), True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return Server(ip_address=host, port=port, verbose=False) if latency > 0 else ThreadedMotoServer(
        ip_address=host, port=port, verbose=False)


def _fills() -> list:
    from demo import costs, metrics, resources, sagemaker_fill, ses_fill, sts_fill

    return [sagemaker_fill, resources, metrics, costs, sts_fill, ses_fill]


@dataclass
class Emulator:
    world: world_mod.World
    host: str
    port: int
    _server: object = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _ticker: threading.Thread | None = None
    control: Path | None = None  # requests from ``python -m demo.control`` (see demo/control.py)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def tick(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        for fill in _fills():
            if hasattr(fill, "tick"):
                try:
                    fill.tick(self.world, now)
                except Exception:  # a failed tick must not kill the account
                    log.exception("tick of %s failed", fill.__name__)
        if self.control is not None:
            control.serve(self.control, {"surge": self._surge}, now)

    def _surge(self, request: dict, now: datetime) -> str:
        """A surge asked for while the account runs: from the next minute on (what was served stays as it was)."""
        surges = {str(k): float(v) for k, v in dict(request["surges"]).items()}
        add_surges(self.world, surges, now, lead=-timedelta(minutes=1))
        return "surge from the next minute on: " + ", ".join(f"{k} at {v:,.0f} invocations/min"
                                                            for k, v in surges.items())

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.tick()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop()


SURGE_LEAD = timedelta(minutes=15)


def add_surges(world: world_mod.World, surges: dict[str, float], now: datetime,
               lead: timedelta = SURGE_LEAD) -> None:
    """Put each surge (endpoint name -> invocations a minute) on the main account's endpoint.

    A surge began ``SURGE_LEAD`` before ``now``: whoever opens the account finds it under way, with its
    recent minutes already showing the load, as an on-call engineer paged for it would. Nothing has read
    those minutes yet, so the account's past stays consistent. Raises ValueError (naming the endpoints that
    exist) for an unknown endpoint or a rate outside (0, 1,000,000], changing nothing. A running account asks for
    a negative ``lead`` (the surge starts at the next minute: minutes already served are never rewritten)."""
    names = {e.name for e in world.endpoints if e.account == world_mod.MAIN_ACCOUNT}
    for name, rpm in surges.items():
        if name not in names:
            raise ValueError(f"--surge: no endpoint {name!r} in the emulated account "
                             f"(one of: {', '.join(sorted(names))})")
        if not 0 < rpm <= 1_000_000:
            raise ValueError(f"--surge {name}: invocations a minute must be in (0, 1000000], not {rpm}")
    since = now.replace(second=0, microsecond=0) - lead
    for name, rpm in surges.items():
        world.surges[(world_mod.MAIN_ACCOUNT, name)] = world_mod.Surge(since, float(rpm))


def start(seed: int = 7, host: str = "127.0.0.1", port: int = 0, live: bool = True,
          anchor: datetime | None = None, surges: dict[str, float] | None = None,
          control_dir: Path | None = None, latency: float | None = None) -> Emulator:
    """Build the world from ``seed``, start moto on ``host:port`` (0 picks a free port), seed it.

    ``surges`` (endpoint name -> invocations a minute) puts a traffic surge on endpoints of the main
    account (see :func:`add_surges`); ``control_dir``, where ``python -m demo.control`` leaves requests for the
    running account (served by the live tick); ``latency``, seconds every API request waits before moto answers it
    (default: ``SEXTANT_DEMO_LATENCY_MS``, see :data:`LATENCY_ENV`)."""
    latency = latency_s() if latency is None else latency
    os.environ.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
    world = world_mod.build_world(seed, anchor)
    add_surges(world, surges or {}, datetime.now(UTC))
    fills = _fills()
    for fill in fills:
        fill.install(world)
    server = _server(host, port, latency)
    server.start()
    host, port = server.get_host_and_port()
    started = time.monotonic()
    for fill in fills:
        fill.seed(world)
    log.info("seeded in %.1f s", time.monotonic() - started)
    emulator = Emulator(world, host, port, server, control=control_dir)
    if live:
        emulator.tick()
        emulator._ticker = threading.Thread(target=emulator._run, name="demo-live", daemon=True)
        emulator._ticker.start()
    return emulator
