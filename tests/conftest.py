"""Shared fixtures: the emulated account as a real server process, reached with plain boto3."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from streamlit.components.v2 import manifest_scanner
from streamlit.testing.v1 import AppTest

# Each AppTest run scans every installed package's metadata for Streamlit components (0.4-0.8 s here, most of a small
# page's test); the installed packages do not change during a test session, so the scan is made once per process. A
# served dashboard scans once at start and is not affected.
manifest_scanner.scan_component_manifests = functools.cache(manifest_scanner.scan_component_manifests)

ROOT = Path(__file__).resolve().parent.parent
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "demo-secret-not-real"}


@dataclass
class Account:
    """A running emulated AWS account: its URL, the environment that points boto3 at it, and its process."""

    url: str
    env: dict[str, str]
    process: subprocess.Popen

    def client(self, service: str, **kwargs):
        session = boto3.Session(
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_REGION"],
        )
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=60)
        return session.client(service, endpoint_url=self.url, config=config, **kwargs)


def start_account(tmp: Path, seed: int = 7, live: bool = True, env: dict[str, str] | None = None,
                  args: list[str] | None = None, timeout: float = 120) -> Account:
    """Start ``python -m demo`` (extra CLI ``args``, e.g. ``["--surge", "NAME=RPM"]``) and wait for its URL."""
    url_file = tmp / f"demo-{seed}-{time.monotonic_ns()}.url"
    args = [sys.executable, "-m", "demo", "--seed", str(seed), "--url-file", str(url_file), *(args or [])]
    if not live:
        args.append("--no-live")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    deadline = time.monotonic() + timeout
    while not url_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"emulated account exited: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"emulated account did not start within {timeout:.0f} s")
        time.sleep(0.1)
    url = url_file.read_text().strip()
    env = {**FAKE_CREDENTIALS, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": url}
    return Account(url, env, proc)


def stop_process(proc: subprocess.Popen, timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def stop_account(account: Account) -> None:
    stop_process(account.process)


def wait_until(fn, timeout: float, what: str = "the condition"):
    """Poll ``fn`` every 0.5 s until it returns something truthy (returned); AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def account_in_env(tmp: Path, **env: str) -> Iterator[Account]:
    """A private emulated account whose AWS settings are in this process's environment while it runs."""
    with pytest.MonkeyPatch.context() as mp:
        acc = start_account(tmp, env=env)
        for k, v in acc.env.items():
            mp.setenv(k, v)
        try:
            yield acc
        finally:
            stop_account(acc)


def make_endpoint(acc: Account, name: str, account_id: str = "123456789012") -> None:
    """A one-variant endpoint (AllTraffic, 1 x ml.m5.large) of its own model and config, waited for InService."""
    sm = acc.client("sagemaker")
    sm.create_model(ModelName=name, ExecutionRoleArn=f"arn:aws:iam::{account_id}:role/sagemaker-execution",
                    PrimaryContainer={"Image": f"{account_id}.dkr.ecr.us-east-1.amazonaws.com/x:1"})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_until(lambda: sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService", 60,
               f"{name} InService")


@pytest.fixture(scope="session")
def account(tmp_path_factory) -> Iterator[Account]:
    """One emulated account for the session (seed 7, live). Tests that change it use their own."""
    acc = start_account(tmp_path_factory.mktemp("demo"))
    old = {k: os.environ.get(k) for k in acc.env}
    os.environ.update(acc.env)
    yield acc
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    stop_account(acc)


@pytest.fixture
def fresh_account(tmp_path) -> Iterator[Account]:
    """A private emulated account, for tests that change AWS state."""
    acc = start_account(tmp_path)
    yield acc
    stop_account(acc)


@pytest.fixture(scope="session")
def demo_store(account, tmp_path_factory):
    """The whole account collected into one store (read-only for tests); pages read it via SEXTANT_STORE."""
    from tests.collectors.conftest import Collection

    c = Collection(tmp_path_factory.mktemp("store") / "store")
    cycle = c.run()
    assert not cycle.failed, [(r.source, r.error) for r in cycle.failed]
    return c


APP = str(ROOT / "dashboard" / "app.py")  # AppTest resolves a relative path against the calling file


@pytest.fixture
def app(demo_store, monkeypatch):
    """Open a page of the real shell: app("pages/cost.py") -> a rendered AppTest."""
    monkeypatch.setenv("SEXTANT_STORE", str(demo_store.settings.store))

    def open_page(page: str | None = None, **query) -> AppTest:
        at = AppTest.from_file(APP, default_timeout=60)
        for k, v in query.items():
            at.query_params[k] = v
        at.run()
        if page:
            at.switch_page(f"../{page}").run()  # page paths are relative to the main script's folder
        assert not at.exception, at.exception
        return at

    return open_page


# Fixtures that start an emulated account (a moto server process); a test using any of them is in the slow tier.
EMULATED_FIXTURES = frozenset({"account", "acc", "fresh_account", "demo_store", "collection", "frozen", "live",
                               "clean"})
# Folders whose tests start servers, processes or browsers themselves.
EMULATED_FOLDERS = ("demo", "reliability", "browser", "bench")
# Folders whose tests render whole pages through the app shell (AppTest): in make test, not in make test-fast, whose
# tier is the logic under the pages (queries, rules, actions' validation, collectors, the core) on tiny stores.
SLOW_FOLDERS = ("pages",)


def pytest_collection_modifyitems(config, items):
    """Under xdist, keep the tests that read the collected demo store on one worker, so it is collected once.
    Mark every test that needs the emulated account (or a browser) ``emulated``: ``make test-fast`` leaves them out."""
    tests = Path(__file__).resolve().parent
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "demo_store" in names:
            item.add_marker(pytest.mark.xdist_group("demo_store"))
        folder = Path(str(item.fspath)).resolve().relative_to(tests).parts[0]
        if names & EMULATED_FIXTURES or folder in EMULATED_FOLDERS:
            item.add_marker(pytest.mark.emulated)
        elif folder in SLOW_FOLDERS:
            item.add_marker(pytest.mark.slow)
