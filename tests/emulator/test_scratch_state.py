"""`ppm-tokens emulator` without --db: its state (the key that signs every token it issues)
lives for that run only and is gone once it stops, however it is stopped."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.emulator.started import emulator_started


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_state_without_db_is_removed_when_the_emulator_stops(
    tmp_path: Path, stop: signal.Signals
) -> None:
    scratch_root = tmp_path / "tmp"
    scratch_root.mkdir()
    with emulator_started(
        tmp_path,
        "--port", "0", "--admin-token-file", str(tmp_path / "admin.token"),
        TMPDIR=str(scratch_root),
    ) as (process, lines):  # fmt: skip
        state = next(line for line in lines if line.startswith("state: "))
        database = Path(state.removeprefix("state: ").split(" (", 1)[0])
        assert database.parent.parent == scratch_root and database.exists()
        assert state.endswith("(removed on exit; --db keeps it)")
        process.send_signal(stop)
        process.wait(timeout=20)
    assert list(scratch_root.iterdir()) == []
