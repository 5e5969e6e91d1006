"""The demo's stand-in for a Slack (or Teams, or any) incoming webhook: a loopback HTTP server that accepts the
alerts' JSON POSTs and prints each one's text as a line of the demo's log ("[webhook] ..."), so `make demo` shows what
a team channel would receive. ``python -m demo.webhook [--port N] [--url-file F]``: serves until stopped; GET
/messages returns what it received, newest last (for tests and curious users)."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MAX_BODY = 256 * 1024  # a Slack payload is a few KB; anything larger is refused
KEEP = 200  # messages kept for GET /messages


def line(payload: dict[str, Any]) -> str:
    """One log line for a Slack-format payload: its header and section texts (plain text), else its ``text``."""
    texts = [b.get("text", {}).get("text", "") for b in payload.get("blocks", []) if isinstance(b, dict)
             and b.get("type") in ("header", "section") and isinstance(b.get("text"), dict)]
    shown = " | ".join(t.replace("\n", " / ") for t in texts if t) or str(payload.get("text", ""))
    return f"[webhook] {shown}"


class Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0, out=None) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.messages: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.out = out or sys.stdout

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        size = int(self.headers.get("Content-Length") or 0)
        if size <= 0 or size > MAX_BODY:
            self.send_error(413 if size > MAX_BODY else 400)
            return
        try:
            payload = json.loads(self.rfile.read(size))
            if not isinstance(payload, dict):
                raise ValueError("not a JSON object")
        except ValueError:
            self.send_error(400, "expected a JSON object")
            return
        with self.server.lock:
            self.server.messages = [*self.server.messages[-(KEEP - 1):], payload]
        print(line(payload), file=self.server.out, flush=True)
        self._answer(200, b"ok", "text/plain")

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/messages":
            self.send_error(404)
            return
        with self.server.lock:
            body = json.dumps(self.server.messages).encode()
        self._answer(200, body, "application/json")

    def _answer(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # the message lines are the log; no access log
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.webhook", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--url-file", type=Path, help="write the receiver's URL here once it listens")
    args = parser.parse_args(argv)
    server = Receiver(args.port)
    if args.url_file:
        tmp = args.url_file.with_suffix(".tmp")
        tmp.write_text(server.url)
        tmp.replace(args.url_file)
    print(f"webhook receiver: {server.url} (the demo's alerts channel)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
