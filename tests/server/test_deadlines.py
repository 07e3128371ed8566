"""One overall deadline per request to the server, retries included (server.timeout): a server
that accepts connections and never answers fails the request when it passes, with a message that
names the request and the setting; no retry or wait starts that would end after it."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from reconciler.commands.runtime import Environment, GlobalOptions, admin_credential, open_driver
from reconciler.deadline import Deadline
from reconciler.desired import load_spec
from reconciler.desired.model import Driver as DriverKind
from reconciler.errors import CreateOutcomeUnknown, ServerError, TimedOut
from reconciler.secret import Secret
from reconciler.server import federation
from reconciler.server.http import HttpDriver
from tests.jwt_shapes import jwt_shaped
from tests.silent import silent_server
from tests.stores.test_vault_files import IDENTITY_JWT

from .test_http_emulator import request
from .test_rspm_driver import FAKE_RSPM, clean_env

ADMIN = Secret(jwt_shaped("00000000-0000-4000-8000-0000000000aa"))


class Clock:
    """A monotonic clock that moves only when the code under test sleeps or is answered."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_server_that_never_answers_fails_the_request_at_its_deadline() -> None:
    with silent_server() as silent, HttpDriver(silent.url, ADMIN, deadline=0.5) as driver:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            driver.list_tokens()
        elapsed = time.monotonic() - started
    assert 0.4 < elapsed < 3
    assert isinstance(caught.value, TimedOut)
    assert str(caught.value) == (
        f"GET {silent.url}/__api__/tokens did not answer within 0.5 s (deadline: server.timeout)"
    )


def test_a_create_that_never_answers_may_have_made_a_token() -> None:
    with (
        silent_server() as silent,
        HttpDriver(silent.url, ADMIN, deadline=0.5) as driver,
        pytest.raises(CreateOutcomeUnknown) as caught,
    ):
        driver.create_token(request("a token [ppm-tokens:t/a]"))
    assert isinstance(caught.value, TimedOut)
    assert caught.value.description == "a token [ppm-tokens:t/a]"
    assert str(caught.value) == (
        f"POST {silent.url}/__api__/tokens did not answer within 0.5 s "
        "(deadline: server.timeout); the token may exist"
    )


def _busy(
    clock: Clock,
    status: int,
    headers: dict[str, str] | None = None,
    starts: list[float] | None = None,
) -> httpx.Client:
    def answer(request: httpx.Request) -> httpx.Response:
        (starts if starts is not None else []).append(clock.now)
        clock.now += 1  # each answer takes a second
        return httpx.Response(status, headers=headers or {})

    return httpx.Client(transport=httpx.MockTransport(answer))


def test_retries_stop_where_the_deadline_leaves_no_time_for_another() -> None:
    clock = Clock()
    starts: list[float] = []
    client = _busy(clock, 503, starts=starts)
    driver = HttpDriver(
        "https://ppm.example.com", ADMIN, client=client, deadline=4, max_attempts=50,
        backoff_base=1, backoff_cap=1, sleep=clock.sleep, monotonic=clock,
    )  # fmt: skip
    with pytest.raises(ServerError) as caught:
        driver.list_tokens()
    assert isinstance(caught.value, TimedOut)
    assert str(caught.value).startswith(
        "GET https://ppm.example.com/__api__/tokens: the server answered 503; gave up after "
    )
    assert str(caught.value).endswith("attempts, at the 4 s deadline (server.timeout)")
    assert len(starts) >= 2 and all(start < 4 for start in starts)  # none after the deadline


def test_a_wait_the_server_asks_for_past_the_deadline_is_not_waited() -> None:
    clock = Clock()
    client = _busy(clock, 429, {"retry-after": "90"})
    driver = HttpDriver(
        "https://ppm.example.com", ADMIN, client=client, deadline=60, sleep=clock.sleep,
        monotonic=clock,
    )  # fmt: skip
    with pytest.raises(ServerError, match="answered 429; gave up after 1 attempt, at the 60 s"):
        driver.list_tokens()
    assert clock.now == 1  # no 90 s sleep


def test_server_timeout_in_the_spec_bounds_both_drivers(tmp_path: Path) -> None:
    spec_file = tmp_path / "tokens.yaml"
    spec_file.write_text(
        "version: 1\n"
        "server: {url: 'http://127.0.0.1:9', timeout: 0.5}\n"
        "stores: {local: {type: file, path: store}}\n"
        "defaults: {store: local}\n"
        "tokens: []\n"
    )
    spec = load_spec(spec_file, now=datetime.now(UTC))
    env = Environment(
        clean_env(PACKAGEMANAGER_TOKEN=ADMIN.reveal(), FAKE_RSPM_HANG="list"), tmp_path
    )
    with silent_server() as silent:
        http = open_driver(GlobalOptions(server=silent.url), env, spec)
        with http, pytest.raises(ServerError, match=r"within 0\.5 s \(deadline: server\.timeout"):
            http.list_resources()
        rspm = open_driver(
            GlobalOptions(server=silent.url, driver=DriverKind.RSPM, rspm=str(FAKE_RSPM)), env, spec
        )
        with rspm, pytest.raises(ServerError) as caught:
            rspm.list_tokens()
    assert str(caught.value) == (
        "rspm list tokens did not finish within 0.5 s (deadline: server.timeout)"
    )


def _federated_spec(directory: Path, timeout: str) -> Path:
    (directory / "identity.jwt").write_text(IDENTITY_JWT)
    path = directory / "tokens.yaml"
    path.write_text(
        "version: 1\n"
        f"server: {{timeout: {timeout}, auth: {{type: identity-federation, "
        "identity_token: {file: identity.jwt}}}\n"
        "tokens: []\n",
        encoding="utf-8",
    )
    return path


def test_a_token_exchange_that_never_answers_fails_at_server_timeout(tmp_path: Path) -> None:
    """The exchange is a request to the server: its deadline is server.timeout's."""
    spec = load_spec(_federated_spec(tmp_path, "0.5"), now=datetime.now(UTC))
    with silent_server() as silent:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            admin_credential(GlobalOptions(server=silent.url), Environment({}, tmp_path), spec)
        elapsed = time.monotonic() - started
    assert elapsed < 3
    assert isinstance(caught.value, TimedOut)
    assert str(caught.value) == (
        f"POST {silent.url}/__api__/token: the identity token exchange did not answer within "
        "0.5 s (deadline: server.timeout)"
    )


def test_a_token_exchange_never_waits_past_its_deadline() -> None:
    """A server asking for a minute's wait between attempts: the wait that would end after the
    deadline is not started."""
    clock = Clock()
    answers = httpx.MockTransport(
        lambda request: httpx.Response(429, headers={"Retry-After": "60"}, json={})
    )
    with httpx.Client(transport=answers) as client, pytest.raises(ServerError) as caught:
        federation.exchange(
            client,
            "https://ppm.example.com",
            Secret("identity"),
            now=datetime.now(UTC),
            deadline=Deadline.start(30, "server.timeout", clock),
            sleep=clock.sleep,
        )
    assert isinstance(caught.value, TimedOut)
    assert clock.now == 0  # no wait started
    assert "gave up after 1 attempt, at the 30 s deadline (server.timeout)" in str(caught.value)
