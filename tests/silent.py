"""A server that accepts connections and never answers: what a stopped process (a Vault or PPM
under SIGSTOP, a hung proxy) looks like to a client. The kernel completes every TCP handshake;
nothing is ever read or written back."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Silent:
    url: str  # http://127.0.0.1:PORT
    accepted: list[socket.socket] = field(default_factory=list)

    @property
    def host_port(self) -> str:
        return self.url.removeprefix("http://")


@contextmanager
def silent_server() -> Iterator[Silent]:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    server = Silent(f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def hold() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server.accepted.append(connection)  # held open, never read from

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        for connection in server.accepted:
            connection.close()
        listener.close()
