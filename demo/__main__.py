"""``python -m demo``: run the emulated AWS account until interrupted and print its URL."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from demo import control, server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--seed", type=int, default=7, help="the organisation is a pure function of this")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--no-live", action="store_true", help="freeze simulated time after seeding")
    parser.add_argument("--url-file", help="also write the endpoint URL to this file once seeded")
    parser.add_argument("--surge", action="append", default=[], metavar="ENDPOINT=RPM",
                        help="at least RPM invocations a minute on ENDPOINT, since 15 minutes before the start "
                             "(repeatable)")
    parser.add_argument("--control", help="serve requests of `python -m demo.control` left in this directory")
    args = parser.parse_args(argv)
    try:
        surges = control.parse_surges(args.surge)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="demo: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    try:
        emulator = server.start(seed=args.seed, host=args.host, port=args.port, live=not args.no_live,
                                surges=surges, control_dir=Path(args.control) if args.control else None)
    except ValueError as exc:
        parser.error(str(exc))
    print(emulator.url, flush=True)
    print(f"demo: emulated AWS account ready; export AWS_ENDPOINT_URL={emulator.url}", file=sys.stderr, flush=True)
    if args.url_file:
        with open(args.url_file + ".tmp", "w") as fh:
            fh.write(emulator.url + "\n")
        os.replace(args.url_file + ".tmp", args.url_file)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()
    # Nothing to persist: the account is a function of the seed. Exit at once rather than wait for
    # the server's keep-alive connections to drain.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
