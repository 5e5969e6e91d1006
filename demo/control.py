"""Scenario knobs for a running emulated account: ``python -m demo.control surge NAME=RPM`` (``make surge``) and
``python -m demo.control incident`` (a live capacity incident on the planted incident's endpoint that a scale-up ends:
demo/incident.py).

The account runs in another process (``make demo``); requests reach it through a directory both know
(``var/demo-control``). A request is a small JSON file; the account's live tick (every few seconds) applies it
and writes the reply beside it; the command waits for the reply and prints it. A surge added this way starts at
the next minute: minutes the collector may already have read are never rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONTROL = ROOT / "var" / "demo-control"
REQUEST, REPLY = ".request.json", ".reply.json"


def parse_surges(items: list[str]) -> dict[str, float]:
    """``["name=rpm", "a=1,b=2"]`` -> {name: rpm}; ValueError with the expected form on anything else."""
    surges: dict[str, float] = {}
    for item in (part for text in items for part in text.split(",") if part.strip()):
        name, sep, rpm = item.strip().partition("=")
        try:
            if not sep or not name:
                raise ValueError
            surges[name] = float(rpm)
        except ValueError:
            raise ValueError(f"--surge {item!r}: expected ENDPOINT=RPM, e.g. fraud-txn-scorer-prod=4800") from None
    return surges


def send(control: Path, request: dict, timeout: float = 20.0) -> dict:
    """Write ``request`` for the running account and wait for its reply ({"ok": bool, "message": str})."""
    control.mkdir(parents=True, exist_ok=True)
    rid = uuid.uuid4().hex
    tmp = control / f"{rid}.tmp"
    tmp.write_text(json.dumps(request))
    os.replace(tmp, control / f"{rid}{REQUEST}")  # whole or absent: the account never reads half a request
    reply = control / f"{rid}{REPLY}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reply.exists():
            answer = json.loads(reply.read_text())
            reply.unlink(missing_ok=True)
            return dict(answer)
        time.sleep(0.2)
    (control / f"{rid}{REQUEST}").unlink(missing_ok=True)
    return {"ok": False, "message": f"no running demo answered within {timeout:.0f} s (is `make demo` running?)"}


def account_handlers() -> dict[str, Callable[[dict, datetime], str]]:
    """The requests this process's account answers beside the server's own: ``incident`` (demo/incident.py), on the
    world the account was installed with; none when no account runs in this process."""
    from demo import incident, metrics

    world = metrics.world()
    if world is None:
        return {}
    return {"incident": lambda request, now: incident.handle(world, request, now)}


def serve(control: Path, handlers: dict[str, Callable[[dict, datetime], str]], now: datetime) -> int:
    """Apply every pending request in ``control`` with its handler (by ``request["kind"]``; the server's
    ``handlers`` and :func:`account_handlers`) and write the reply; a handler's ValueError is the reply's message,
    and the request changes nothing. Returns how many it served."""
    if not control.is_dir():
        return 0
    handlers = {**account_handlers(), **handlers}
    served = 0
    for path in sorted(control.glob(f"*{REQUEST}")):
        rid = path.name[: -len(REQUEST)]
        try:
            request = json.loads(path.read_text())
            handler = handlers.get(request.get("kind"))
            if handler is None:
                raise ValueError(f"unknown request {request.get('kind')!r} (one of: {', '.join(sorted(handlers))})")
            answer = {"ok": True, "message": handler(request, now)}
        except (ValueError, TypeError, json.JSONDecodeError) as exc:
            answer = {"ok": False, "message": str(exc)}
        tmp = control / f"{rid}.reply.tmp"
        tmp.write_text(json.dumps(answer))
        os.replace(tmp, control / f"{rid}{REPLY}")
        path.unlink(missing_ok=True)
        served += 1
    return served


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.control", description=__doc__)
    parser.add_argument("--control", default=str(CONTROL), help="the running demo's control directory")
    sub = parser.add_subparsers(dest="command", required=True)
    surge = sub.add_parser("surge", help="at least RPM invocations a minute on ENDPOINT from the next minute on")
    surge.add_argument("surges", nargs="+", metavar="ENDPOINT=RPM")
    sub.add_parser("incident", help="a live capacity incident on the planted incident's endpoint from the next "
                                    "minute on: its 5xx alarm fires; a scale-up ends it")
    args = parser.parse_args(argv)
    request: dict = {"kind": "incident"}
    if args.command == "surge":
        try:
            request = {"kind": "surge", "surges": parse_surges(args.surges)}
        except ValueError as exc:
            parser.error(str(exc))
    answer = send(Path(args.control), request, timeout=float(os.environ.get("DEMO_CONTROL_TIMEOUT", "20")))
    print(answer["message"], file=sys.stdout if answer["ok"] else sys.stderr)
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
