"""The terminal side of every command: the UI on click (output, prompts, progress bars, colour),
logs on stderr with secrets redacted, and what a command returns or raises mapped to the
documented exit codes. With reconciler.cli and the command modules, the only code that prints."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import click

from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.errors import ReconcilerError, SpecError
from reconciler.logs import RedactingFilter, redact
from reconciler.sanitize import for_terminal, has_unsafe_characters
from reconciler.ui import color_wanted, terminal_is_dumb

C = TypeVar("C")


class ClickUI:
    """The UI Protocol on a real terminal (or pipes)."""

    def __init__(self) -> None:
        self._interactive = sys.stdin.isatty() and sys.stdout.isatty()
        self._color = color_wanted(sys.stdout.isatty(), os.environ)

    @property
    def interactive(self) -> bool:
        return self._interactive

    @property
    def color(self) -> bool:
        return self._color

    def out(self, text: str) -> None:
        click.echo(text, color=self._color)

    def err(self, text: str) -> None:
        click.echo(shown(text), err=True)

    def confirm(self, question: str) -> bool:
        return click.confirm(question, default=False, err=True)

    @property
    def progress_prints_lines(self) -> bool:
        return not sys.stderr.isatty() or terminal_is_dumb(os.environ)

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        if self.progress_prints_lines:
            yield lambda line: click.echo(shown(line), err=True)
            return
        with click.progressbar(length=total, label=label, file=sys.stderr) as bar:

            def advance(line: str) -> None:
                bar.update(1)

            yield advance


def configure_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    # httpx logs full URLs at INFO; our own driver logs what matters at DEBUG.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # boto3's debug logs carry request headers (a session token) and bodies; the aws store and
    # dynamodb lock log what matters themselves.
    for sdk in ("botocore", "boto3", "urllib3", "s3transfer"):
        logging.getLogger(sdk).setLevel(logging.WARNING)


def shown(text: str) -> str:
    """Our messages may quote text from a server, a store or a file name. Where that text was
    not escaped at the source, the message is escaped whole here: nothing on stderr can move
    the cursor or retitle the terminal, and a message is one line (what goes to stderr is a
    line: a line break in it came from what it quotes, such as a file name, and would start a
    line of its own, "3 files valid" under a failing run)."""
    return for_terminal(text) if has_unsafe_characters(text) else text


def finish(run: Callable[[], int]) -> int:
    """Runs a command and maps what it returns or raises to the documented exit codes."""
    try:
        code = run()
    except SpecError as exc:
        for problem in exc.problems:
            click.echo(problem.render(), err=True)
        click.echo(f"Invalid spec: {len(exc.problems)} problem(s). Nothing was changed.", err=True)
        code = exc.exit_code
    except ReconcilerError as exc:
        click.echo(shown(f"Error: {redact(str(exc))}"), err=True)
        code = exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        code = 130
    except OSError as exc:
        # A file the user named that cannot be read or written (a missing directory, no
        # permission, a full disk): a runtime error with its reason, not a traceback.
        where = f" {exc.filename}" if exc.filename else ""
        click.echo(shown(f"Error:{where}: {redact(exc.strerror or str(exc))}"), err=True)
        code = 1
    return code


def run_command(
    run: Callable[[C, GlobalOptions, Environment, ClickUI], int],
    command_options: C,
    options: GlobalOptions,
) -> int:
    """A server-facing command's `run`, with this process's environment and terminal."""
    return finish(lambda: run(command_options, options, Environment.current(), ClickUI()))
