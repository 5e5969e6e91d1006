"""``make demo``: the emulated account, a first collection, the collector loop and the dashboard.

Everything started here runs in this process group; Ctrl-C (or SIGTERM) stops all of it.
The store under var/ persists between runs, so a second ``make demo`` shows data at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sextant_cli import streamlit_options

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
PORT = int(os.environ.get("SEXTANT_PORT", "8501"))
DEMO_ENV = {
    # The emulated account accepts any credentials; these are placeholders, not secrets.
    "AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "demo-placeholder",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "SEXTANT_STORE": str(VAR / "store"),
    "SEXTANT_CONFIG": str(ROOT / "demo" / "sextant.toml"),
    "SEXTANT_PORT": str(PORT),
}


def main(argv: list[str] | None = None) -> int:
    VAR.mkdir(exist_ok=True)
    url_file = VAR / "demo.url"
    url_file.unlink(missing_ok=True)
    procs: list[subprocess.Popen] = []
    t0 = time.monotonic()

    def spawn(args: list[str], env: dict[str, str], **kw) -> subprocess.Popen:
        p = subprocess.Popen(args, cwd=ROOT, env={**os.environ, **env}, **kw)
        procs.append(p)
        return p

    def stop(*_) -> None:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        raise SystemExit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    account = spawn([sys.executable, "-m", "demo", "--url-file", str(url_file)], {}, stdout=subprocess.DEVNULL)
    while not url_file.exists():
        if account.poll() is not None:
            print("the emulated account failed to start", file=sys.stderr)
            stop()
        time.sleep(0.1)
    url = url_file.read_text().strip()
    env = {**DEMO_ENV, "AWS_ENDPOINT_URL": url}
    print(f"emulated AWS account: {url}  (export AWS_ENDPOINT_URL={url} to use it with the AWS CLI)", flush=True)

    # 127.0.0.1 only unless SEXTANT_ADDRESS opens it: the demo's local admin is refused on any other address.
    spawn([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", *streamlit_options({**os.environ, **env}),
           "--server.headless", "true"], env, stdout=subprocess.DEVNULL)
    if os.environ.get("SEXTANT_ADDRESS", "127.0.0.1") not in ("127.0.0.1", "localhost", "::1"):
        print(f"dashboard open to the network on {os.environ['SEXTANT_ADDRESS']}: the local admin is refused there, "
              "everyone is a viewer", flush=True)
    print(f"dashboard: http://localhost:{PORT}", flush=True)
    first = spawn([sys.executable, "-m", "collectors", "run", "--once"], env)
    first.wait()
    print(f"first collection done {time.monotonic() - t0:.0f} s after start; collecting every minute", flush=True)
    spawn([sys.executable, "-m", "collectors", "run", "--every", "1m", "--quiet"], env)
    print(f"Sextant demo is up: http://localhost:{PORT}  (Ctrl-C stops everything)", flush=True)
    while True:
        for p in procs:
            if p is not first and p.poll() is not None:
                print(f"{' '.join(p.args[1:4])} exited with {p.returncode}; stopping", file=sys.stderr)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
