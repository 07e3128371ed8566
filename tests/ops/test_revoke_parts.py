"""The revoke command's parts that need no server: reading a token back out of a payload, the
post-revoke check's polling (its clock passed in), and the incident record."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from reconciler.commands.revoke import RevokeOptions, Waiting, check_revoked
from reconciler.errors import ServerError
from reconciler.ops.incident import (
    CheckMethod,
    Incident,
    Replacement,
    RevocationCheck,
    render_incident,
)
from reconciler.ops.view import build_views
from reconciler.secret import Secret
from reconciler.server.model import LiveToken
from reconciler.spec.model import SecretFormat
from reconciler.stores.base import SecretMeta
from reconciler.stores.formats import render_payload, token_from_payload
from tests.jwt_shapes import jwt_shaped
from tests.ops.helpers import NOW, live
from tests.ops.seed import HOSTILE

VALUE = Secret(jwt_shaped("g"))


def test_token_from_each_payload_format() -> None:
    meta = SecretMeta("g", "n", "ns", NOW, None, "repos:read")
    for fmt in SecretFormat:
        payload = render_payload(VALUE, fmt, server_url="https://ppm.example.com", meta=meta)
        assert token_from_payload(payload, fmt.value) == VALUE
    assert token_from_payload(Secret("not json"), "json") is None
    assert token_from_payload(Secret("machine h login x"), "netrc") is None
    assert token_from_payload(Secret("  \n"), None) is None


class SlowServer:
    """Accepts the revoked value for `lag` checks (propagation), then refuses it."""

    def __init__(self, lag: int, *, errors: int = 0) -> None:
        self.lag, self.errors, self.checks = lag, errors, 0

    def check_token(self, value: Secret, token: LiveToken) -> bool:
        self.checks += 1
        if self.errors:
            self.errors -= 1
            raise ServerError("503 from the server")
        return self.checks <= self.lag

    def list_tokens(self) -> list[LiveToken]:
        token = live("g")
        if self.checks >= self.lag:
            token = dataclasses.replace(token, revoked=NOW)
        self.checks += 1
        return [token]


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def check(
    server: SlowServer, value: Secret | None, deadline: float = 60
) -> tuple[RevocationCheck, FakeTime]:
    clock = FakeTime()
    view = build_views([live("g")], [], NOW)[0]
    options = RevokeOptions("g", check_interval=2.0, check_deadline=deadline)
    result = check_revoked(
        view,
        server,  # type: ignore[arg-type]
        value=value,
        source="store 'local', secret 'g'",
        options=options,
        waiting=Waiting(sleep=clock.sleep, monotonic=clock.monotonic),
    )
    return result, clock


def test_polls_until_the_value_is_refused() -> None:
    result, clock = check(SlowServer(lag=3, errors=1), VALUE)
    assert result.confirmed and result.method is CheckMethod.VALUE
    assert clock.sleeps == [2.0] * 3  # an error, two acceptances, then refused
    assert "is refused after 6s" in result.describe()


def test_gives_up_at_the_deadline() -> None:
    result, clock = check(SlowServer(lag=1000), VALUE, deadline=10)
    assert not result.confirmed
    assert clock.now == 10
    assert "was still accepted" in result.describe()


def test_without_the_value_checks_the_listing() -> None:
    result, _ = check(SlowServer(lag=2), None)
    assert result.confirmed and result.method is CheckMethod.LISTING
    assert "listing" in result.describe()


def test_incident_record_names_both_guids_and_escapes() -> None:
    view = build_views([live("old-guid", HOSTILE, age=timedelta(days=3))], [], NOW)[0]
    record = render_incident(
        Incident(
            revoked=view,
            at=NOW,
            server="https://ppm.example.com",
            check=RevocationCheck(CheckMethod.VALUE, True, 0.0, "store 'local', secret 'x'"),
            replacement=Replacement("new-guid", "local", "x"),
            next_apply="nothing to do",
        )
    )
    assert "old-guid" in record and "new-guid" in record
    assert "<script>" not in record and "\x1b" not in record and "\u202e" not in record
    assert "## What consumers must do" in record
    assert VALUE.reveal() not in record
