"""The `http` driver against the emulator over real HTTP, with and without injected faults."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import BOOTSTRAP_DESCRIPTION, RunningEmulator
from reconciler.errors import AuthError, CreateOutcomeUnknown, NotFoundError, RequestRejected
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from reconciler.server.model import TokenRequest


def request(description: str = "a token", **fields: object) -> TokenRequest:
    values: dict[str, object] = {
        "description": description,
        "user": "analyst@example.com",
        "scope": "repos:read",
        "resources": ("pypi",),
        "expires": datetime.now(UTC) + timedelta(days=30),
    }
    values.update(fields)
    return TokenRequest(**values)  # type: ignore[arg-type]


def fast_driver(emulator: RunningEmulator, token: Secret, **options: object) -> HttpDriver:
    return HttpDriver(emulator.url, token, backoff_base=0.001, backoff_cap=0.01, **options)  # type: ignore[arg-type]


def test_create_list_revoke_and_resources(http_driver: HttpDriver) -> None:
    created = http_driver.create_token(request("ds read", resources=("cran", "pypi")))
    assert created.token.resources == ("cran", "pypi")
    assert created.value.reveal().count(".") == 2
    resources = {r.name: r for r in http_driver.list_resources()}
    assert resources["pypi"].kind == "repo"
    assert resources["git-builder"].kind == "source"
    assert created.token.resource_ids == (resources["cran"].id, resources["pypi"].id)
    listed = {t.guid: t for t in http_driver.list_tokens()}
    assert listed[created.token.guid] == created.token
    http_driver.revoke_token(created.token.guid)
    http_driver.revoke_token(created.token.guid)  # idempotent
    revoked = {t.guid: t for t in http_driver.list_tokens()}[created.token.guid]
    assert revoked.revoked is not None
    with pytest.raises(NotFoundError):
        http_driver.revoke_token("00000000-0000-0000-0000-000000000000")


def test_never_expiring_token_round_trips(http_driver: HttpDriver) -> None:
    created = http_driver.create_token(
        request(scope="sources:write", resources=("internal-src",), expires=None)
    )
    assert created.token.expires is None
    assert created.token.resources == ("internal-src",)


def test_self_guid_is_the_admin_tokens_guid(http_driver: HttpDriver) -> None:
    admin = [t for t in http_driver.list_tokens() if t.description == BOOTSTRAP_DESCRIPTION]
    assert http_driver.self_guid() == admin[0].guid


def test_check_token(http_driver: HttpDriver, emulator_control: EmulatorControl) -> None:
    pypi = http_driver.create_token(request(resources=("pypi",)))
    cran = http_driver.create_token(request(resources=("cran",)))
    star = http_driver.create_token(request(resources=("*",)))
    meta = http_driver.create_token(request(scope="metadata:read", resources=()))
    for created in (pypi, cran, star, meta):
        assert http_driver.check_token(created.value, created.token), created.token.resources
    # A value checked against another token's repositories does not authenticate.
    assert not http_driver.check_token(pypi.value, cran.token)
    http_driver.revoke_token(meta.token.guid)
    assert not http_driver.check_token(meta.value, meta.token)
    emulator_control.recreate_repo("pypi")
    assert not http_driver.check_token(pypi.value, pypi.token)
    assert http_driver.check_token(cran.value, cran.token)


def test_rejections_carry_the_servers_message(http_driver: HttpDriver) -> None:
    with pytest.raises(RequestRejected, match="unknown repository 'nope'"):
        http_driver.create_token(request(resources=("nope",)))


def test_refused_admin_tokens(http_driver: HttpDriver, emulator: RunningEmulator) -> None:
    reader = http_driver.create_token(request())
    with fast_driver(emulator, reader.value) as driver, pytest.raises(AuthError, match="403"):
        driver.list_tokens()
    http_driver.revoke_token(reader.token.guid)
    with fast_driver(emulator, reader.value) as driver, pytest.raises(AuthError, match="401"):
        driver.list_tokens()


def test_listing_survives_injected_errors_and_rate_limits(
    http_driver: HttpDriver,
    emulator: RunningEmulator,
    admin_token: Secret,
    emulator_control: EmulatorControl,
) -> None:
    for i in range(24):
        http_driver.create_token(request(f"token {i}"))
    with fast_driver(emulator, admin_token, page_size=4, max_attempts=12) as driver:
        clean = driver.list_tokens()
        emulator_control.clear_log()
        emulator_control.set_faults(
            error_rate=0.15, rate_limit_rate=0.15, retry_after_seconds=0.001, seed=7
        )
        faulty = driver.list_tokens()
    assert len(clean) == 25
    assert faulty == clean
    statuses = [
        e["status"] for e in emulator_control.request_log() if e["path"] == "/__api__/tokens"
    ]
    assert 503 in statuses and 429 in statuses  # the faults really happened


def test_dropped_create_response_leaves_exactly_one_token(
    http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    emulator_control.set_faults(drop_create_responses=1)
    with pytest.raises(CreateOutcomeUnknown) as caught:
        http_driver.create_token(request("lost answer [ppm-tokens:ns/lost]"))
    assert caught.value.description == "lost answer [ppm-tokens:ns/lost]"
    matching = [t for t in http_driver.list_tokens() if t.description.endswith("ns/lost]")]
    assert len(matching) == 1
    assert emulator_control.faults()["drop_create_responses"] == 1  # configured, now used up
    after = http_driver.create_token(request("next one"))  # the next create is answered
    assert after.token.description == "next one"


def test_injected_503_on_create_is_an_unknown_outcome(
    http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    emulator_control.set_faults(error_rate=1.0, paths="^/__api__/tokens$")
    with pytest.raises(CreateOutcomeUnknown):
        http_driver.create_token(request("refused"))
    emulator_control.clear_faults()
    posts = [e for e in emulator_control.request_log() if e["method"] == "POST"]
    assert [e["status"] for e in posts] == [503]  # sent once, never retried


def test_rate_limited_create_is_an_unknown_outcome_with_the_wait(
    http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    """A 429 may come from a proxy that passed the create on: the caller must look first."""
    emulator_control.set_faults(
        rate_limit_rate=1.0, retry_after_seconds=0.25, paths="^/__api__/tokens$"
    )
    with pytest.raises(CreateOutcomeUnknown) as caught:
        http_driver.create_token(request("patience"))
    emulator_control.clear_faults()
    posts = [e["status"] for e in emulator_control.request_log() if e["method"] == "POST"]
    assert posts == [429]
    assert caught.value.retry_after == 0.25


def test_held_response_is_released_when_faults_clear(
    http_driver: HttpDriver, emulator_control: EmulatorControl
) -> None:
    emulator_control.set_faults(hold={"method": "POST", "path_regex": "^/__api__/tokens$"})
    outcome: list[object] = []
    worker = threading.Thread(
        target=lambda: outcome.append(http_driver.create_token(request("held")))
    )
    worker.start()
    deadline = time.monotonic() + 10
    while emulator_control.faults()["held"] != 1:
        assert time.monotonic() < deadline, "the create was never held"
        time.sleep(0.005)
    # Committed while held: the token already exists on the server.
    assert "held" in [t.description for t in http_driver.list_tokens()]
    assert outcome == []
    emulator_control.clear_faults()
    worker.join(timeout=10)
    assert len(outcome) == 1
    assert emulator_control.faults()["held"] == 0


def test_held_create_times_out_as_unknown_outcome(
    http_driver: HttpDriver,
    emulator: RunningEmulator,
    admin_token: Secret,
    emulator_control: EmulatorControl,
) -> None:
    emulator_control.set_faults(hold={"method": "POST", "path_regex": "^/__api__/tokens$"})
    driver = fast_driver(emulator, admin_token, timeout=0.3)
    with driver, pytest.raises(CreateOutcomeUnknown, match="ReadTimeout"):
        driver.create_token(request("slow"))
    deadline = time.monotonic() + 10
    while emulator_control.faults()["held"]:  # the client went away: the hold ends
        assert time.monotonic() < deadline
        time.sleep(0.005)
    assert [t.description for t in http_driver.list_tokens()].count("slow") == 1
