"""`--admin-token-file`: the emulator reads what is there to a bound (a FIFO or /dev/zero
named by mistake neither hangs nor fills memory) and replaces only an emulator token, never a
file that holds something else (a netrc, a key) named by a careless hand."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.emulator import server
from reconciler.errors import UsageError
from tests.stores.test_vault_files import jwt


def prepare(tmp_path: Path, token_file: Path) -> None:
    server.prepare(tmp_path / "emulator.sqlite3", token_file).db.close()


def test_an_old_emulators_token_is_replaced(tmp_path: Path) -> None:
    token_file = tmp_path / "admin.token"
    token_file.write_text(jwt({"aud": "packagemanager", "jti": "from-another-database"}) + "\n")
    prepare(tmp_path, token_file)
    assert "from-another-database" not in token_file.read_text()


@pytest.mark.parametrize("content", ["", "\n"])
def test_an_empty_file_is_filled(tmp_path: Path, content: str) -> None:
    token_file = tmp_path / "admin.token"
    token_file.write_text(content)
    prepare(tmp_path, token_file)
    assert token_file.read_text().count(".") == 2


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("machine ppm.example.com login __token__ password x\n", id="netrc"),
        pytest.param("-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n", id="a-key"),
        pytest.param(jwt({"aud": "ppm-tokens"}), id="another-jwt"),
    ],
)
def test_a_file_holding_anything_else_is_left_alone(tmp_path: Path, content: str) -> None:
    token_file = tmp_path / "admin.token"
    token_file.write_text(content)
    with pytest.raises(UsageError, match="not an admin token of the emulator"):
        prepare(tmp_path, token_file)
    assert token_file.read_text() == content


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_what_is_no_regular_file_is_refused_unread(tmp_path: Path, kind: str) -> None:
    token_file = tmp_path / "admin.token"
    if kind == "fifo":
        os.mkfifo(token_file)
    else:
        token_file.symlink_to("/dev/zero")
    with pytest.raises(UsageError, match="cannot use --admin-token-file"):
        prepare(tmp_path, token_file)
