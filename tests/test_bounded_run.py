"""A program's output is read with a bound: one that prints without end is stopped, not kept
until memory runs out."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from reconciler.bounded_run import OutputTooLarge, as_text, run_bounded
from reconciler.errors import ServerError
from reconciler.server.rspm import MAX_STDERR, run_subprocess

ENDLESS = "import sys\nwhile True: sys.{0}.write('x' * 65536); sys.{0}.flush()"


@pytest.mark.parametrize("stream", ["stdout", "stderr"])
def test_a_program_printing_without_end_is_killed_at_the_bound(stream: str) -> None:
    started = time.perf_counter()
    with pytest.raises(OutputTooLarge, match=f"more than 1,048,576 bytes on {stream}"):
        run_bounded(
            [sys.executable, "-c", ENDLESS.format(stream)],
            env={},
            timeout=30,
            stdout_limit=1024 * 1024,
            stderr_limit=1024 * 1024,
        )
    assert time.perf_counter() - started < 10


def test_output_within_the_bounds_is_kept_whole() -> None:
    script = "import sys; sys.stdout.write('a\\r\\nb'); sys.stderr.write('c'); sys.exit(3)"
    code, out, err = run_bounded(
        [sys.executable, "-c", script], env={}, timeout=30, stdout_limit=4, stderr_limit=1
    )
    assert (code, out, err) == (3, b"a\r\nb", b"c")
    assert as_text(out) == "a\nb"


def test_the_time_bound_still_holds() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        run_bounded(
            [sys.executable, "-c", "import time; time.sleep(30)"],
            env={},
            timeout=0.3,
            stdout_limit=1,
            stderr_limit=1,
        )


def test_the_rspm_runner_stops_a_cli_that_floods_its_output() -> None:
    assert MAX_STDERR == 1024 * 1024
    with pytest.raises(ServerError, match="printed more than 1,048,576 bytes on stderr"):
        run_subprocess([sys.executable, "-c", ENDLESS.format("stderr")], {}, 30)
