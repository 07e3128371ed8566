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
from typing import IO

_CHUNK = 1 << 16
# What a command store's program prints: metadata as one JSON object, a value, an error.
PROGRAM_OUTPUT_BYTES = 1024 * 1024


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
    stdin: bytes | None = None,
) -> tuple[int, bytes, bytes]:
    """(exit code, stdout, stderr) of `argv`, run without a shell, given `stdin` (else no
    stdin). Raises what Popen raises when it cannot start (FileNotFoundError,
    PermissionError), subprocess.TimeoutExpired after `timeout` seconds and OutputTooLarge past
    a limit, the program killed in both cases."""
    process = subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
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
            # Written as the program takes it, between reads: a program that prints before it
            # reads its input would otherwise wait on us while we wait on it.
            unwritten = memoryview(stdin or b"")
            stdin_fd = process.stdin.fileno() if process.stdin is not None else None
            if stdin_fd is not None:
                os.set_blocking(stdin_fd, False)
                selector.register(stdin_fd, selectors.EVENT_WRITE)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(list(argv), timeout)
                for key, _ in selector.select(left):
                    if key.fd == stdin_fd:
                        assert process.stdin is not None
                        unwritten = _feed(process.stdin, unwritten)
                        if not unwritten:
                            selector.unregister(key.fd)
                            process.stdin.close()  # the program reads its end
                        continue
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
        if process.stdin is not None:
            process.stdin.close()
    (_, _, out), (_, _, err) = streams.values()
    return code, bytes(out), bytes(err)


def _feed(pipe: IO[bytes], unwritten: memoryview) -> memoryview:
    """`unwritten` less what the program's stdin took now; nothing left when it closed it
    (a program need not read all it is given)."""
    try:
        return unwritten[os.write(pipe.fileno(), unwritten[:_CHUNK]) :]
    except BlockingIOError:
        return unwritten
    except BrokenPipeError:
        return unwritten[len(unwritten) :]


def run_capped(
    argv: Sequence[str],
    *,
    input: bytes = b"",  # subprocess.run's name: a drop-in runner
    env: Mapping[str, str],
    timeout: float,
    capture_output: bool = True,
    check: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    """`subprocess.run(argv, input=..., capture_output=True, env=..., timeout=...)`, each
    stream read to PROGRAM_OUTPUT_BYTES (OutputTooLarge past it, the program killed): the
    runner of a command store's programs."""
    del capture_output, check  # always captured; the caller reads the exit code
    code, out, err = run_bounded(
        argv,
        env=env,
        timeout=timeout,
        stdout_limit=PROGRAM_OUTPUT_BYTES,
        stderr_limit=PROGRAM_OUTPUT_BYTES,
        stdin=input,
    )
    return subprocess.CompletedProcess(list(argv), code, out, err)


def as_text(data: bytes) -> str:
    """What `subprocess.run(text=True, errors="replace")` makes of `data`: UTF-8, line endings
    made `\\n`."""
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")
