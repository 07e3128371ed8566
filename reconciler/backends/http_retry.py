"""What the HTTP stores (vault, github) share: one request with retries that honour Retry-After
and rate-limit headers, with the sleep and clock passed in, within one overall deadline (the
store's `timeout`): every attempt waits at most what is left of it, and no retry or wait starts
that would end after it (reconciler.deadline).

Messages name the store, the operation and the host, never a request body (which may hold a
value). Redirects are refused, never followed: they would carry the token wherever they point.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from reconciler.bounded_http import AnswerTooLarge, with_deadline
from reconciler.deadline import STORE_SECONDS, Deadline
from reconciler.errors import StoreError, StoreTimeout
from reconciler.inputs import parse_json
from reconciler.sanitize import for_terminal

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    backoff: float = 0.5  # seconds before the second try; doubles after each failure
    max_wait: float = 60.0  # a rate limit that asks for longer fails at once, with the time
    deadline: float = STORE_SECONDS  # each request, its retries and waits included
    deadline_setting: str = "the store's timeout"  # for messages: stores.NAME.timeout
    ca_hint: str = "set SSL_CERT_FILE to the CA file that signed it"
    redirect_hint: str = "set the store's address to where it points"


def _seconds_until(header: str, now: datetime) -> float | None:
    """Retry-After is seconds or an HTTP date."""
    text = header.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def rate_limit_wait(response: httpx.Response, now: datetime) -> float | None:
    """How long a rate-limited response asks the client to wait; None when it is no rate limit.

    GitHub answers 403 or 429 with `Retry-After` (secondary limits) or with
    `x-ratelimit-remaining: 0` and `x-ratelimit-reset` (epoch seconds; primary limits)."""
    if response.status_code not in (403, 429):
        return None
    retry_after = response.headers.get("retry-after")
    if retry_after is not None:
        wait = _seconds_until(retry_after, now)
        if wait is not None:
            return wait
    if response.headers.get("x-ratelimit-remaining") == "0":
        reset = response.headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            return max(0.0, int(reset) - now.timestamp())
    return 0.0 if response.status_code == 429 else None


def send(
    client: httpx.Client,
    build: Callable[[], httpx.Request],
    *,
    what: str,
    policy: RetryPolicy,
    sleep: Callable[[float], None],
    now: Callable[[], datetime],
    monotonic: Callable[[], float] = time.monotonic,
) -> httpx.Response:
    """Send the request `build` makes, retrying transport errors, 5xx and rate limits.

    Returns the last response (the caller maps its status); raises StoreError when the server
    cannot be reached, redirects, or is still rate limiting after the last try or asks to wait
    longer than `policy.max_wait` (a 403 that is a rate limit must not read as a refusal);
    StoreTimeout when the deadline passes first."""
    tries = max(1, policy.attempts)
    deadline = Deadline.start(policy.deadline, policy.deadline_setting, monotonic)

    def pause(seconds: float, attempts: int, failure: str) -> None:
        if not deadline.allows(seconds):
            raise StoreTimeout(deadline.gave_up(f"{what} ({_call(request)}): {failure}", attempts))
        sleep(seconds)

    for number in range(tries):
        last = number == tries - 1
        request = build()
        request.extensions["timeout"] = deadline.httpx_timeout(client.timeout).as_dict()
        request.extensions.update(with_deadline(deadline))
        try:
            response = client.send(request)
        except AnswerTooLarge as exc:
            raise StoreError(f"{what} ({_call(request)}): {exc}") from None
        except httpx.TransportError as exc:
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                # Not transient: retrying cannot help, and "cannot reach" would mislead.
                raise StoreError(
                    f"{what}: the TLS certificate of {request.url.host} is not trusted "
                    f"(certificate verify failed): {policy.ca_hint}"
                ) from None
            if isinstance(exc, httpx.TimeoutException) and deadline.passed():
                raise StoreTimeout(deadline.message(f"{what} ({_call(request)})")) from None
            if last:
                raise StoreError(
                    f"{what}: cannot reach {request.url.host} ({type(exc).__name__}) after "
                    f"{tries} tries: check the address and the network"
                ) from None
            log.debug("%s: %s, retrying", what, type(exc).__name__)
            pause(policy.backoff * 2**number, number + 1, type(exc).__name__)
            continue
        if response.has_redirect_location:
            raise _redirected(response, what, policy)
        wait = rate_limit_wait(response, now())
        if wait is not None:
            if wait > policy.max_wait:
                raise StoreError(
                    f"{what}: rate limited by {request.url.host} for another {wait:.0f} s: "
                    "run again later"
                )
            if last:
                raise StoreError(
                    f"{what}: still rate limited by {request.url.host} after {tries} tries "
                    f"({error_text(response)}): run again later"
                )
            log.debug("%s: rate limited (%s), waiting %.1f s", what, response.status_code, wait)
            pause(
                max(wait, policy.backoff * 2**number),
                number + 1,
                f"rate limited by {request.url.host} for another {wait:.0f} s",
            )
            continue
        if response.status_code in RETRY_STATUSES and not last:
            log.debug("%s: HTTP %s, retrying", what, response.status_code)
            pause(policy.backoff * 2**number, number + 1, f"HTTP {response.status_code}")
            continue
        return response
    raise AssertionError("unreachable")  # pragma: no cover


def _call(request: httpx.Request) -> str:
    """`PUT vault.example.com/v1/secret/data/ppm/x`: which request, for messages. Paths hold key
    names, never values."""
    return for_terminal(f"{request.method} {request.url.host}{request.url.path}"[:300])


def _redirected(response: httpx.Response, what: str, policy: RetryPolicy) -> StoreError:
    """Redirects are not followed: the request carries a token, and the place it points to
    (another host, perhaps) is the server's choice, not the spec's."""
    target = response.request.url.join(response.headers["location"])
    where = f"{target.host}{':' + str(target.port) if target.port else ''}{target.path}"
    return StoreError(
        f"{what}: {response.request.url.host} answered HTTP {response.status_code}, a redirect "
        f"to {for_terminal(where[:200])}, which is not followed so that the token goes nowhere "
        f"else: {policy.redirect_hint}"
    )


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object a successful answer carries. Anything else (a proxy's or a captive
    portal's HTML page, a truncated body) is a StoreError naming the request, not a traceback."""
    try:
        body = parse_json(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    kind = response.headers.get("content-type") or "no content type"
    where = f"{response.url.host}{response.url.path}"
    raise StoreError(
        f"{what}: the HTTP {response.status_code} answer from {for_terminal(where)} is not a "
        f"JSON object ({for_terminal(kind[:60])}): is something other than the server "
        "answering at that address, such as a proxy?"
    )


def error_text(response: httpx.Response) -> str:
    """The server's own words about an error, short, as Vault (`errors`) and GitHub (`message`)
    give them. They quote paths and names, never what we sent; sanitised all the same, since a
    server (or whatever answers in its place) chooses them."""
    try:
        body = parse_json(response.content)
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict):
        if isinstance(body.get("errors"), list) and body["errors"]:
            return f"HTTP {response.status_code}: " + "; ".join(
                for_terminal(str(e)[:200]) for e in body["errors"][:3]
            )
        if isinstance(body.get("message"), str):
            return f"HTTP {response.status_code}: {for_terminal(body['message'][:200])}"
    return f"HTTP {response.status_code}"
