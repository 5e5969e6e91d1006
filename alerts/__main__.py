"""``python -m alerts evaluate [--config FILE] [--store LOCATION]``: evaluate the rules over the store once, publish,
then send the queued messages (for cron, beside ``python -m collectors run --once``; a running collector loop
evaluates at the end of each of its cycles and holds the store, so this command then says so and exits 3).

``python -m alerts check [--config FILE]``: check the ``[alerts]`` settings (channels, user rules' SQL) and exit."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime

from alerts import config, deliver, ensure, evaluate
from sextant.redact import redact
from sextant.settings import SettingsError, load
from sextant.store import StoreBusy, open_writer


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alerts")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("evaluate", help="evaluate the rules once, publish, send what is due")
    run.add_argument("--config", metavar="FILE", help="settings file (default sextant.toml)")
    run.add_argument("--store", metavar="LOCATION", help="store directory (default var/store or [store])")
    check = sub.add_parser("check", help="check the [alerts] settings")
    check.add_argument("--config", metavar="FILE", help="settings file (default sextant.toml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load(args.config, store=getattr(args, "store", None))
        cfg = config(settings.alerts)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "check":
        print(f"[alerts] ok: {len(cfg.channels)} channel(s), {len(cfg.rules)} user rule(s)")
        return 0
    if not settings.alerts.enabled:
        print("alerts are disabled ([alerts] enabled = false)")
        return 0
    try:
        writer = open_writer(settings)
    except StoreBusy as exc:
        print(f"error: {redact(exc)} (a running collector evaluates the alerts itself)", file=sys.stderr)
        return 3
    try:
        ensure(writer)
        result = evaluate(writer, settings, datetime.now(UTC))
        writer.publish()
        sent = deliver(writer, settings, datetime.now(UTC))
        if sent.attempts:
            writer.publish()  # the delivery log, for the dashboard
    finally:
        writer.close()
    for line in [*result.lines(), *sent.lines()]:
        print(redact(line), flush=True)
    print(f"evaluated {result.rules} rule(s): {len(result.transitions)} change(s), {len(result.errors)} failed, "
          f"{result.queued} message(s) queued, {sent.attempts} sent or tried", flush=True)
    return 1 if result.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
