"""A fake of GitHub Actions' OIDC token endpoint (what ACTIONS_ID_TOKEN_REQUEST_URL points at in
a job with `permissions: id-token: write`): GET with the request token as Bearer, optional
`audience`, answers {"value": JWT} signed by a key the test made."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class ActionsOidc:
    url: str  # ACTIONS_ID_TOKEN_REQUEST_URL
    request_token: str  # ACTIONS_ID_TOKEN_REQUEST_TOKEN
    audiences: list[str]  # what each request asked for
    server: ThreadingHTTPServer

    def env(self) -> dict[str, str]:
        return {
            "ACTIONS_ID_TOKEN_REQUEST_URL": self.url,
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": self.request_token,
        }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_actions_oidc(sign: Callable[[str], str]) -> ActionsOidc:
    """`sign(audience)` makes the JWT for one request."""
    request_token = secrets.token_hex(16)
    audiences: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.headers.get("Authorization") != f"Bearer {request_token}":
                self.send_response(401)
                self.end_headers()
                return
            query = parse_qs(urlsplit(self.path).query)
            audience = query.get("audience", ["https://github.com/acme"])[0]
            audiences.append(audience)
            body = json.dumps({"value": sign(audience)}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="actions-oidc").start()
    host, port = server.server_address[:2]
    # GitHub's URL already carries a query string; the client appends `&audience=`.
    url = f"http://{host}:{port}/_apis/token?api-version=2.0"
    return ActionsOidc(url, request_token, audiences, server)
