"""Server errors injected into a real boto3 client just before it sends, so botocore's own
retry logic (the product relies on it) meets them."""

from __future__ import annotations

from typing import Any

from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def fail_next(client: Any, operation: str, *, status: int = 503, times: int = 1) -> list[int]:
    """The next `times` calls of `operation` get HTTP `status`; returns the list that counts
    every attempt of it (failed or sent)."""
    attempts: list[int] = []
    body = b'{"__type": "InternalServiceError", "message": "injected by the test"}'

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        attempts.append(1)
        if len(attempts) <= times:
            return AWSResponse(request.url, status, {}, _Raw(body))
        return None

    client.meta.events.register(f"before-send.*.{operation}", before_send)
    return attempts


def count_calls(client: Any) -> dict[str, int]:
    """Operation name -> calls made (not attempts), from now on."""
    calls: dict[str, int] = {}

    def before_call(model: Any, **_: Any) -> None:
        calls[model.name] = calls.get(model.name, 0) + 1

    client.meta.events.register("before-call.*.*", before_call)
    return calls
