"""Collectors: one module per AWS source, listed here. Each declares NAME, GLOBAL, TABLES and collect(ctx)."""

from __future__ import annotations

from collectors import (
    cloudwatch_alarms,
    cloudwatch_logs,
    cloudwatch_metrics,
    cost_explorer,
    ml_platform,
    sagemaker_endpoints,
    sagemaker_pipelines,
    sagemaker_registry,
    sagemaker_training,
)

SOURCES = [
    sagemaker_endpoints,
    sagemaker_training,
    sagemaker_registry,
    sagemaker_pipelines,
    cloudwatch_metrics,
    cloudwatch_alarms,
    cloudwatch_logs,
    cost_explorer,
    ml_platform,
]


def all_tables():
    return [t for source in SOURCES for t in source.TABLES]


def by_name(names: list[str] | None):
    if not names:
        return list(SOURCES)
    known = {s.NAME: s for s in SOURCES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]
