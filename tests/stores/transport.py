"""An httpx transport over real HTTP that records every request and can answer a chosen
request with an injected failure first: the stores meet a real server, and a fault on demand."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


@dataclass
class Fault:
    matches: Callable[[httpx.Request], bool]
    status: int
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"errors": ["injected by the test"]}'
    before: Callable[[], None] | None = None  # runs instead of a response: a racing writer
    landed: bool = False  # the request reaches the server first; only its answer is lost


class RecordingTransport(httpx.BaseTransport):
    def __init__(self) -> None:
        self._real = httpx.HTTPTransport()
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append((request.method, request.url.path))
            fault = next((f for f in self.faults if f.times > 0 and f.matches(request)), None)
            if fault is not None:
                fault.times -= 1
        if fault is not None:
            if fault.before is not None:
                fault.before()
            else:
                if fault.landed:
                    self._real.handle_request(request).read()
                return httpx.Response(
                    fault.status, headers=fault.headers, content=fault.body, request=request
                )
        return self._real.handle_request(request)

    def close(self) -> None:
        self._real.close()

    def count(self, method: str, contains: str) -> int:
        with self._lock:
            return sum(1 for m, p in self.requests if m == method and contains in p)
