"""A driver goes on with another admin token mid-run: every request after the switch carries
the new one (the http driver's and the rspm CLI's), and messages are scrubbed of both."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx
import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.errors import AuthError, RequestRejected
from reconciler.secret import Secret
from reconciler.server.credential import AdminCredential, HoldsCredential
from reconciler.server.http import HttpDriver
from reconciler.server.model import TokenRequest
from reconciler.server.rspm import Completed, RspmDriver
from tests.jwt_shapes import jwt_shaped

OLD = Secret(jwt_shaped("11111111-1111-4111-8111-111111111111"))
NEW = Secret(jwt_shaped("22222222-2222-4222-8222-222222222222"))


def test_the_switch_reaches_every_later_request_against_the_emulator(
    emulator: RunningEmulator, emulator_control: EmulatorControl, admin_token: Secret
) -> None:
    credential = AdminCredential(admin_token, "the first")
    with HttpDriver(emulator.url, credential) as driver:
        assert isinstance(driver, HoldsCredential)
        request = TokenRequest("successor", "ppm-tokens", "global:admin", (), None)
        successor = driver.create_token(request)
        before = driver.self_guid()
        emulator_control.clear_log()
        credential.switch(successor.value, "the successor")
        driver.list_tokens()
        assert driver.self_guid() == successor.token.guid != before
        assert driver.token_source == "the successor"
    actors = {e["actor"] for e in emulator_control.request_log() if e["path"] == "/__api__/tokens"}
    assert actors == {successor.token.guid}


def test_a_refusal_after_the_switch_names_the_new_source_and_quotes_no_value() -> None:
    def echo(request: httpx.Request) -> httpx.Response:
        # A server that quotes what it was sent, and an old value it remembers.
        said = f"bad {request.headers['authorization']} (was {OLD.reveal()})"
        status = 403 if request.method == "GET" else 400
        return httpx.Response(status, json={"error": said})

    credential = AdminCredential(OLD, "PACKAGEMANAGER_TOKEN")
    client = httpx.Client(transport=httpx.MockTransport(echo))
    driver = HttpDriver("https://ppm.example.com", credential, client=client)
    credential.switch(NEW, "the admin token in store 'vault' (vault) under 'ppm-admin'")
    with pytest.raises(RequestRejected) as rejected:
        driver.revoke_token("33333333-3333-4333-8333-333333333333")
    with pytest.raises(AuthError, match="check the admin token in store 'vault'") as refused:
        driver.list_tokens()
    for message in (str(rejected.value), str(refused.value)):
        assert NEW.reveal() not in message and OLD.reveal() not in message
        assert message.count("(sensitive value)") == 2


class Recorded:
    def __init__(self) -> None:
        self.tokens: list[str] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str], timeout: float) -> Completed:
        self.tokens.append(env["PACKAGEMANAGER_TOKEN"])
        return Completed(1, "", f"Error: 403 forbidden for {OLD.reveal()} and {NEW.reveal()}")


def test_the_rspm_cli_gets_the_token_in_use_and_its_errors_quote_neither() -> None:
    runner = Recorded()
    credential = AdminCredential(OLD, "PACKAGEMANAGER_TOKEN")
    driver = RspmDriver(["rspm"], "http://127.0.0.1:9", credential, env={}, runner=runner)
    with pytest.raises(AuthError):
        driver.list_tokens()
    credential.switch(NEW, "the successor")
    with pytest.raises(AuthError) as refused:
        driver.list_tokens()
    assert runner.tokens == [OLD.reveal(), NEW.reveal()]
    assert driver.self_guid() == "22222222-2222-4222-8222-222222222222"
    message = str(refused.value)
    assert OLD.reveal() not in message and NEW.reveal() not in message
    assert "check the successor" in message
