"""Every HTTP answer is read to a bound, in size and in time: a server, Vault, GitHub API or
Actions OIDC token service (or whatever a pull request points one at) sending a body without
end, or a byte at a time, fails the call with a message, and no run holds it whole or waits for
it past the call's deadline."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

import pytest

from reconciler.deadline import Deadline
from reconciler.desired.model import IdentitySource, IdentityToken, StoreConfig
from reconciler.errors import ServerError, StoreError, TimedOut
from reconciler.secret import Secret
from reconciler.server import federation
from reconciler.server.http import HttpDriver
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import open_vault_store
from tests.endless import endless_server
from tests.jwt_shapes import jwt_shaped

ADMIN = Secret(jwt_shaped("00000000-0000-4000-8000-0000000000aa"))


@pytest.mark.timeout(60)
def test_a_server_answer_past_the_bound_is_refused() -> None:
    with (
        endless_server("huge") as url,
        HttpDriver(url, ADMIN, deadline=30) as driver,
        pytest.raises(ServerError, match="longer than 64 MiB"),
    ):
        driver.list_tokens()


@pytest.mark.timeout(60)
def test_a_server_answer_that_trickles_ends_at_the_deadline() -> None:
    with endless_server("trickle") as url, HttpDriver(url, ADMIN, deadline=1) as driver:
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            driver.list_tokens()
    assert time.monotonic() - started < 10
    assert isinstance(caught.value, TimedOut)
    assert "did not answer within 1 s (deadline: server.timeout)" in str(caught.value)


def open_vault(url: str, tmp_path: Path) -> object:
    config = StoreConfig(
        "vault",
        "vault",
        MappingProxyType({"address": url, "mount": "secret", "prefix": "ppm/", "timeout": 1}),
    )
    context = StoreContext(
        spec_dir=tmp_path,
        env={"VAULT_TOKEN": "hvs.not-a-real-token"},
        now=lambda: datetime.now(UTC),
    )
    return open_vault_store(config, context)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("mode", "refused"),
    [("huge", "longer than 64 MiB"), ("trickle", "did not answer within 1 s")],
)
def test_a_vault_answer_is_read_to_the_same_bounds(tmp_path: Path, mode: str, refused: str) -> None:
    with endless_server(mode) as url:
        store = open_vault(url, tmp_path)
        started = time.monotonic()
        try:
            with pytest.raises(StoreError, match=refused):
                store.read_meta_many(["ds-read"])  # type: ignore[attr-defined]
        finally:
            store.close()  # type: ignore[attr-defined]
    assert time.monotonic() - started < 10


@pytest.mark.timeout(60)
def test_the_actions_oidc_token_request_that_trickles_ends_at_its_deadline(
    tmp_path: Path,
) -> None:
    source = IdentityToken(IdentitySource.GITHUB_ACTIONS, "ppm")
    with endless_server("trickle") as url:
        env = {federation.ACTIONS_URL: f"{url}/token", federation.ACTIONS_TOKEN: "not-a-token"}
        started = time.monotonic()
        with pytest.raises(ServerError) as caught:
            federation.identity_token(
                source, env, tmp_path, deadline=Deadline.start(1, "server.timeout")
            )
    assert time.monotonic() - started < 10
    assert isinstance(caught.value, TimedOut)
    assert "the GitHub Actions OIDC token request did not answer within 1 s" in str(caught.value)
