"""`ppm-tokens emulator` run as a user runs it, up to the line that says it serves."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def emulator_started(
    tmp_path: Path, *args: str, **env: str
) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """The emulator process with `args`, HOME in `tmp_path` and `env` added, and its stderr up
    to its "stop with Ctrl-C" line (the caller stops it); killed after if it still runs."""
    command = [sys.executable, "-m", "reconciler", "emulator", *args]
    environment = {**os.environ, "HOME": str(tmp_path), **env}
    with subprocess.Popen(
        command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=environment
    ) as process:
        assert process.stderr is not None
        lines: list[str] = []
        try:
            while not lines or not lines[-1].startswith("stop with Ctrl-C"):
                line = process.stderr.readline()
                assert line, f"the emulator stopped: {lines}"
                lines.append(line.rstrip("\n"))
            yield process, lines
        finally:
            if process.poll() is None:
                process.kill()
