"""The ``[alerts]`` settings, checked: channels and user rules as typed objects, every mistake a clear message.

``sextant.settings`` reads ``[alerts.channels.<name>]`` and ``[alerts.rules.<name>]`` as plain tables; this module
checks their keys and values. A channel never holds a secret: a webhook's or a Teams workflow's URL is read from the
environment variable ``target_env`` names, and an SMTP password from the one ``password_env`` names, at send time; an
SNS topic ARN or an EventBridge bus (not secrets) may be given as ``target``; an e-mail channel's addresses and SMTP
host are settings.
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from typing import Any

from sextant.settings import AlertSettings, SettingsError, parse_duration

CHANNEL_TYPES = ("sns", "eventbridge", "webhook", "teams", "email")
EMAIL_VIA = ("ses", "smtp")
COMMON_KEYS = ("type", "rate_per_minute")
CHANNEL_KEYS = {"sns": ("target", "target_env", "region"), "eventbridge": ("target", "target_env", "region"),
                "webhook": ("target_env", "region"), "teams": ("target_env",),
                "email": ("via", "from", "to", "region", "host", "port", "starttls", "username", "password_env")}
SMTP_KEYS = ("host", "port", "starttls", "username", "password_env")
MAX_RECIPIENTS = 50  # SES's bound on the recipients of one message
SEVERITIES = ("critical", "warning", "info")
COMPARISONS = (">", ">=", "<", "<=", "=", "!=")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}", re.ASCII)
_ENV = re.compile(r"[A-Z_][A-Z0-9_]{0,127}", re.ASCII)
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}", re.ASCII)
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+", re.ASCII)
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\]", re.ASCII)
_BUS = re.compile(r"[A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]+",
                  re.ASCII)


class AlertConfigError(SettingsError):
    """A channel or user rule of ``[alerts]`` is wrong; the message names the key and the fix."""


@dataclass(frozen=True)
class Channel:
    """Where alerts go. ``target`` (SNS topic ARN, EventBridge bus) or ``target_env`` (the environment variable that
    holds it: always for a webhook or Teams, whose URL is a secret); ``rate_per_minute`` messages at most. An e-mail
    channel (``type = "email"``) has no target: it sends ``via`` SES or SMTP from ``sender`` to ``to``; over SMTP,
    ``host``, ``port``, ``starttls``, ``username`` and ``password_env`` (the variable that holds the password)."""

    name: str
    type: str
    target: str = ""
    target_env: str = ""
    rate_per_minute: int = 20
    region: str = ""  # SNS: the topic ARN's region by default; EventBridge, SES: the default region
    via: str = ""  # email: "ses" or "smtp"
    sender: str = ""  # email: the From address (``from`` in the settings)
    to: tuple[str, ...] = ()  # email: the recipients
    host: str = ""  # smtp
    port: int = 587
    starttls: bool = True
    username: str = ""
    password_env: str = ""

    def password(self) -> str:
        """The SMTP password, read now from ``password_env`` ("" when none is configured). Raises AlertConfigError
        naming the variable, never its value."""
        if not self.password_env:
            return ""
        value = os.environ.get(self.password_env, "")
        if not value:
            raise AlertConfigError(f"channel {self.name}: the SMTP password's environment variable "
                                   f"({self.password_env}) is not set")
        return value

    def secrets(self) -> list[str]:
        """Every secret value of the channel that is set now (its resolved target, its SMTP password), to strip
        from error texts. Never raises."""
        out = []
        for env in (self.target_env, self.password_env):
            value = os.environ.get(env, "").strip() if env else ""
            if value:
                out.append(value)
        return out

    def resolve(self) -> str:
        """The target, read now (from the environment for ``target_env``). Raises AlertConfigError naming the
        variable, never its value."""
        if self.target_env:
            value = os.environ.get(self.target_env, "").strip()
            if not value:
                raise AlertConfigError(f"channel {self.name}: the environment variable {self.target_env} is not set")
            return value
        return self.target


@dataclass(frozen=True)
class UserRule:
    """A rule of ``[alerts.rules.<name>]``: one read-only SELECT returning ``resource`` and ``value`` (and optionally
    account_id, region, team, endpoint_name), compared with ``threshold``."""

    name: str
    sql: str
    threshold: float
    comparison: str = ">"
    for_s: int = 0
    severity: str = "warning"
    description: str = ""
    channels: tuple[str, ...] = ()
    window: str = ""  # the window the value covers, in words (shown in messages)
    accounts: tuple[str, ...] = ()  # scope: only these account ids, teams, endpoints, projects (empty: all)
    teams: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()
    projects: tuple[str, ...] = ()  # matched against the query's project column


def _str(where: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise AlertConfigError(f"{where}.{key} = {value!r}: expected a quoted string")
    return value


def _strings(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise AlertConfigError(f'{where}.{key} = {value!r}: expected a list of strings, e.g. ["a", "b"]')
    return tuple(value)


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AlertConfigError(f"{where}.{key} = {value!r}: expected a number")
    return float(value)


def _known(where: str, table: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise AlertConfigError(f"[{where}] must be a table of keys ({', '.join(keys)})")
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise AlertConfigError(f"unknown key {where}.{unknown[0]}; known keys: {', '.join(keys)}")
    return table


def _check_name(where: str, name: str) -> None:
    if not _NAME.fullmatch(name):
        raise AlertConfigError(f"[{where}]: the name {name!r} must be lower-case letters, digits, - and _ "
                               "(up to 63 characters)")


def _env_name(where: str, key: str, value: str) -> None:
    if not _ENV.fullmatch(value):
        raise AlertConfigError(f"{where}.{key} = {value!r}: name an environment variable "
                               "(upper-case letters, digits and _)")


def _address(where: str, key: str, value: Any) -> str:
    address = _str(where, key, value).strip()
    if not _EMAIL.fullmatch(address) or len(address) > 254:
        raise AlertConfigError(f"{where}.{key} = {address!r}: expected an e-mail address, e.g. oncall@example.com")
    return address


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _email(where: str, t: dict[str, Any]) -> dict[str, Any]:
    """The e-mail keys of a channel, checked."""
    via = _str(where, "via", t.get("via", ""))
    if via not in EMAIL_VIA:
        raise AlertConfigError(f'{where}.via = {via!r}: must be "ses" (Amazon SES) or "smtp" (an SMTP server)')
    if "from" not in t:
        raise AlertConfigError(f'{where}: from is required (the sender address, e.g. from = "sextant@example.com")')
    sender = _address(where, "from", t["from"])
    if "to" not in t:
        raise AlertConfigError(f'{where}: to is required (the recipients, e.g. to = ["oncall@example.com"])')
    to = tuple(_address(where, "to", a) for a in _strings(where, "to", t["to"]))
    if not 1 <= len(to) <= MAX_RECIPIENTS:
        raise AlertConfigError(f"{where}.to: give between 1 and {MAX_RECIPIENTS} addresses, not {len(to)}")
    if via == "ses":
        extra = [k for k in SMTP_KEYS if k in t]
        if extra:
            raise AlertConfigError(f'{where}.{extra[0]}: an SMTP setting, but via = "ses" (SES needs no host or '
                                   "password: it uses the AWS credentials)")
        return {"via": via, "sender": sender, "to": to}
    if "region" in t:
        raise AlertConfigError(f'{where}.region: an AWS setting, but via = "smtp"')
    host = _str(where, "host", t.get("host", "")).strip()
    if not host:
        raise AlertConfigError(f'{where}: host is required with via = "smtp" (e.g. host = "smtp.example.com")')
    if not _HOST.fullmatch(host):
        raise AlertConfigError(f"{where}.host = {host!r}: expected a host name or address, without scheme or port")
    port = t.get("port", 587)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise AlertConfigError(f"{where}.port = {port!r}: must be a whole number between 1 and 65535")
    starttls = t.get("starttls", True)
    if not isinstance(starttls, bool):
        raise AlertConfigError(f"{where}.starttls = {starttls!r}: must be true or false")
    username = _str(where, "username", t.get("username", "")).strip()
    password_env = _str(where, "password_env", t.get("password_env", "")).strip()
    if password_env:
        _env_name(where, "password_env", password_env)
    if bool(username) != bool(password_env):
        raise AlertConfigError(f"{where}: give both username and password_env (the environment variable holding "
                               "the SMTP password; passwords are never kept in the settings), or neither")
    if password_env and not starttls and not _loopback(host):
        raise AlertConfigError(f"{where}.starttls = false: logging in needs STARTTLS (passwords are sent only "
                               "encrypted), unless the relay is on this machine (localhost)")
    return {"via": via, "sender": sender, "to": to, "host": host, "port": port, "starttls": starttls,
            "username": username, "password_env": password_env}


def channel(name: str, table: Any) -> Channel:
    where = f"alerts.channels.{name}"
    _check_name(where, name)
    if isinstance(table, dict) and "password" in table:
        raise AlertConfigError(f"{where}.password: no secret is kept in the settings; put the SMTP password's "
                               "value in an environment variable and name that variable in password_env, e.g. "
                               'password_env = "SEXTANT_SMTP_PASSWORD"')
    kind = _str(where, "type", _known(where, table, COMMON_KEYS + tuple(sorted(
        {k for keys in CHANNEL_KEYS.values() for k in keys}))).get("type", ""))
    if kind not in CHANNEL_TYPES:
        raise AlertConfigError(f"{where}.type = {kind!r}: must be one of {', '.join(map(repr, CHANNEL_TYPES))}")
    if kind in ("webhook", "teams") and "target" in table:
        raise AlertConfigError(f"{where}.target: a {'Teams workflow' if kind == 'teams' else 'webhook'} URL is a "
                               "secret and is never kept in the settings; put it in an environment variable and "
                               "name that variable in target_env, e.g. target_env = "
                               f'"SEXTANT_{kind.upper()}_WEBHOOK"')
    t = _known(where, table, COMMON_KEYS + CHANNEL_KEYS[kind])
    rate = t.get("rate_per_minute", 20)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 10000:
        raise AlertConfigError(f"{where}.rate_per_minute = {rate!r}: must be a whole number between 1 and 10000")
    region = _str(where, "region", t.get("region", "")).strip()
    if kind == "email":
        return Channel(name, kind, rate_per_minute=rate, region=region, **_email(where, t))
    target = _str(where, "target", t.get("target", "")).strip()
    target_env = _str(where, "target_env", t.get("target_env", "")).strip()
    if bool(target) == bool(target_env):
        if kind in ("webhook", "teams"):
            raise AlertConfigError(f"{where}: target_env is required (the environment variable that holds the URL)")
        raise AlertConfigError(f"{where}: give exactly one of target (the topic ARN or bus name) or target_env (the "
                               "environment variable that holds it)")
    if target_env:
        _env_name(where, "target_env", target_env)
    if kind == "sns" and target and not _SNS_ARN.fullmatch(target):
        raise AlertConfigError(f"{where}.target = {target!r}: expected a topic ARN, "
                               "e.g. arn:aws:sns:us-east-1:123456789012:oncall")
    if kind == "eventbridge" and target and not _BUS.fullmatch(target):
        raise AlertConfigError(f"{where}.target = {target!r}: expected an event bus name or ARN")
    return Channel(name, kind, target, target_env, rate, region)


RULE_KEYS = ("sql", "threshold", "comparison", "for", "severity", "description", "channels", "window", "accounts",
             "teams", "endpoints", "projects")


def user_rule(name: str, table: Any, channel_names: set[str]) -> UserRule:
    where = f"alerts.rules.{name}"
    _check_name(where, name)
    t = _known(where, table, RULE_KEYS)
    for key in ("sql", "threshold"):
        if key not in t:
            raise AlertConfigError(f"{where}: {key} is required")
    sql = _str(where, "sql", t["sql"])
    comparison = _str(where, "comparison", t.get("comparison", ">"))
    if comparison not in COMPARISONS:
        raise AlertConfigError(f"{where}.comparison = {comparison!r}: must be one of {', '.join(COMPARISONS)}")
    severity = _str(where, "severity", t.get("severity", "warning"))
    if severity not in SEVERITIES:
        raise AlertConfigError(f"{where}.severity = {severity!r}: must be one of {', '.join(SEVERITIES)}")
    try:
        for_s = parse_duration(t.get("for", "0s"))
    except SettingsError as exc:
        raise AlertConfigError(f"{where}.for: {exc}") from None
    channels = _strings(where, "channels", t.get("channels", []))
    unknown = [c for c in channels if c not in channel_names]
    if unknown:
        raise AlertConfigError(f"{where}.channels names unknown channel(s) {', '.join(unknown)}; known: "
                               f"{', '.join(sorted(channel_names)) or 'none ([alerts.channels.<name>])'}")
    from alerts.rules import check_sql  # the rule's SQL is checked where rules are run

    check_sql(sql, where)
    return UserRule(name, sql, _number(where, "threshold", t["threshold"]), comparison, for_s, severity,
                    _str(where, "description", t.get("description", "")), channels,
                    _str(where, "window", t.get("window", "")), _strings(where, "accounts", t.get("accounts", [])),
                    _strings(where, "teams", t.get("teams", [])), _strings(where, "endpoints", t.get("endpoints", [])),
                    _strings(where, "projects", t.get("projects", [])))


@dataclass(frozen=True)
class AlertConfig:
    """``[alerts]`` checked: the settings, the channels by name and the user rules."""

    settings: AlertSettings
    channels: dict[str, Channel]
    rules: tuple[UserRule, ...]


def config(settings: AlertSettings) -> AlertConfig:
    """Check ``[alerts]``; raises AlertConfigError naming the key and the fix."""
    channels = {name: channel(name, table) for name, table in settings.channels.items()}
    unknown = [c for c in settings.default_channels if c not in channels]
    if unknown:
        raise AlertConfigError(f"alerts.default_channels names unknown channel(s) {', '.join(unknown)}; known: "
                               f"{', '.join(sorted(channels)) or 'none'}")
    from alerts.rules import BUILTIN_NAMES

    off = [r for r in settings.disabled_rules if r not in BUILTIN_NAMES]
    if off:
        raise AlertConfigError(f"alerts.disabled_rules names unknown rule(s) {', '.join(off)}; built-in rules: "
                               f"{', '.join(BUILTIN_NAMES)}")
    rules = tuple(user_rule(name, table, set(channels)) for name, table in settings.rules.items())
    clash = [r.name for r in rules if r.name in BUILTIN_NAMES]
    if clash:
        raise AlertConfigError(f"[alerts.rules.{clash[0]}]: a built-in rule has that name; choose another")
    if settings.base_url and not settings.base_url.startswith(("https://", "http://")):
        raise AlertConfigError(f"alerts.base_url = {settings.base_url!r}: must start with https:// or http://")
    return AlertConfig(settings, channels, rules)
