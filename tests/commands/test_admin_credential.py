"""Where the admin token comes from: --token-file, else identity federation (an identity token
exchanged at the server, from a file, the variable PPM's CLI reads, or the GitHub Actions OIDC
request), else server.token_env, else PACKAGEMANAGER_TOKEN. Against the real emulator and a
local OpenID Connect issuer."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from reconciler.commands.runtime import (
    Environment,
    GlobalOptions,
    admin_credential,
    check_admin_source,
    open_driver,
)
from reconciler.commands.specs import resolve
from reconciler.desired import load_spec
from reconciler.desired.model import Spec
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import AuthError, ServerError, UsageError
from reconciler.secret import Secret
from reconciler.server import federation
from reconciler.server.http import HttpDriver
from tests.fakes.actions_oidc import start_actions_oidc
from tests.fakes.oidc_issuer import OidcIssuer

NOW = datetime(2026, 3, 1, tzinfo=UTC)
AUDIENCE = "https://ppm.example.com"


def federated_spec(directory: Path, identity_token: str = "") -> Spec:
    auth = (
        "{type: identity-federation"
        + (f", identity_token: {identity_token}" if identity_token else "")
        + "}"
    )
    path = directory / "tokens.yaml"
    path.write_text(
        "version: 1\n"
        f"server: {{auth: {auth}}}\n"
        f"stores: {{local: {{type: file, path: {directory / 'secrets'}}}}}\n"
        "tokens: []\n",
        encoding="utf-8",
    )
    return load_spec(path, now=NOW)


def env(**variables: str) -> Environment:
    return Environment(variables, Path.cwd())


def exchanges(control: EmulatorControl) -> int:
    return sum(1 for e in control.request_log() if e["path"] == "/__api__/token")


@pytest.fixture
def trusted(emulator_control: EmulatorControl, oidc_issuer: OidcIssuer) -> OidcIssuer:
    emulator_control.trust_issuers(oidc_issuer.trust(lifetime_seconds=900))
    return oidc_issuer


def test_an_identity_token_file_is_exchanged_for_a_working_admin_token(
    emulator: RunningEmulator, trusted: OidcIssuer, tmp_path: Path
) -> None:
    (tmp_path / "identity.jwt").write_text(trusted.identity_token() + "\n")
    spec = federated_spec(tmp_path, "{file: identity.jwt}")  # relative to the spec
    before = datetime.now(UTC)
    credential = admin_credential(GlobalOptions(server=emulator.url), env(), spec)
    assert credential.exchanged is not None
    assert credential.exchanged.scope == "global:admin"
    assert credential.exchanged.expires is not None
    assert before + timedelta(minutes=14) < credential.exchanged.expires
    assert credential.exchanged.expires < datetime.now(UTC) + timedelta(minutes=16)
    assert credential.source == "identity federation (the identity token file identity.jwt)"
    with HttpDriver(emulator.url, credential.value) as driver:
        assert driver.self_guid() == credential.exchanged.guid
        assert driver.list_tokens()  # it may list tokens: global:admin


def test_the_variable_ppms_cli_reads_is_the_default_source(
    emulator: RunningEmulator, trusted: OidcIssuer, tmp_path: Path
) -> None:
    token_file = tmp_path / "outside" / "identity.jwt"
    token_file.parent.mkdir()
    token_file.write_text(trusted.identity_token())
    spec = federated_spec(tmp_path)
    variables = env(PACKAGEMANAGER_IDENTITY_TOKEN_FILE=str(token_file))
    credential = admin_credential(GlobalOptions(server=emulator.url), variables, spec)
    assert credential.exchanged is not None and credential.exchanged.scope == "global:admin"
    unset = env()
    with pytest.raises(UsageError, match="PACKAGEMANAGER_IDENTITY_TOKEN_FILE is not set"):
        check_admin_source(GlobalOptions(server=emulator.url), unset, spec)


def test_the_github_actions_oidc_token_is_requested_for_the_audience(
    emulator: RunningEmulator, trusted: OidcIssuer, tmp_path: Path
) -> None:
    actions = start_actions_oidc(lambda audience: trusted.identity_token(aud=audience))
    try:
        spec = federated_spec(tmp_path, f"{{github_actions: {{audience: '{AUDIENCE}'}}}}")
        credential = admin_credential(
            GlobalOptions(server=emulator.url), env(**actions.env()), spec
        )
    finally:
        actions.stop()
    assert actions.audiences == [AUDIENCE]
    assert credential.exchanged is not None and credential.exchanged.scope == "global:admin"


def test_token_file_wins_and_an_unused_packagemanager_token_is_warned_about(
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    trusted: OidcIssuer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (tmp_path / "identity.jwt").write_text(trusted.identity_token())
    spec = federated_spec(tmp_path, "{file: identity.jwt}")
    admin_file = tmp_path / "admin.token"
    admin_file.write_text(emulator.admin_token())
    admin_file.chmod(0o600)
    emulator_control.clear_log()
    chosen = admin_credential(
        GlobalOptions(server=emulator.url, token_file=admin_file), env(), spec
    )
    assert chosen.value.reveal() == emulator.admin_token()
    assert exchanges(emulator_control) == 0

    with caplog.at_level(logging.WARNING):
        federated = admin_credential(
            GlobalOptions(server=emulator.url), env(PACKAGEMANAGER_TOKEN="stale-admin"), spec
        )
    assert federated.exchanged is not None
    assert exchanges(emulator_control) == 1
    assert "PACKAGEMANAGER_TOKEN is set, but" in caplog.text
    assert "stale-admin" not in caplog.text


def test_a_token_without_global_admin_is_refused_with_what_to_do(
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    oidc_issuer: OidcIssuer,
    tmp_path: Path,
) -> None:
    emulator_control.trust_issuers(oidc_issuer.trust(scope="repos:read", resources=["*"]))
    (tmp_path / "identity.jwt").write_text(oidc_issuer.identity_token())
    spec = federated_spec(tmp_path, "{file: identity.jwt}")
    with pytest.raises(AuthError) as refused:
        admin_credential(GlobalOptions(server=emulator.url), env(), spec)
    message = str(refused.value)
    assert "the PPM token it gave carries repos:read, not global:admin" in message
    assert "[IdentityFederation]" in message and "not documented" in message
    for value in emulator_control.issued_values():
        assert value not in message
    # doctor asks without the check, to say what the exchange gave.
    given = admin_credential(GlobalOptions(server=emulator.url), env(), spec, require_admin=False)
    assert given.exchanged is not None and given.exchanged.scope == "repos:read"


def test_a_refused_exchange_says_why_without_the_identity_token(
    emulator: RunningEmulator, trusted: OidcIssuer, tmp_path: Path
) -> None:
    identity = trusted.identity_token(aud="https://elsewhere.example.com")
    (tmp_path / "identity.jwt").write_text(identity)
    spec = federated_spec(tmp_path, "{file: identity.jwt}")
    with pytest.raises(AuthError) as refused:
        admin_credential(GlobalOptions(server=emulator.url), env(), spec)
    message = str(refused.value)
    assert "refused to exchange the identity token (400: invalid_request:" in message
    assert "audience is not https://ppm.example.com" in message
    assert identity not in message


def test_several_specs_are_checked_without_an_exchange_and_one_identity_serves_one_server(
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    trusted: OidcIssuer,
    tmp_path: Path,
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = federated_spec(tmp_path / "a")
    second = federated_spec(tmp_path / "b")
    token_file = tmp_path / "identity.jwt"
    token_file.write_text(trusted.identity_token())
    variables = env(PACKAGEMANAGER_IDENTITY_TOKEN_FILE=str(token_file))
    emulator_control.clear_log()
    one = resolve([first], GlobalOptions(server=emulator.url), variables)
    assert len(one) == 1 and exchanges(emulator_control) == 0
    first = replace(first, server=replace(first.server, url=emulator.url))
    second = replace(second, server=replace(second.server, url="https://ppm-eu.example.com"))
    with pytest.raises(UsageError, match="would both authenticate with the identity token file"):
        resolve([first, second], GlobalOptions(), variables)


def test_a_refused_exchanged_token_points_at_identity_federation(
    emulator: RunningEmulator, http_driver: HttpDriver, trusted: OidcIssuer, tmp_path: Path
) -> None:
    (tmp_path / "identity.jwt").write_text(trusted.identity_token())
    spec = federated_spec(tmp_path, "{file: identity.jwt}")
    options = GlobalOptions(server=emulator.url)
    credential = admin_credential(options, env(), spec)
    assert credential.exchanged is not None and credential.exchanged.guid is not None
    http_driver.revoke_token(credential.exchanged.guid)
    driver = open_driver(options, env(), spec, credential=credential)
    try:
        with pytest.raises(AuthError) as refused:
            driver.list_tokens()
    finally:
        driver.close()
    assert "check identity federation (the identity token file identity.jwt)" in str(refused.value)


def test_an_exchange_the_server_keeps_failing_is_tried_three_times(
    emulator: RunningEmulator, emulator_control: EmulatorControl, trusted: OidcIssuer
) -> None:
    emulator_control.set_faults(error_rate=1.0, paths="^/__api__/token$")
    slept: list[float] = []
    identity = Secret(trusted.identity_token())
    with httpx.Client(timeout=10) as client, pytest.raises(ServerError) as failed:
        federation.exchange(
            client, emulator.url, identity, now=datetime.now(UTC), sleep=slept.append
        )
    assert "the server answered 503: service unavailable (injected)" in str(failed.value)
    assert len(slept) == 2
    tried = [e["status"] for e in emulator_control.request_log() if e["path"] == "/__api__/token"]
    assert tried == [503, 503, 503]
