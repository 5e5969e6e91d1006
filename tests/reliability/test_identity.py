"""Identity against a live server: ``streamlit run dashboard/app.py`` as a user starts it (no address flag: the
project's .streamlit/config.toml decides), reached the way an attacker would, with raw HTTP and a scripted
websocket client speaking Streamlit's own protocol (BackMsg / ForwardMsg).

- The server listens on loopback only: the kernel's socket table shows the listening address, and another
  loopback address (127.0.0.2, which a server bound to every interface answers on) is refused. This workplace
  allows test traffic to loopback addresses only, so the test does not connect to the machine's LAN address.
- A websocket upgrade with a foreign ``Host`` or ``Origin`` is refused (DNS rebinding, cross-site hijacking).
- A websocket client that sends ``X-Forwarded-Email: boss@corp.com`` without the proxy's secret (or with it but
  the identity header twice) gets the page without any action control; the same client with the secret gets
  the admin's controls, so the check can see controls when they are there.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.sync.client import connect

from tests.conftest import ROOT

SECRET = "live-proxy-secret-7d1e"
BOSS = "boss@corp.com"
ENDPOINT = "fraud-txn-scorer-prod"
SCALE_KEY = "ep_scale_AllTraffic_scale"


@dataclass
class Server:
    port: int
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(tmp_path: Path, store: Path, settings_toml: str = "", **env: str) -> Iterator[Server]:
    """The dashboard as ``streamlit run dashboard/app.py`` from the project folder, on a free port."""
    config = tmp_path / "sextant.toml"
    config.write_text(settings_toml)
    port = _free_port()
    log = tmp_path / f"streamlit-{port}.log"
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SEXTANT_", "STREAMLIT_"))}
    full_env = {**clean, "SEXTANT_STORE": str(store), "SEXTANT_CONFIG": str(config), **env}
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port",
                                 str(port), "--server.headless", "true"], cwd=ROOT, env=full_env, stdout=out,
                                stderr=subprocess.STDOUT)
    server = Server(port, proc, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start:\n{server.output()}") from None
                time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture(scope="module")
def empty_server(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("identity-empty")
    with streamlit_server(tmp, tmp / "store") as server:
        yield server


# ----------------------------------------------------------------------------------- where it listens
def _listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets in LISTEN state on ``port``, from the kernel's tables (IPv4 and IPv6)."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, hexport = local.partition(":")
            if state != "0A" or int(hexport, 16) != port:
                continue
            raw = bytes.fromhex(addr)
            if width == 8:
                found.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:  # four little-endian 32-bit words
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                found.add(socket.inet_ntop(socket.AF_INET6, words))
    return found


def test_the_dashboard_listens_on_loopback_only_by_default(empty_server):
    addresses = _listening_addresses(empty_server.port)
    assert addresses == {"127.0.0.1"}, f"listening on {addresses}: every interface would be 0.0.0.0 or ::"
    with pytest.raises(ConnectionRefusedError):  # a server bound to every interface answers here
        socket.create_connection(("127.0.0.2", empty_server.port), timeout=5).close()
    socket.create_connection(("127.0.0.1", empty_server.port), timeout=5).close()
    assert "Did not auto detect external IP" not in empty_server.output()


# ----------------------------------------------------------------------------------- Host and Origin
def _upgrade(port: int, host: str, origin: str | None) -> str:
    """A raw websocket upgrade to /_stcore/stream; the status line of the answer."""
    key = base64.b64encode(os.urandom(16)).decode()
    lines = ["GET /_stcore/stream HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
             f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: streamlit"]
    if origin:
        lines.append(f"Origin: {origin}")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


@pytest.mark.parametrize(("host", "origin", "accepted"), [
    ("127.0.0.1:{port}", "http://127.0.0.1:{port}", True),  # the browser on this machine
    ("localhost:{port}", "http://localhost:{port}", True),
    ("localhost:{port}", None, True),  # a non-browser client sends no Origin
    ("evil.example:{port}", "http://evil.example:{port}", False),  # DNS rebinding: evil.example -> 127.0.0.1
    ("evil.example", None, False),
    ("evil.example:{port}", "http://localhost:{port}", False),
    ("localhost:{port}", "http://evil.example", False),  # cross-site websocket hijacking
])
def test_a_foreign_host_or_origin_is_refused_on_the_websocket(empty_server, host, origin, accepted):
    port = empty_server.port
    status = _upgrade(port, host.format(port=port), origin and origin.format(port=port))
    assert (" 101 " in status) is accepted, status


# ----------------------------------------------------------------------------------- forged headers
def _run(ws, page: str, query: str, trigger: str | None = None) -> tuple[list[tuple[str, str, str]], list[str]]:
    """One script run in a websocket session (``trigger``: the id of a button to press): (element type, id, label)
    of every element the server sent until the script finished, and the URLs it redirected the browser to."""
    msg = BackMsg()
    msg.rerun_script.query_string = query
    msg.rerun_script.page_name = page
    if trigger:
        msg.rerun_script.widget_states.widgets.add(id=trigger, trigger_value=True)
    ws.send(msg.SerializeToString())
    elements: list[tuple[str, str, str]] = []
    redirects: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        fwd = ForwardMsg()
        fwd.ParseFromString(ws.recv(timeout=120))
        kind = fwd.WhichOneof("type")
        if kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
            element = fwd.delta.new_element
            which = element.WhichOneof("type")
            body = getattr(element, which)
            elements.append((which, getattr(body, "id", ""), getattr(body, "label", "") or getattr(body, "body", "")))
        elif kind == "auth_redirect":
            redirects.append(fwd.auth_redirect.url)
        elif kind == "script_finished":
            return elements, redirects
    raise AssertionError("the script did not finish")


def _session(port: int, headers: list[tuple[str, str]] | None = None):
    return connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                   additional_headers=headers or [], open_timeout=15, max_size=None)


def _render(port: int, headers: list[tuple[str, str]], page: str, query: str) -> list[tuple[str, str, str]]:
    """Run ``page`` through a scripted websocket client sending ``headers``."""
    with _session(port, headers) as ws:
        return _run(ws, page, query)[0]


def _controls(elements: list[tuple[str, str, str]]) -> list[str]:
    return [f"{kind} {label!r}" for kind, ident, label in elements
            if kind in ("button", "number_input") and ("scale" in ident or "Scale" in label)]


@pytest.fixture(scope="module")
def proxy_server(demo_store, tmp_path_factory) -> Iterator[Server]:
    """The demo store served with a trusted proxy header configured, the proxy's secret set, and boss an admin."""
    tmp = tmp_path_factory.mktemp("identity-proxy")
    toml = f'[auth]\ntrusted_header = "X-Forwarded-Email"\nadmins = [{json.dumps(BOSS)}]\n'
    with streamlit_server(tmp, demo_store.settings.store, toml, SEXTANT_PROXY_SECRET=SECRET) as server:
        yield server


@pytest.mark.parametrize(("case", "headers", "admin"), [
    ("the header alone", [("X-Forwarded-Email", BOSS)], False),
    ("lower-case name", [("x-forwarded-email", BOSS)], False),
    ("a wrong secret", [("X-Forwarded-Email", BOSS), ("X-Sextant-Proxy-Secret", "guess")], False),
    ("the header twice, with the secret", [("X-Forwarded-Email", "nobody@corp.com"), ("X-Forwarded-Email", BOSS),
                                           ("X-Sextant-Proxy-Secret", SECRET)], False),
    ("the secret twice", [("X-Forwarded-Email", BOSS), ("X-Sextant-Proxy-Secret", "guess"),
                          ("X-Sextant-Proxy-Secret", SECRET)], False),
    ("the proxy: header and secret", [("X-Forwarded-Email", BOSS), ("X-Sextant-Proxy-Secret", SECRET)], True),
    ("the proxy, lower-case names", [("x-forwarded-email", BOSS), ("x-sextant-proxy-secret", SECRET)], True),
])
def test_a_websocket_client_gets_action_controls_only_through_the_proxy(proxy_server, case, headers, admin):
    elements = _render(proxy_server.port, headers, "endpoints", f"endpoint={ENDPOINT}")
    labels = [label.replace("\\", "") for _, _, label in elements]  # Markdown escapes off
    assert ENDPOINT in " ".join(labels), f"{case}: the endpoint page did not render: {labels[:20]}"
    controls = _controls(elements)
    if admin:
        assert any(SCALE_KEY in ident for _, ident, _ in elements), f"{case}: the admin has no Scale control"
        assert controls, "the check sees the controls when they are there"
        assert f"Signed in as {BOSS} · admin" in labels, labels[:10]
    else:
        assert controls == [], f"{case}: a forged identity got {controls}"
        assert "Not signed in · viewer" in labels, labels[:10]


def test_the_server_log_warns_at_start_that_identity_comes_from_a_header(proxy_server):
    _render(proxy_server.port, [("X-Forwarded-Email", BOSS)], "overview", "")
    log = proxy_server.output()
    assert "identity comes from the X-Forwarded-Email header" in log, log[-2000:]
    assert "X-Forwarded-Email without the proxy's secret" in log, log[-2000:]


def test_the_local_admin_is_refused_when_the_server_listens_beyond_loopback(demo_store, tmp_path):
    """The demo's settings (local_admin) on a server bound to every interface: viewers only. It listens only long
    enough for one loopback client; nothing off this machine is contacted."""
    with streamlit_server(tmp_path, demo_store.settings.store, "[auth]\nlocal_admin = true\n",
                          STREAMLIT_SERVER_ADDRESS="0.0.0.0") as server:
        elements = _render(server.port, [], "endpoints", f"endpoint={ENDPOINT}")
    assert _controls(elements) == []
    assert "Not signed in · viewer" in [label for _, _, label in elements]
    assert "local_admin is refused" in server.output()


def test_sign_in_and_the_sign_in_gate_with_oidc_configured(tmp_path):
    """With an [auth] section in the secrets and require_sign_in: an anonymous visitor gets the prompt and nothing
    else, and its Sign in button sends the browser to Streamlit's /auth/login (st.login is wired; the identity
    provider itself is not contacted here)."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "%s"\n'
                       'client_id = "sextant"\nclient_secret = "not-a-secret"\n'
                       'server_metadata_url = "https://idp.corp.example/.well-known/openid-configuration"\n'
                       % ("c" * 40))
    with streamlit_server(tmp_path, tmp_path / "store", "[auth]\nrequire_sign_in = true\n",
                          STREAMLIT_SECRETS_FILES=str(secrets)) as server, _session(server.port) as ws:
        elements, _ = _run(ws, "endpoints", "")
        shown = [(kind, label) for kind, _, label in elements]
        assert shown == [("heading", "Sextant"), ("alert", "Sign in to use Sextant."), ("button", "Sign in")], shown
        [button] = [ident for kind, ident, _ in elements if kind == "button"]
        _, redirects = _run(ws, "endpoints", "", trigger=button)
    assert len(redirects) == 1 and redirects[0].startswith("/auth/login?provider="), redirects
