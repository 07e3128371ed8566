"""The admin token a driver authenticates with, held so that a run can move to another one.

A run whose spec manages its own admin token (server.auth.token) rotates it like any other
token; once the successor is proven, stored and confirmed, the rest of the run uses the
successor. The drivers read the value here for every request rather than keeping a copy, so
the switch reaches every request sent after it, in every thread, and the rspm driver's CLI.
Every value ever held stays known here only so that messages can be scrubbed of it.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from reconciler import jwtinfo
from reconciler.secret import Secret


class AdminCredential:
    """Thread-safe: workers read it while the self token's action switches it (which runs
    alone, before any other action, so the switch never races a create or a revoke)."""

    def __init__(self, value: Secret, source: str) -> None:
        self._lock = threading.Lock()
        self._value = value
        self._source = source
        self._held: tuple[Secret, ...] = (value,)

    @property
    def value(self) -> Secret:
        with self._lock:
            return self._value

    @property
    def source(self) -> str:
        """Where the value in use came from, as people name it (never the value)."""
        with self._lock:
            return self._source

    @property
    def held(self) -> tuple[Secret, ...]:
        """Every value held so far, the one in use last: what messages are scrubbed of."""
        with self._lock:
            return self._held

    def guid(self) -> str | None:
        """The GUID of the token in use (its JWT `jti`), when it says."""
        return jwtinfo.token_guid(self.value.reveal())

    def switch(self, value: Secret, source: str) -> None:
        """Use `value` for every request from now on."""
        with self._lock:
            self._value = value
            self._source = source
            if value not in self._held:
                self._held = (*self._held, value)


@runtime_checkable
class HoldsCredential(Protocol):
    """A driver whose admin token can be switched during a run (both drivers)."""

    @property
    def credential(self) -> AdminCredential: ...
