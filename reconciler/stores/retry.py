"""Retry with exponential backoff, with the sleep passed in so tests run without waiting.

A call that ran out of its deadline (TimedOut) is never tried again: the deadline was its whole
budget, retries included, and a server or program that let it run out would let the next try
run out too: a stopped Vault would hold every write for the deadline times the attempts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reconciler.errors import ReconcilerError, TimedOut

T = TypeVar("T")


def with_retries(
    attempt: Callable[[], T],
    *,
    attempts: int,
    backoff: float,
    sleep: Callable[[float], None],
    retry_on: tuple[type[Exception], ...] = (ReconcilerError,),
) -> T:
    """Call `attempt` until it returns, at most `attempts` times, sleeping backoff * 2**n between
    tries. The last failure, or the first TimedOut, propagates unchanged."""
    tries = max(1, attempts)
    for number in range(tries):
        try:
            return attempt()
        except retry_on as exc:
            if number == tries - 1 or isinstance(exc, TimedOut):
                raise
            sleep(backoff * 2**number)
    raise AssertionError("unreachable")  # pragma: no cover
