"""On a terminal: the plan in colour, a confirmation prompt, a progress bar. Driven through a
pseudo-terminal, as a person would see it."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time

from reconciler.server.http import HttpDriver
from tests.e2e.conftest import Cli, Run, token_entries, write_spec
from tests.e2e.test_invariants import managed


def run_on_terminal(cli: Cli, args: list[str], answer: str | None, **env: str) -> tuple[int, str]:
    """Runs the CLI with stdin, stdout and stderr on a pty; types `answer` at the prompt."""
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cli.workdir,
        env=cli.env(**{"TERM": "xterm", "COLUMNS": "120", **env}),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        close_fds=True,
    )
    os.close(terminal)
    seen = b""
    answered = answer is None
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 0.1)
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                seen += chunk
            if not answered and b"Apply these changes?" in seen:
                assert answer is not None
                os.write(controller, answer.encode() + b"\n")
                answered = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=30)
        screen = seen.decode(errors="replace")
        cli.runs.append(Run(tuple(args), code, screen, ""))  # scanned for values (I2)
        return code, screen
    finally:
        if process.poll() is None:
            process.kill()
        os.close(controller)


def test_confirmation_yes_applies_with_colour_and_progress(
    cli: Cli, http_driver: HttpDriver
) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(3))
    code, screen = run_on_terminal(cli, ["apply", "-f", str(spec)], answer="y")
    assert code == 0, screen
    assert "\x1b[" in screen  # the plan is coloured on a terminal
    assert "Apply these changes?" in screen
    assert "Applying" in screen  # the progress bar's label
    assert "Apply complete: 3 created" in screen
    assert len(managed(http_driver)) == 3


def test_confirmation_no_changes_nothing(cli: Cli, http_driver: HttpDriver) -> None:
    spec = write_spec(cli.workdir / "tokens.yaml", token_entries(2))
    code, screen = run_on_terminal(cli, ["apply", "-f", str(spec)], answer="n")
    assert code == 1
    assert "nothing was changed" in screen
    assert managed(http_driver) == {}
