"""`--token-file`: the token alone, whatever line ending an editor left, and a warning when other
users can read the file."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from pathlib import Path

import pytest

from reconciler.commands.runtime import read_token_file
from reconciler.errors import UsageError
from tests.jwt_shapes import jwt_shaped

TOKEN = jwt_shaped("admin-guid")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(TOKEN.encode(), id="bare"),
        pytest.param(TOKEN.encode() + b"\n", id="newline"),
        pytest.param(TOKEN.encode() + b"\r\n", id="crlf"),
        pytest.param(TOKEN.encode() + b"\r", id="cr"),
        pytest.param(b"  " + TOKEN.encode() + b"\n\n", id="blank-lines"),
        pytest.param(b"\xef\xbb\xbf" + TOKEN.encode() + b"\r\n", id="bom"),
    ],
)
def test_the_token_is_read_without_its_line_ending(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "admin.token"
    path.write_bytes(content)
    path.chmod(0o600)
    assert read_token_file(path).reveal() == TOKEN


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_file_others_can_read_gets_a_warning(
    tmp_path: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "admin.token"
    path.write_text(TOKEN + "\n")
    path.chmod(mode)
    with caplog.at_level(logging.WARNING):
        assert read_token_file(path).reveal() == TOKEN
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert f"--token-file {path} can be read by other users (mode {oct(mode)})" in record.message
    assert f"chmod 600 {path}" in record.message
    assert TOKEN not in record.message


def test_a_private_file_gets_no_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "admin.token"
    path.write_text(TOKEN)
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING):
        read_token_file(path)
    assert caplog.records == []


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "is empty"),
        (b"\r\n \n", "is empty"),
        (b"PACKAGEMANAGER_TOKEN= " + TOKEN.encode(), "more than one word or line"),
        (TOKEN.encode() + b"\n" + TOKEN.encode(), "more than one word or line"),
        (b"\xff\xfe", "not UTF-8 text"),
    ],
)
def test_a_file_that_is_not_one_token_is_refused(
    tmp_path: Path, content: bytes, fragment: str
) -> None:
    path = tmp_path / "admin.token"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=fragment) as raised:
        read_token_file(path)
    assert TOKEN not in str(raised.value)


def test_what_is_not_a_small_regular_file_or_pipe_is_refused_unread(tmp_path: Path) -> None:
    """/dev/zero (read whole, it would fill memory), a directory, a file far larger than any
    token: refused at once, by what the descriptor says."""
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "directory").mkdir()
    with (tmp_path / "huge").open("wb") as handle:
        handle.truncate(1024**3)  # sparse
    for name, fragment in (
        ("directory", "a directory"),
        ("zero", "a character device"),
        ("huge", "it is 1024 MiB; the limit is 64 KiB"),
    ):
        with pytest.raises(UsageError, match=fragment):
            read_token_file(tmp_path / name)


def test_a_link_to_a_token_file_is_followed(tmp_path: Path) -> None:
    # Kubernetes mounts a secret as links (token -> ..data/token).
    (tmp_path / "real").write_text(TOKEN + "\n")
    (tmp_path / "token").symlink_to("real")
    assert read_token_file(tmp_path / "token").reveal() == TOKEN


def test_a_pipe_is_read_to_its_end(tmp_path: Path) -> None:
    """README's bootstrap: `rspm create token ... --quiet | ppm-tokens bootstrap-admin
    --token-file /dev/stdin`. The token arrives through a pipe, and is read to the bound."""
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, TOKEN.encode() + b"\n")
        os.close(write_end)
        assert read_token_file(Path(f"/dev/fd/{read_end}")).reveal() == TOKEN
    finally:
        os.close(read_end)


def test_a_pipe_past_the_bound_is_refused() -> None:
    read_end, write_end = os.pipe()

    def write() -> None:
        with contextlib.suppress(BrokenPipeError), os.fdopen(write_end, "wb") as handle:
            handle.write(b"x" * (1024 * 1024))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        with pytest.raises(UsageError, match="over the limit of 64 KiB"):
            read_token_file(Path(f"/dev/fd/{read_end}"))
    finally:
        os.close(read_end)
        writer.join()


def test_a_fifo_without_a_writer_is_empty_at_once(tmp_path: Path) -> None:
    """Nobody writes to it: nothing to wait for."""
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(UsageError, match="is empty"):
        read_token_file(tmp_path / "fifo")
