"""The ``[alerts]`` settings, checked: channels and user rules as typed objects, every mistake a clear message.

``sextant.settings`` reads ``[alerts.channels.<name>]`` and ``[alerts.rules.<name>]`` as plain tables; this module
checks their keys and values. A channel never holds a secret: a webhook's URL is read from the environment variable
``target_env`` names, at send time; an SNS topic ARN or an EventBridge bus (not secrets) may be given as ``target``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from sextant.settings import AlertSettings, SettingsError, parse_duration

CHANNEL_TYPES = ("sns", "eventbridge", "webhook")
SEVERITIES = ("critical", "warning", "info")
COMPARISONS = (">", ">=", "<", "<=", "=", "!=")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}", re.ASCII)
_ENV = re.compile(r"[A-Z_][A-Z0-9_]{0,127}", re.ASCII)
_SNS_ARN = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}", re.ASCII)
_BUS = re.compile(r"[A-Za-z0-9._/-]{1,256}|arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/[A-Za-z0-9._/-]+",
                  re.ASCII)


class AlertConfigError(SettingsError):
    """A channel or user rule of ``[alerts]`` is wrong; the message names the key and the fix."""


@dataclass(frozen=True)
class Channel:
    """Where alerts go. ``target`` (SNS topic ARN, EventBridge bus) or ``target_env`` (the environment variable that
    holds it: always for a webhook, whose URL is a secret); ``rate_per_minute`` messages at most."""

    name: str
    type: str
    target: str = ""
    target_env: str = ""
    rate_per_minute: int = 20
    region: str = ""  # SNS: the topic ARN's region by default; EventBridge: the default region

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
    accounts: tuple[str, ...] = ()  # scope: only these account ids, teams, endpoints (empty: all)
    teams: tuple[str, ...] = ()
    endpoints: tuple[str, ...] = ()


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


def channel(name: str, table: Any) -> Channel:
    where = f"alerts.channels.{name}"
    _check_name(where, name)
    t = _known(where, table, ("type", "target", "target_env", "rate_per_minute", "region"))
    kind = _str(where, "type", t.get("type", ""))
    if kind not in CHANNEL_TYPES:
        raise AlertConfigError(f"{where}.type = {kind!r}: must be one of {', '.join(map(repr, CHANNEL_TYPES))}")
    target = _str(where, "target", t.get("target", "")).strip()
    target_env = _str(where, "target_env", t.get("target_env", "")).strip()
    if kind == "webhook" and target:
        raise AlertConfigError(f"{where}.target: a webhook URL is a secret and is never kept in the settings; put it "
                               "in an environment variable and name that variable in target_env, e.g. "
                               'target_env = "SEXTANT_SLACK_WEBHOOK"')
    if bool(target) == bool(target_env):
        raise AlertConfigError(f"{where}: give exactly one of target (the topic ARN or bus name) or target_env (the "
                               "environment variable that holds it)")
    if target_env and not _ENV.fullmatch(target_env):
        raise AlertConfigError(f"{where}.target_env = {target_env!r}: name an environment variable "
                               "(upper-case letters, digits and _)")
    if kind == "sns" and target and not _SNS_ARN.fullmatch(target):
        raise AlertConfigError(f"{where}.target = {target!r}: expected a topic ARN, "
                               "e.g. arn:aws:sns:us-east-1:123456789012:oncall")
    if kind == "eventbridge" and target and not _BUS.fullmatch(target):
        raise AlertConfigError(f"{where}.target = {target!r}: expected an event bus name or ARN")
    rate = t.get("rate_per_minute", 20)
    if isinstance(rate, bool) or not isinstance(rate, int) or not 1 <= rate <= 10000:
        raise AlertConfigError(f"{where}.rate_per_minute = {rate!r}: must be a whole number between 1 and 10000")
    region = _str(where, "region", t.get("region", "")).strip()
    return Channel(name, kind, target, target_env, rate, region)


RULE_KEYS = ("sql", "threshold", "comparison", "for", "severity", "description", "channels", "window", "accounts",
             "teams", "endpoints")


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
                    _strings(where, "teams", t.get("teams", [])), _strings(where, "endpoints", t.get("endpoints", [])))


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
