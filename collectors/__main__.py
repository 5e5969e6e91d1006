"""``python -m collectors run [--once | --every DURATION] [--source NAME ...] [--account ID] [--region NAME]
[--shard K/N] [--since DATE] [--store LOCATION] [--config FILE]``: collect into the store and publish a snapshot for the
dashboard. With ``--shard K/N``, N collectors on a shared store divide the (account, region) units between them.

``python -m collectors migrate --to FILE [--store LOCATION] [--config FILE]``: copy the embedded store into the shared
backend that FILE names, table by table, and verify each (:mod:`collectors.copy_store`)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import alerts
import collectors
from collectors import runner
from sextant import progress as first_collection
from sextant.aws import Clients
from sextant.lake import LakeError, LakeUnavailable, LakeWriter, maintain, maintenance_due
from sextant.redact import redact
from sextant.settings import Settings, SettingsError, load, parse_duration
from sextant.store import StoreBusy, StoreVersionError, StoreWriter, open_writer

POLL_S = 5.0  # how often the loop looks for operators' refresh requests: between cycles, and between sources


class Refresher:
    """Operators' refreshes of one endpoint's metrics, read by this process (the store's one writer): which accounts
    and regions it collects (``serves``), and the read itself (``read``: the endpoint's series now, whatever their
    cadence, then the store published). ``sextant collect`` hands it to the actions' refresh queue
    (``actions.refresh.serve_refreshes``) through the ``refresh_work`` callback: collectors import no actions."""

    def __init__(self, settings: Settings, writer: StoreWriter, account_filter: str | None = None) -> None:
        self.settings, self.writer, self.account_filter = settings, writer, account_filter
        self._clients: dict[str, Clients] = {}  # by account name, for the life of the process

    def _clients_for(self, account_id: str) -> Clients | None:
        for account in self.settings.accounts:
            clients = self._clients.setdefault(account.name, Clients(account))
            if account.name == account_id or clients.account_id() == account_id:
                wanted = self.account_filter
                return clients if not wanted or wanted in (account.name, clients.account_id()) else None
        return None

    def serves(self, account_id: str, region: str) -> bool:
        clients = self._clients_for(account_id)
        return clients is not None and region in clients.regions

    def read(self, account_id: str, region: str, endpoint: str) -> runner.RefreshRun:
        clients = self._clients_for(account_id)
        if clients is None:
            raise ValueError(f"account {account_id} is not collected by this collector")
        run = runner.run_refresh(self.settings, self.writer, clients, account_id, region, endpoint)
        if run.status != "failed":
            self.writer.publish()
        return run


RefreshWork = Callable[[Settings, Refresher], list[str]]


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


def _shard(text: str) -> runner.Shard:
    try:
        return runner.Shard.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m collectors")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="collect from AWS into the store")
    when = run.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="one cycle, then exit (the default)")
    when.add_argument("--every", type=_duration, metavar="DURATION", help="repeat, e.g. 1m, 5m, 1h")
    run.add_argument("--source", action="append", metavar="NAME",
                     help=f"only these sources ({', '.join(s.NAME for s in collectors.SOURCES)})")
    run.add_argument("--account", metavar="ID", help="only this account (id or name from the settings)")
    run.add_argument("--region", metavar="NAME", help="only this region")
    run.add_argument("--shard", type=_shard, metavar="K/N",
                     help="collect shard K of N: N collectors (on a shared store) divide the accounts and regions")
    run.add_argument("--since", type=_parse_since, metavar="DATE", help="backfill from this date (YYYY-MM-DD)")
    run.add_argument("--store", metavar="LOCATION", help="store directory (default var/store or [store])")
    run.add_argument("--config", metavar="FILE", help="settings file (default sextant.toml)")
    run.add_argument("--quiet", action="store_true", help="only the summary")
    mig = sub.add_parser("migrate", help="copy the embedded store into the shared backend (DuckLake) and verify it")
    mig.add_argument("--to", required=True, metavar="FILE",
                     help="settings file naming the shared store ([store] backend = \"ducklake\", catalog, data_path)")
    mig.add_argument("--store", metavar="LOCATION", help="the embedded store (default var/store or [store])")
    mig.add_argument("--config", metavar="FILE", help="settings file of the embedded store (default sextant.toml)")
    return parser


def _migrate(args: argparse.Namespace) -> int:
    """``migrate``: 0 when every table was copied and verified, 1 when one differs, 2 when it cannot start."""
    from collectors import copy_store

    try:
        source, target = load(args.config, store=args.store), load(args.to)
        copied = copy_store.copy(source, target, say=lambda line: print(line, flush=True))
    except (SettingsError, copy_store.MigrateError, StoreVersionError, LakeError, LakeUnavailable) as exc:
        print(f"error: {redact(exc)}", file=sys.stderr)
        return 2
    bad = [c.table for c in copied if not c.verified]
    rows = sum(c.rows for c in copied)
    print(f"{len(copied) - len(bad)} of {len(copied)} tables copied and verified ({rows:,} rows)"
          + (f"; differing: {', '.join(bad)}" if bad else ""))
    return 1 if bad else 0


class _Work:
    """What the loop does besides its cycles: the actions' due work after each cycle, and the operators' refresh
    requests (after each cycle, after each source, and every POLL_S seconds between cycles). A failure of either is
    printed and never stops collection."""

    def __init__(self, settings: Settings, due_work: Callable[[Settings], list[str]] | None,
                 refresh_work: RefreshWork | None, refresher: Refresher | None) -> None:
        self.settings, self.due_work, self.refresh_work, self.refresher = settings, due_work, refresh_work, refresher
        self.served_at = 0.0

    def after_cycle(self) -> None:
        if self.due_work is not None:
            self._print(lambda: self.due_work(self.settings) if self.due_work else [], "due work")
        self.refreshes()

    def refreshes(self, every: float = 0.0) -> None:
        """Serve the refresh requests this process can (not again within ``every`` seconds)."""
        refresher, work = self.refresher, self.refresh_work
        if refresher is None or work is None or time.monotonic() - self.served_at < every:
            return
        self.served_at = time.monotonic()
        self._print(lambda: work(self.settings, refresher), "refresh requests")

    @staticmethod
    def _print(work: Callable[[], list[str]], what: str) -> None:
        try:
            for line in work():
                print(redact(line), flush=True)
        except Exception as exc:
            print(f"{what} failed: {redact(exc)}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None, due_work: Callable[[Settings], list[str]] | None = None,
         refresh_work: RefreshWork | None = None) -> int:
    """``due_work``: called once after each cycle with the settings (``sextant collect`` passes the actions' scheduled
    restores; collectors may not import actions); it returns lines to print, and its failure never stops collection.

    ``refresh_work``: called every ``POLL_S`` seconds or so — while the loop waits between cycles, after each source
    of a cycle, and after each cycle — with the settings and a :class:`Refresher` (``sextant collect`` passes the
    actions' queue of operators' refresh requests, which reads the endpoints asked for with it); it returns lines to
    print, and its failure never stops collection. Not called when the metrics source is not collected here."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "migrate":
        return _migrate(args)

    try:
        settings = load(args.config, store=args.store)
        sources = collectors.by_name(args.source)
        alerts.config(settings.alerts)  # a wrong [alerts] section stops here, with its message, before any cycle
    except (SettingsError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        writer = open_writer(settings)  # the DuckDB file, or the DuckLake store ([store] backend)
    except (StoreBusy, LakeError, LakeUnavailable) as exc:
        print(f"error: {redact(exc)}", file=sys.stderr)
        return 3
    stop = threading.Event()
    in_cycle = threading.Event()

    def interrupt(*_) -> None:
        # Between cycles: just stop. During a cycle (or a refresh): stop now; the source in progress rolls back its
        # transaction (nothing half-written) and the sources already committed stay.
        stop.set()
        if in_cycle.is_set():
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    metrics = any(s.NAME == runner.METRICS for s in sources)
    work = _Work(settings, due_work, refresh_work,
                 Refresher(settings, writer, args.account) if refresh_work is not None and metrics else None)
    try:
        collectors.migrate(writer)  # the alerts' tables are system tables: every migration creates them
        while True:
            started = time.monotonic()
            in_cycle.set()
            try:
                status = _cycle(settings, writer, sources, args, stop, lambda: work.refreshes(POLL_S))
                work.after_cycle()
            finally:
                in_cycle.clear()
            if not args.every or stop.is_set():
                return status
            # wait for the next cycle, looking for refresh requests every POLL_S seconds meanwhile
            while (left := args.every - (time.monotonic() - started)) > 0 and not stop.is_set():
                if stop.wait(min(POLL_S, left)) or work.refresher is None:
                    continue
                in_cycle.set()  # an interrupt now rolls the refresh's transaction back, as in a cycle
                try:
                    work.refreshes()
                finally:
                    in_cycle.clear()
            if stop.is_set():
                return status
    except KeyboardInterrupt:
        print("interrupted: the source in progress was rolled back", file=sys.stderr)
        return 130
    finally:
        writer.close()


# PRT: partial (an optional call failed); SKP: skipped, another collector has it (running or done elsewhere)
MARKS = {"succeeded": "ok ", "partial": "PRT", "failed": "ERR", "skipped": "SKP"}


def _alerts(work: Callable[[], list[str]], settings: Settings, what: str) -> None:
    """The alerts' evaluation (at the end of a cycle, before its publish) or delivery (after it): lines printed; a
    failure is printed and never stops collection."""
    if not settings.alerts.enabled:
        return
    try:
        for line in work():
            print(redact(line), flush=True)
    except Exception as exc:
        print(f"alerts {what} failed: {redact(exc)}", file=sys.stderr, flush=True)


def _cycle(settings, writer: StoreWriter, sources, args, stop: threading.Event,
           between: Callable[[], None] | None = None) -> int:
    """One cycle, published once at its end. On a store with nothing published yet (a first collection), the first
    finished source is also published at once, so the dashboard shows endpoints before metrics finish; a copy of
    the whole store during every cycle would write it again and again (the store is copied whole). ``between`` runs
    after each source (the operators' refresh requests, which publish what they read)."""
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
        if between is not None:
            between()

    t0 = time.monotonic()
    try:
        only = {key: value for key, value in (("shard", getattr(args, "shard", None)),
                                              ("region_filter", getattr(args, "region", None))) if value is not None}
        cycle = runner.run_cycle(settings, writer, sources, args.account, args.since, progress, **only)
        _alerts(lambda: alerts.evaluate(writer, settings, datetime.now(UTC)).lines(), settings, "evaluation")
        writer.publish()
    finally:
        if first:
            first_collection.clear(writer.location)
    # sent after the publish: the transitions and their queued messages are committed (alerts.delivery)
    _alerts(lambda: alerts.deliver(writer, settings, datetime.now(UTC)).lines(), settings, "delivery")
    rows = sum(r.rows for r in cycle.results)
    calls = sum(r.api_calls for r in cycle.results)
    usd = sum(r.cost_usd for r in cycle.results)
    partial = f", {len(cycle.partial)} partial" if cycle.partial else ""
    print(f"collected {rows} rows with {calls} API calls (est. ${usd:.4f}) in {time.monotonic() - t0:.1f} s; "
          f"{len(cycle.failed)} source(s) failed{partial}", flush=True)
    _maintain(settings, writer)
    return 1 if cycle.failed else 0


def _maintain(settings: Settings, writer: StoreWriter) -> None:
    """A DuckLake store's maintenance when it is due ([store] maintain_every): printed; a failure never stops
    collection (it is recorded, and tried again when next due)."""
    if not isinstance(writer, LakeWriter):
        return
    try:
        if not maintenance_due(writer, settings.maintain_every_s, datetime.now(UTC)):
            return
        m = maintain(writer, settings.keep_snapshots_s)
    except Exception as exc:
        print(f"store maintenance failed: {redact(exc)}", file=sys.stderr, flush=True)
        return
    took = (m.ended_at - m.started_at).total_seconds()
    print(f"store maintenance {m.status} in {took:.1f} s: snapshots {m.snapshots_before} -> {m.snapshots_after}, "
          f"files read {m.files_before} -> {m.files_after}" + (f": {m.error}" if m.error else ""), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
