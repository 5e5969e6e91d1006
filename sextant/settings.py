"""One typed settings object, from a TOML file and the environment; explicit arguments win.

Order (later wins): built-in defaults < ``sextant.toml`` (or ``$SEXTANT_CONFIG``) < environment
(``SEXTANT_STORE``) < arguments given to :func:`load`. No AWS credentials are ever read from
here: accounts name a profile or a role ARN, and boto3 finds credentials the standard way.
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


@dataclass(frozen=True)
class CollectSettings:
    tag_keys: tuple[str, ...] = ("team", "project")
    hot_every_s: int = 300  # invocations, 5xx and p99 latency of endpoints with traffic in the last hour
    cold_every_s: int = 3600  # every other series
    backfill_days: int = 30
    monthly_api_budget_usd: float = 10.0
    cost_requests_per_run: int = 40
    cost_refresh_every_s: int = 8 * 3600  # Cost Explorer refreshes up to 3 times a day
    cost_history_days: int = 95
    logs_max_events_per_stream: int = 2000
    logs_days: int = 7
    # Retention of the metric tables (0: keep forever). The pages read the points for ranges up to 48 h and
    # the hourly / daily rollups beyond, so a shorter point retention shrinks the store without changing a
    # page (training-job curves older than it are then read from nowhere: keep it above your job history).
    metric_point_retention_s: int = 400 * 86400  # 13 months: CloudWatch itself keeps 5-minute data 63 days
    metric_hourly_retention_s: int = 800 * 86400
    metric_daily_retention_s: int = 0


@dataclass(frozen=True)
class ActionSettings:
    """Guardrails for actions (scale, launch, rerun, stop)."""

    dry_run: bool = False  # global dry run: plan and audit, never call AWS write APIs
    max_instances_per_variant: int = 20
    allowed_instance_types: tuple[str, ...] = ()  # empty: any ml.* type
    allowed_accounts: tuple[str, ...] = ()  # empty: any configured account
    max_concurrent_training_jobs: int = 10
    audit_path: str = ""  # default: <store>/audit.sqlite


@dataclass(frozen=True)
class AuthSettings:
    """Who may act. Identities come from st.login (OIDC), a trusted proxy header, or the local admin."""

    admins: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    trusted_header: str = ""  # e.g. "X-Forwarded-Email", only behind a proxy that sets it
    local_admin: bool = False  # single-user demo: the local user is admin


@dataclass(frozen=True)
class Settings:
    store: Path = Path("var/store")
    accounts: tuple[AccountSettings, ...] = (AccountSettings(),)
    collect: CollectSettings = field(default_factory=CollectSettings)
    monthly_budget_usd: float = 25000.0
    actions: ActionSettings = field(default_factory=ActionSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)
    config_file: Path | None = None


def _key(field_name: str) -> str:
    """The key as written in the file: durations are ``hot_every = "5m"``, stored as ``hot_every_s``."""
    return field_name[:-2] if field_name.endswith(("_every_s", "_retention_s")) else field_name


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
        out[name] = value
    try:
        return cls(**out)
    except TypeError as exc:
        raise SettingsError(f"invalid [{where}]: {exc}") from None


SECTIONS: dict[str, type] = {"collect": CollectSettings, "actions": ActionSettings, "auth": AuthSettings}


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
    """Read settings; raises SettingsError with a message naming the fix."""
    path, data = _read(config)
    settings = Settings(config_file=path if path.exists() else None)
    known = {"store", "accounts", "budget", *SECTIONS}
    unknown = set(data) - known
    if unknown:
        raise SettingsError(f"unknown section(s) {sorted(unknown)} in {path}; known: {', '.join(sorted(known))}")
    if "store" in data:
        settings = replace(settings, store=Path(data["store"].get("location", settings.store)))
    if "accounts" in data:
        settings = replace(settings, accounts=_accounts(data["accounts"], path))
    for name, cls in SECTIONS.items():
        if name in data:
            settings = replace(settings, **{name: _section(data[name], cls, name)})
    if os.environ.get("SEXTANT_LOCAL_ADMIN") == "1":
        settings = replace(settings, auth=replace(settings.auth, local_admin=True))
    if os.environ.get("SEXTANT_DRY_RUN") == "1":
        settings = replace(settings, actions=replace(settings.actions, dry_run=True))
    if "budget" in data:
        settings = replace(settings, monthly_budget_usd=float(data["budget"].get("monthly_usd", 25000.0)))
    location = store or os.environ.get("SEXTANT_STORE")
    if location:
        settings = replace(settings, store=Path(location))
    return settings
