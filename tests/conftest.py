"""Fixtures shared by every test package: a real emulator on a random loopback port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.secret import Secret
from reconciler.server.http import HttpDriver
from tests.fakes.oidc_issuer import OidcIssuer, start_oidc_issuer


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[RunningEmulator]:
    """A fresh emulator (new SQLite db) per test; its admin token file lives in tmp_path,
    outside any git work tree."""
    state = tmp_path / "emulator-state"
    running = start_emulator(
        db_path=state / "emulator.sqlite3", admin_token_file=state / "admin.token"
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def admin_token(emulator: RunningEmulator) -> Secret:
    return Secret(emulator.admin_token())


@pytest.fixture
def emulator_control(emulator: RunningEmulator) -> Iterator[EmulatorControl]:
    with EmulatorControl(emulator.url, emulator.admin_token()) as control:
        yield control


@pytest.fixture
def http_driver(emulator: RunningEmulator, admin_token: Secret) -> Iterator[HttpDriver]:
    # Retries stay real but fast: tests inject faults and must not sleep for long.
    driver = HttpDriver(emulator.url, admin_token, backoff_base=0.01, backoff_cap=0.05)
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture(scope="session")
def oidc_issuer() -> Iterator[OidcIssuer]:
    """A local OpenID Connect issuer (discovery document, JWKS, an RS256 key made for the
    session) whose identity tokens an emulator can be told to trust."""
    issuer = start_oidc_issuer()
    try:
        yield issuer
    finally:
        issuer.stop()
