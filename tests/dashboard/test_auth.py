"""Identity: who a request is and what role it gets, through ``dashboard.auth.identify`` (a pure function: the
Streamlit wrapper only feeds it the request's headers, ``st.user``, settings, environment and the bind address).

The ALB cases use keys generated here and the real header format: a JWT whose header carries ``alg``, ``kid``,
``signer`` (the ALB's ARN), ``iss``, ``client`` and ``exp``, base64url *with* padding, signed ES256 (r || s).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from streamlit.testing.v1 import AppTest

import sextant_cli
from actions.roles import Actor
from dashboard import auth
from sextant.settings import AuthSettings, Settings
from tests.conftest import APP

REGION = "eu-west-1"
ALB_ARN = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/sextant/50dc6c495c0c9188"
OTHER_ALB = f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/app/attacker/0123456789abcdef"
KID = "6b4ea3b9-2d8c-4b3e-9c2f-1f5d0a8e7c11"
SECRET = "proxy-secret-4f0c2a"
NOW = 1_800_000_000.0


def settings(**auth_fields) -> Settings:
    base = {"admins": ("ada@corp.com",), "operators": ("otto@corp.com",), "admin_groups": ("sextant-admins",),
            "operator_groups": ("ml-oncall",), "alb_arn": ALB_ARN}
    return Settings(auth=AuthSettings(**{**base, **auth_fields}))


def pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


ALB_KEY = ec.generate_private_key(ec.SECP256R1())
ATTACKER_KEY = ec.generate_private_key(ec.SECP256R1())


class Published:
    """The region's public-key endpoint: the keys AWS publishes, by kid. Records every fetch (no network)."""

    def __init__(self, keys: dict[str, bytes] | None = None):
        self.keys = {KID: pem(ALB_KEY)} if keys is None else keys
        self.fetched: list[tuple[str, str]] = []

    def __call__(self, region: str, kid: str) -> bytes:
        self.fetched.append((region, kid))
        if kid not in self.keys:
            raise OSError("HTTP Error 404: Not Found")
        return self.keys[kid]


def b64(data: bytes, pad: bool = True) -> str:
    text = base64.urlsafe_b64encode(data).decode()
    return text if pad else text.rstrip("=")


def alb_token(claims: dict | None = None, *, key: ec.EllipticCurvePrivateKey = ALB_KEY, kid: str = KID,
              signer: str = ALB_ARN, alg: str = "ES256", exp: float = NOW + 120, pad: bool = True) -> str:
    header = {"alg": alg, "kid": kid, "signer": signer, "iss": "https://idp.corp.com", "client": "sextant-client",
              "exp": int(exp)}
    claims = {"sub": "8a0c3f", "email": "ada@corp.com", "name": "Ada", "exp": int(exp), "iss": "https://idp.corp.com",
              **(claims or {})}
    h, p = b64(json.dumps(header).encode(), pad), b64(json.dumps(claims).encode(), pad)
    r, s = decode_dss_signature(key.sign(f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{h}.{p}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'), pad)}"


def who(headers=None, *, oidc=None, s=None, env=None, loopback=True, fetch=None) -> Actor:
    return auth.identify(headers or {}, oidc, s or settings(), env if env is not None else {}, loopback,
                         fetch_key=fetch or Published(), now=NOW)


VIEWER = Actor("anonymous", "viewer")


# ----------------------------------------------------------------------------------- the ALB's signed header
@pytest.mark.parametrize(("claims", "expected"), [
    ({"email": "ada@corp.com"}, Actor("ada@corp.com", "admin")),
    ({"email": "Otto@Corp.com"}, Actor("Otto@Corp.com", "operator")),  # e-mails compared without case
    ({"email": "gus@corp.com", "groups": ["ml-oncall"]}, Actor("gus@corp.com", "operator")),
    ({"email": "gus@corp.com", "groups": ["staff", "sextant-admins"]}, Actor("gus@corp.com", "admin")),
    ({"email": "gus@corp.com", "groups": "sextant-admins"}, Actor("gus@corp.com", "admin")),  # one group, a string
    ({"email": "vic@corp.com", "groups": ["staff"]}, Actor("vic@corp.com", "viewer")),
])
def test_a_header_signed_by_the_configured_alb_gives_that_user_and_role(claims, expected):
    assert who({"X-Amzn-Oidc-Data": [alb_token(claims)]}) == expected


def test_the_alb_header_verifies_with_and_without_base64_padding_and_any_header_case():
    for name in ("x-amzn-oidc-data", "X-AMZN-OIDC-DATA", "X-Amzn-Oidc-Data"):
        for pad in (True, False):
            assert who({name: [alb_token(pad=pad)]}) == Actor("ada@corp.com", "admin"), (name, pad)


def test_the_padded_token_really_has_padding():  # the case standard JWT libraries refuse
    assert "=" in alb_token({"email": "ada@corp.com", "x": "y"}) or "=" in alb_token({"email": "ada@corp.com"})


def test_the_group_claim_named_in_settings_is_read():
    s = settings(groups_claim="cognito:groups")
    token = alb_token({"email": "gus@corp.com", "cognito:groups": ["sextant-admins"], "groups": []})
    assert who({ALB: [token]}, s=s) == Actor("gus@corp.com", "admin")
    assert who({ALB: [alb_token({"email": "gus@corp.com", "groups": ["sextant-admins"]})]}, s=s).role == "viewer"


ALB = "x-amzn-oidc-data"


@pytest.mark.parametrize("forgery", [
    "own key, own kid",
    "own key, the ALB's kid",
    "another ALB's signer",
    "expired",
    "expired in the header only",
    "alg none",
    "alg none with a signature",
    "alg HS256 keyed with the public key",
    "claims edited after signing",
    "signature of another token",
    "not a JWT",
    "kid with a path",
    "no expiry",
])
def test_a_forged_alb_header_gives_a_viewer_at_most(forgery):
    published = Published()
    token = {
        "own key, own kid": lambda: alb_token(key=ATTACKER_KEY, kid="11111111-2222-3333-4444-555555555555"),
        "own key, the ALB's kid": lambda: alb_token(key=ATTACKER_KEY),
        "another ALB's signer": lambda: alb_token(signer=OTHER_ALB),
        "expired": lambda: alb_token(exp=NOW - 3600),
        "expired in the header only": lambda: _resign(alb_token(), header={"exp": int(NOW - 3600)}),
        "alg none": lambda: _unsigned({"alg": "none"}),
        "alg none with a signature": lambda: _resign(alb_token(), header={"alg": "none"}),
        "alg HS256 keyed with the public key": lambda: _hs256_with_public_key(),
        "claims edited after signing": lambda: _edit_claims(alb_token({"email": "vic@corp.com"}), email="ada@corp.com"),
        "signature of another token": lambda: _swap_signature(alb_token({"email": "ada@corp.com"}),
                                                              alb_token({"email": "vic@corp.com"})),
        "not a JWT": lambda: "ada@corp.com",
        "kid with a path": lambda: alb_token(kid="../../evil.example/key"),
        "no expiry": lambda: _resign(alb_token(), header={"exp": None}, claims={"exp": None}),
    }[forgery]()
    actor = who({ALB: [token]}, fetch=published)
    assert actor.role == "viewer" and not actor.can_act(), actor
    assert all(region == REGION for region, _ in published.fetched)
    if forgery == "kid with a path":
        assert published.fetched == [], "a kid that is not a plain identifier is never fetched"


def test_an_alb_header_sent_twice_gives_a_viewer():
    good = alb_token()
    assert who({ALB: [good, good]}) == VIEWER
    assert who({"X-Amzn-Oidc-Data": [good], "x-amzn-oidc-data": [good]}) == VIEWER


def test_the_alb_header_is_ignored_unless_an_alb_is_configured():
    assert who({ALB: [alb_token()]}, s=settings(alb_arn="")) == VIEWER


def test_a_bad_alb_header_does_not_fall_through_to_the_local_admin_or_the_proxy_header():
    s = settings(local_admin=True, trusted_header="X-Forwarded-Email")
    headers = {ALB: [alb_token(key=ATTACKER_KEY)], "x-forwarded-email": ["ada@corp.com"],
               "x-sextant-proxy-secret": [SECRET]}
    assert who(headers, s=s, env={"SEXTANT_PROXY_SECRET": SECRET}) == VIEWER


def test_the_public_key_is_fetched_once_per_kid_from_the_albs_region():
    published = Published()
    for _ in range(3):
        assert who({ALB: [alb_token()]}, fetch=published).role == "admin"
    assert published.fetched == [(REGION, KID)]
    assert auth.alb_key_url(ALB_ARN, KID) == f"https://public-keys.auth.elb.{REGION}.amazonaws.com/{KID}"
    gov = "arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/app/s/50dc6c495c0c9188"
    assert auth.alb_key_url(gov, KID) == f"https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1/{KID}"


def test_an_unknown_kid_is_not_refetched_at_every_request():
    published = Published(keys={})
    for _ in range(3):
        assert who({ALB: [alb_token()]}, fetch=published) == VIEWER
    assert published.fetched == [(REGION, KID)]


def test_a_published_key_that_is_not_p256_is_refused():
    p384 = ec.generate_private_key(ec.SECP384R1())
    assert who({ALB: [alb_token()]}, fetch=Published({KID: pem(p384)})) == VIEWER


def _split(token: str) -> tuple[dict, dict, str]:
    h, p, sig = token.split(".")
    return json.loads(auth._b64(h)), json.loads(auth._b64(p)), sig


def _resign(token: str, header: dict | None = None, claims: dict | None = None) -> str:
    """The token with header/claims fields changed (None removes one), signed again with the ALB's real key: only
    the changed field can make it fail."""
    h, p, _ = _split(token)
    h = {k: v for k, v in {**h, **(header or {})}.items() if v is not None}
    p = {k: v for k, v in {**p, **(claims or {})}.items() if v is not None}
    hh, pp = b64(json.dumps(h).encode()), b64(json.dumps(p).encode())
    r, s = decode_dss_signature(ALB_KEY.sign(f"{hh}.{pp}".encode(), ec.ECDSA(hashes.SHA256())))
    return f"{hh}.{pp}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def _unsigned(header: dict) -> str:
    h = {"alg": "none", "kid": KID, "signer": ALB_ARN, "exp": int(NOW + 120), **header}
    p = {"email": "ada@corp.com", "exp": int(NOW + 120)}
    return f"{b64(json.dumps(h).encode(), False)}.{b64(json.dumps(p).encode(), False)}."


def _hs256_with_public_key() -> str:
    h = b64(json.dumps({"alg": "HS256", "kid": KID, "signer": ALB_ARN, "exp": int(NOW + 120)}).encode(), False)
    p = b64(json.dumps({"email": "ada@corp.com", "exp": int(NOW + 120)}).encode(), False)
    mac = hmac.new(pem(ALB_KEY), f"{h}.{p}".encode(), hashlib.sha256).digest()
    return f"{h}.{p}.{b64(mac, False)}"


def _edit_claims(token: str, **changes) -> str:
    h, p, sig = token.split(".")
    claims = json.loads(auth._b64(p))
    return f"{h}.{b64(json.dumps({**claims, **changes}).encode())}.{sig}"


def _swap_signature(token: str, other: str) -> str:
    return ".".join(token.split(".")[:2] + other.split(".")[2:])


# ----------------------------------------------------------------------------------- the proxy's trusted header
PROXY = settings(trusted_header="X-Forwarded-Email", alb_arn="")
ENV = {"SEXTANT_PROXY_SECRET": SECRET}


@pytest.mark.parametrize(("headers", "env", "expected"), [
    ({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": [SECRET]}, ENV, Actor("ada@corp.com", "admin")),
    ({"x-forwarded-email": ["otto@corp.com"], "x-sextant-proxy-secret": [SECRET]}, ENV,
     Actor("otto@corp.com", "operator")),
    ({"X-FORWARDED-EMAIL": ["vic@corp.com"], "X-SEXTANT-PROXY-SECRET": [SECRET]}, ENV, Actor("vic@corp.com", "viewer")),
    # without the secret, with a wrong one, with it twice, or with no secret configured on the server
    ({"X-Forwarded-Email": ["boss@corp.com"]}, ENV, VIEWER),
    ({"x-forwarded-email": ["ada@corp.com"]}, ENV, VIEWER),
    ({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": ["guess"]}, ENV, VIEWER),
    ({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": [SECRET + "x"]}, ENV, VIEWER),
    ({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": ["guess", SECRET]}, ENV, VIEWER),
    ({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": [""]}, {}, VIEWER),
    ({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": [SECRET]}, {}, VIEWER),
    ({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": [""]}, {"SEXTANT_PROXY_SECRET": ""}, VIEWER),
    # the identity header twice (a proxy that appends instead of replacing): neither value is believed
    ({"X-Forwarded-Email": ["ada@corp.com", "vic@corp.com"], "X-Sextant-Proxy-Secret": [SECRET]}, ENV, VIEWER),
    ({"X-Forwarded-Email": ["vic@corp.com"], "x-forwarded-email": ["ada@corp.com"],
      "X-Sextant-Proxy-Secret": [SECRET]}, ENV, VIEWER),
    # two values joined by a proxy, and an empty one
    ({"X-Forwarded-Email": ["ada@corp.com, vic@corp.com"], "X-Sextant-Proxy-Secret": [SECRET]}, ENV, VIEWER),
    ({"X-Forwarded-Email": [" "], "X-Sextant-Proxy-Secret": [SECRET]}, ENV, VIEWER),
])
def test_the_trusted_header_is_believed_only_once_and_with_the_proxys_secret(headers, env, expected):
    assert who(headers, s=PROXY, env=env) == expected


def test_the_secret_header_name_comes_from_settings():
    s = replace(PROXY, auth=replace(PROXY.auth, proxy_secret_header="X-Edge-Token"))
    assert who({"X-Forwarded-Email": ["ada@corp.com"], "x-edge-token": [SECRET]}, s=s, env=ENV).role == "admin"
    assert who({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": [SECRET]}, s=s, env=ENV) == VIEWER


def test_a_forged_proxy_header_does_not_fall_through_to_the_local_admin():
    s = replace(PROXY, auth=replace(PROXY.auth, local_admin=True))
    assert who({"X-Forwarded-Email": ["boss@corp.com"]}, s=s, env=ENV) == VIEWER
    assert who({}, s=s, env=ENV) == Actor("local-admin", "admin")


def test_the_trusted_header_is_ignored_when_none_is_configured():
    s = settings(alb_arn="")
    assert who({"X-Forwarded-Email": ["ada@corp.com"], "X-Sextant-Proxy-Secret": [SECRET]}, s=s, env=ENV) == VIEWER


# ----------------------------------------------------------------------------------- OIDC (st.login)
@pytest.mark.parametrize(("user", "expected"), [
    ({"is_logged_in": True, "email": "ada@corp.com", "name": "Ada"}, Actor("ada@corp.com", "admin")),
    ({"is_logged_in": True, "email": "gus@corp.com", "groups": ["ml-oncall"]}, Actor("gus@corp.com", "operator")),
    ({"is_logged_in": True, "email": "gus@corp.com", "groups": ["sextant-admins"]}, Actor("gus@corp.com", "admin")),
    ({"is_logged_in": True, "email": "vic@corp.com"}, Actor("vic@corp.com", "viewer")),
    ({"is_logged_in": True, "name": "Ada"}, Actor("Ada", "viewer")),
    # an e-mail the provider has not verified names the user but earns no role from the lists
    ({"is_logged_in": True, "email": "ada@corp.com", "email_verified": False}, Actor("ada@corp.com", "viewer")),
    ({"is_logged_in": False}, VIEWER),
])
def test_a_signed_in_oidc_user_gets_the_role_of_their_email_or_groups(user, expected):
    assert who(oidc=user) == expected


def test_oidc_comes_before_headers():
    user = {"is_logged_in": True, "email": "vic@corp.com"}
    assert who({ALB: [alb_token()]}, oidc=user) == Actor("vic@corp.com", "viewer")


# ----------------------------------------------------------------------------------- the local admin
@pytest.mark.parametrize(("address", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("LOCALHOST", True), ("::1", True), ("[::1]", True),
    ("127.0.0.2", True), ("", False), ("0.0.0.0", False), ("::", False), ("10.0.0.5", False),
    ("192.168.1.20", False), ("sextant.corp.com", False), ("unix:///tmp/sextant.sock", False),
])
def test_what_counts_as_loopback(address, loopback):
    assert auth.is_loopback(address) is loopback


def test_the_local_admin_is_refused_unless_the_server_is_bound_to_loopback():
    s = settings(local_admin=True)
    assert who(s=s, loopback=True) == Actor("local-admin", "admin")
    assert who(s=s, loopback=False) == VIEWER
    assert who(s=settings(), loopback=True) == VIEWER


# ----------------------------------------------------------------------------------- start-up and the servers
def test_a_warning_at_start_whenever_identity_comes_from_a_header():
    assert auth.startup_warnings(settings(alb_arn=""), ENV) == []
    [alb] = auth.startup_warnings(settings(), {})
    assert "x-amzn-oidc-data" in alb and ALB_ARN in alb
    [proxy] = auth.startup_warnings(PROXY, ENV)
    assert "X-Forwarded-Email" in proxy and "X-Sextant-Proxy-Secret" in proxy
    [ignored] = auth.startup_warnings(PROXY, {})
    assert "ignored" in ignored and "SEXTANT_PROXY_SECRET" in ignored
    [wrong] = auth.startup_warnings(settings(alb_arn="arn:aws:elasticloadbalancing:eu-west-1:1:targetgroup/x/1"), {})
    assert "is not an Application Load Balancer ARN" in wrong
    assert who({ALB: [alb_token()]}, s=settings(alb_arn="sextant-alb")) == VIEWER


def test_a_forged_header_on_every_rerun_is_logged_once_a_minute(caplog):
    caplog.set_level("WARNING", logger="sextant.auth")
    auth._last_warned.clear()
    for _ in range(5):
        assert who({"X-Forwarded-Email": ["boss@corp.com"]}, s=PROXY, env=ENV) == VIEWER
    assert len([r for r in caplog.records if "without the proxy's secret" in r.getMessage()]) == 1


def test_serve_and_demo_bind_loopback_with_allowed_hosts_unless_opened_on_purpose():
    args = sextant_cli.streamlit_options({})
    opts = list(zip(args[::2], args[1::2], strict=True))
    assert ("--server.address", "127.0.0.1") in opts
    assert [v for k, v in opts if k == "--server.allowedHosts"] == ["localhost", "127.0.0.1"]
    opened = sextant_cli.streamlit_options({"SEXTANT_ADDRESS": "0.0.0.0", "SEXTANT_ALLOWED_HOSTS": "a.corp.com, b",
                                            "SEXTANT_PORT": "9000"})
    opts = list(zip(opened[::2], opened[1::2], strict=True))
    assert ("--server.address", "0.0.0.0") in opts and ("--server.port", "9000") in opts
    assert [v for k, v in opts if k == "--server.allowedHosts"] == ["localhost", "127.0.0.1", "a.corp.com", "b"]


def test_the_streamlit_config_binds_loopback_and_sets_allowed_hosts():
    import tomllib

    from tests.conftest import ROOT

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert set(config["server"]["allowedHosts"]) == {"localhost", "127.0.0.1"}
    assert ".streamlit/secrets.toml" in (ROOT / ".gitignore").read_text().splitlines()
    example = tomllib.loads((ROOT / ".streamlit" / "secrets.toml.example").read_text())
    required = {"redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url"}
    assert required <= set(example["auth"])


# ----------------------------------------------------------------------------------- the shell
def _shell(tmp_path, monkeypatch, toml: str, *, oidc: bool = False) -> AppTest:
    config = tmp_path / "sextant.toml"
    config.write_text(toml)
    monkeypatch.setenv("SEXTANT_CONFIG", str(config))
    monkeypatch.setenv("SEXTANT_STORE", str(tmp_path / "store"))
    monkeypatch.delenv("SEXTANT_LOCAL_ADMIN", raising=False)
    at = AppTest.from_file(APP, default_timeout=60)
    if oidc:
        at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "c" * 32,
                              "client_id": "sextant", "client_secret": "s", "server_metadata_url":
                              "https://idp.corp.com/.well-known/openid-configuration"}
    return at.run()


@pytest.mark.parametrize("oidc", [False, True])
def test_require_sign_in_shows_an_anonymous_visitor_a_sign_in_prompt_and_nothing_else(tmp_path, monkeypatch, oidc):
    at = _shell(tmp_path, monkeypatch, "[auth]\nrequire_sign_in = true\n", oidc=oidc)
    assert not at.exception, at.exception
    assert [i.value for i in at.info] == ["Sign in to use Sextant."]
    assert [b.label for b in at.button] == (["Sign in"] if oidc else [])
    assert not oidc or not at.warning
    assert not at.sidebar.children or not list(at.sidebar.toggle), "no sidebar filters or toggles"
    assert not list(at.dataframe) and not list(at.selectbox) and not list(at.multiselect)
    assert not list(at.toggle) and not list(at.metric) and not list(at.caption)


def test_require_sign_in_lets_the_local_admin_of_a_loopback_server_in(tmp_path, monkeypatch):
    at = _shell(tmp_path, monkeypatch, "[auth]\nrequire_sign_in = true\nlocal_admin = true\n")
    assert not at.exception, at.exception
    assert "Sign in to use Sextant." not in [i.value for i in at.info]
    assert "Local admin (this machine only) · admin" in [c.value for c in at.sidebar.caption]


def test_the_sidebar_offers_sign_in_when_oidc_is_configured_and_says_who_is_looking(tmp_path, monkeypatch):
    at = _shell(tmp_path, monkeypatch, "", oidc=True)
    assert not at.exception, at.exception
    assert "Not signed in · viewer" in [c.value for c in at.sidebar.caption]
    assert "Sign in" in [b.label for b in at.sidebar.button]
    plain = _shell(tmp_path, monkeypatch, "")
    assert "Sign in" not in [b.label for b in plain.sidebar.button], "no sign-in button without OIDC settings"


def test_a_wrong_settings_file_is_still_one_error_block(tmp_path, monkeypatch):
    at = _shell(tmp_path, monkeypatch, "[auth]\nrequire_sign_in = 'yes'\n")
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "auth.require_sign_in" in at.error[0].value


@pytest.mark.parametrize(("origin", "admin"), [
    (None, True),  # not a browser page: a client on this machine
    ("http://localhost:8501", True), ("http://127.0.0.1:8501", True), ("http://[::1]:8501", True),
    ("http://localhost:3000", False),  # another local program's page opening this app's websocket
    ("http://127.0.0.1", False), ("https://localhost:8501.evil.example", False), ("http://evil.example:8501", False),
    ("http://localhost:notaport", False),
])
def test_the_local_admin_is_only_a_page_of_this_server_itself(origin, admin):
    s = settings(local_admin=True)
    headers = {"Origin": [origin]} if origin else {}
    actor = auth.identify(headers, None, s, {}, True, fetch_key=Published(), now=NOW, own_port=8501)
    assert actor == (Actor("local-admin", "admin") if admin else VIEWER)


def test_two_origins_never_make_the_local_admin():
    s = settings(local_admin=True)
    headers = {"Origin": ["http://localhost:8501", "http://localhost:3000"]}
    assert auth.identify(headers, None, s, {}, True, fetch_key=Published(), now=NOW, own_port=8501) == VIEWER
