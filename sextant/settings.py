"""One typed settings object, from a TOML file and the environment; explicit arguments win.

Order (later wins): built-in defaults < ``sextant.toml`` (or ``$SEXTANT_CONFIG``) < environment
(``SEXTANT_STORE``, ``SEXTANT_STORE_BACKEND``, ``SEXTANT_CATALOG``, ``SEXTANT_DATA_PATH``) < arguments given to
:func:`load`. No AWS credentials are ever read from here: accounts name a profile or a role ARN, and boto3 finds
credentials the standard way; a DuckLake catalog's PostgreSQL password comes from libpq's own ways (``PGPASSWORD``,
``~/.pgpass``), never from a setting.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = "sextant.toml"
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")


class SettingsError(ValueError):
    """The settings file is malformed; the message names the key and the fix."""


def parse_duration(text: str) -> int:
    """'90s', '5m', '1h', '2d' -> seconds."""
    m = _DURATION.match(str(text))
    if not m:
        raise SettingsError(f"invalid duration {text!r}: use a number and a unit, e.g. 30s, 5m, 1h, 1d")
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


@dataclass(frozen=True)
class AccountSettings:
    """Where to collect from. With neither profile nor role_arn, the standard AWS environment is used."""

    name: str = "default"
    profile: str | None = None
    role_arn: str | None = None
    external_id: str | None = None
    regions: tuple[str, ...] = ()
    # The role actions assume in this account, once per signed-in user, with SourceIdentity and a role session
    # name derived from the user (CloudTrail then names the person). Without it, actions use the collector's
    # credentials and only the audit log knows who acted.
    operator_role_arn: str | None = None


@dataclass(frozen=True)
class CollectSettings:
    # The tags that say who owns a resource, as the account names them: the team tag, then the project tag. They
    # fill the team and project columns (the sidebar's filters) and Cost Explorer's team and project groupings.
    tag_keys: tuple[str, ...] = field(default=("team", "project"), metadata={"length": 2})
    hot_every_s: int = field(default=300, metadata={"min": 10})  # invocations, 5xx, p99 of busy endpoints
    cold_every_s: int = field(default=3600, metadata={"min": 60})  # every other series
    # Tags are re-read at least this often even when a resource's modification time does not change (re-tagging
    # does not change it).
    tags_every_s: int = field(default=86400, metadata={"min": 60})
    backfill_days: int = field(default=30, metadata={"min": 0, "max": 455})  # CloudWatch keeps 1-h data 455 days
    monthly_api_budget_usd: float = field(default=10.0, metadata={"min": 0})
    cost_requests_per_run: int = field(default=40, metadata={"min": 1})
    cost_refresh_every_s: int = field(default=8 * 3600, metadata={"min": 60})  # CE refreshes up to 3 times a day
    cost_history_days: int = field(default=95, metadata={"min": 1, "max": 395})  # CE keeps 13 months
    logs_max_events_per_stream: int = field(default=2000, metadata={"min": 0})
    logs_days: int = field(default=7, metadata={"min": 0})
    # Retention of the metric tables (0: keep forever). The pages read the points for ranges up to 48 h and
    # the hourly / daily rollups beyond, so a shorter point retention shrinks the store without changing a
    # page (training-job curves older than it are then read from nowhere: keep it above your job history).
    metric_point_retention_s: int = field(default=400 * 86400, metadata={"min": 0})  # CloudWatch: 5-min data 63 d
    metric_hourly_retention_s: int = field(default=800 * 86400, metadata={"min": 0})
    metric_daily_retention_s: int = field(default=0, metadata={"min": 0})


@dataclass(frozen=True)
class ActionSettings:
    """Guardrails for actions (scale, launch, rerun, stop)."""

    dry_run: bool = False  # global dry run: plan and audit, never call AWS write APIs
    max_instances_per_variant: int = field(default=20, metadata={"min": 1, "max": 1000})
    allowed_instance_types: tuple[str, ...] = ()  # empty: any ml.* type
    allowed_accounts: tuple[str, ...] = ()  # empty: any configured account
    max_concurrent_training_jobs: int = field(default=10, metadata={"min": 0, "max": 10000})
    audit_path: str = ""  # default: <store>/audit.sqlite
    # Where the audit trail lives (actions/audit.py open_audit): "" (default) is the DuckLake catalog's PostgreSQL when
    # [store] catalog is postgres:..., else the SQLite file above; "postgres:<libpq DSN, no password>" names a
    # database (e.g. with a role that may only INSERT and SELECT); "local" keeps the SQLite file on any backend.
    audit_dsn: str = ""


@dataclass(frozen=True)
class AuthSettings:
    """Who may see and act. Identities come from st.login (OIDC), an AWS ALB's signed header, a trusted proxy
    header with the proxy's secret, or the local admin of a server bound to loopback. Secrets (the OIDC client
    secret, the proxy secret) live in .streamlit/secrets.toml or the environment, never here."""

    admins: tuple[str, ...] = ()  # e-mails or names
    operators: tuple[str, ...] = ()
    admin_groups: tuple[str, ...] = ()  # values of the identity's group claim
    operator_groups: tuple[str, ...] = ()
    groups_claim: str = "groups"  # the claim (OIDC token or ALB header) that lists the user's groups
    require_sign_in: bool = False  # anonymous visitors see a sign-in prompt and nothing else
    sql_box: str = field(default="everyone", metadata={"choices": ("everyone", "signed-in", "operators")})
    # Behind an AWS Application Load Balancer with OIDC authentication: its ARN. The x-amzn-oidc-data header is
    # believed only when its ES256 signature verifies against the region's public key, signed by this ALB.
    alb_arn: str = ""
    trusted_header: str = ""  # e.g. "X-Forwarded-Email": believed only with the proxy's secret (below)
    proxy_secret_header: str = "X-Sextant-Proxy-Secret"  # must carry SEXTANT_PROXY_SECRET, set by the proxy
    local_admin: bool = False  # single-user demo: the local user is admin (refused unless bound to loopback)


@dataclass(frozen=True)
class AlertSettings:
    """``[alerts]``: rules over the store and the channels they notify (alerts/, docs/ALERTS.md). No secret is ever
    here: a channel names the environment variable that holds its webhook URL (``target_env``); the tables below are
    checked by ``alerts.config`` (a table per name, so names cannot repeat)."""

    enabled: bool = True
    base_url: str = ""  # the dashboard's address, for the links in messages, e.g. "https://sextant.example.com"
    # [alerts.channels.<name>]: type = "sns" | "eventbridge" | "webhook", target or target_env, rate_per_minute
    channels: dict[str, Any] = field(default_factory=dict, hash=False)
    # [alerts.rules.<name>]: a user rule: sql (one read-only SELECT), threshold, comparison, for, severity, channels
    rules: dict[str, Any] = field(default_factory=dict, hash=False)
    default_channels: tuple[str, ...] = ()  # the built-in rules' channels; empty: every channel
    disabled_rules: tuple[str, ...] = ()  # built-in rules turned off, by name
    error_rate_5xx: float = field(default=0.05, metadata={"min": 0, "max": 1})  # 5xx / invocations in the last hour
    min_invocations_1h: int = field(default=100, metadata={"min": 0})  # below it, no 5xx rate is judged
    p99_baseline_factor: float = field(default=3.0, metadata={"min": 1})  # p99 of the hour vs its 7-day baseline
    p99_max_ms: float = field(default=0.0, metadata={"min": 0})  # absolute p99 bound; 0: none
    busy_invocations_24h: int = field(default=1000, metadata={"min": 1})  # "busy" for the zero-invocations rule
    failure_lookback_h: int = field(default=24, metadata={"min": 1})  # a failed job or execution this recent fires
    stale_factor: float = field(default=2.0, metadata={"min": 1})  # a source's data older than this x its cadence
    idle_monthly_usd: float = field(default=100.0, metadata={"min": 0})  # an idle endpoint costing more a month
    anomaly_min_usd: float = field(default=100.0, metadata={"min": 0})  # a cost anomaly's total impact from this
    anomaly_lookback_days: int = field(default=7, metadata={"min": 1, "max": 90})  # ...started this recently
    unit_cost_increase_pct: float = field(default=25.0, metadata={"min": 0})  # cost per 1,000 inferences, week/week
    max_attempts: int = field(default=4, metadata={"min": 1, "max": 20})  # sends per message before giving up


STORE_BACKENDS = ("duckdb", "ducklake")
CATALOG_KINDS = ("postgres:", "sqlite:", "duckdb:")
_PASSWORD_IN_DSN = re.compile(r"(?i)(\bpassword\s*=|://[^/@\s]*:[^/@\s]*@)")


@dataclass(frozen=True)
class Settings:
    store: Path = Path("var/store")
    # "duckdb": one DuckDB file, published as whole-file snapshots; "ducklake": a DuckLake catalog (catalog) with its
    # data as Parquet under data_path, every commit a snapshot (sextant/lake.py). With ducklake, store still names the
    # local directory of the collector's own files (progress, the audit log by default).
    store_backend: str = "duckdb"
    # "postgres:<libpq DSN, no password>", "sqlite:<path>" or "duckdb:<path>"; "" is sqlite:<store>/lake/catalog.sqlite
    catalog: str = ""
    data_path: str = ""  # a directory or s3://bucket/prefix/; "" is <store>/lake/data/
    # DuckLake maintenance by the collector (sextant/lake.py maintain): at most this often, it expires the snapshots
    # older than keep_snapshots_s (no read lasts that long: a page's query takes seconds), merges small files, writes
    # inlined rows out as Parquet and deletes the files no snapshot needs any more
    maintain_every_s: int = 6 * 3600
    keep_snapshots_s: int = 24 * 3600
    accounts: tuple[AccountSettings, ...] = (AccountSettings(),)
    collect: CollectSettings = field(default_factory=CollectSettings)
    monthly_budget_usd: float = 25000.0
    # [budget.teams]: a team (the team tag's value) -> its monthly budget, USD; the per-team forecast rule's budgets
    team_budgets_usd: dict[str, float] = field(default_factory=dict, hash=False)
    actions: ActionSettings = field(default_factory=ActionSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    config_file: Path | None = None


def _key(field_name: str) -> str:
    """The key as written in the file: durations are ``hot_every = "5m"``, stored as ``hot_every_s``."""
    return field_name[:-2] if field_name.endswith(("_every_s", "_retention_s")) else field_name


def _check_bounds(value: Any, f: Field[Any], where: str, key: str) -> None:
    lo, hi, choices = f.metadata.get("min"), f.metadata.get("max"), f.metadata.get("choices")
    length = f.metadata.get("length")
    if length is not None and len(value) != length:
        raise SettingsError(f"{where}.{key} = {list(value)!r}: must list exactly {length} names")
    if lo is not None and value < lo or hi is not None and value > hi:
        span = f"at least {lo}" if hi is None else f"between {lo} and {hi}"
        raise SettingsError(f"{where}.{key} = {value!r}: must be {span}")
    if choices is not None and value not in choices:
        raise SettingsError(f"{where}.{key} = {value!r}: must be one of {', '.join(map(repr, choices))}")


def _check_type(value: Any, f: Field[Any], where: str, key: str) -> None:
    default = f.default_factory() if f.default is MISSING and f.default_factory is not MISSING else f.default
    want: type = type(default) if default is not None else str
    ok = (isinstance(value, bool) if want is bool else
          isinstance(value, int) and not isinstance(value, bool) if want is int else
          isinstance(value, int | float) and not isinstance(value, bool) if want is float else
          isinstance(value, tuple) and all(isinstance(v, str) for v in value) if want is tuple else
          isinstance(value, want))
    if not ok:
        example = {bool: "true or false", int: "a whole number", float: "a number", str: "a quoted string",
                   tuple: 'a list of strings, e.g. ["a", "b"]'}.get(want, want.__name__)
        raise SettingsError(f"{where}.{key} = {value!r}: expected {example}")


def _section(data: dict[str, Any], cls: type, where: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    out = {}
    for key, value in data.items():
        name = key
        if name.endswith(("_every", "_retention")):
            name += "_s"
            try:
                value = parse_duration(value)
            except SettingsError as exc:
                raise SettingsError(f"{where}.{key}: {exc}") from None
        if name not in known:
            keys = sorted(_key(k) for k in known)
            close = difflib.get_close_matches(key, keys, n=1)
            raise SettingsError(f"unknown key {where}.{key}" + (f" (did you mean {close[0]}?)" if close else "")
                                + f"; known keys: {', '.join(keys)}")
        if isinstance(value, list):
            value = tuple(value)
        _check_type(value, known[name], where, key)
        _check_bounds(value, known[name], where, key)
        out[name] = value
    try:
        return cls(**out)
    except TypeError as exc:
        raise SettingsError(f"invalid [{where}]: {exc}") from None


def _plain(data: Any, where: str, keys: dict[str, type]) -> dict[str, Any]:
    """A small section of plain keys ([store], [budget]): unknown keys and wrong types refused."""
    if not isinstance(data, dict):
        raise SettingsError(f"[{where}] must be a table of keys, e.g. [{where}] {next(iter(keys))} = ...")
    for key, value in data.items():
        if key not in keys:
            raise SettingsError(f"unknown key {where}.{key}; known keys: {', '.join(keys)}")
        want = keys[key]
        ok = isinstance(value, int | float) and not isinstance(value, bool) if want is float else isinstance(
            value, want)
        if not ok:
            example = "a number" if want is float else "a quoted string"
            raise SettingsError(f"{where}.{key} = {value!r}: expected {example}")
    return data


SECTIONS: dict[str, type] = {"collect": CollectSettings, "actions": ActionSettings, "auth": AuthSettings,
                            "alerts": AlertSettings}


def _read(config: str | Path | None) -> tuple[Path, dict[str, Any]]:
    path = Path(config or os.environ.get("SEXTANT_CONFIG") or DEFAULT_CONFIG)
    if not path.exists():
        if config is not None:
            raise SettingsError(f"settings file {path} does not exist")
        return path, {}
    try:
        return path, tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path} is not valid TOML ({exc}); fix the line it names") from None


def _accounts(value: Any, path: Path) -> tuple[AccountSettings, ...]:
    if not isinstance(value, list) or not value:
        raise SettingsError(f"{path}: [[accounts]] must be a list of tables, e.g. [[accounts]] name = 'prod'")
    accounts = tuple(_section(a, AccountSettings, "accounts") for a in value)
    for a in accounts:
        if a.profile and a.role_arn is None and a.external_id:
            raise SettingsError(f"account {a.name}: external_id needs role_arn")
    return accounts


def load(config: str | Path | None = None, *, store: str | Path | None = None) -> Settings:
    """Read settings; raises SettingsError with a message naming the file, the key and the fix."""
    path, data = _read(config)
    try:
        return _settings(path, data, store)
    except SettingsError as exc:
        raise SettingsError(f"{path}: {exc}" if str(path) not in str(exc) else str(exc)) from None


def _settings(path: Path, data: dict[str, Any], store: str | Path | None) -> Settings:
    settings = Settings(config_file=path if path.exists() else None)
    known = {"store", "accounts", "budget", *SECTIONS}
    unknown = set(data) - known
    if unknown:
        raise SettingsError(f"unknown section(s) {sorted(unknown)} in {path}; known: {', '.join(sorted(known))}")
    if "store" in data:
        store_section = _plain(data["store"], "store",
                               {"location": str, "backend": str, "catalog": str, "data_path": str,
                                "maintain_every": str, "keep_snapshots": str})
        settings = _store_backend(replace(settings, store=Path(store_section.get("location", settings.store))),
                                  store_section, "store.")
        for key, attr in (("maintain_every", "maintain_every_s"), ("keep_snapshots", "keep_snapshots_s")):
            if key in store_section:
                try:
                    seconds = parse_duration(store_section[key])
                except SettingsError as exc:
                    raise SettingsError(f"store.{key}: {exc}") from None
                if seconds < 60:  # a snapshot a page is reading must outlive the read
                    raise SettingsError(f"store.{key} = {store_section[key]!r}: at least 1m")
                settings = (replace(settings, maintain_every_s=seconds) if attr == "maintain_every_s"
                            else replace(settings, keep_snapshots_s=seconds))
    if "accounts" in data:
        settings = replace(settings, accounts=_accounts(data["accounts"], path))
    for name, cls in SECTIONS.items():
        if name in data:
            settings = replace(settings, **{name: _section(data[name], cls, name)})
    _check_audit_dsn(settings.actions.audit_dsn)
    if os.environ.get("SEXTANT_LOCAL_ADMIN") == "1":
        settings = replace(settings, auth=replace(settings.auth, local_admin=True))
    if os.environ.get("SEXTANT_DRY_RUN") == "1":
        settings = replace(settings, actions=replace(settings.actions, dry_run=True))
    if "budget" in data:
        settings = _budget(settings, data["budget"])
    location = store or os.environ.get("SEXTANT_STORE")
    if location:
        settings = replace(settings, store=Path(location))
    env = {key: os.environ[name] for key, name in (("backend", "SEXTANT_STORE_BACKEND"), ("catalog", "SEXTANT_CATALOG"),
                                                   ("data_path", "SEXTANT_DATA_PATH")) if os.environ.get(name)}
    if env:
        settings = _store_backend(settings, env, "SEXTANT_")
    return settings


def _check_audit_dsn(value: str) -> None:
    """``[actions] audit_dsn``: "", "local" or "postgres:<DSN>" without a password (never repeated in the message)."""
    if _PASSWORD_IN_DSN.search(value):
        raise SettingsError("actions.audit_dsn holds a password: remove it and give it the way libpq reads it (the "
                            "PGPASSWORD environment variable or a ~/.pgpass file)")
    if value.strip() not in ("", "local") and (not value.startswith("postgres:") or not value[9:].strip()):
        raise SettingsError("actions.audit_dsn: use \"postgres:<libpq connection string>\" (e.g. "
                            "'postgres:host=db.internal dbname=sextant user=sextant_dashboard'), \"local\" or leave "
                            "it out")


def _budget(settings: Settings, section: Any) -> Settings:
    """``[budget]``: monthly_usd (the whole bill's) and the table ``[budget.teams]``."""
    teams = section.get("teams") if isinstance(section, dict) else None
    budget = _plain({k: v for k, v in section.items() if k != "teams"} if isinstance(section, dict) else section,
                    "budget", {"monthly_usd": float, "teams": dict})
    settings = replace(settings, monthly_budget_usd=float(budget.get("monthly_usd", 25000.0)))
    return replace(settings, team_budgets_usd=_team_budgets(teams)) if teams is not None else settings


def _team_budgets(teams: Any) -> dict[str, float]:
    """``[budget.teams]``: team (the team tag's value, as the bill groups it) -> monthly budget in USD, above 0."""
    example = '[budget.teams] followed by lines such as vision = 5000 (or "fraud-ml" = 2500)'
    if not isinstance(teams, dict):
        raise SettingsError(f"budget.teams = {teams!r}: expected a table of team = monthly USD, e.g. {example}")
    out: dict[str, float] = {}
    for team, usd in teams.items():
        if not team.strip():
            raise SettingsError(f"budget.teams: an empty team name; name a team as its team tag reads, e.g. {example}")
        if isinstance(usd, bool) or not isinstance(usd, int | float):
            raise SettingsError(f"budget.teams.{team} = {usd!r}: expected a number (USD a month), e.g. {example}")
        if not usd > 0:
            raise SettingsError(f"budget.teams.{team} = {usd!r}: must be above 0 (leave the team out to have no "
                                "budget)")
        out[team] = float(usd)
    return out


def _store_backend(settings: Settings, section: dict[str, Any], where: str) -> Settings:
    """The store backend's settings of ``[store]`` (or the environment), checked: a known backend, a catalog of a known
    kind and without a password (libpq's PGPASSWORD or ~/.pgpass give it; the value is never repeated in a message),
    an S3 data path with a bucket."""
    out = {"store_backend": settings.store_backend, "catalog": settings.catalog, "data_path": settings.data_path}
    name = {"backend": "STORE_BACKEND", "catalog": "CATALOG", "data_path": "DATA_PATH"} if where == "SEXTANT_" else {}
    backend = section.get("backend")
    if backend is not None:
        if backend not in STORE_BACKENDS:
            raise SettingsError(f"{where}{name.get('backend', 'backend')} = {backend!r}: must be one of "
                                f"{', '.join(map(repr, STORE_BACKENDS))}")
        out["store_backend"] = backend
    catalog = section.get("catalog")
    if catalog is not None:
        key = f"{where}{name.get('catalog', 'catalog')}"
        if _PASSWORD_IN_DSN.search(catalog):
            raise SettingsError(f"{key} holds a password: remove it and give it the way libpq reads it (the "
                                "PGPASSWORD environment variable or a ~/.pgpass file); a password is never kept in "
                                "the settings")
        if catalog and (not catalog.startswith(CATALOG_KINDS) or not catalog.split(":", 1)[1].strip()):
            raise SettingsError(f"{key}: must start with one of {', '.join(CATALOG_KINDS)} followed by the catalog, "
                                "e.g. 'postgres:host=db.internal dbname=sextant user=sextant' or "
                                "'sqlite:var/store/lake/catalog.sqlite'")
        out["catalog"] = catalog.strip()
    data_path = section.get("data_path")
    if data_path is not None:
        key = f"{where}{name.get('data_path', 'data_path')}"
        if data_path.startswith("s3://") and not data_path[len("s3://"):].split("/", 1)[0]:
            raise SettingsError(f"{key} = {data_path!r}: name the bucket, e.g. 's3://my-bucket/sextant/'")
        if "://" in data_path and not data_path.startswith("s3://"):
            raise SettingsError(f"{key} = {data_path!r}: use a local directory or s3://bucket/prefix/")
        out["data_path"] = data_path.strip()
    return replace(settings, store_backend=out["store_backend"], catalog=out["catalog"], data_path=out["data_path"])
