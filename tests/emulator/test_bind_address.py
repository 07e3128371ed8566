"""`ppm-tokens emulator --host`: the real bind address is printed, and listening beyond this
machine comes with a warning (plain HTTP, admin-authenticated)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.emulator.started import emulator_started


def first_lines(tmp_path: Path, host: str) -> list[str]:
    """The emulator's stderr up to its "stop with Ctrl-C" line; then it is interrupted."""
    with emulator_started(
        tmp_path,
        "--host", host, "--port", "0", "--db", str(tmp_path / "db.sqlite3"),
        "--admin-token-file", str(tmp_path / "private" / "admin.token"),
    ) as (process, lines):  # fmt: skip
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
    return lines


def test_listening_on_every_interface_shows_where_and_warns(tmp_path: Path) -> None:
    lines = first_lines(tmp_path, "0.0.0.0")
    first = lines[0]
    assert first.startswith("PPM emulator serving at http://127.0.0.1:")
    port = first.split("http://127.0.0.1:", 1)[1].split(" ", 1)[0]
    assert first.endswith(f"(listening on 0.0.0.0:{port}: every network interface)")
    warning = lines[1]
    assert warning.startswith(f"warning: 0.0.0.0:{port} is reachable from other machines")
    assert "plain HTTP" in warning and "admin token" in warning
    assert "--host 127.0.0.1" in warning


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_loopback_needs_no_warning(tmp_path: Path, host: str) -> None:
    lines = first_lines(tmp_path, host)
    assert lines[0].startswith("PPM emulator serving at http://127.0.0.1:")
    assert "listening on" not in lines[0]
    assert not any(line.startswith("warning:") for line in lines)
