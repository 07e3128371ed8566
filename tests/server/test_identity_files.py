"""The identity token file identity federation exchanges (`server.auth.identity_token.file`, from
the spec; or the file PACKAGEMANAGER_IDENTITY_TOKEN_FILE names) is read to a bound through the
open descriptor, and only a JSON Web Token that is not a PPM token is sent to the server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.desired.model import IdentitySource, IdentityToken
from reconciler.errors import UsageError
from reconciler.server import federation
from tests.stores.test_vault_files import IDENTITY_JWT, jwt, not_a_small_file


def read(path: Path) -> str:
    source = IdentityToken(IdentitySource.FILE, str(path))
    return federation.identity_token(source, {}, path.parent).reveal()


def test_an_identity_token_is_read_without_its_line_ending(tmp_path: Path) -> None:
    (tmp_path / "identity.jwt").write_text(IDENTITY_JWT + "\n")
    assert read(tmp_path / "identity.jwt") == IDENTITY_JWT


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("machine ppm.example.com login __token__ password hunter2\n", id="netrc"),
        pytest.param("PACKAGEMANAGER_TOKEN=hunter2\0HOME=/root\0", id="environ"),
        pytest.param(jwt({"aud": "packagemanager", "jti": "hunter2"}), id="a-ppm-token"),
    ],
)
def test_a_file_holding_anything_else_is_never_sent(tmp_path: Path, content: str) -> None:
    (tmp_path / "identity.jwt").write_text(content)
    with pytest.raises(UsageError, match="cannot use the identity token file") as raised:
        read(tmp_path / "identity.jwt")
    assert "hunter2" not in str(raised.value)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["fifo", "device", "huge"])
def test_a_file_that_is_no_small_regular_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    with pytest.raises(UsageError, match="cannot use the identity token file"):
        read(not_a_small_file(tmp_path, kind))


def test_the_file_a_variable_names_is_held_to_the_same(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    source = IdentityToken(IdentitySource.ENV, "PACKAGEMANAGER_IDENTITY_TOKEN_FILE")
    env = {"PACKAGEMANAGER_IDENTITY_TOKEN_FILE": str(tmp_path / "fifo")}
    with pytest.raises(UsageError, match="a named pipe"):
        federation.identity_token(source, env, tmp_path)
