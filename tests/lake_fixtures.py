"""A private PostgreSQL cluster and an in-process S3 for the store's shared backend (DuckLake: catalog in PostgreSQL,
data on S3), and the store backends the contract tests run on.

PostgreSQL 15 comes from Debian's packages (``make test`` installs ``postgresql`` where it is missing); the cluster
is made with ``initdb`` in a temporary directory, listens only on a Unix socket there (no TCP port to collide on),
runs with ``fsync=off`` and is stopped when the session ends. As root, ``initdb`` and ``pg_ctl`` refuse to run: they
run as the ``postgres`` user. S3 is moto's ``ThreadedMotoServer`` in this process (each bucket a test's own).
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import boto3
import pytest

from sextant.settings import Settings
from sextant.store import Reader, StoreWriter, open_reader, open_writer


def _pg_bin() -> Path:
    """Debian's PostgreSQL binaries (15 on these machines; the newest installed major version otherwise)."""
    if os.environ.get("SEXTANT_TEST_PG_BIN"):
        return Path(os.environ["SEXTANT_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]) if
                   p.parts[-3].isdigit() else 0)
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
PG_PORT = 5432  # names the socket file only: the cluster has no TCP listener
S3_ACCESS_KEY = "AKIAIOSFODNN7LAKETEST"
S3_SECRET_KEY = "lake-test-secret-key-never-shown-0123456789"


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@dataclass
class PostgresCluster:
    root: Path
    _names: Iterator[int] = field(default_factory=itertools.count)

    @property
    def socket_dir(self) -> Path:
        return self.root

    def dsn(self, dbname: str) -> str:
        return f"host={self.socket_dir} port={PG_PORT} dbname={dbname} user=postgres"

    def create_database(self, prefix: str = "lake") -> str:
        name = f"{prefix}_{os.getpid()}_{next(self._names)}"
        subprocess.run(_as_postgres([str(PG_BIN / "createdb"), "-h", str(self.socket_dir), "-p", str(PG_PORT),
                                     "-U", "postgres", name]), check=True, capture_output=True, timeout=60)
        return name

    def sql(self, dbname: str, statement: str) -> str:
        out = subprocess.run(_as_postgres([str(PG_BIN / "psql"), "-h", str(self.socket_dir), "-p", str(PG_PORT),
                                           "-U", "postgres", "-d", dbname, "-XAtc", statement]),
                             check=True, capture_output=True, text=True, timeout=60)
        return out.stdout


def start_postgres() -> PostgresCluster:
    """A new private cluster; skips the test (with the reason) only when PostgreSQL's binaries are missing."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 is not installed ({PG_BIN}/initdb missing): `make test` installs Debian's "
                    "postgresql package (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="sextant-pg-"))
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("no postgres user to run PostgreSQL as (Debian's postgresql package creates it)")
        shutil.chown(root, "postgres")
    data = root / "data"
    subprocess.run(_as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "-N"]),
                   check=True, capture_output=True, timeout=120)
    options = f"-p {PG_PORT} -k {root} -c listen_addresses='' -c fsync=off -c max_connections=200"
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "60", "-l", str(root / "log"),
                                 "-o", options, "start"]), check=True, capture_output=True, timeout=120)
    return PostgresCluster(root)


def stop_postgres(cluster: PostgresCluster) -> None:
    subprocess.run(_as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(cluster.root / "data"), "-m", "immediate",
                                 "-w", "stop"]), capture_output=True, timeout=60)
    shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    cluster = start_postgres()
    try:
        yield cluster
    finally:
        stop_postgres(cluster)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 in this process, for the session: its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the in-process S3, with the standard AWS environment pointing at it (as a user sets it)."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_SECRET_KEY)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_endpoint)
    bucket = f"lake-{os.getpid()}-{next(_buckets)}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    return bucket


_buckets = itertools.count()

BACKENDS = ("duckdb", "lake-local", "lake-postgres-s3")


@dataclass
class StoreCase:
    """One store backend for a contract test: its settings, and the writer and readers the product would open."""

    backend: str
    settings: Settings

    @property
    def lake(self) -> bool:
        return self.backend != "duckdb"

    def writer(self) -> StoreWriter:
        return open_writer(self.settings)

    def reader(self) -> Reader:
        return open_reader(self.settings)


def store_case(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> StoreCase:
    settings = Settings(store=tmp_path / "store")
    if backend == "lake-local":
        settings = replace(settings, store_backend="ducklake")
    elif backend == "lake-postgres-s3":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        bucket: str = request.getfixturevalue("s3_bucket")
        catalog = f"postgres:{cluster.dsn(cluster.create_database())}"
        settings = replace(settings, store_backend="ducklake", catalog=catalog, data_path=f"s3://{bucket}/sextant/")
    return StoreCase(backend, settings)


@pytest.fixture
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    """DuckLake with its catalog in a new PostgreSQL database and its data in a new bucket (mark the test
    ``emulated``: it needs the PostgreSQL server)."""
    return store_case("lake-postgres-s3", tmp_path, request)


@pytest.fixture(params=[pytest.param("duckdb"), pytest.param("lake-local", marks=pytest.mark.slow),
                        pytest.param("lake-postgres-s3", marks=pytest.mark.emulated)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreCase:
    """The store on each backend: the DuckDB file (the default), DuckLake on a local SQLite catalog with local
    Parquet, and DuckLake with its catalog in PostgreSQL and its data on S3."""
    return store_case(request.param, tmp_path, request)
