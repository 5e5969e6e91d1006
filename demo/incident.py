"""A live capacity incident on the planted incident's endpoint, which a scale-up ends.

Yesterday's planted incident (``world.incident_endpoint()``: a bad deployment, rolled back) is history by the time
anyone opens the demo. This knob puts a live one on the same endpoint, of the kind an on-call engineer fixes with
Sextant's *Scale this endpoint*: traffic at ``LOAD`` × what its instances serve now. The model
(:mod:`demo.model`) answers saturation with 5xx errors (``0.2 × (utilisation - 1)`` of the invocations) and a
longer latency, so:

- every minute of the incident is over the endpoint's ``<name>-5xx-errors`` alarm (Sum over 1 minute, 3 of 5), and
  its ``ALARM`` follows within the minutes CloudWatch needs;
- its p99 stays under the ``<name>-p99-latency`` alarm (4 × its p99 at rest) and a short incident never fills the
  three 5-minute periods of ``<name>-cpu-high``: one alarm, one alert;
- a scale-up to :func:`recovery_count` instances (or more) brings utilisation under ``CALM`` from the minute the
  new capacity is in service: no 5xx error over the alarm's threshold, so the alarm returns to ``OK`` after three
  calm minutes, and the alert resolves. Deterministic: the model is a pure function of the seed, the time and the
  timeline the scale-up is recorded in.

Ask the running account with ``python -m demo.control incident`` (``make demo``'s account), or a test's account with
``control.send(dir, {"kind": "incident", "lead_minutes": 5})``: a lead puts the incident's start that many minutes
in the past, which rewrites minutes already served (only for an account nobody has collected yet).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from demo.world import EndpointSpec, Surge, VariantSpec, World

LOAD = 1.12  # incident traffic / what the instances serve at 100 % (the surge's own noise is ±5 %)
CALM = 0.7  # utilisation a recovery count brings the incident's traffic under (with the noise)
SURGE_NOISE = 0.05  # demo.model.demand: a surge's floor varies by this share
MAX_LEAD_MINUTES = 10  # more would fill the 5-minute CPU alarm's three periods


@dataclass(frozen=True)
class LiveIncident:
    endpoint: str
    variant: str
    since: datetime
    rpm: float
    instances: int  # in service when it started
    recovery: int  # a scale-up to this many instances ends it

    def message(self) -> str:
        return (f"incident on {self.endpoint} since {self.since:%H:%M} UTC: {self.rpm:,.0f} invocations/min on "
                f"{self.instances} instance(s) of {self.variant}; scaling it to {self.recovery} or more ends it")


def _main_variant(e: EndpointSpec) -> VariantSpec:
    return max(e.variants, key=lambda v: v.weight)


def recovery_count(e: EndpointSpec, rpm: float) -> int:
    """The fewest instances that keep ``rpm`` (at its noisiest) under ``CALM`` utilisation."""
    return math.ceil(rpm * (1 + SURGE_NOISE) / (e.capacity_rpm * CALM))


def start(world: World, now: datetime, lead_minutes: int = 0) -> LiveIncident:
    """Put the incident on the incident endpoint from the minute ``lead_minutes`` before ``now``'s (0: the next
    minute, so minutes already served are never rewritten). Raises ValueError for a lead outside [0, 10] or an
    endpoint with no instance in service."""
    if isinstance(lead_minutes, bool) or not isinstance(lead_minutes, int) or not 0 <= lead_minutes <= \
            MAX_LEAD_MINUTES:
        raise ValueError(f"incident: lead_minutes must be a whole number in [0, {MAX_LEAD_MINUTES}], "
                         f"not {lead_minutes!r}")
    e = world.incident_endpoint()
    v = _main_variant(e)
    state = world.timeline.at(e.account, e.name, v.name, now)
    if state is None or state.count <= 0:
        raise ValueError(f"incident: {e.name} has no instance in service")
    rpm = LOAD * state.count * e.capacity_rpm
    minute = now.replace(second=0, microsecond=0)
    since = minute + timedelta(minutes=1) if lead_minutes == 0 else minute - timedelta(minutes=lead_minutes)
    world.surges[(e.account, e.name)] = Surge(since, rpm)
    return LiveIncident(e.name, v.name, since, rpm, state.count, recovery_count(e, rpm))


def handle(world: World, request: dict, now: datetime) -> str:
    """The ``incident`` request of :mod:`demo.control`: ``{"kind": "incident", "lead_minutes": N}``."""
    return start(world, now, request.get("lead_minutes", 0)).message()
