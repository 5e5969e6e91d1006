"""``make demo``: the emulated account, a first collection, the collector loop, the dashboard, and a local webhook
receiver standing in for the team's Slack channel (the alerts' messages are printed in this log as "[webhook] ...").

Everything started here runs in this process group; Ctrl-C (or SIGTERM) stops all of it.
The store under var/ persists between runs, so a second ``make demo`` shows data at once.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from demo import control
from demo.webhook import Receiver
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
WEBHOOK_ENV = "SEXTANT_DEMO_WEBHOOK"  # the receiver's URL: a channel's secret lives in the environment, never the toml


def demo_config(base: Path = ROOT / "demo" / "sextant.toml", port: int = PORT,
                out: Path = VAR / "demo-sextant.toml") -> Path:
    """The demo's settings: demo/sextant.toml (what the tests run with) plus the alerts' channel to the local webhook
    receiver, written to var/demo-sextant.toml."""
    text = base.read_text() + f"""
# Added by `make demo` (demo/up.py): the alerts go to a local webhook receiver standing in for a Slack channel.
[alerts]
base_url = "http://localhost:{port}"

[alerts.channels.team-slack]
type = "webhook"
target_env = "{WEBHOOK_ENV}"
rate_per_minute = 30
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return out


def _running(url_file: Path) -> str | None:
    """The URL of a demo account that already answers (a ``make demo`` running in another terminal), or None."""
    try:
        url = url_file.read_text().strip()
        urllib.request.urlopen(url + "/moto-api/", timeout=2).close()
        return url
    except (OSError, ValueError):
        return None


def _reach(url: str, surges: dict[str, float]) -> int:
    if not surges:
        print(f"a demo is already running (emulated account {url}, dashboard http://localhost:{PORT})")
        return 0
    answer = control.send(control.CONTROL, {"kind": "surge", "surges": surges})
    print(answer["message"], file=sys.stdout if answer["ok"] else sys.stderr)
    return 0 if answer["ok"] else 1


def _surges(argv: list[str] | None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m demo.up", description=__doc__)
    parser.add_argument("--surge", action="append", default=[], metavar="ENDPOINT=RPM[,ENDPOINT=RPM]",
                        help="a traffic surge on an endpoint: under way at start, or sent to the running demo "
                             "(from its next minute on); `make demo SURGE=fraud-txn-scorer-prod=4800`")
    args = parser.parse_args(argv)
    try:
        return control.parse_surges(args.surge)
    except ValueError as exc:
        parser.error(str(exc))


def main(argv: list[str] | None = None) -> int:
    surges = _surges(argv)
    VAR.mkdir(exist_ok=True)
    url_file = VAR / "demo.url"
    running = _running(url_file)
    if running:  # reach the running demo instead of starting a second one on the same port
        return _reach(running, surges)
    url_file.unlink(missing_ok=True)
    for leftover in control.CONTROL.glob("*.json"):  # requests nobody served: not for this account
        leftover.unlink()
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

    surge_args = [a for name, rpm in surges.items() for a in ("--surge", f"{name}={rpm:g}")]
    account = spawn([sys.executable, "-m", "demo", "--url-file", str(url_file), "--control", str(control.CONTROL),
                     *surge_args], {}, stdout=subprocess.DEVNULL)
    while not url_file.exists():
        if account.poll() is not None:
            print("the emulated account failed to start", file=sys.stderr)
            stop()
        time.sleep(0.1)
    url = url_file.read_text().strip()
    hook = Receiver()  # prints each alert it receives in this log
    threading.Thread(target=hook.serve_forever, name="webhook", daemon=True).start()
    env = {**DEMO_ENV, "AWS_ENDPOINT_URL": url, "SEXTANT_CONFIG": str(demo_config()), WEBHOOK_ENV: hook.url}
    print(f"emulated AWS account: {url}  (export AWS_ENDPOINT_URL={url} to use it with the AWS CLI)", flush=True)
    print(f"webhook receiver (the alerts' team channel): {hook.url}", flush=True)

    # 127.0.0.1 only unless SEXTANT_ADDRESS opens it: the demo's local admin is refused on any other address.
    spawn([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", *streamlit_options({**os.environ, **env}),
           "--server.headless", "true"], env, stdout=subprocess.DEVNULL)
    if os.environ.get("SEXTANT_ADDRESS", "127.0.0.1") not in ("127.0.0.1", "localhost", "::1"):
        print(f"dashboard open to the network on {os.environ['SEXTANT_ADDRESS']}: the local admin is refused there, "
              "everyone is a viewer", flush=True)
    print(f"dashboard: http://localhost:{PORT}", flush=True)
    first = spawn([sys.executable, "-m", "sextant_cli", "collect", "--once"], env)
    first.wait()
    print(f"first collection done {time.monotonic() - t0:.0f} s after start; collecting every minute", flush=True)
    # sextant collect: the collector cycle, then the actions' due work (scheduled restores of autoscaling bounds)
    spawn([sys.executable, "-m", "sextant_cli", "collect", "--every", "1m", "--quiet"], env)
    print(f"Sextant demo is up: http://localhost:{PORT}  (Ctrl-C stops everything)", flush=True)
    while True:
        for p in procs:
            if p is not first and p.poll() is not None:
                print(f"{' '.join(p.args[1:4])} exited with {p.returncode}; stopping", file=sys.stderr)
                stop()
        time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
