"""One overall deadline per call to an external system.

A per-attempt timeout (httpx's, a subprocess's, botocore's) bounds one wait, and retries multiply
it: a server that accepts connections and never answers used to hold a run for the read timeout
times every retry, at every layer that retries. A deadline bounds the call instead: each attempt
waits at most what is left of it, no attempt or backoff starts once it has passed, and the error
then names the call and the setting that sets the deadline. A TimedOut error is the end of that
call: nothing above retries it.

    the PPM server   an HTTP request, retries included: server.timeout (default 60 s)
                     an rspm command, retries included: server.timeout (default 120 s)
    a store          a Vault, AWS or GitHub request, retries included, or a command store's
                     program: stores.NAME.timeout (default 60 s)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

SERVER_HTTP_SECONDS = 60.0
# An rspm command starts a Go program (perhaps through `kubectl exec`) that reads every token.
SERVER_RSPM_SECONDS = 120.0
STORE_SECONDS = 60.0
# Longer than any call should take, and short enough for every timer it reaches (poll(2) takes
# milliseconds in an int): a larger value in a spec is an error, not a crash.
MAXIMUM_SECONDS = 86400.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class Deadline:
    seconds: float
    setting: str  # what the user changes: "server.timeout", "stores.vault.timeout"
    ends: float  # on `clock`
    clock: Clock = time.monotonic

    @classmethod
    def start(cls, seconds: float, setting: str, clock: Clock = time.monotonic) -> Deadline:
        return cls(seconds, setting, clock() + seconds, clock)

    def remaining(self) -> float:
        return max(0.0, self.ends - self.clock())

    def passed(self) -> bool:
        return self.clock() >= self.ends

    def allows(self, wait: float) -> bool:
        """Whether waiting `wait` seconds still leaves time for another attempt."""
        return self.clock() + wait < self.ends

    def message(self, what: str, verb: str = "answer") -> str:
        return f"{what} did not {verb} within {self.seconds:g} s (deadline: {self.setting})"

    def gave_up(self, last: str, attempts: int) -> str:
        """A call whose attempts failed (`last` says how) until no time was left for another."""
        tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
        return f"{last}; gave up after {tries}, at the {self.seconds:g} s deadline ({self.setting})"

    def httpx_timeout(self, base: httpx.Timeout) -> httpx.Timeout:
        """`base` with every wait cut to what is left, so no attempt outlives the deadline."""
        left = max(self.remaining(), 0.001)

        def cut(value: float | None) -> float:
            return left if value is None else min(value, left)

        return httpx.Timeout(
            connect=cut(base.connect),
            read=cut(base.read),
            write=cut(base.write),
            pool=cut(base.pool),
        )


def seconds_setting(value: object, setting: str, default: float) -> float:
    """A `timeout` from a spec (schema-checked, and checked again for hand-built configs)."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{setting} must be a number of seconds")
    if not 0 < value <= MAXIMUM_SECONDS:
        raise ValueError(
            f"{setting} must be more than 0 and at most {MAXIMUM_SECONDS:g} seconds (a day)"
        )
    return float(value)
