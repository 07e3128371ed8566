"""Loopback ports and readiness polling for the servers the store tests start."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable

READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until_ready(
    ready: Callable[[], bool], *, what: str, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `ready` until it is true; fail early if `process` exits first."""
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(
                f"{what} exited with status {process.returncode} before it was ready"
            )
        if ready():
            return
        time.sleep(0.05)  # polling interval between readiness probes
    raise RuntimeError(f"{what} was not ready within {READY_TIMEOUT:.0f} s")
