"""Retry with exponential backoff, with the sleep passed in so tests run without waiting."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from reconciler.errors import ReconcilerError

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
    tries. The last failure propagates unchanged."""
    tries = max(1, attempts)
    for number in range(tries):
        try:
            return attempt()
        except retry_on:
            if number == tries - 1:
                raise
            sleep(backoff * 2**number)
    raise AssertionError("unreachable")  # pragma: no cover
