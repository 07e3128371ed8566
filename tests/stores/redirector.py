"""A server that answers every request with a redirect to a second server on another address
(127.0.0.2), which records whatever reaches it: proof that a store neither follows the
redirect nor sends its token there."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Redirector:
    url: str
    target: str  # where it points: host:port
    reached: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


def _serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@contextmanager
def redirecting(status: int) -> Iterator[Redirector]:
    reached: list[tuple[str, str, dict[str, str]]] = []

    class Elsewhere(BaseHTTPRequestHandler):
        def _any(self) -> None:
            reached.append((self.command, self.path, dict(self.headers)))
            self.send_response(500)
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    elsewhere = ThreadingHTTPServer(("127.0.0.2", 0), Elsewhere)
    target = f"127.0.0.2:{elsewhere.server_port}"

    class Redirect(BaseHTTPRequestHandler):
        def _any(self) -> None:
            self.send_response(status)
            self.send_header("location", f"http://{target}{self.path}")
            self.send_header("content-length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    front = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    servers = [elsewhere, front]
    for server in servers:
        _serve(server)
    try:
        yield Redirector(f"http://127.0.0.1:{front.server_port}", target, reached)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
