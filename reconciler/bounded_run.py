"""Running a program and reading what it prints with a bound.

`subprocess.run(capture_output=True)` keeps whatever the program prints until it exits: a
program (or a wrapper, or whatever answers it) that prints without end fills memory first.
`run_bounded` reads both streams as they come, and kills the program as soon as one passes its
limit or the time is up.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import time
from collections.abc import Mapping, Sequence

_CHUNK = 1 << 16


class OutputTooLarge(Exception):
    """The program printed more than its limit on one stream; it was killed."""

    def __init__(self, stream: str, limit: int) -> None:
        super().__init__(f"printed more than {limit:,} bytes on {stream}")
        self.stream = stream
        self.limit = limit


def run_bounded(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    timeout: float,
    stdout_limit: int,
    stderr_limit: int,
) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of `argv`, run without a shell and with no stdin. Raises
    what Popen raises when it cannot start (FileNotFoundError, PermissionError),
    subprocess.TimeoutExpired after `timeout` seconds and OutputTooLarge past a limit, the
    program killed in both cases."""
    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    streams = {
        process.stdout.fileno(): ("stdout", stdout_limit, bytearray()),
        process.stderr.fileno(): ("stderr", stderr_limit, bytearray()),
    }
    deadline = time.monotonic() + timeout
    try:
        with selectors.DefaultSelector() as selector:
            for fd in streams:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(list(argv), timeout)
                for key, _ in selector.select(left):
                    chunk = os.read(key.fd, _CHUNK)
                    if not chunk:
                        selector.unregister(key.fd)
                        continue
                    name, limit, kept = streams[key.fd]
                    kept += chunk
                    if len(kept) > limit:
                        raise OutputTooLarge(name, limit)
        code = process.wait(max(deadline - time.monotonic(), 0))
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        process.stdout.close()
        process.stderr.close()
    (_, _, out), (_, _, err) = streams.values()
    return code, bytes(out), bytes(err)


def as_text(data: bytes) -> str:
    """What `subprocess.run(text=True, errors="replace")` makes of `data`: UTF-8, line endings
    made `\\n`."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
