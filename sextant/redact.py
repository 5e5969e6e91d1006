"""Credentials out of every error text before it is logged, stored, audited or shown.

AWS signature errors quote the canonical request (with the ``x-amz-security-token`` header) and the string to
sign; URLs carry ``X-Amz-Security-Token=``; some SDK messages repeat a session token or a secret key. Every
error path of the product (the collector's run rows and log, the action service's outcomes and audit rows, the
pages) passes its text through :func:`redact`.
"""

from __future__ import annotations

import re

REDACTED = "[redacted]"
_SIGNATURE_DUMP = re.compile(
    r"(The (Canonical String for this request|String-to-Sign) should have been).*", re.IGNORECASE | re.DOTALL)
_NAMED = re.compile(
    r"(?P<name>x-amz-security-token|aws_session_token|sessiontoken|security_token|aws_secret_access_key|"
    r"secretaccesskey|x-amz-signature|signature|authorization|credential|password)"
    r"(?P<sep>\s*[=:]\s*['\"]?|\s+)(?P<value>[^\s&'\",;]+)", re.IGNORECASE)
_LONG_SECRETISH = re.compile(r"[A-Za-z0-9+/]{80,}={0,2}")  # session tokens are hundreds of base64 characters
_SECRET_KEY = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/])")  # a secret access key's shape


def redact(text: object) -> str:
    """``text`` with credentials and signature dumps removed; safe to log, store and show."""
    s = str(text)
    s = _SIGNATURE_DUMP.sub(lambda m: f"{m.group(1)} {REDACTED} (canonical request and string to sign removed)", s)
    s = _NAMED.sub(lambda m: f"{m.group('name')}{m.group('sep')}{REDACTED}", s)
    s = _LONG_SECRETISH.sub(REDACTED, s)
    return _SECRET_KEY.sub(REDACTED, s)
