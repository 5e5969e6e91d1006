"""What a message says: the resource, value, rule, window and link; strings from AWS stay text."""

from __future__ import annotations

from datetime import UTC, datetime

from alerts import messages, rules

RULE = rules.Rule("endpoint_5xx_rate", "5xx share", "critical", "SELECT 1", 0.05, ">", 0, "the last hour", "ratio")
ALERT = {"rule": "endpoint_5xx_rate", "resource": "1/r/<!channel> & *bold*", "episode": 3, "value": 0.125,
         "account_id": "1", "region": "r", "team": "risk", "endpoint_name": "a b/c?d", "name": "a b/c?d",
         "started_at": datetime(2026, 11, 20, 12, tzinfo=UTC)}


def test_a_message_names_resource_value_rule_window_and_link():
    d = messages.detail(ALERT, RULE, "fired", "https://sextant.example.com/")
    assert d["url"] == "https://sextant.example.com/endpoints?endpoint=a%20b%2Fc%3Fd"
    assert d["id"] == "endpoint_5xx_rate|1/r/<!channel> & *bold*|3|fired" and d["status"] == "firing"
    body = messages.text(d)
    for part in ("FIRING (critical)", "Resource: 1/r/<!channel> & *bold*", "Value: 12.50 % (threshold > 5.00 %)",
                 "Rule: endpoint_5xx_rate", "Window: the last hour", "Team: risk", d["url"]):
        assert part in body
    resolved = messages.text(messages.detail({**ALERT, "value": 0.01}, RULE, "resolved", ""))
    assert resolved.startswith("RESOLVED") and "1.00 %" in resolved and "Open in Sextant" not in resolved


def test_slack_payloads_keep_aws_strings_as_text():
    payload = messages.slack(messages.detail(ALERT, RULE, "fired", "https://sextant.example.com"))
    assert "<!channel>" not in payload["text"] and "&lt;!channel&gt; &amp; *bold*" in payload["text"]
    assert {b["text"]["type"] for b in payload["blocks"] if "text" in b} == {"plain_text"}
    assert payload["blocks"][2]["elements"][0]["url"].startswith("https://sextant.example.com/endpoints?")


def test_an_sns_subject_is_one_printable_line_of_at_most_100_characters():
    d = messages.detail({**ALERT, "resource": "x\n" * 80}, RULE, "fired", "")
    subject = messages.subject(d)
    assert len(subject) <= 100 and "\n" not in subject and subject.startswith("[FIRING] endpoint_5xx_rate: x")


def _unescape(s: str) -> str:
    """CommonMark's reading of backslash escapes (what Teams shows for an escaped text)."""
    out, chars = [], iter(s)
    for c in chars:
        out.append(next(chars) if c == "\\" else c)
    return "".join(out)


def test_a_teams_card_names_resource_value_rule_window_and_link_with_aws_strings_escaped():
    d = messages.detail({**ALERT, "resource": "1/r/[x](https://evil.example) <b>*y*</b>\x07"}, RULE, "fired",
                        "https://sextant.example.com")
    payload = messages.teams(d)
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["body"][0]["type"] == "TextBlock"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert _unescape(facts["Resource"]) == "1/r/[x](https://evil.example) <b>*y*</b> "  # the bell is a space
    assert "[x](" not in facts["Resource"] and "<b>" not in facts["Resource"] and "*y*" not in facts["Resource"]
    assert _unescape(facts["Value"]) == "12.50 % (threshold > 5.00 %)"
    assert _unescape(facts["Rule"]) == "endpoint_5xx_rate" and _unescape(facts["Window"]) == "the last hour"
    assert facts["Status"] == "FIRING" and _unescape(facts["Team"]) == "risk"
    assert _unescape(card["body"][0]["text"]).startswith("[FIRING] endpoint_5xx_rate: 1/r/[x]")
    assert card["actions"] == [{"type": "Action.OpenUrl", "title": "Open in Sextant", "url": d["url"]}]
    assert d["url"].startswith("https://sextant.example.com/endpoints?")
    every_text = [b.get("text", "") for b in card["body"]] + list(facts.values())
    assert all(c == "\n" or c.isprintable() for t in every_text for c in t)


def test_a_resolved_teams_card_says_so_and_has_no_button_without_a_base_url():
    card = messages.teams(messages.detail({**ALERT, "value": 0.01}, RULE, "resolved", ""))["attachments"][0]["content"]
    facts = {f["title"]: _unescape(f["value"]) for f in card["body"][2]["facts"]}
    assert facts["Status"] == "RESOLVED" and facts["Value"] == "1.00 % (was over > 5.00 %)"
    assert "actions" not in card and _unescape(card["body"][0]["text"]).startswith("[RESOLVED]")
