"""``sextant collect | serve | demo``: the console script, beside the ``python -m`` forms.

The one module that knows every layer: it only dispatches, so the core (``sextant``) stays free of them.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path

APP = Path(__file__).resolve().parent / "dashboard" / "app.py"
USAGE = """usage: sextant COMMAND [ARGS]

commands:
  collect [ARGS]   collect from AWS into the store (python -m collectors run; --help for its options)
  serve [ARGS]     the dashboard on the store (streamlit run dashboard/app.py; extra ARGS go to streamlit)
  demo [ARGS]      the emulated account, a first collection, the collector loop and the dashboard (make demo)

serve and demo listen on 127.0.0.1 only. SEXTANT_ADDRESS=0.0.0.0 opens them to the network (the demo's local
admin is then refused); SEXTANT_ALLOWED_HOSTS="sextant.example.com,10.0.0.5" adds the host names a browser may
use (localhost and 127.0.0.1 always may); SEXTANT_PORT sets the port (8501).
"""


LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
WILDCARDS = ("", "0.0.0.0", "::")  # every interface


def streamlit_options(env: Mapping[str, str] | None = None) -> list[str]:
    """The server options every way of starting the dashboard passes: the address (loopback unless
    ``SEXTANT_ADDRESS`` says otherwise), the port, the host names the websocket accepts (DNS rebinding), and the
    browser address, so that Streamlit does not look up an external IP at start."""
    env = os.environ if env is None else env
    address = env.get("SEXTANT_ADDRESS", "127.0.0.1").strip()
    hosts = [*LOOPBACK_HOSTS, *(h for h in re.split(r"[,\s]+", env.get("SEXTANT_ALLOWED_HOSTS", "")) if h)]
    if address not in WILDCARDS:
        hosts.append(address.strip("[]"))
    args = ["--server.port", env.get("SEXTANT_PORT", "8501"), "--server.address", address,
            "--browser.serverAddress", "localhost" if address in WILDCARDS else address]
    for host in dict.fromkeys(hosts):
        args += ["--server.allowedHosts", host]
    return args


def identity_warnings() -> list[str]:
    """Where identities come from, for the server log at start (the dashboard repeats it on its first page)."""
    from dashboard.auth import startup_warnings
    from sextant.settings import SettingsError, load

    try:
        return startup_warnings(load(), os.environ)
    except SettingsError:
        return []  # the dashboard shows the settings error itself


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "collect":
        from actions.refresh import serve_refreshes
        from actions.restore import due_work
        from collectors.__main__ import main as collect

        # the actions' work the collector loop does: scheduled restores after each cycle, and operators' refresh
        # requests every few seconds (read with the collector's own Refresher)
        return int(collect(["run", *rest], due_work=due_work, refresh_work=serve_refreshes))
    if command == "serve":
        from streamlit.web import cli as stcli

        for line in identity_warnings():
            print(f"WARNING: {line}", file=sys.stderr, flush=True)
        sys.argv = ["streamlit", "run", str(APP), *streamlit_options(), *rest]
        return int(stcli.main() or 0)
    if command == "demo":
        from demo.up import main as demo

        return int(demo(rest))
    print(f"sextant: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
