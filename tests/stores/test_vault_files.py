"""The files a vault store's settings name (`jwt_file`, `ca_cert`) come from the spec, which a
pull request writes, and `plan` logs in with them: each is read to a bound through the open
descriptor, never a FIFO or a device, and only a JSON Web Token that is not a PPM token goes to
the login, so no file on the runner (a netrc, the process environment, a stored PPM token) can
be sent to a Vault the pull request points at."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import open_vault_store

NOW = datetime(2027, 3, 1, tzinfo=UTC)


def jwt(claims: dict[str, str]) -> str:
    """A compact JWT with these claims (built here: the repository holds none)."""
    parts = ({"alg": "RS256"}, claims, {"sig": "not-a-real-signature"})
    encoded = (base64.urlsafe_b64encode(json.dumps(part).encode()) for part in parts)
    return ".".join(part.rstrip(b"=").decode() for part in encoded)


# What Vault's jwt auth takes: an identity token of a CI job, not a PPM token.
IDENTITY_JWT = jwt({"iss": "https://token.actions.example", "aud": "ppm-tokens"})


class Vault(httpx.MockTransport):
    """Answers every login with a token and every listing with nothing; records the paths."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        if request.url.path.endswith("/login"):
            return httpx.Response(200, json={"auth": {"client_token": "hvs.x"}})
        return httpx.Response(404, json={"errors": []})


def read_with(tmp_path: Path, vault: Vault, **settings: Any) -> None:
    options = {"address": "https://vault.example.com", "mount": "secret", "prefix": "ppm/"}
    config = StoreConfig("vault", "vault", MappingProxyType({**options, **settings}))
    context = StoreContext(spec_dir=tmp_path, env={}, http_transport=vault, now=lambda: NOW)
    store = open_vault_store(config, context)
    try:
        store.read_meta_many(["ds-read"])
    finally:
        store.close()


def jwt_login(path: Path) -> dict[str, object]:
    return {"auth_method": "jwt", "role": "ppm-tokens", "jwt_file": str(path)}


def test_a_jwt_file_holding_a_jwt_logs_in(tmp_path: Path) -> None:
    (tmp_path / "jwt").write_text(IDENTITY_JWT + "\n")
    vault = Vault()
    read_with(tmp_path, vault, **jwt_login(tmp_path / "jwt"))
    assert "/v1/auth/jwt/login" in vault.paths


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("machine ppm.example.com login __token__ password hunter2\n", id="netrc"),
        pytest.param("PACKAGEMANAGER_TOKEN=hunter2\0HOME=/root\0", id="environ"),
        pytest.param(jwt({"aud": "packagemanager", "jti": "hunter2"}), id="a-ppm-token"),
    ],
)
def test_a_jwt_file_holding_anything_else_is_never_sent(tmp_path: Path, content: str) -> None:
    (tmp_path / "jwt").write_text(content)
    vault = Vault()
    with pytest.raises(StoreError, match="cannot use the JWT file") as raised:
        read_with(tmp_path, vault, **jwt_login(tmp_path / "jwt"))
    assert vault.paths == []
    assert "hunter2" not in str(raised.value)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_jwt_file_that_is_no_small_regular_file_is_refused_unread(
    tmp_path: Path, kind: str
) -> None:
    path = not_a_small_file(tmp_path, kind)
    vault = Vault()
    with pytest.raises(StoreError, match="cannot use the JWT file"):
        read_with(tmp_path, vault, **jwt_login(path))
    assert vault.paths == []


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_ca_cert_that_is_no_small_regular_file_is_refused_unread(
    tmp_path: Path, kind: str
) -> None:
    path = not_a_small_file(tmp_path, kind)
    vault = Vault()
    with pytest.raises(StoreError, match="ca_cert"):
        read_with(tmp_path, vault, ca_cert=str(path), auth_method="approle")
    assert vault.paths == []


def not_a_small_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)  # nobody writes: opening it to read would wait for ever
    elif kind == "device":
        path.symlink_to("/dev/zero")  # read to its end, it never ends
    else:
        with path.open("wb") as handle:
            handle.truncate(1024**3)  # sparse
    return path


@pytest.mark.timeout(20)
def test_a_vault_token_helper_file_that_is_a_fifo_is_refused_unread(tmp_path: Path) -> None:
    """`~/.vault-token`, read when VAULT_TOKEN is not set: the operator's file, read to the
    same kind of bound."""
    os.mkfifo(tmp_path / ".vault-token")
    options = {"address": "https://vault.example.com", "mount": "secret", "prefix": "ppm/"}
    config = StoreConfig("vault", "vault", MappingProxyType(options))
    vault = Vault()
    context = StoreContext(
        spec_dir=tmp_path, env={"HOME": str(tmp_path)}, http_transport=vault, now=lambda: NOW
    )
    store = open_vault_store(config, context)
    try:
        with pytest.raises(StoreError, match="a named pipe"):
            store.read_meta_many(["ds-read"])
    finally:
        store.close()
    assert vault.paths == []
