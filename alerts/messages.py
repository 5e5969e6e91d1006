"""What an alert says: one subject line, a plain-text body, the event detail (docs/ALERTS.md: the EventBridge schema),
a Slack payload and a Microsoft Teams one. Strings from AWS (resource names, tag values) stay text: Slack's control
characters are escaped and the blocks are plain_text, never mrkdwn; an Adaptive Card has no plain-text block, so every
Markdown character of a Teams text is escaped with a backslash (CommonMark's escape for ASCII punctuation)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

DETAIL_TYPE = "Sextant Alert"
EVENT_SOURCE = "sextant.alerts"
SCHEMA_VERSION = "1"


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "no value"
    if unit == "ratio":
        return f"{value * 100:.2f} %"
    if unit == "USD":
        return f"${value:,.2f}"
    if unit == "x":
        return f"{value:.2f}x"
    number = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.3g}"
    return f"{number} {unit}".strip()


def _iso(when: object) -> str | None:
    return when.isoformat() if isinstance(when, datetime) else None


def detail(alert: dict[str, Any], rule: Any, kind: str, base_url: str) -> dict[str, Any]:
    """The message as data (the EventBridge event's ``detail``; also what the text is made of)."""
    path = rule.path({**alert, "name": alert.get("name")})
    url = f"{base_url.rstrip('/')}/{path}" if base_url and path else (base_url.rstrip("/") or None)
    return {
        "schema_version": SCHEMA_VERSION,
        "id": f"{alert['rule']}|{alert['resource']}|{alert['episode']}|{kind}",
        "status": "firing" if kind == "fired" else "resolved",
        "rule": rule.name,
        "description": rule.description,
        "severity": rule.severity,
        "resource": alert["resource"],
        "value": alert.get("value"),
        "value_text": format_value(alert.get("value"), rule.unit),
        "threshold": rule.threshold,
        "threshold_text": format_value(rule.threshold, rule.unit),
        "comparison": rule.comparison,
        "window": rule.window,
        "account_id": alert.get("account_id"),
        "region": alert.get("region"),
        "team": alert.get("team"),
        "endpoint_name": alert.get("endpoint_name"),
        "episode": alert["episode"],
        "started_at": _iso(alert.get("started_at")),
        "fired_at": _iso(alert.get("fired_at")),
        "resolved_at": _iso(alert.get("resolved_at")),
        "url": url,
    }


def subject(d: dict[str, Any]) -> str:
    """One line, at most 100 characters (SNS's subject bound), no control characters."""
    head = "FIRING" if d["status"] == "firing" else "RESOLVED"
    line = f"[{head}] {d['rule']}: {d['resource']} {d['value_text']}"
    line = "".join(c if c.isprintable() else " " for c in line)
    return line if len(line) <= 100 else line[:99] + "…"


def text(d: dict[str, Any]) -> str:
    """The message as plain text: resource, value, rule, window and the link."""
    head = "FIRING" if d["status"] == "firing" else "RESOLVED"
    lines = [f"{head} ({d['severity']}): {d['description']}",
             f"Resource: {d['resource']}",
             f"Value: {d['value_text']} ({'threshold' if d['status'] == 'firing' else 'was over'} "
             f"{d['comparison']} {d['threshold_text']})",
             f"Rule: {d['rule']}",
             f"Window: {d['window'] or 'the last evaluation'}"]
    lines += [f"Account: {d['account_id']} {d['region'] or ''}".rstrip()] if d.get("account_id") else []
    lines += [f"Team: {d['team']}"] if d.get("team") else []
    lines += [f"Since: {d['started_at']}"] if d.get("started_at") else []
    lines += [f"Resolved: {d['resolved_at']}"] if d.get("resolved_at") else []
    lines += [f"Open in Sextant: {d['url']}"] if d.get("url") else []
    return "\n".join(lines)


def _slack_escape(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack(d: dict[str, Any]) -> dict[str, Any]:
    """A Slack incoming-webhook payload: a fallback ``text`` (escaped) and plain_text blocks, a button to Sextant."""
    body = text(d)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": subject(d)[:150]}},
        {"type": "section", "text": {"type": "plain_text", "text": body[:2900]}},
    ]
    if d.get("url"):
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Open in Sextant"}, "url": d["url"][:3000]}]})
    return {"text": _slack_escape(subject(d)), "blocks": blocks}


_MARKDOWN = frozenset("\\`*_{}[]()<>#+-.!|~&")


def _teams_escape(s: object) -> str:
    """``s`` as literal text in an Adaptive Card TextBlock or fact: Markdown and HTML characters escaped, control
    characters (other than a newline) replaced by a space."""
    out = []
    for c in str(s):
        if c in _MARKDOWN:
            out.append("\\" + c)
        elif c == "\n" or c.isprintable():
            out.append(c)
        else:
            out.append(" ")
    return "".join(out)


def teams(d: dict[str, Any]) -> dict[str, Any]:
    """A Microsoft Teams message (a Workflows webhook's or an incoming webhook's body): one Adaptive Card with the
    summary, the description, the facts (resource, value, rule, window, account, team, since / resolved) and a button
    to Sextant. Every string is escaped (:func:`_teams_escape`); the link is only the configured base URL's."""
    firing = d["status"] == "firing"
    facts = [("Status", "FIRING" if firing else "RESOLVED"), ("Severity", d["severity"]),
             ("Resource", d["resource"]),
             ("Value", f"{d['value_text']} ({'threshold' if firing else 'was over'} {d['comparison']} "
                       f"{d['threshold_text']})"),
             ("Rule", d["rule"]), ("Window", d["window"] or "the last evaluation")]
    facts += [("Account", f"{d['account_id']} {d['region'] or ''}".rstrip())] if d.get("account_id") else []
    facts += [("Team", d["team"])] if d.get("team") else []
    facts += [("Since", d["started_at"])] if d.get("started_at") else []
    facts += [("Resolved", d["resolved_at"])] if d.get("resolved_at") else []
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": _teams_escape(subject(d)), "weight": "Bolder", "size": "Medium", "wrap": True,
         "color": "Attention" if firing else "Good"},
        {"type": "TextBlock", "text": _teams_escape(d.get("description") or ""), "wrap": True, "isSubtle": True},
        {"type": "FactSet", "facts": [{"title": t, "value": _teams_escape(v)} for t, v in facts]},
    ]
    card: dict[str, Any] = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                            "version": "1.4", "body": body}
    if d.get("url"):
        card["actions"] = [{"type": "Action.OpenUrl", "title": "Open in Sextant", "url": d["url"]}]
    return {"type": "message", "summary": subject(d),
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}
