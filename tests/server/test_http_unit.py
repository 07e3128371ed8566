"""The `http` driver's retry, pagination, error mapping and redaction, with httpx.MockTransport."""

from __future__ import annotations

import json
import logging
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from reconciler import jwtinfo
from reconciler.errors import (
    AuthError,
    CreateOutcomeUnknown,
    NotFoundError,
    RequestRejected,
    ServerError,
)
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import TokenRequest
from reconciler.server.parse import token_from_json
from reconciler.server.retry import retry_after_seconds
from tests.jwt_shapes import jwt_shaped

ADMIN = Secret(jwt_shaped("admin-guid"))
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


class UpperBound(random.Random):
    """Full jitter picks uniformly in [0, bound]; this one always picks the bound."""

    def uniform(self, a: float, b: float) -> float:
        return b


def token_json(guid: str, **extra: object) -> dict[str, object]:
    return {
        "guid": guid,
        "description": f"token {guid}",
        "user": "u",
        "email": None,
        "scope": "repos:read",
        "resources": ["pypi"],
        "resource_ids": ["r-1"],
        "created": "2027-01-01T00:00:00.000000Z",
        "expires": None,
        "revoked": None,
        **extra,
    }


class Recorder:
    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0) if len(self.responses) > 1 else self.responses[0]
        if isinstance(item, Exception):
            raise item
        return item


def driver_for(
    handler: Handler, sleeps: list[float] | None = None, **options: object
) -> HttpDriver:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    record = sleeps if sleeps is not None else []
    return HttpDriver(
        "https://ppm.example.com/",
        ADMIN,
        client=client,
        sleep=record.append,
        rng=options.pop("rng", UpperBound()),  # type: ignore[arg-type]
        now=lambda: NOW,
        **options,  # type: ignore[arg-type]
    )


def request(description: str = "d [ppm-tokens:ns/x]") -> TokenRequest:
    return TokenRequest(description, "u", "repos:read", ("pypi",), NOW + timedelta(days=30))


def created_response() -> httpx.Response:
    return httpx.Response(201, json={**token_json("new"), "token": "new.token.value"})


# Retries ---------------------------------------------------------------------------------------


def test_retry_after_in_seconds_is_honoured() -> None:
    sleeps: list[float] = []
    recorder = Recorder(
        httpx.Response(429, headers={"Retry-After": "2.5"}), httpx.Response(200, json=[])
    )
    assert driver_for(recorder, sleeps).list_tokens() == []
    assert sleeps == [2.5]
    assert len(recorder.requests) == 2


def test_retry_after_as_an_http_date_is_honoured() -> None:
    sleeps: list[float] = []
    when = format_datetime(NOW + timedelta(seconds=3), usegmt=True)
    recorder = Recorder(
        httpx.Response(503, headers={"Retry-After": when}), httpx.Response(200, json=[])
    )
    driver_for(recorder, sleeps).list_tokens()
    assert sleeps == [3.0]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("7", 7.0),
        ("0.05", 0.05),
        ("-3", 0.0),
        ("soon", None),
        (None, None),
        ("Mon, 01 Mar 2027 11:00:00 GMT", 0.0),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, NOW) == expected


def test_backoff_grows_exponentially_up_to_the_cap_then_gives_up() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(502))
    driver = driver_for(recorder, sleeps, max_attempts=7, backoff_base=0.2, backoff_cap=3.0)
    with pytest.raises(ServerError, match="gave up after 7 attempts"):
        driver.list_tokens()
    assert sleeps == pytest.approx([0.2, 0.4, 0.8, 1.6, 3.0, 3.0])
    assert len(recorder.requests) == 7


def test_full_jitter_stays_within_the_bound() -> None:
    sleeps: list[float] = []
    recorder = Recorder(httpx.Response(503))
    driver = driver_for(recorder, sleeps, rng=random.Random(1), max_attempts=5, backoff_base=1.0)
    with pytest.raises(ServerError):
        driver.list_tokens()
    assert all(0 <= s <= 2**i for i, s in enumerate(sleeps))
    assert len(set(sleeps)) == len(sleeps)  # jittered, not a fixed schedule


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadError("reset"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("cut"),
        httpx.ConnectError("refused"),
        httpx.Response(500),
    ],
    ids=["read-error", "read-timeout", "dropped", "connect-error", "500"],
)
def test_idempotent_requests_are_retried(failure: httpx.Response | Exception) -> None:
    recorder = Recorder(failure, httpx.Response(200, json=token_json("g")))
    driver_for(recorder).revoke_token("g")
    assert len(recorder.requests) == 2


@pytest.mark.parametrize(
    "failure",
    [
        httpx.RemoteProtocolError("peer closed"),
        httpx.ReadTimeout("slow"),
        httpx.ReadError("reset"),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(429),
        httpx.Response(201, text="{not json"),
    ],
    ids=["dropped", "read-timeout", "read-error", "502", "503", "429", "garbled-201"],
)
def test_lost_create_is_not_retried(failure: httpx.Response | Exception) -> None:
    """A proxy may pass a create on and answer 5xx or 429 itself: the caller looks first."""
    sleeps: list[float] = []
    recorder = Recorder(failure, created_response())
    with pytest.raises(CreateOutcomeUnknown) as caught:
        driver_for(recorder, sleeps).create_token(request())
    assert caught.value.description == "d [ppm-tokens:ns/x]"
    assert len(recorder.requests) == 1
    assert sleeps == []


def test_a_refused_create_carries_the_wait_the_server_asked_for() -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "7"}))
    with pytest.raises(CreateOutcomeUnknown) as caught:
        driver_for(recorder).create_token(request())
    assert caught.value.retry_after == 7.0


def test_create_that_never_connected_is_retried() -> None:
    recorder = Recorder(httpx.ConnectError("refused"), created_response())
    created = driver_for(recorder).create_token(request())
    assert created.value.reveal() == "new.token.value"
    assert len(recorder.requests) == 2
    body = json.loads(recorder.requests[0].content)
    assert body == {
        "description": "d [ppm-tokens:ns/x]",
        "user": "u",
        "scope": "repos:read",
        "resources": ["pypi"],
        "expires": "2027-03-31T12:00:00Z",
    }


# The server's clock ----------------------------------------------------------------------------


def test_the_server_clock_is_its_latest_date_running_on_here() -> None:
    """What apply promises is counted on the server's clock: its answers' Date, not ours."""
    server_time = datetime(2031, 5, 1, 8, 30, tzinfo=UTC)
    dated = {"Date": format_datetime(server_time, usegmt=True)}
    recorder = Recorder(httpx.Response(200, json=[]), httpx.Response(200, json=[], headers=dated))
    driver = driver_for(recorder)
    driver.list_resources()  # the repositories' answer carries no Date, the sources' does
    told = driver.server_now()
    # Never earlier than the server's time: a Date is rounded down to the second.
    assert told is not None and server_time + timedelta(seconds=1) <= told
    assert told < server_time + timedelta(seconds=30)
    assert driver_for(Recorder(httpx.Response(200, json=[]))).server_now() is None


@pytest.mark.parametrize("header", ["", "yesterday", "Mon, 99 Foo 2031 25:61:00 GMT"])
def test_an_unreadable_date_tells_no_server_time(header: str) -> None:
    driver = driver_for(Recorder(httpx.Response(200, json=[], headers={"Date": header})))
    driver.list_resources()
    assert driver.server_now() is None


# Error mapping and pagination ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "text"),
    [
        (401, AuthError, "refused (401)"),
        (403, AuthError, "PACKAGEMANAGER_TOKEN"),
        (404, NotFoundError, "not found"),
        (400, RequestRejected, "bad scope"),
        (409, RequestRejected, "bad scope"),
    ],
)
def test_status_mapping(status: int, error: type[Exception], text: str) -> None:
    recorder = Recorder(httpx.Response(status, json={"error": "bad scope"}))
    with pytest.raises(error, match=re.escape(text)):
        driver_for(recorder).list_tokens()
    assert len(recorder.requests) == 1


def paged_server(
    tokens: list[dict[str, object]], seen: list[tuple[str, str]], *, cap: int = 1000
) -> Handler:
    def handler(req: httpx.Request) -> httpx.Response:
        seen.append((req.url.params["_limit"], req.url.params["_page"]))
        limit = min(int(req.url.params["_limit"]), cap)
        page = int(req.url.params["_page"])
        return httpx.Response(200, json=tokens[(page - 1) * limit : page * limit])

    return handler


def test_pagination_reads_until_an_empty_page() -> None:
    tokens = [token_json(f"g{i}") for i in range(7)]
    seen: list[tuple[str, str]] = []

    listed = driver_for(paged_server(tokens, seen), page_size=3).list_tokens()

    assert [t.guid for t in listed] == [f"g{i}" for i in range(7)]
    assert seen == [("3", "1"), ("3", "2"), ("3", "3"), ("3", "4")]


def test_a_page_shorter_than_asked_is_not_the_last() -> None:
    """A proxy caps pages at 2 while the client asks for 3: every token is still read."""
    tokens = [token_json(f"g{i}") for i in range(7)]
    seen: list[tuple[str, str]] = []

    listed = driver_for(paged_server(tokens, seen, cap=2), page_size=3).list_tokens()

    assert [t.guid for t in listed] == [f"g{i}" for i in range(7)]
    assert [page for _, page in seen] == ["1", "2", "3", "4", "5"]


def test_a_total_from_the_server_saves_the_empty_page() -> None:
    tokens = [token_json(f"g{i}") for i in range(7)]
    seen: list[tuple[str, str]] = []
    inner = paged_server(tokens, seen, cap=2)

    def with_total(req: httpx.Request) -> httpx.Response:
        response = inner(req)
        response.headers["X-Total-Count"] = "7"
        return response

    listed = driver_for(with_total, page_size=3).list_tokens()

    assert len(listed) == 7 and [page for _, page in seen] == ["1", "2", "3", "4"]


def test_a_server_that_ignores_the_page_is_reported_not_looped_on() -> None:
    tokens = [token_json(f"g{i}") for i in range(3)]
    recorder = Recorder(httpx.Response(200, json=tokens))

    with pytest.raises(ServerError, match="ignores _page") as caught:
        driver_for(recorder, page_size=3).list_tokens()

    assert len(recorder.requests) == 2
    assert "page 2 lists only tokens of earlier pages" in str(caught.value)


def test_requests_carry_the_bearer_token_and_no_credentials_in_urls() -> None:
    recorder = Recorder(httpx.Response(200, json=[]))
    driver_for(recorder).list_resources()
    assert [r.url.path for r in recorder.requests] == ["/__api__/repos", "/__api__/sources"]
    assert all(r.headers["authorization"] == f"Bearer {ADMIN.reveal()}" for r in recorder.requests)
    assert all(ADMIN.reveal() not in str(r.url) for r in recorder.requests)


# Redaction -------------------------------------------------------------------------------------


def test_no_token_in_logs_or_exception_messages(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    value = "checked.token.value"
    echo = {"error": f"token {ADMIN.reveal()} refused"}
    recorder = Recorder(
        httpx.Response(503), httpx.RemoteProtocolError("cut"), httpx.Response(401, json=echo)
    )
    driver = driver_for(recorder)
    errors: list[str] = []
    for call in (
        driver.list_tokens,
        lambda: driver.create_token(request()),
        lambda: driver.check_token(Secret(value), token_from_json(token_json("g"))),
    ):
        try:
            call()
        except Exception as exc:  # every failure's text is inspected
            errors.append(f"{exc!s} {exc!r}")
    assert len(errors) == 3
    text = caplog.text + "\n".join(errors)
    assert "GET /__api__/tokens -> 503 (attempt 1)" in caplog.text
    assert ADMIN.reveal() not in text
    assert value not in text
    # The server echoed the admin token in its error message: it is scrubbed, not repeated.
    assert "token (sensitive value) refused" in errors[0]


# Parsing -------------------------------------------------------------------------------------


def test_token_json_is_read_tolerantly() -> None:
    token = token_from_json(
        {
            "id": "g1",
            "description": "d",
            "username": "ci",
            "scopes": [{"scope": "sources:write", "resources": ["x"]}],
            "resources": [{"name": "internal-src", "id": "s-1"}],
            "resource_ids": [{"id": "s-1"}],
            "created_at": 1_800_000_000,
            "expires_at": "2027-06-01T00:00:00",
            "revoked": True,
            "email": "",
        }
    )
    assert token.guid == "g1"
    assert token.user == "ci"
    assert token.scope == "sources:write"
    assert token.resources == ("internal-src",)
    assert token.resource_ids == ("s-1",)
    assert token.created == datetime.fromtimestamp(1_800_000_000, UTC)
    assert token.expires == datetime(2027, 6, 1, tzinfo=UTC)
    assert token.revoked == token.created
    assert token.email is None


@pytest.mark.parametrize(
    "data", [{"description": "no guid"}, {"guid": "g"}, {"guid": "g", "created": "yesterday"}]
)
def test_unreadable_tokens_are_server_errors(data: dict[str, object]) -> None:
    with pytest.raises(ServerError):
        token_from_json(data)


def test_jwt_claims_without_verification() -> None:
    assert jwtinfo.token_guid(ADMIN.reveal()) == "admin-guid"
    assert driver_for(Recorder(httpx.Response(200))).self_guid() == "admin-guid"
    assert jwtinfo.token_guid("not-a-jwt") is None
    assert jwtinfo.unverified_claims("a.!!!.c") is None
    assert jwtinfo.unverified_claims("a.WzFd.c") is None  # a JSON list, not claims


def test_a_404_on_a_listing_points_at_the_server_address() -> None:
    # A wrong PACKAGEMANAGER_ADDRESS (a path, another service) answers 404 to the token list.
    recorder = Recorder(httpx.Response(404, text="Not Found"))
    with pytest.raises(NotFoundError) as raised:
        driver_for(recorder).list_tokens()
    message = str(raised.value)
    assert "PACKAGEMANAGER_ADDRESS" in message and "--server" in message
    assert "Posit Package Manager" in message


@pytest.mark.parametrize("status", [200, 400])
def test_an_answer_nested_past_the_parser_is_an_error_not_a_crash(status: int) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=deep, headers={"Content-Type": "application/json"})

    with pytest.raises(ServerError) as raised:
        driver_for(handler).list_tokens()
    assert len(str(raised.value)) < 500  # the body quoted is cut, as any server text is
