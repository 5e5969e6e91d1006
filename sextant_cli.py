"""``sextant collect | serve | demo``: the console script, beside the ``python -m`` forms.

The one module that knows every layer: it only dispatches, so the core (``sextant``) stays free of them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP = Path(__file__).resolve().parent / "dashboard" / "app.py"
USAGE = """usage: sextant COMMAND [ARGS]

commands:
  collect [ARGS]   collect from AWS into the store (python -m collectors run; --help for its options)
  serve [ARGS]     the dashboard on the store (streamlit run dashboard/app.py; extra ARGS go to streamlit)
  demo [ARGS]      the emulated account, a first collection, the collector loop and the dashboard (make demo)
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "collect":
        from collectors.__main__ import main as collect

        return int(collect(["run", *rest]))
    if command == "serve":
        from streamlit.web import cli as stcli

        port = os.environ.get("SEXTANT_PORT", "8501")
        sys.argv = ["streamlit", "run", str(APP), "--server.port", port, *rest]
        return int(stcli.main() or 0)
    if command == "demo":
        from demo.up import main as demo

        return int(demo(rest))
    print(f"sextant: unknown command {command!r}\n\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
