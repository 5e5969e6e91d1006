"""The behaviour model: what each endpoint variant does, minute by minute.

All functions take ``minutes``, an int64 numpy array of epoch minutes (UTC), and
return one float per minute. Values are a deterministic function of the world's
seed, the endpoint spec, the time and the :class:`~demo.world.Timeline` state at
that minute, so any range at any period can be answered without storing points,
and a change recorded in the timeline (a scale-up) shows in the very next minute.

Demand (invocations) depends only on time; utilisation = demand / (instances ×
capacity), and CPU, memory, GPU and latency follow utilisation, so scaling up
lowers CPU per instance and latency. Latency percentiles come from a log-normal
spread around the mean.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import numpy as np

from demo.world import EndpointSpec, VariantSpec, World

P_FACTORS = {"p50": 0.82, "p90": 1.45, "p99": 2.6}


def to_minutes(t: datetime) -> int:
    return int(t.astimezone(UTC).timestamp() // 60)


def minute_range(start: datetime, end: datetime) -> np.ndarray:
    """Epoch minutes in [start, end)."""
    return np.arange(to_minutes(start) + (start.second > 0 or start.microsecond > 0), to_minutes(end) +
                     (end.second > 0 or end.microsecond > 0), dtype=np.int64)


def _key(*parts: object) -> int:
    return int.from_bytes(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest(), "little")


def noise(seed: int, series: str, minutes: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Deterministic noise in [-scale, scale], a pure function of (seed, series, minute)."""
    k = np.uint64(_key(seed, series) & 0xFFFFFFFFFFFF)
    x = (minutes.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ k
    x ^= x >> np.uint64(31)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    return ((x >> np.uint64(11)).astype(np.float64) / float(1 << 53) * 2 - 1) * scale


def seasonality(minutes: np.ndarray) -> np.ndarray:
    """Daily peak at 15:00 UTC, trough near 03:00; weekends at 65%."""
    hour = (minutes % 1440) / 60.0
    daily = 0.55 + 0.45 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    weekday = ((minutes // 1440) + 3) % 7  # 1970-01-01 was a Thursday: 0 = Monday
    weekly = np.where(weekday >= 5, 0.65, 1.0)
    return daily * weekly


def demand(world: World, e: EndpointSpec, minutes: np.ndarray) -> np.ndarray:
    """Invocations per minute for the whole endpoint (before the variant split)."""
    rpm = e.peak_rpm * seasonality(minutes) * (1 + noise(world.seed, e.name, minutes, 0.08))
    created = to_minutes(e.created)
    rpm = np.where(minutes < created, 0.0, rpm)
    if e.idle_since is not None:
        rpm = np.where(minutes >= to_minutes(e.idle_since), 0.0, rpm)
    surge = world.surges.get((e.account, e.name))
    if surge is not None:
        floor = surge.rpm * (1 + noise(world.seed, e.name + "/surge", minutes, 0.05))
        rpm = np.where(minutes >= to_minutes(surge.since), np.maximum(rpm, floor), rpm)
    return np.maximum(rpm, 0.0)


def variant_state(world: World, e: EndpointSpec, v: VariantSpec, minutes: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(instance count, weight share of the endpoint, model version) per minute, from the timeline."""
    states = world.timeline.states(e.account, e.name, v.name)
    if not states:
        zeros = np.zeros(len(minutes))
        return zeros, zeros, zeros
    times = np.array([to_minutes(s.time) for s in states], dtype=np.int64)
    idx = np.searchsorted(times, minutes, side="right") - 1
    live = idx >= 0
    idx = np.clip(idx, 0, None)
    counts = np.where(live, np.array([s.count for s in states], dtype=float)[idx], 0.0)
    weights = np.where(live, np.array([s.weight for s in states], dtype=float)[idx], 0.0)
    versions = np.where(live, np.array([s.model_version for s in states], dtype=float)[idx], 0.0)
    total = np.zeros(len(minutes))
    for other in e.variants:
        if other.name == v.name:
            total += weights
        else:
            total += variant_state_weights(world, e, other, minutes)
    share = np.divide(weights, total, out=np.zeros(len(minutes)), where=total > 0)
    return counts, share, versions


def variant_state_weights(world: World, e: EndpointSpec, v: VariantSpec, minutes: np.ndarray) -> np.ndarray:
    states = world.timeline.states(e.account, e.name, v.name)
    if not states:
        return np.zeros(len(minutes))
    times = np.array([to_minutes(s.time) for s in states], dtype=np.int64)
    idx = np.searchsorted(times, minutes, side="right") - 1
    return np.where(idx >= 0, np.array([s.weight for s in states], dtype=float)[np.clip(idx, 0, None)], 0.0)


def incident_mask(e: EndpointSpec, minutes: np.ndarray) -> np.ndarray:
    if e.incident is None:
        return np.zeros(len(minutes), dtype=bool)
    return (minutes >= to_minutes(e.incident.start)) & (minutes < to_minutes(e.incident.end))


def variant_metrics(world: World, e: EndpointSpec, v: VariantSpec, minutes: np.ndarray) -> dict[str, np.ndarray]:
    """Every CloudWatch metric SageMaker publishes for a variant, per minute.

    Keys are CloudWatch metric names; latency values are in microseconds, as AWS
    publishes them; ``ModelLatency:p50`` etc. carry the per-minute percentiles.
    """
    counts, share, _ = variant_state(world, e, v, minutes)
    inv = demand(world, e, minutes) * share
    inv = np.where(counts > 0, inv, 0.0)
    per_instance = np.divide(inv, counts * e.capacity_rpm, out=np.zeros(len(minutes)), where=counts > 0)
    util = np.clip(per_instance, 0, 1.6)
    incident = incident_mask(e, minutes)
    s = world.seed
    series = f"{e.account}/{e.name}/{v.name}"
    latency_ms = e.base_latency_ms * (1 + 1.8 * util**2) * (1 + noise(s, series + "/lat", minutes, 0.06))
    latency_ms = np.where(incident, latency_ms * e.incident.latency_factor if e.incident else latency_ms, latency_ms)
    err5 = 0.0002 + np.clip(util - 1.0, 0, None) * 0.2
    err5 = np.where(incident, e.incident.error_rate if e.incident else 0.0, err5)
    out = {
        "Invocations": np.round(inv),
        "Invocation4XXErrors": np.round(inv * (0.002 + 0.001 * (noise(s, series + "/4xx", minutes) + 1))),
        "Invocation5XXErrors": np.round(inv * err5),
        "ModelLatency": latency_ms * 1000.0,
        "OverheadLatency": (1.8 + 0.6 * util + noise(s, series + "/ovh", minutes, 0.3)) * 1000.0,
        "CPUUtilization": np.clip(3 + 88 * util + noise(s, series + "/cpu", minutes, 3), 0.5, 99.5),
        "MemoryUtilization": np.clip(34 + 22 * util + noise(s, series + "/mem", minutes, 1.5), 1, 99),
        "DiskUtilization": np.clip(17 + 0.00004 * (minutes % 100000) + noise(s, series + "/disk", minutes, 0.2),
                                   1, 99),
    }
    if any(x in v.instance_type for x in ("g4dn", "g5", "p3", "p4d", "p5")):
        out["GPUUtilization"] = np.clip(2 + 90 * util + noise(s, series + "/gpu", minutes, 3), 0, 100)
        out["GPUMemoryUtilization"] = np.clip(48 + 25 * util + noise(s, series + "/gpum", minutes, 1), 0, 100)
    for p, f in P_FACTORS.items():
        out[f"ModelLatency:{p}"] = out["ModelLatency"] * f
        out[f"OverheadLatency:{p}"] = out["OverheadLatency"] * f
    no_instances = counts <= 0
    for k in out:
        out[k] = np.where(no_instances, np.nan, out[k])
    return out


INVOCATION_METRICS = ("Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency",
                      "OverheadLatency")
INSTANCE_METRICS = ("CPUUtilization", "MemoryUtilization", "DiskUtilization")
GPU_METRICS = ("GPUUtilization", "GPUMemoryUtilization")
INVOCATION_NAMESPACE = "AWS/SageMaker"
INSTANCE_NAMESPACE = "/aws/sagemaker/Endpoints"
