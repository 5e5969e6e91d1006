"""The SQL box's sandbox: each query a user types runs in a child process of its own, never in the dashboard's.

DuckDB cannot interrupt some functions mid-row (a ``levenshtein`` over long strings ran 219 s past a 2 s
timeout), a wide result was copied again by pandas and the download buffers (6.2 GB for
``SELECT repeat('x',10000) FROM range(100000)``), and a spilling aggregate wrote 1.8 GB of temp files a minute. So
:func:`run` starts ``python -I`` on this file with a minimal environment (no AWS credentials, no settings), and
the child:

- lowers its priority (nice 10), limits its address space (``RLIMIT_AS``), its CPU seconds (``RLIMIT_CPU``, a
  backstop should the dashboard die) and core dumps;
- opens the snapshot READ_ONLY on a private in-memory DuckDB with ``memory_limit``, ``threads = 1``, a private
  ``temp_directory`` capped by ``max_temp_directory_size``, then turns external access (files, network,
  extensions, further ATTACHes) off and locks the configuration;
- streams the result as Arrow IPC into a file and stops at a byte cap (the result says it was cut);
- writes a small status file and exits.

The dashboard waits at most the timeout (child start included), then terminates the child and kills it if it
lingers; the private directory (temp files, result, status) is removed whatever happened. One query per owner (a
session) at a time, and at most :data:`MAX_CONCURRENT` in the process: a second submit is refused, not queued.

This module imports only the standard library at its top, so that the child starts fast; it knows nothing of the
store's layout, of Streamlit or of who may use the box (see :func:`refusal`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sextant.schema import literal

MiB = 1024 * 1024
MAX_CONCURRENT = 4  # sandboxed queries at once in one dashboard process; more are refused with a message
STALE_S = 600  # a private directory this old outlived a dashboard that was killed mid-query: removed by the next query
_PREFIX = "sextant-sql-"
_STATUS, _RESULT, _STDERR = "status.json", "result.arrows", "stderr.txt"


@dataclass(frozen=True)
class Limits:
    """What one query may use. The defaults hold for a store of a few hundred MB; the child's address space must
    leave room above DuckDB's own limit for Python, DuckDB and Arrow themselves (about 400 MB of mappings)."""

    timeout_s: float = 10.0  # wall clock from the child's start to its last byte
    address_space_bytes: int = 1536 * MiB  # RLIMIT_AS of the child
    duckdb_memory_bytes: int = 512 * MiB  # DuckDB's memory_limit (spills to temp beyond it)
    result_bytes: int = 50 * MiB  # Arrow bytes of the result; the rest is cut
    temp_bytes: int = 512 * MiB  # max_temp_directory_size
    batch_rows: int = 2048


class SandboxError(Exception):
    """The query could not run or was stopped; the message is for the user."""


class Busy(SandboxError):
    """A query of the same owner is still running, or the box is at its concurrency limit."""


@dataclass
class Result:
    table: Any  # pyarrow.Table
    cut: bool  # the result reached Limits.result_bytes and was cut
    seconds: float
    stats: dict = field(default_factory=dict)


def refusal(audience: str, name: str, role: str) -> str | None:
    """Why this actor may not use the SQL box under the ``auth.sql_box`` setting, or None when they may."""
    if audience == "everyone":
        return None
    signed_in = bool(name) and name != "anonymous"
    if audience == "signed-in":
        return None if signed_in else "The SQL box is open to signed-in users only: sign in to use it."
    if audience == "operators":
        if role in ("operator", "admin"):
            return None
        return "The SQL box is open to operators and admins only: ask an admin if you need it."
    return f"The SQL box is closed (unknown audience {audience!r} in [auth] sql_box)."


# --------------------------------------------------------------------------------------------- the dashboard side
_LOCK = threading.Lock()
_RUNNING: set[str] = set()  # owners with a query in flight


class _Slot:
    def __init__(self, owner: str | None) -> None:
        self.owner = owner

    def __enter__(self) -> _Slot:
        with _LOCK:
            if self.owner is not None and self.owner in _RUNNING:
                raise Busy("Your previous query is still running: wait for it to finish (or to time out).")
            if len(_RUNNING) >= MAX_CONCURRENT:
                raise Busy(f"The SQL box is running {MAX_CONCURRENT} queries already: try again in a moment.")
            self.key = self.owner if self.owner is not None else f"anonymous-{id(self)}"
            _RUNNING.add(self.key)
        return self

    def __exit__(self, *exc: object) -> None:
        with _LOCK:
            _RUNNING.discard(self.key)


def running() -> int:
    """How many sandboxed queries this process is running now."""
    with _LOCK:
        return len(_RUNNING)


def _stop(proc: subprocess.Popen, grace_s: float = 1.0) -> None:
    """Terminate, then kill if the child is still there after ``grace_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _child_env(work: Path) -> dict[str, str]:
    # The child sees no AWS credentials, no settings, no proxy secrets: only what Python needs to start.
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(HOME=str(work), TMPDIR=str(work), OMP_NUM_THREADS="1")
    return env


def _mb(n: int) -> str:
    return f"{n / MiB:,.0f} MB"


def run(snapshot: str | os.PathLike, sql: str, limits: Limits = Limits(), *, owner: str | None = None,
        temp_root: str | os.PathLike | None = None) -> Result:
    """Run one already-validated SELECT on the snapshot file in a child process within ``limits``.

    ``owner`` (a session's key) may have one query in flight; ``temp_root`` is where the private per-query directory
    is made (the system's temp directory by default). Raises :class:`SandboxError` with a message for the user."""
    import pyarrow as pa  # the dashboard has it loaded already; the child does not need this side

    with _Slot(owner):
        started = time.monotonic()
        sweep(temp_root)
        work = Path(tempfile.mkdtemp(prefix=_PREFIX, dir=temp_root))
        proc: subprocess.Popen | None = None
        try:
            request = {"snapshot": str(Path(snapshot).resolve()), "sql": sql, "work": str(work),
                       "limits": limits.__dict__}
            with open(work / _STDERR, "wb") as err:
                proc = subprocess.Popen([sys.executable, "-I", str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=err, cwd=work, env=_child_env(work),
                                        start_new_session=True)
            try:
                proc.communicate(json.dumps(request).encode(), timeout=max(0.1, limits.timeout_s))
            except subprocess.TimeoutExpired:
                _stop(proc)
                raise SandboxError(f"The query ran longer than {limits.timeout_s:g} s and was stopped. Narrow it "
                                   "with WHERE (e.g. on a date or ts column) or aggregate first.") from None
            status = _read_status(work, proc.returncode, limits)
            path = work / _RESULT
            size = path.stat().st_size
            if size > limits.result_bytes + 4 * MiB:  # the child's own cap, checked again: never trust a file size
                raise SandboxError("The result was larger than the SQL box allows.")
            with pa.OSFile(str(path), "rb") as source:
                table = pa.ipc.open_stream(source).read_all()
            return Result(table, bool(status.get("cut")), time.monotonic() - started, status)
        finally:
            if proc is not None:
                _stop(proc)
            shutil.rmtree(work, ignore_errors=True)


def sweep(temp_root: str | os.PathLike | None = None, older_than_s: float = STALE_S) -> int:
    """Remove private directories left by a dashboard killed mid-query (no query runs longer than a minute, so one
    untouched for ``older_than_s`` belongs to nobody); returns how many went."""
    root = Path(temp_root or tempfile.gettempdir())
    gone = 0
    try:
        candidates = [p for p in root.iterdir() if p.name.startswith(_PREFIX) and p.is_dir()]
    except OSError:
        return 0
    for p in candidates:
        try:
            if time.time() - p.stat().st_mtime > older_than_s:
                shutil.rmtree(p, ignore_errors=True)
                gone += 1
        except OSError:
            pass
    return gone


def _read_status(work: Path, returncode: int | None, limits: Limits) -> dict:
    try:
        status = json.loads((work / _STATUS).read_text())
    except (OSError, ValueError):
        status = None
    if status is None or returncode != 0 and "error" not in status:
        if returncode is not None and returncode < 0 and -returncode == signal.SIGXCPU:
            raise SandboxError(f"The query used more CPU time than {limits.timeout_s:g} s and was stopped.")
        raise SandboxError(f"The query was stopped: it needed more memory than the SQL box allows "
                           f"({_mb(limits.address_space_bytes)}). Narrow it with WHERE, select fewer columns, or "
                           f"aggregate first.")
    if "error" in status:
        kind, message = status.get("kind", ""), status["error"]
        if kind in ("OutOfMemoryException", "MemoryError") or "max_temp_directory_size" in message:
            raise SandboxError(f"The query needed more memory than the SQL box allows "
                               f"({_mb(limits.duckdb_memory_bytes)} in memory, {_mb(limits.temp_bytes)} on disk) and "
                               f"was stopped. Narrow it with WHERE or aggregate first. ({message})")
        raise SandboxError(message)
    return status


# --------------------------------------------------------------------------------------------------- the child
def _limit_self(limits: dict) -> None:
    import resource

    try:
        os.nice(10)  # the dashboard's own threads come first when both want the CPU
    except OSError:
        pass
    address = int(limits["address_space_bytes"])
    resource.setrlimit(resource.RLIMIT_AS, (address, address))
    cpu = int(limits["timeout_s"]) + 2  # a backstop: the parent kills at the timeout
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _write_status(work: Path, status: dict) -> None:
    tmp = work / (_STATUS + ".tmp")
    tmp.write_text(json.dumps(status))
    os.replace(tmp, work / _STATUS)


def _child(request: dict) -> dict:
    limits, work = request["limits"], Path(request["work"])
    import duckdb
    import pyarrow as pa

    temp = work / "spill"
    temp.mkdir()
    try:
        con = duckdb.connect(":memory:", config={
            "threads": 1, "memory_limit": f"{int(limits['duckdb_memory_bytes']) // MiB}MB",
            "temp_directory": str(temp), "autoinstall_known_extensions": False, "autoload_known_extensions": False,
        })
        # Set after connecting: DuckDB 1.5.5 reads max_temp_directory_size back from connect()'s config but does not
        # enforce it (a spilling aggregate wrote 2.2 GB under a 512 MB cap); SET is enforced.
        con.execute(f"SET max_temp_directory_size = '{int(limits['temp_bytes']) // MiB}MB'")
        con.execute(f"ATTACH {literal(request['snapshot'])} AS store (READ_ONLY)")  # ATTACH takes no bound parameter
        con.execute("USE store")
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        reader = con.execute(request["sql"]).to_arrow_reader(int(limits["batch_rows"]))
        cap, rows, cut = int(limits["result_bytes"]), 0, False
        with pa.OSFile(str(work / _RESULT), "wb") as sink, pa.ipc.new_stream(sink, reader.schema) as writer:
            for batch in reader:
                room = cap - sink.tell()
                if batch.nbytes > room:
                    per_row = max(1, batch.nbytes // max(1, batch.num_rows))
                    keep = max(0, room // per_row - 1)
                    if keep:
                        writer.write_batch(batch.slice(0, keep))
                        rows += keep
                    cut = True
                    break
                writer.write_batch(batch)
                rows += batch.num_rows
        return {"rows": rows, "cut": cut}
    except duckdb.Error as exc:
        return {"error": (str(exc).splitlines() or [type(exc).__name__])[0], "kind": type(exc).__name__}
    except MemoryError:
        return {"error": "out of memory", "kind": "MemoryError"}


def _main() -> None:
    request = json.loads(sys.stdin.buffer.read())
    _limit_self(request["limits"])
    status = _child(request)
    _write_status(Path(request["work"]), status)


if __name__ == "__main__":
    _main()
