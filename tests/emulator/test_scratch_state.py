"""`ppm-tokens emulator` without --db: its state (the key that signs every token it issues)
lives for that run only and is gone once it stops, however it is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_state_without_db_is_removed_when_the_emulator_stops(
    tmp_path: Path, stop: signal.Signals
) -> None:
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    command = [
        sys.executable, "-m", "reconciler", "emulator", "--port", "0",
        "--admin-token-file", str(tmp_path / "admin.token"),
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(tmp_path), "TMPDIR": str(scratch_root)}
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
    ) as process:
        assert process.stderr is not None
        lines: list[str] = []
        try:
            while not lines or not lines[-1].startswith("stop with Ctrl-C"):
                line = process.stderr.readline()
                assert line, f"the emulator stopped: {lines}"
                lines.append(line.rstrip("\n"))
            state = next(line for line in lines if line.startswith("state: "))
            database = Path(state.removeprefix("state: ").split(" (", 1)[0])
            assert database.parent.parent == scratch_root and database.exists()
            assert state.endswith("(removed on exit; --db keeps it)")
            process.send_signal(stop)
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert list(scratch_root.iterdir()) == []
