"""A server whose answers never end: one sends a body far larger than any answer, one sends a
byte at a time for ever. What a hostile or broken server (or whatever a pull request points an
address at) can do to a client that reads whole bodies with a per-read timeout."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HUGE_BYTES = 80 * 1024 * 1024  # past the 64 MiB bound, yet safe to hold when unbounded


class _Handler(BaseHTTPRequestHandler):
    mode = "huge"
    stop: threading.Event

    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if self.mode == "huge":
            self.send_header("Content-Length", str(HUGE_BYTES))
        self.end_headers()
        try:
            if self.mode == "huge":
                chunk = b" " * (1024 * 1024)
                for _ in range(HUGE_BYTES // len(chunk)):
                    self.wfile.write(chunk)
            else:
                self.wfile.write(b"[")
                while not self.stop.wait(0.05):
                    self.wfile.write(b" ")
                    self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def endless_server(mode: str) -> Iterator[str]:
    """`mode` "huge" or "trickle"; yields the server's URL."""
    stop = threading.Event()
    handler = type("Handler", (_Handler,), {"mode": mode, "stop": stop})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
