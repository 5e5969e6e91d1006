"""A dashboard server in a subprocess and Debian's Chromium to drive it (Playwright's own browser download
is not reachable here): shared by the browser tests and ``bench/``."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import stop_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-quic", "--no-first-run", "--disable-sync"]

# The script finished (Streamlit marks stApp) and no placeholder skeleton is left on the page.
SETTLED = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app && app.getAttribute('data-test-script-state');
  return state && state !== 'initial' && state !== 'running'
      && !document.querySelector('[data-testid="stSkeleton"]');
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def dashboard(env: Mapping[str, str], timeout: float = 90) -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run dashboard/app.py`` headless on a free loopback port with ``env`` over os.environ;
    yields (URL, process) once its health check answers, and stops it on exit."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url + "/_stcore/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("dashboard did not start") from None
                time.sleep(0.3)
        yield url, proc
    finally:
        stop_process(proc, 15)
