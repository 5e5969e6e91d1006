"""Sharded collection of a four-account organisation (issue 14): speed, a soak, SIGKILLs.

The organisation is the emulated account run as ``python -m demo.org --accounts N`` (the main account and N-1 member
accounts holding copies of its ML resources, reached with AssumeRole), frozen after seeding (``--no-live``). The
store is the shared backend: DuckLake with its catalog in a private PostgreSQL cluster (Debian's binaries, a Unix
socket, started and stopped here) and its data as Parquet in a local directory. The account names in the settings are
picked so that each shard owns the same number of (account, region) units (the shard of a unit is a hash of the
account's name and the region: with four units and four shards a random set of names often leaves a shard two units
and another none, and the figure would measure the hash rather than the sharding).

``python -m bench.shards`` (speed): every deterministic source (tests/reliability/conftest.py DETERMINISTIC_SOURCES)
of the organisation, with every API request answered after a fixed latency (``--latency-ms``, default 50: AWS's
order of magnitude, so that the figure reflects waiting on AWS rather than this machine's cores), collected once by
``python -m collectors run --once --shard 1/1`` and once by four processes ``--shard K/4`` started together, each into
a new store; prints both wall times and their ratio, the span of the source runs (first start to last end, from the
run rows: process start, the catalog's attach and migration, the alerts' evaluation and maintenance left out) and its
ratio, and the API calls of each (more with shards: a commit that conflicted ran its source again). Each account is
reached on its own emulated server (an AWS profile per account whose ``endpoint_url`` is that server): one moto
process answers one request at a time under its GIL, which would serialize four shards where AWS would not;
``--one-server`` puts them all on one.

``--soak``: four ``python -m collectors run --every 10s --shard K/4`` processes for ``--minutes`` (5), two dashboard
processes (``python -m bench.shards --reader``) running the page query sets of bench/pagesets.py throughout, and
scaling actions through the product's action service (``actions.run_action``) every ``--action-every`` seconds until
``--settle`` seconds (60) before the end; counts errors (failed sources, collector tracebacks and exit codes, failed
page queries, failed actions), then compares the store row for row with one unsharded collection of the same account
(tests/reliability/storecmp.py).

``--kills N``: N times, four shard processes started together, one of them SIGKILLed at a random moment of its run
(every other run starts from an empty store, the others from what the previous kills left); after each kill the
store opens for writing and migrates, and every (account, source) holds either nothing or exactly what a clean
collection holds, with a succeeded run row exactly when its rows are there. A final uninterrupted sharded run must
then equal the clean store.

Prints one line per phase and a JSON summary; exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import FAKE_CREDENTIALS, Account, wait_until
from tests.reliability import storecmp
from tests.reliability.conftest import DETERMINISTIC_SOURCES, cli_env

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
SOURCES = list(DETERMINISTIC_SOURCES)
ENDPOINT, VARIANT = "nlp-summarizer-prod", "AllTraffic"


# --------------------------------------------------------------------------- the organisation


def start_org(tmp: Path, accounts: int = 4, latency_ms: float = 0, env: dict[str, str] | None = None,
              timeout: float = 180) -> Account:
    """``python -m demo.org --accounts N --no-live`` with ``SEXTANT_DEMO_LATENCY_MS``; waits for its URL."""
    tmp.mkdir(parents=True, exist_ok=True)
    url_file = tmp / f"org-{time.monotonic_ns()}.url"
    args = [sys.executable, "-m", "demo.org", "--accounts", str(accounts), "--no-live", "--url-file", str(url_file)]
    child_env = {**os.environ, **(env or {}), "SEXTANT_DEMO_LATENCY_MS": f"{latency_ms:g}"}
    err = (tmp / "org.err").open("w")
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=err, env=child_env)
    deadline = time.monotonic() + timeout
    while not url_file.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"emulated organisation exited: {(tmp / 'org.err').read_text()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"emulated organisation did not start within {timeout:.0f} s")
        time.sleep(0.1)
    url = url_file.read_text().strip()
    acc_env = {**FAKE_CREDENTIALS, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL": url}
    return Account(url, acc_env, proc)


def stop(proc: subprocess.Popen[Any], timeout: float = 10) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def balanced_names(accounts: int, shards: int, region: str = REGION) -> list[str]:
    """``accounts`` names ``org-<n>`` whose (name, region) units spread over ``shards`` shards as evenly as the
    counts allow (account i goes to shard i mod shards + 1), found by trying n = 1, 2, ...; deterministic."""
    from collectors.runner import Shard

    names: list[str] = []
    n = 0
    for i in range(accounts):
        want = Shard(i % shards + 1, shards)
        while True:
            n += 1
            name = f"org-{n}"
            if want.owns(name, region):
                names.append(name)
                break
    return names


def write_config(path: Path, store: Path, catalog: str, data_path: Path, accounts: int, names: list[str],
                 profiles: bool = False) -> Path:
    """The store's settings file; with ``profiles``, each account names the AWS profile of its own name (whose
    endpoint_url is its own emulated server: :func:`profiles_file`)."""
    from demo.org import settings_toml

    org = settings_toml(accounts, (REGION,), names)
    if profiles:
        org = re.sub(r'name = "([^"]+)"\n', lambda m: f'name = "{m[1]}"\nprofile = "{m[1]}"\n', org)
    path.write_text(f'[store]\nlocation = "{store}"\nbackend = "ducklake"\ncatalog = "{catalog}"\n'
                    f'data_path = "{data_path}/"\n\n' + org)
    return path


def profiles_file(path: Path, names: list[str], urls: list[str]) -> Path:
    """An AWS config file with one profile per account name, each reaching its own emulated server (botocore's
    ``endpoint_url`` setting), with the emulator's placeholder keys."""
    key, secret = FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"], FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"]
    path.write_text("".join(f"[profile {name}]\nregion = {REGION}\nendpoint_url = {url}\naws_access_key_id = {key}\n"
                            f"aws_secret_access_key = {secret}\n\n" for name, url in zip(names, urls, strict=True)))
    return path


def profile_env(acc: Account, config_file: Path) -> dict[str, str]:
    """The collectors' environment when every account is reached through its profile: no AWS_ENDPOINT_URL nor keys
    in the environment (they would win over the profiles')."""
    env = {k: v for k, v in cli_env(acc).items()
           if k not in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    return {**env, "AWS_CONFIG_FILE": str(config_file), "AWS_SHARED_CREDENTIALS_FILE": str(config_file) + ".none"}


@dataclass
class Lake:
    """Stores on one private PostgreSQL cluster: each a new database (the catalog) and a new data directory."""

    cluster: Any  # tests.lake_fixtures.PostgresCluster
    work: Path
    accounts: int
    names: list[str]
    create: bool = True  # False (--cold-catalog): the shards create the catalog themselves, all at once
    profiles: bool = False  # each account through its own profile (see write_config)

    def new_store(self, label: str, create: bool | None = None) -> Path:
        """A new store's settings file; with ``create``, the catalog and tables created first (see
        :func:`create_store`)."""
        db = self.cluster.create_database(re.sub(r"\W", "_", label))
        root = self.work / db
        root.mkdir(parents=True)
        (root / "data").mkdir()
        config = write_config(root / "sextant.toml", root / "local", f"postgres:{self.cluster.dsn(db)}",
                              root / "data", self.accounts, self.names, self.profiles)
        if self.create if create is None else create:
            create_store(config)
        return config


def create_store(config: Path) -> None:
    """Create the DuckLake catalog and every table, as an operator's first ``python -m collectors run`` does.

    Done here once before N shards start: N processes that all create a new PostgreSQL catalog at once fail (all but
    one: ``duplicate key value violates unique constraint "pg_type_typname_nsp_index"`` from PostgreSQL's CREATE
    TABLE, which ``sextant.lake.busy`` does not take for a busy catalog, so it is not retried; ``--cold-catalog``
    shows it)."""
    import collectors
    from sextant.store import open_writer

    w = open_writer(_settings(config))
    try:
        collectors.migrate(w)
    finally:
        w.close()


def collector(config: Path, acc: Account, sources: list[str], shard: str | None, every: str | None = None,
              log: Path | None = None, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "collectors", "run", "--config", str(config), "--quiet"]
    args += ["--every", every] if every else ["--once"]
    args += ["--shard", shard] if shard else []
    for s in sources:
        args += ["--source", s]
    out = log.open("w") if log else subprocess.PIPE
    return subprocess.Popen(args, cwd=ROOT, env=env or cli_env(acc), stdout=out, stderr=subprocess.STDOUT, text=True)


def run_shards(config: Path, acc: Account, sources: list[str], shards: int,
               env: dict[str, str] | None = None) -> tuple[float, list[int], list[str]]:
    """``shards`` processes ``--shard K/shards`` started together; (wall seconds, return codes, outputs)."""
    t0 = time.monotonic()
    procs = [collector(config, acc, sources, f"{k}/{shards}", env=env) for k in range(1, shards + 1)]
    outs = [p.communicate(timeout=3600)[0] for p in procs]
    return time.monotonic() - t0, [p.returncode for p in procs], outs


def summary_line(out: str) -> str:
    return next((line for line in reversed(out.splitlines()) if line.startswith("collected ")), out[-300:])


# --------------------------------------------------------------------------- reading a store


def _settings(config: Path) -> Any:
    from sextant.settings import load

    return load(config)


def _cursor(reader: Any) -> Any:
    cur = reader.cursor()
    if cur is None:
        raise AssertionError("the store holds no DuckLake catalog yet")
    return cur


def dump(config: Path, sources: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the sources' tables (storecmp's rules: volatile columns dropped) and their watermarks."""
    from sextant.store import open_reader

    reader = open_reader(_settings(config))
    try:
        cur = _cursor(reader)
        return {**storecmp.dump(cur, storecmp.source_tables(sources)),
                "sextant_watermark": storecmp.watermarks(cur, sources)}
    finally:
        reader.close()


def by_account(config: Path, sources: list[str]) -> dict[tuple[str, str], dict[str, list[tuple[Any, ...]]]]:
    """(account id, source) -> that source's tables and watermarks, restricted to the account's rows."""
    import collectors
    from sextant.store import open_reader

    reader = open_reader(_settings(config))
    try:
        cur = _cursor(reader)
        out: dict[tuple[str, str], dict[str, list[tuple[Any, ...]]]] = {}
        for source in collectors.by_name(sources):
            tables = [t.name for t in source.TABLES]
            d = storecmp.dump(cur, tables)
            wm = storecmp.watermarks(cur, [source.NAME])
            for name in tables:
                cols = [r[0] for r in cur.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
                    [name]).fetchall() if r[0] not in storecmp.VOLATILE_COLUMNS]
                i = cols.index("account_id")
                for row in d[name]:
                    out.setdefault((row[i], source.NAME), {}).setdefault(name, []).append(row)
            for row in wm:
                out.setdefault((row[0], source.NAME), {}).setdefault("sextant_watermark", []).append(row)
        return out
    finally:
        reader.close()


def runs(config: Path) -> list[tuple[Any, ...]]:
    from sextant.store import open_reader

    reader = open_reader(_settings(config))
    try:
        rows: list[tuple[Any, ...]] = _cursor(reader).execute(
            "SELECT account_id, source, status, error, shard FROM sextant_collection_run").fetchall()
        return rows
    finally:
        reader.close()


# --------------------------------------------------------------------------- speed


def span(config: Path) -> float:
    """Seconds from the first source run's start to the last one's end (process start, catalog attach, the alerts'
    evaluation and maintenance after the cycle left out)."""
    from sextant.store import open_reader

    reader = open_reader(_settings(config))
    try:
        value = _cursor(reader).execute(
            "SELECT epoch(max(ended_at)) - epoch(min(started_at)) FROM sextant_collection_run").fetchone()[0]
        return round(float(value), 1)
    finally:
        reader.close()


def speed(args: argparse.Namespace, work: Path, cluster: Any) -> dict[str, Any]:
    """1 shard, then ``args.shards`` at once, each into a new store; with ``args.server_per_account``, every account
    is reached on its own emulated server (one Python process holds one GIL; AWS has no such bottleneck)."""
    from concurrent.futures import ThreadPoolExecutor

    names = balanced_names(args.accounts, args.shards)
    per_account = args.server_per_account
    lake = Lake(cluster, work, args.accounts, names, not args.cold_catalog, per_account)
    servers = args.accounts if per_account else 1
    with ThreadPoolExecutor(servers) as pool:
        accs = list(pool.map(lambda k: start_org(work / f"server-{k}", args.accounts, args.latency_ms),
                             range(servers)))
    env = profile_env(accs[0], profiles_file(work / "aws-config", names, [a.url for a in accs])) if per_account \
        else None
    out: dict[str, Any] = {"accounts": args.accounts, "shards": args.shards, "latency_ms": args.latency_ms,
                           "names": names, "sources": args.sources, "servers": servers}
    try:
        one_config = lake.new_store("one")
        one, one_rc, one_out = run_shards(one_config, accs[0], args.sources, 1, env)
        many_config = lake.new_store("many")
        many, many_rc, many_out = run_shards(many_config, accs[0], args.sources, args.shards, env)
        calls = [sum(int(n) for n in re.findall(r"with (\d+) API calls", summary_line(o))) for o in one_out + many_out]
        out.update(api_calls_one_shard=calls[0], api_calls_shards=sum(calls[1:]))  # more: conflicts re-ran sources
        out.update(one_shard_s=round(one, 1), shards_s=round(many, 1), ratio=round(one / many, 2),
                   returncodes=one_rc + many_rc, one_summary=summary_line(one_out[0]),
                   shard_summaries=[summary_line(o) for o in many_out])
        out.update(one_shard_span_s=span(one_config), shards_span_s=span(many_config))
        out["span_ratio"] = round(out["one_shard_span_s"] / out["shards_span_s"], 2)
        out["failed"] = [o[-2000:] for o, rc in zip(one_out + many_out, one_rc + many_rc, strict=True)
                         if rc != 0 or not summary_line(o).endswith(" 0 source(s) failed")]
        out["ok"] = not out["failed"]
    finally:
        for acc in accs:
            stop(acc.process)
    return out


# --------------------------------------------------------------------------- soak


def reader_main(argv: list[str]) -> int:
    """``python -m bench.shards --reader SECONDS``: a dashboard process (its settings from SEXTANT_CONFIG) running
    the page query sets of bench/pagesets.py, cold cache each time, for SECONDS; prints one JSON line."""
    import logging

    logging.getLogger("streamlit").setLevel(logging.ERROR)
    from bench import pagesets
    from dashboard import data

    seconds = float(argv[0])
    pages = [p for p in (argv[1].split(",") if len(argv) > 1 else pagesets.SQL_SETS)]
    state: dict[str, Any] = {"queries": 0, "errors": 0, "last_errors": [], "snapshots": set(), "by_page": Counter()}
    t0 = time.monotonic()
    ctx = None
    i = 0
    while time.monotonic() - t0 < seconds:
        page = pages[i % len(pages)]
        i += 1
        try:
            pagesets.clear_cache()
            if ctx is None:
                ctx = pagesets.make_ctx()
            pagesets.SQL_SETS[page](ctx)
            state["queries"] += 1
            state["by_page"][page] += 1
            state["snapshots"].add(data.snapshot())
        except Exception as exc:
            state["errors"] += 1
            state["last_errors"] = (state["last_errors"] + [f"{page}: {traceback.format_exc()[-1500:]}"])[-5:]
            del exc
        time.sleep(0.05)
    print(json.dumps({"queries": state["queries"], "errors": state["errors"], "last_errors": state["last_errors"],
                      "snapshots_seen": len(state["snapshots"] - {None}), "by_page": dict(state["by_page"])}),
          flush=True)
    return 0


def scale_loop(acc: Account, work: Path, until: float, every: float) -> tuple[list[tuple[int, str, str]], list[str]]:
    """Scale the main account's endpoint up and back through the action service every ``every`` seconds until
    ``until`` (monotonic); returns the outcomes (desired, status, message) and the tracebacks of what raised."""
    import actions as a
    from actions.audit import AuditLog
    from sextant.aws import Clients
    from sextant.settings import AccountSettings, ActionSettings, Settings
    from tests.reliability.conftest import aws_env

    env = a.Env(Clients(AccountSettings(regions=(REGION,))),
                Settings(store=work / "actions", actions=ActionSettings(max_instances_per_variant=12)))
    audit = AuditLog(work / "audit.sqlite")
    sm = acc.client("sagemaker")

    def in_service() -> bool:
        return bool(sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "InService")

    start = sm.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]["DesiredInstanceCount"]
    outcomes: list[tuple[int, str, str]] = []
    errors: list[str] = []
    i = 0
    with aws_env(acc):
        while time.monotonic() + every < until:
            time.sleep(every)
            desired = start if i % 2 else start + 1 + (i // 2) % 3  # up, back, further up, back, ...
            try:
                wait_until(in_service, 120, f"{ENDPOINT} InService")
                o = a.run_action(a.ScaleEndpoint("123456789012", ENDPOINT, VARIANT, desired),
                                 a.Actor("oncall@example.com", "operator"), env, audit, a.new_token())
                outcomes.append((desired, o.status, o.message))
            except Exception:
                errors.append(traceback.format_exc()[-1500:])
            i += 1
        wait_until(in_service, 120, f"{ENDPOINT} InService")  # the last scaling settles before the last cycles
    return outcomes, errors


def _reader_result(r: subprocess.Popen[str]) -> dict[str, Any]:
    o, e = r.communicate(timeout=600)
    try:
        return {**json.loads(o.strip().splitlines()[-1]), "returncode": r.returncode}
    except (IndexError, ValueError):
        return {"errors": 1, "returncode": r.returncode, "last_errors": [e[-2000:]]}


def _stop_collectors(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(300)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def soak_run(args: argparse.Namespace, work: Path, acc: Account, config: Path) -> dict[str, Any]:
    """The shards every ``args.every``, the dashboard readers and the scaling actions for ``args.minutes``."""
    seconds = args.minutes * 60
    logs = [work / f"shard-{k}.log" for k in range(1, args.shards + 1)]
    out: dict[str, Any] = {"seconds": seconds}
    readers: list[subprocess.Popen[str]] = []
    t0 = time.monotonic()
    procs = [collector(config, acc, args.sources, f"{k}/{args.shards}", every=args.every, log=logs[k - 1])
             for k in range(1, args.shards + 1)]
    try:
        # the readers start once every shard has committed a cycle (a page's query set opens on an endpoint)
        wait_until(lambda: all(log.read_text().count("collected ") >= 1 for log in logs)
                   or any(p.poll() is not None for p in procs), 900, "every shard's first cycle")
        out["first_cycle_s"] = round(time.monotonic() - t0, 1)
        remaining = max(30.0, seconds - (time.monotonic() - t0))
        renv = {**cli_env(acc), "SEXTANT_CONFIG": str(config)}
        readers = [subprocess.Popen([sys.executable, "-m", "bench.shards", "--reader", f"{remaining:.0f}",
                                     ",".join(args.pages)], cwd=ROOT, env=renv, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for _ in range(args.readers)]
        end = t0 + seconds
        outcomes, out["action_errors"] = scale_loop(acc, work, end - args.settle, args.action_every)
        out["actions"] = [s for _, s, _ in outcomes]
        out["action_errors"] += [m for _, s, m in outcomes if s != "succeeded"]
        time.sleep(max(0.0, end - time.monotonic()))
        out["readers"] = [_reader_result(r) for r in readers]
    finally:
        _stop_collectors(procs)
        for r in readers:
            stop(r)
    out["soak_s"] = round(time.monotonic() - t0, 1)
    texts = [log.read_text() for log in logs]
    cycles = [[line for line in t.splitlines() if line.startswith("collected ")] for t in texts]
    out["cycles"] = [len(c) for c in cycles]
    out["failed_cycles"] = [c for cs in cycles for c in cs if not c.endswith(" 0 source(s) failed")]
    out["collector_returncodes"] = [p.returncode for p in procs]
    out["collector_errors"] = [line for t in texts for line in t.splitlines()
                               if " ERR " in line or "Traceback" in line or "Error" in line][:20]
    out["collector_log_tails"] = [t[-1500:] for t in texts if "Traceback" in t or "Error" in t]
    out["queries"] = sum(r.get("queries", 0) for r in out.get("readers", []))
    out["query_errors"] = sum(r.get("errors", 0) for r in out.get("readers", []))
    out["run_rows_failed"] = [r for r in runs(config) if r[2] == "failed"]
    return out


# A table of every distinct state the collector observed over time: a store that was collecting while the endpoint was
# scaled holds the intermediate states, which a collection made afterwards cannot see (nor could an unsharded
# collector that was not running then). Compared as: every row of the reference, plus states of the scaled endpoint.
OBSERVED_HISTORY = "aws_sagemaker_endpoint_variant_history"


def compare_soak(soak: dict[str, list[tuple[Any, ...]]], ref: dict[str, list[tuple[Any, ...]]]
                 ) -> tuple[dict[str, str], list[tuple[Any, ...]]]:
    """(differences, the extra observed states of the scaled endpoint); every other table row for row."""
    diff = storecmp.differences({k: v for k, v in soak.items() if k != OBSERVED_HISTORY},
                                {k: v for k, v in ref.items() if k != OBSERVED_HISTORY})
    got, want = soak.get(OBSERVED_HISTORY, []), ref.get(OBSERVED_HISTORY, [])
    extra = sorted(set(got) - set(want), key=repr)
    missing = sorted(set(want) - set(got), key=repr)
    foreign = [r for r in extra if ENDPOINT not in r]
    if missing or foreign:  # (a state may recur: scaled up, then back, is the first state again, seen later)
        diff[OBSERVED_HISTORY] = (f"{len(got)} vs {len(want)} rows; missing {missing[:3]}; extra states of other "
                                  f"endpoints {foreign[:3]}")
    return diff, extra


def soak(args: argparse.Namespace, work: Path, cluster: Any) -> dict[str, Any]:
    names = balanced_names(args.accounts, args.shards)
    lake = Lake(cluster, work, args.accounts, names, not args.cold_catalog)
    acc = start_org(work, args.accounts, 0, env={"DEMO_SPEEDUP": "240"})  # scaling updates finish in ~1 s
    out: dict[str, Any] = {"accounts": args.accounts, "shards": args.shards, "every": args.every,
                           "sources": args.sources, "readers_n": args.readers}
    try:
        config = lake.new_store("soak")
        out.update(soak_run(args, work, acc, config))
        # the reference: one unsharded collection of the same account, now
        ref = lake.new_store("reference")
        t1 = time.monotonic()
        p = collector(ref, acc, args.sources, None)
        ref_out = p.communicate(timeout=3600)[0]
        out["reference"] = {"returncode": p.returncode, "seconds": round(time.monotonic() - t1, 1),
                            "summary": summary_line(ref_out)}
        a_dump, b_dump = dump(config, args.sources), dump(ref, args.sources)
        out["rows"] = sum(len(v) for v in a_dump.values())
        out["differences"], out["observed_states"] = compare_soak(a_dump, b_dump)
    finally:
        stop(acc.process)
    errors = []
    if any(rc not in (0, 130) for rc in out["collector_returncodes"]) or out["failed_cycles"] \
            or out["collector_errors"] or out["run_rows_failed"]:
        errors.append("collector")
    if out["query_errors"] or any(r.get("returncode") != 0 for r in out.get("readers", [])) or not out["queries"]:
        errors.append("dashboards")
    if out["action_errors"] or not out["actions"]:
        errors.append("actions")
    if out["reference"]["returncode"] != 0 or out["differences"]:
        errors.append("store differs from an unsharded collection")
    out["errors"] = errors
    out["ok"] = not errors
    return out


# --------------------------------------------------------------------------- kills


def check_after_kill(config: Path, clean: dict[tuple[str, str], dict[str, list[tuple[Any, ...]]]], sources: list[str],
                     account_ids: list[str]) -> int:
    """The store opens for writing and migrates; every (account, source) holds nothing or exactly the clean rows,
    with a succeeded (or partial) run row exactly when it holds rows, and no failed run row. Returns how many
    (account, source) are committed; AssertionError names the first violation."""
    import collectors
    from sextant.store import open_writer

    w = open_writer(_settings(config))
    try:
        collectors.migrate(w)
    finally:
        w.close()
    got = by_account(config, sources)
    run_rows = runs(config)
    failed = [r for r in run_rows if r[2] == "failed"]
    assert not failed, f"a killed run recorded a failure: {failed[:3]}"
    committed = 0
    for account in account_ids:
        for source in sources:
            mine = {k: v for k, v in got.get((account, source), {}).items() if v}
            ref = {k: v for k, v in clean.get((account, source), {}).items() if v}
            assert not mine or mine == ref, (f"{account}/{source} holds a partial batch: "
                                             f"{storecmp.differences(ref, mine)}")
            ran = any(r[0] == account and r[1] == source and r[2] in ("succeeded", "partial") for r in run_rows)
            # an account's run rows exist only once the source committed (its rows, cursor and run row are one
            # transaction); a source that found nothing to write in an account is committed with a run row alone
            assert ran or not mine, f"{account}/{source} has rows but no succeeded run row"
            assert not ran or bool(mine) == bool(ref), f"{account}/{source} has a run row but not its rows"
            committed += ran
    return committed


def kills(args: argparse.Namespace, work: Path, cluster: Any) -> dict[str, Any]:
    from demo.org import member_ids

    names = balanced_names(args.accounts, args.shards)
    lake = Lake(cluster, work, args.accounts, names, not args.cold_catalog)
    acc = start_org(work, args.accounts, 0)
    ids = member_ids(args.accounts)
    rng = random.Random(args.seed)
    out: dict[str, Any] = {"kills_target": args.kills, "sources": args.kill_sources}
    sources = args.kill_sources
    try:
        clean_config = lake.new_store("clean")
        clean_s, rcs, outs = run_shards(clean_config, acc, sources, 1)
        assert rcs == [0], outs[0][-2000:]
        clean = by_account(clean_config, sources)
        clean_dump = dump(clean_config, sources)
        out["clean_s"] = round(clean_s, 1)
        duration = {True: clean_s / args.shards * 1.5, False: clean_s / args.shards}
        n_kills = runs_done = 0
        violations: list[str] = []
        committed_at_kill: Counter[int] = Counter()
        config = lake.new_store("kills")
        t0 = time.monotonic()
        while n_kills < args.kills and runs_done < args.kills * 3 and not violations:
            runs_done += 1
            fresh = runs_done % 2 == 1
            if fresh:
                config = lake.new_store("kills")
            victim = rng.randint(1, args.shards)
            started = time.monotonic()
            procs = [collector(config, acc, sources, f"{k}/{args.shards}") for k in range(1, args.shards + 1)]
            p = procs[victim - 1]
            try:
                p.wait(rng.uniform(0, duration[fresh] * 1.05))
                duration[fresh] = time.monotonic() - started
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                n_kills += 1
            outs = [q.communicate(timeout=3600)[0] for q in procs]
            bad = [o[-1500:] for q, o in zip(procs, outs, strict=True)
                   if q.returncode not in (0, -signal.SIGKILL)]
            if bad:
                violations.append(f"a shard process failed: {bad[0]}")
                break
            try:
                committed = check_after_kill(config, clean, sources, ids)
            except AssertionError as exc:
                violations.append(str(exc)[:2000])
                break
            if p.returncode == -signal.SIGKILL:
                committed_at_kill[committed] += 1
        out.update(kills=n_kills, runs=runs_done, seconds=round(time.monotonic() - t0, 1), violations=violations,
                   committed_units_at_kill=dict(sorted(committed_at_kill.items())))
        # the rerun converges: a whole sharded run on what the last kill left equals the clean store
        rerun_s, rcs, outs = run_shards(config, acc, sources, args.shards)
        diff = storecmp.differences(clean_dump, dump(config, sources))
        out.update(rerun_returncodes=rcs, rerun_s=round(rerun_s, 1), rerun_differences=diff)
        out["ok"] = not violations and n_kills >= args.kills and rcs == [0] * args.shards and not diff
    finally:
        stop(acc.process)
    return out


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--reader"]:
        return reader_main(argv[1:])

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt  # every phase's finally stops what it started (servers, collectors, PostgreSQL)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    parser = argparse.ArgumentParser(prog="python -m bench.shards", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=4, help="accounts in the organisation (default 4)")
    parser.add_argument("--shards", type=int, default=4, help="collector processes (default 4)")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per-request latency for speed (default 50)")
    parser.add_argument("--source", action="append", dest="sources", metavar="NAME",
                        help="sources to collect (default: every deterministic source)")
    parser.add_argument("--no-speed", action="store_true", help="skip the speed measurement")
    parser.add_argument("--one-server", dest="server_per_account", action="store_false",
                        help="speed: every account on one emulated server (default: a server per account)")
    parser.add_argument("--soak", action="store_true", help="the soak (see above)")
    parser.add_argument("--minutes", type=float, default=5.0, help="soak length (default 5)")
    parser.add_argument("--every", default="10s", help="the soak's collection period (default 10s)")
    parser.add_argument("--readers", type=int, default=2, help="dashboard processes in the soak (default 2)")
    parser.add_argument("--page", action="append", dest="pages", metavar="NAME",
                        help="page query sets the readers run (default: the pages the collected sources feed)")
    parser.add_argument("--action-every", type=float, default=20.0, help="seconds between scaling actions (20)")
    parser.add_argument("--settle", type=float, default=60.0,
                        help="seconds of the soak's end without scaling, so the last cycles see the final state (60)")
    parser.add_argument("--kills", type=int, default=0, help="SIGKILLs of a shard process (0: none)")
    parser.add_argument("--kill-source", action="append", dest="kill_sources", metavar="NAME",
                        help="sources of the kill runs (default: the fast deterministic ones)")
    parser.add_argument("--cold-catalog", action="store_true",
                        help="let the shards create each new catalog themselves, all at once (see create_store)")
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args(argv)
    from tests.reliability.conftest import FAST_SOURCES

    args.sources = args.sources or SOURCES
    args.kill_sources = args.kill_sources or list(FAST_SOURCES)
    args.pages = args.pages or ["endpoints (list)", "endpoints (detail)", "training", "models", "alerts",
                                "collection", "data"]
    from tests.lake_fixtures import start_postgres, stop_postgres

    work = Path(tempfile.mkdtemp(prefix="sextant-shards-"))
    summary: dict[str, Any] = {"workdir": str(work), "command": "python -m bench.shards " + " ".join(argv)}
    cluster = start_postgres()
    try:
        if not args.no_speed:
            s = summary["speed"] = speed(args, work / "speed", cluster)
            print(f"speed: {args.accounts} accounts, {len(args.sources)} sources, {args.latency_ms:g} ms a request: "
                  f"1 shard {s['one_shard_s']} s, {args.shards} shards {s['shards_s']} s, ratio {s['ratio']}x; "
                  f"sources' span {s['one_shard_span_s']} s vs {s['shards_span_s']} s, ratio {s['span_ratio']}x; "
                  f"API calls {s['api_calls_one_shard']} vs {s['api_calls_shards']}; {s['servers']} server(s) "
                  f"({'ok' if s['ok'] else 'FAILED'})", flush=True)
        if args.soak:
            s = summary["soak"] = soak(args, work / "soak", cluster)
            print(f"soak: {s['seconds']} s, cycles per shard {s['cycles']}, {s['queries']} page query sets "
                  f"({s['query_errors']} errors), {len(s['actions'])} scaling actions "
                  f"({len(s['action_errors'])} errors), {s['rows']} rows, differences from an unsharded collection "
                  f"{len(s['differences'])}; errors: {s['errors'] or 'none'}", flush=True)
        if args.kills:
            k = summary["kills"] = kills(args, work / "kills", cluster)
            print(f"kills: {k.get('kills')} SIGKILLs in {k.get('runs')} runs, violations {len(k['violations'])}, "
                  f"rerun rc {k.get('rerun_returncodes')}, rerun differences {len(k.get('rerun_differences', {}))}",
                  flush=True)
    finally:
        stop_postgres(cluster)
    ok = all(summary[p]["ok"] for p in ("speed", "soak", "kills") if p in summary)
    print(json.dumps(summary, default=str))
    print("shards: OK" if ok else "shards: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
