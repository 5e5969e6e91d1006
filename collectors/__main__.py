"""``python -m collectors run [--once | --every DURATION] [--source NAME ...] [--account ID] [--since DATE]
[--store LOCATION] [--config FILE]``: collect into the store and publish a snapshot for the dashboard."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import collectors
from collectors import runner
from sextant import progress as first_collection
from sextant.redact import redact
from sextant.settings import Settings, SettingsError, load, parse_duration
from sextant.store import StoreBusy, Writer


def _parse_since(text: str) -> datetime:
    try:
        d = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid date {text!r}: use YYYY-MM-DD") from None
    return d if d.tzinfo else d.replace(tzinfo=UTC)


def _duration(text: str) -> int:
    try:
        return parse_duration(text)
    except SettingsError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None, due_work: Callable[[Settings], list[str]] | None = None) -> int:
    """``due_work``: called once after each cycle with the settings (``sextant collect`` passes the actions' scheduled
    restores; collectors may not import actions); it returns lines to print, and its failure never stops collection."""
    parser = argparse.ArgumentParser(prog="python -m collectors")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="collect from AWS into the store")
    when = run.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="one cycle, then exit (the default)")
    when.add_argument("--every", type=_duration, metavar="DURATION", help="repeat, e.g. 1m, 5m, 1h")
    run.add_argument("--source", action="append", metavar="NAME",
                     help=f"only these sources ({', '.join(s.NAME for s in collectors.SOURCES)})")
    run.add_argument("--account", metavar="ID", help="only this account (id or name from the settings)")
    run.add_argument("--since", type=_parse_since, metavar="DATE", help="backfill from this date (YYYY-MM-DD)")
    run.add_argument("--store", metavar="LOCATION", help="store directory (default var/store or [store])")
    run.add_argument("--config", metavar="FILE", help="settings file (default sextant.toml)")
    run.add_argument("--quiet", action="store_true", help="only the summary")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    try:
        settings = load(args.config, store=args.store)
        sources = collectors.by_name(args.source)
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        writer = Writer(settings.store)
    except StoreBusy as exc:
        print(f"error: {redact(exc)}", file=sys.stderr)
        return 3
    stop = threading.Event()
    in_cycle = threading.Event()

    def interrupt(*_) -> None:
        # Between cycles: just stop. During a cycle: stop now; the source in progress rolls back its
        # transaction (nothing half-written) and the sources already committed stay.
        stop.set()
        if in_cycle.is_set():
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    try:
        collectors.migrate(writer)
        while True:
            started = time.monotonic()
            in_cycle.set()
            try:
                status = _cycle(settings, writer, sources, args, stop)
                if due_work is not None:
                    try:
                        for line in due_work(settings):
                            print(redact(line), flush=True)
                    except Exception as exc:
                        print(f"due work failed: {redact(exc)}", file=sys.stderr, flush=True)
            finally:
                in_cycle.clear()
            if not args.every or stop.is_set():
                return status
            stop.wait(max(0.0, args.every - (time.monotonic() - started)))
            if stop.is_set():
                return status
    except KeyboardInterrupt:
        print("interrupted: the source in progress was rolled back", file=sys.stderr)
        return 130
    finally:
        writer.close()


MARKS = {"succeeded": "ok ", "partial": "PRT", "failed": "ERR"}  # PRT: partial (an optional call failed)


def _cycle(settings, writer: Writer, sources, args, stop: threading.Event) -> int:
    """One cycle, published once at its end. On a store with nothing published yet (a first collection), the first
    finished source is also published at once, so the dashboard shows endpoints before metrics finish; a copy of
    the whole store during every cycle would write it again and again (the store is copied whole)."""
    early = writer.published() is None
    first = early  # a first collection: the dashboard shows its progress (sextant.progress) until it ends
    started, done = datetime.now(UTC), 0
    total = sum(sum(1 if s.GLOBAL else max(1, len(a.regions)) for s in (sources or collectors.SOURCES))
                for a in settings.accounts)
    if first:
        first_collection.write(writer.location, first_collection.FirstCollection(started, started, 0, total, ""))

    def progress(r: runner.SourceResult) -> None:
        nonlocal early, done
        done += 1
        if first:
            first_collection.write(writer.location, first_collection.FirstCollection(
                started, datetime.now(UTC), done, max(total, done + 1), r.source))
        if early:
            writer.publish()
            early = False
        if not args.quiet:
            mark = MARKS.get(r.status, "ERR")
            line = f"  {mark} {r.source:<24} {r.account_id}/{r.region:<12} {r.rows:>8} rows {r.api_calls:>5} calls"
            print(line + (f"  {redact(r.error)}\n      hint: {redact(r.hint)}" if r.error else ""), flush=True)
        if stop.is_set():  # an interrupt a library turned into an error of its own: stop before the next source
            raise KeyboardInterrupt

    t0 = time.monotonic()
    try:
        cycle = runner.run_cycle(settings, writer, sources, args.account, args.since, progress)
        writer.publish()
    finally:
        if first:
            first_collection.clear(writer.location)
    rows = sum(r.rows for r in cycle.results)
    calls = sum(r.api_calls for r in cycle.results)
    usd = sum(r.cost_usd for r in cycle.results)
    partial = f", {len(cycle.partial)} partial" if cycle.partial else ""
    print(f"collected {rows} rows with {calls} API calls (est. ${usd:.4f}) in {time.monotonic() - t0:.1f} s; "
          f"{len(cycle.failed)} source(s) failed{partial}", flush=True)
    return 1 if cycle.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
