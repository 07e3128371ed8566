"""When and how long the http driver waits before sending a request again.

Exponential backoff with full jitter, unless the server says how long with Retry-After.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

MAX_RETRY_AFTER = 120.0  # longer waits than this are not worth holding a CI job for
# Nothing of these reached the server: always safe to retry.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have reached the server; only idempotent requests are retried.
MAYBE_SENT = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.CloseError,
)


def backoff_delay(rng: random.Random, attempt: int, base: float, cap: float) -> float:
    return rng.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """Retry-After as seconds (a number or an HTTP date); None when absent or unreadable."""
    if not header:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
