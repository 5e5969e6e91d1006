"""Collectors: one module per AWS service, listed once in ``SOURCES``.

Each module declares NAME, GLOBAL, DEPENDS_ON (the sources whose rows it reads), TABLES and collect(ctx)
(:class:`collectors.base.Collector`). The order of ``SOURCES`` carries no meaning: a cycle runs the sources in
:func:`run_order`, which puts every source after the ones it depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from graphlib import CycleError, TopologicalSorter

from collectors import (
    application_autoscaling,
    cloudformation,
    cloudwatch_alarms,
    cloudwatch_logs,
    cloudwatch_metrics,
    cost_explorer,
    ecr,
    eventbridge,
    sagemaker_endpoints,
    sagemaker_pipelines,
    sagemaker_processing,
    sagemaker_registry,
    sagemaker_training,
    stepfunctions,
)
from collectors.base import Collector
from sextant.schema import SourceDoc, Table
from sextant.store import Writer

SOURCES: list[Collector] = [
    sagemaker_endpoints,
    sagemaker_training,
    sagemaker_processing,
    sagemaker_registry,
    sagemaker_pipelines,
    cloudwatch_alarms,
    cloudwatch_metrics,
    cloudwatch_logs,
    cost_explorer,
    application_autoscaling,
    stepfunctions,
    ecr,
    cloudformation,
    eventbridge,
]

# Cursors a source inherits from the source that filled its tables before a split (one module per service):
# {new source: (former source, keys)}. The runner carries them over on the new source's first run.
INHERITED_CURSORS: dict[str, tuple[str, tuple[str, ...]]] = {
    application_autoscaling.NAME: (sagemaker_endpoints.NAME, ("activity_start",)),
}


def check(sources: Sequence[Collector]) -> None:
    """Raise ValueError when names repeat, a source depends on one not in ``sources``, or dependencies cycle."""
    names = [s.NAME for s in sources]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"source name(s) listed twice: {', '.join(repeated)}")
    for s in sources:
        unknown = [d for d in s.DEPENDS_ON if d not in names]
        if unknown:
            raise ValueError(f"source {s.NAME} depends on unknown source(s) {', '.join(unknown)}; "
                             f"known: {', '.join(names)}")
    run_order(sources)


def run_order(sources: Sequence[Collector]) -> list[Collector]:
    """``sources`` in an order where each runs after those of its dependencies that are among them, and otherwise
    in the order given (a dependency left out is not added: its source reads what is already stored).

    Raises ValueError naming the cycle when dependencies form one."""
    by_name = {s.NAME: s for s in sources}
    position = {name: i for i, name in enumerate(by_name)}
    graph = TopologicalSorter({s.NAME: [d for d in s.DEPENDS_ON if d in by_name] for s in sources})
    try:
        graph.prepare()
    except CycleError as exc:
        cycle = exc.args[1][::-1]  # graphlib lists each node before the nodes that depend on it
        raise ValueError(f"source dependencies form a cycle: {' depends on '.join(cycle)}") from None
    order: list[Collector] = []
    ready: list[str] = []
    while graph.is_active():
        ready = sorted([*ready, *graph.get_ready()], key=position.__getitem__)
        name = ready.pop(0)  # the first in the given order among those whose dependencies have run
        order.append(by_name[name])
        graph.done(name)
    return order


def all_tables() -> list[Table]:
    return [t for source in SOURCES for t in source.TABLES]


def source_docs() -> list[SourceDoc]:
    """The registry as the store records it (``sextant_source``), for readers that do not import collectors."""
    return [SourceDoc(s.NAME, tuple(t.name for t in s.TABLES), tuple(s.DEPENDS_ON), s.GLOBAL) for s in SOURCES]


def migrate(writer: Writer) -> None:
    """Bring a store to the current schema: every source's tables and the sources' registry."""
    writer.migrate(all_tables(), source_docs())


def by_name(names: list[str] | None) -> list[Collector]:
    if not names:
        return list(SOURCES)
    known = {s.NAME: s for s in SOURCES}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown source(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[n] for n in names]


check(SOURCES)
