"""Reading an HTTP answer with a bound, whoever answers.

httpx reads a whole body into memory, however large, and its read timeout bounds each wait for
the next bytes, not the whole: a server (or whatever a pull request points `server.url`, a
Vault's `address` or a GitHub `api_url` at) can send a body without end, or a byte every few
seconds for ever. Every client the tool makes registers `event_hooks()`, which wraps each
answer's body as it is read:

    at most MAX_ANSWER_BYTES       AnswerTooLarge (an httpx.DecodingError: the request was
                                   answered, so it is not sent again), past the bound
    within the call's deadline     httpx.ReadTimeout once the Deadline the request carries in
                                   its extensions (`with_deadline`) has passed, so the caller's
                                   "timed out and the deadline passed" branch ends the call

The time is checked as each piece of the body arrives: a piece is waited for at most the read
timeout, which the deadline already cuts to what is left of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx

from reconciler.deadline import Deadline

# The largest answer any call needs is a page of 1,000 PPM tokens (under a MiB).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
DEADLINE = "ppm_tokens.deadline"


class AnswerTooLarge(httpx.DecodingError):
    """The answer's body was longer than MAX_ANSWER_BYTES; the rest was not read."""


def with_deadline(deadline: Deadline) -> dict[str, Any]:
    """Request extensions that make the answer's body keep `deadline`."""
    return {DEADLINE: deadline}


def event_hooks() -> dict[str, list[Callable[[httpx.Response], None]]]:
    """For `httpx.Client(event_hooks=...)`: every answer read to the bounds."""
    return {"response": [_bound]}


def _bound(response: httpx.Response) -> None:
    deadline = response.request.extensions.get(DEADLINE)
    response.stream = _BoundedBody(
        response.stream,  # type: ignore[arg-type]
        response.request,
        deadline if isinstance(deadline, Deadline) else None,
    )


class _BoundedBody(httpx.SyncByteStream):
    def __init__(
        self, body: httpx.SyncByteStream, request: httpx.Request, deadline: Deadline | None
    ) -> None:
        self._body = body
        self._request = request
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        read = 0
        for chunk in self._body:
            read += len(chunk)
            if read > MAX_ANSWER_BYTES:
                raise AnswerTooLarge(
                    f"the answer is longer than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB, more "
                    "than any answer this tool reads: is something other than the server "
                    "answering?",
                    request=self._request,
                )
            if self._deadline is not None and self._deadline.passed():
                raise httpx.ReadTimeout("the answer outlasted its deadline", request=self._request)
            yield chunk

    def close(self) -> None:
        self._body.close()
