"""Who is looking, and what they may do: viewer, operator or admin.

Identity, first match wins (``identify``, a pure function: the Streamlit wrapper ``current_actor`` feeds it
the request's headers, ``st.user``, the settings, the environment and whether the server is bound to loopback):

1. ``st.user`` when ``st.login`` (OIDC) is configured in ``.streamlit/secrets.toml`` and the user signed in;
2. behind an AWS Application Load Balancer (``[auth] alb_arn``): the ``x-amzn-oidc-data`` header, believed
   only when it is a JWT signed ES256 by that ALB (the ``signer`` in its header), with the key the region's
   public-key endpoint gives for its ``kid``, and not expired;
3. a trusted header set by a reverse proxy (``[auth] trusted_header``, e.g. ``X-Forwarded-Email``), believed
   only when the request also carries ``[auth] proxy_secret_header`` equal to ``$SEXTANT_PROXY_SECRET`` and the
   identity header appears exactly once (a proxy that appends instead of replacing would otherwise be bypassed);
4. the single local admin of a demo (``[auth] local_admin = true`` or ``SEXTANT_LOCAL_ADMIN=1``), refused
   unless the server listens on loopback only.

A header that is present but does not verify makes the visitor an anonymous viewer: it never falls through to
a weaker method. Roles come from ``[auth] admins`` / ``operators`` (e-mails or names, compared without case)
and from the identity's group claim (``groups_claim``) matched against ``admin_groups`` / ``operator_groups``;
everyone else is a viewer. The action layer trusts the ``Actor`` it is given, so every role decision is here.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import json
import logging
import os
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from actions.roles import Actor
from sextant.settings import Settings

log = logging.getLogger("sextant.auth")

ALB_HEADER = "x-amzn-oidc-data"
PROXY_SECRET_ENV = "SEXTANT_PROXY_SECRET"
ANONYMOUS = Actor("anonymous", "viewer")
LOCAL_ADMIN = Actor("local-admin", "admin")
CLOCK_SKEW_S = 30

Headers = Mapping[str, list[str]]  # header name -> every value it was sent with, in order
KeyFetcher = Callable[[str, str], bytes]  # (region, kid) -> the PEM public key


class InvalidToken(Exception):
    """The ALB header did not verify; the message says why (for the server log, never for the page)."""


# ----------------------------------------------------------------------------------- the pure core
def identify(headers: Headers, oidc_user: Mapping[str, Any] | None, settings: Settings, env: Mapping[str, str],
             bound_to_loopback: bool, *, fetch_key: KeyFetcher | None = None, now: float | None = None,
             own_port: int | None = None) -> Actor:
    """The actor for one request. No Streamlit, no network unless the ALB's key is not cached (``fetch_key``).

    ``own_port``: the port the server listens on. Streamlit's websocket accepts an ``Origin`` of any port on
    localhost, so a page served by another local program could open this app's websocket; the local admin is
    given only to a browser page of this server itself (its ``Origin`` a loopback host on ``own_port``)."""
    auth = settings.auth
    headers = _lower(headers)
    if oidc_user and oidc_user.get("is_logged_in", True):
        name = _text(oidc_user.get("email")) or _text(oidc_user.get("name")) or _text(oidc_user.get("sub"))
        if name:
            listed = oidc_user.get("email_verified") is not False  # an unverified e-mail names, but earns no role
            return Actor(name, role_for(name if listed else "", _groups(oidc_user.get(auth.groups_claim)), settings))
    if auth.alb_arn and ALB_HEADER in headers:
        return _from_alb(headers[ALB_HEADER], settings, fetch_key or fetch_alb_key,
                         time.time() if now is None else now)
    if auth.trusted_header and auth.trusted_header.lower() in headers:
        return _from_proxy(headers, settings, env)
    if auth.local_admin:
        if bound_to_loopback and _own_origin(headers.get("origin", []), own_port):
            return LOCAL_ADMIN
        if bound_to_loopback:
            _warn_once("local_admin is refused to a page of another origin (a different port or host): it is a "
                       "viewer")
            return ANONYMOUS
        _warn_once("local_admin is refused: the server is not bound to loopback (server.address); "
                   "everyone is a viewer")
    return ANONYMOUS


def role_for(name: str, groups: Iterable[str], settings: Settings) -> str:
    """admin / operator / viewer from the lists (e-mails or names, without case) and the group claim."""
    auth, who, groups = settings.auth, name.casefold(), set(groups)
    if who and who in {n.casefold() for n in auth.admins} or groups & set(auth.admin_groups):
        return "admin"
    if who and who in {n.casefold() for n in auth.operators} or groups & set(auth.operator_groups):
        return "operator"
    return "viewer"


def _from_alb(values: list[str], settings: Settings, fetch_key: KeyFetcher, now: float) -> Actor:
    if len(values) != 1:
        _warn(f"{ALB_HEADER} sent {len(values)} times: ignored, the visitor is a viewer")
        return ANONYMOUS
    try:
        claims = verify_alb_token(values[0], settings.auth.alb_arn, fetch_key, now)
    except InvalidToken as exc:
        _warn(f"{ALB_HEADER} refused ({exc}): the visitor is a viewer")
        return ANONYMOUS
    name = _text(claims.get("email")) or _text(claims.get("sub"))
    if not name:
        return ANONYMOUS
    return Actor(name, role_for(name, _groups(claims.get(settings.auth.groups_claim)), settings))


def _from_proxy(headers: Headers, settings: Settings, env: Mapping[str, str]) -> Actor:
    auth = settings.auth
    values = headers[auth.trusted_header.lower()]
    secret = env.get(PROXY_SECRET_ENV, "")
    sent = headers.get(auth.proxy_secret_header.lower(), [])
    if not secret:
        _warn_once(f"[auth] trusted_header = {auth.trusted_header!r} is ignored: {PROXY_SECRET_ENV} is not set, so "
                   "the proxy cannot be told from any other client")
        return ANONYMOUS
    if len(sent) != 1 or not hmac.compare_digest(sent[0].encode(), secret.encode()):
        _warn(f"{auth.trusted_header} without the proxy's secret ({auth.proxy_secret_header}): the visitor is a viewer")
        return ANONYMOUS
    if len(values) != 1:
        _warn(f"{auth.trusted_header} sent {len(values)} times: ignored, the visitor is a viewer")
        return ANONYMOUS
    name = values[0].strip()
    if not name or "," in name or len(name) > 320 or not name.isprintable():  # a comma: two values joined
        return ANONYMOUS
    return Actor(name, role_for(name, (), settings))


def _lower(headers: Headers) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in headers.items():
        out.setdefault(k.lower(), []).extend([v] if isinstance(v, str) else list(v))
    return out


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _groups(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple):
        return tuple(v for v in value if isinstance(v, str))
    return ()


# ----------------------------------------------------------------------------------- the ALB's signed header
_ALB_ARN = re.compile(r"arn:(aws|aws-us-gov):elasticloadbalancing:([a-z0-9-]+):\d{12}:loadbalancer/app/[\w.-]+/\w+")
_KID = re.compile(r"[A-Za-z0-9-]{1,128}")
_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


def alb_key_url(alb_arn: str, kid: str) -> str:
    """Where AWS publishes the public key ``kid`` of the ALB's region (GovCloud keys are on S3)."""
    m = _ALB_ARN.fullmatch(alb_arn)
    if not m:
        raise InvalidToken(f"[auth] alb_arn {alb_arn!r} is not an Application Load Balancer ARN")
    if not _KID.fullmatch(kid):
        raise InvalidToken("the key id is not a plain identifier")
    partition, region = m.groups()
    if partition == "aws-us-gov":
        return f"https://s3-{region}.amazonaws.com/aws-elb-public-keys-prod-{region}/{kid}"
    return f"https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"


def _b64(segment: str) -> bytes:
    """base64url, with or without padding (the ALB pads its segments; other JWTs do not)."""
    if not _B64URL.fullmatch(segment):
        raise InvalidToken("not base64url")
    body = segment.rstrip("=")
    try:
        return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError as exc:
        raise InvalidToken("not base64url") from exc


def _json(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(segment))
    except (ValueError, RecursionError) as exc:
        raise InvalidToken("not JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken("not a JSON object")
    return value


def verify_alb_token(token: str, alb_arn: str, fetch_key: KeyFetcher, now: float) -> dict[str, Any]:
    """The claims of an ``x-amzn-oidc-data`` JWT, or ``InvalidToken``: the algorithm must be ES256, the signer
    the configured ALB, the key the one AWS publishes for its ``kid``, the signature valid and ``exp`` ahead."""
    parts = token.strip().split(".")
    if len(parts) != 3 or len(token) > 16_384:
        raise InvalidToken("not a JWT")
    header, claims, signature = _json(parts[0]), _json(parts[1]), _b64(parts[2])
    if header.get("alg") != "ES256":
        raise InvalidToken(f"algorithm {str(header.get('alg'))[:20]!r}, expected ES256")
    signer = header.get("signer")
    if not isinstance(signer, str) or not hmac.compare_digest(signer.encode(), alb_arn.encode()):
        raise InvalidToken("signed by another load balancer")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise InvalidToken("no key id")
    key = _public_key(alb_arn, kid, fetch_key)
    if len(signature) != 64:  # JWS ES256: r and s, 32 bytes each
        raise InvalidToken("not an ES256 signature")
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise InvalidToken("bad signature") from exc
    expiries = [v for v in (header.get("exp"), claims.get("exp")) if v is not None]
    if not expiries:
        raise InvalidToken("no expiry")
    for exp in expiries:
        if isinstance(exp, bool) or not isinstance(exp, int | float) or exp + CLOCK_SKEW_S < now:
            raise InvalidToken("expired")
    return claims


_keys: dict[tuple[str, KeyFetcher], ec.EllipticCurvePublicKey] = {}
_misses: dict[tuple[str, KeyFetcher], float] = {}  # a kid that failed to fetch, and when: not refetched for a minute
_keys_lock = threading.Lock()


def _public_key(alb_arn: str, kid: str, fetch_key: KeyFetcher) -> ec.EllipticCurvePublicKey:
    url = alb_key_url(alb_arn, kid)
    cache_key = (url, fetch_key)  # per fetcher: a test's fake key never answers for another fetcher
    with _keys_lock:
        if cache_key in _keys:
            return _keys[cache_key]
        if time.monotonic() - _misses.get(cache_key, -1e9) < 60:
            raise InvalidToken("unknown key id (recently failed)")
    try:
        key = serialization.load_pem_public_key(fetch_key(alb_key_url_region(alb_arn), kid))
    except Exception as exc:  # network, HTTP error, not a PEM key
        with _keys_lock:
            if len(_misses) > 1024:
                _misses.clear()
            _misses[cache_key] = time.monotonic()
        raise InvalidToken(f"no public key for this key id ({type(exc).__name__})") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise InvalidToken("the published key is not a P-256 key")
    with _keys_lock:
        if len(_keys) > 256:
            _keys.clear()
        _keys[cache_key] = key
    return key


def alb_key_url_region(alb_arn: str) -> str:
    m = _ALB_ARN.fullmatch(alb_arn)
    if not m:
        raise InvalidToken(f"[auth] alb_arn {alb_arn!r} is not an Application Load Balancer ARN")
    return m.group(2)


def fetch_alb_key(region: str, kid: str) -> bytes:
    """The PEM public key AWS publishes for ``kid`` (the seam tests replace: they pass ``fetch_key``)."""
    partition = "aws-us-gov" if region.startswith("us-gov-") else "aws"
    url = alb_key_url(f"arn:{partition}:elasticloadbalancing:{region}:000000000000:loadbalancer/app/x/0", kid)
    with urllib.request.urlopen(url, timeout=5) as response:  # https, a fixed AWS host
        return bytes(response.read(16_384))


# ----------------------------------------------------------------------------------- warnings, once
_warned: set[str] = set()
_last_warned: dict[str, float] = {}


def _warn(message: str) -> None:
    """A refused identity, logged at most once a minute per kind of refusal: a client that forges a header on
    every rerun does not flood the log."""
    now = time.monotonic()
    if now - _last_warned.get(message, -1e9) >= 60:
        if len(_last_warned) > 256:
            _last_warned.clear()
        _last_warned[message] = now
        log.warning(message)


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)


def startup_warnings(settings: Settings, env: Mapping[str, str]) -> list[str]:
    """What the server log should say at start about where identities come from."""
    auth, out = settings.auth, []
    if auth.alb_arn and not _ALB_ARN.fullmatch(auth.alb_arn):
        out.append(f"[auth] alb_arn = {auth.alb_arn!r} is not an Application Load Balancer ARN "
                   "(arn:aws:elasticloadbalancing:REGION:ACCOUNT:loadbalancer/app/NAME/ID): no ALB header is believed")
    elif auth.alb_arn:
        out.append(f"identity comes from the {ALB_HEADER} header, verified against the ALB {auth.alb_arn}: make "
                   "sure only the load balancer can reach this server")
    if auth.trusted_header:
        if env.get(PROXY_SECRET_ENV):
            out.append(f"identity comes from the {auth.trusted_header} header, believed only with the proxy's "
                       f"secret in {auth.proxy_secret_header}: make sure only the proxy can reach this server and "
                       "that it replaces both headers on every request")
        else:
            out.append(f"[auth] trusted_header = {auth.trusted_header!r} is ignored: set {PROXY_SECRET_ENV} to the "
                       f"secret the proxy sends in {auth.proxy_secret_header}")
    return out


# ----------------------------------------------------------------------------------- the Streamlit wrapper
def _own_origin(origins: list[str], own_port: int | None) -> bool:
    """No ``Origin`` (a client on this machine that is not a browser page), or exactly one that names a loopback
    host on this server's port."""
    if not origins:
        return True
    if len(origins) != 1:
        return False
    url = urllib.parse.urlsplit(origins[0].strip())
    try:
        port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    except ValueError:
        return False
    return is_loopback(url.hostname or "") and (own_port is None or port == own_port)


def is_loopback(address: str) -> bool:
    address = (address or "").strip().strip("[]")
    if address.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # "" (every interface), a host name, a unix socket behind who knows what


def bound_to_loopback() -> bool:
    """Whether only this machine can reach the server. Without a server (AppTest, bare ``python app.py``) nothing
    listens, so nothing on the network can reach the script: treated as loopback."""
    import streamlit as st
    from streamlit import runtime

    if not runtime.exists():
        return True
    return is_loopback(str(st.get_option("server.address") or ""))


def request_headers() -> dict[str, list[str]]:
    import streamlit as st

    try:
        h = st.context.headers
        return {k: h.get_all(k) for k in h}
    except Exception:  # no request (bare mode)
        return {}


def oidc_configured() -> bool:
    import streamlit as st

    try:
        return "auth" in st.secrets
    except Exception:  # no secrets.toml
        return False


def oidc_user() -> dict[str, Any] | None:
    import streamlit as st

    try:
        if st.user.is_logged_in:
            return dict(st.user.to_dict())
    except Exception:  # st.user needs auth configured; without it there is no OIDC identity
        return None
    return None


def current_actor(settings: Settings | None = None) -> Actor:
    from sextant.settings import load

    settings = settings or load()
    return identify(request_headers(), oidc_user(), settings, os.environ, bound_to_loopback(), own_port=_own_port())


def _own_port() -> int | None:
    import streamlit as st
    from streamlit import runtime

    return int(st.get_option("server.port")) if runtime.exists() else None


def log_startup_warnings(settings: Settings) -> None:
    for line in startup_warnings(settings, os.environ):
        _warn_once(line)


# ----------------------------------------------------------------------------------- what the shell shows
def is_anonymous(actor: Actor) -> bool:
    return actor == ANONYMOUS


def sign_in_gate(settings: Settings) -> Actor:
    """The visitor, or (with ``[auth] require_sign_in``) a sign-in prompt and nothing else for an anonymous one."""
    import streamlit as st

    log_startup_warnings(settings)
    actor = current_actor(settings)
    if settings.auth.require_sign_in and is_anonymous(actor):
        st.title("Sextant")
        st.info("Sign in to use Sextant.", icon=":material/lock:")
        if oidc_configured():
            if st.button("Sign in", type="primary", key="auth_sign_in_gate", icon=":material/login:"):
                st.login()
        else:
            st.warning("This Sextant requires sign-in, and no sign-in method is configured: ask its administrator "
                       "(an [auth] section in .streamlit/secrets.toml, or [auth] alb_arn / trusted_header).")
        st.stop()
    return actor


def sidebar(actor: Actor) -> None:
    """Who is signed in and their role, with Sign out; or Sign in when OIDC is configured."""
    import streamlit as st

    from dashboard.ui import plain  # a provider's or a proxy's string never becomes a link or an image

    with st.sidebar:
        if oidc_user():
            st.caption(f"Signed in as {plain(actor.name)} · {actor.role}")
            if st.button("Sign out", key="auth_sign_out", icon=":material/logout:"):
                st.logout()
        elif actor == LOCAL_ADMIN:
            st.caption("Local admin (this machine only) · admin")
        elif not is_anonymous(actor):
            st.caption(f"Signed in as {plain(actor.name)} · {actor.role}")
        else:
            st.caption("Not signed in · viewer")
            if oidc_configured() and st.button("Sign in", key="auth_sign_in", icon=":material/login:"):
                st.login()
