"""Fixtures for reliability tests: a frozen emulated account (two collections see the same data), a clean
reference store collected from it, and helpers to run the collector in-process or as the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

import collectors
from collectors import runner
from sextant.settings import Settings
from sextant.store import Writer
from tests.conftest import ROOT, Account, start_account, stop_account
from tests.reliability import storecmp
from tests.reliability.faults import Injector, clients_factory

# Sources whose data is a pure function of a frozen account (no "now"-relative windows), and that together
# speak both protocol families the collectors' clients use: JSON (SageMaker, Auto Scaling, ECR, EventBridge,
# CloudWatch) and query XML (CloudFormation, STS).
FAST_SOURCES = ["cloudwatch_alarms", "sagemaker_endpoints", "application_autoscaling", "ecr", "cloudformation",
                "eventbridge"]
# Every deterministic source (the soak uses these). Not sagemaker_pipelines (nor stepfunctions): even with --no-live
# the emulated account starts scheduled pipeline executions as wall-clock time passes, so two collections minutes
# apart differ.
DETERMINISTIC_SOURCES = [*FAST_SOURCES, "sagemaker_registry", "sagemaker_training"]


@pytest.fixture(scope="session")
def frozen(tmp_path_factory) -> Iterator[Account]:
    """An emulated account with simulated time frozen after seeding (``--no-live``)."""
    acc = start_account(tmp_path_factory.mktemp("frozen"), live=False)
    yield acc
    stop_account(acc)


@contextmanager
def aws_env(acc: Account) -> Iterator[None]:
    """Point boto3 in this process at ``acc`` for the duration (restores the previous environment)."""
    old = {k: os.environ.get(k) for k in acc.env}
    os.environ.update(acc.env)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def collect(location: Path, acc: Account, sources: list[str], injector: Injector | None = None,
            settings: Settings | None = None) -> runner.CycleResult:
    """One cycle in-process with the product runner (and, with ``injector``, faults on every client)."""
    settings = settings or Settings(store=location)
    with aws_env(acc):
        writer = Writer(location)
        try:
            collectors.migrate(writer)
            cycle = runner.run_cycle(settings, writer, collectors.by_name(sources),
                                     clients_for=clients_factory(injector) if injector else None)
            writer.publish()
        finally:
            writer.close()
    return cycle


def cli_env(acc: Account, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "AWS_"))}
    return {**env, **acc.env, "PYTHONUNBUFFERED": "1", **extra}


def run_cli(args: list[str], acc: Account, *, faults: str | None = None, timeout: float = 600,
            **extra_env: str) -> subprocess.CompletedProcess:
    """``python -m collectors ARGS`` (or the fault-injecting wrapper) against ``acc``; output captured."""
    module = "tests.reliability.faultcli" if faults is not None else "collectors"
    env = cli_env(acc, **extra_env)
    if faults is not None:
        env["SEXTANT_FAULTS"] = faults
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@dataclass
class Clean:
    """A store collected from the frozen account with no faults: the reference every other run must equal."""

    location: Path
    sources: list[str]
    dump: dict[str, list[tuple]]
    seconds: float
    results: list[tuple[str, int, int]]  # (source, rows written, API calls) of the clean cycle


@pytest.fixture(scope="session")
def clean(frozen, tmp_path_factory) -> Clean:
    location = tmp_path_factory.mktemp("clean") / "store"
    t0 = time.monotonic()
    cycle = collect(location, frozen, FAST_SOURCES)
    seconds = time.monotonic() - t0
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]
    dump = storecmp.dump_file(location / "writer.duckdb", FAST_SOURCES)
    assert all(dump[t] for t in storecmp.source_tables(["sagemaker_endpoints"])[:2]), "the frozen account is empty"
    return Clean(location, FAST_SOURCES, dump, seconds, [(r.source, r.rows, r.api_calls) for r in cycle.results])


@pytest.fixture(scope="session")
def live(tmp_path_factory) -> Iterator[Account]:
    """A private live account (simulated time 240× faster) for tests that act on AWS."""
    acc = start_account(tmp_path_factory.mktemp("live"), env={"DEMO_SPEEDUP": "240"})
    yield acc
    stop_account(acc)
