"""How commands talk to a person, without printing: the terminal (reconciler.commands.terminal)
passes an implementation in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from typing import Protocol


def color_wanted(is_terminal: bool, env: Mapping[str, str]) -> bool:
    """Colour only on a terminal that can show it: never when NO_COLOR is set to anything but
    the empty string (https://no-color.org), nor on TERM=dumb."""
    if env.get("NO_COLOR", "") != "":
        return False
    return is_terminal and not terminal_is_dumb(env)


def terminal_is_dumb(env: Mapping[str, str]) -> bool:
    """TERM=dumb: no escape sequences and no cursor movement (progress bars redraw with \r)."""
    return env.get("TERM", "") == "dumb"


class UI(Protocol):
    @property
    def interactive(self) -> bool:
        """stdin and stdout are terminals: prompts and progress bars make sense."""
        ...

    @property
    def color(self) -> bool: ...

    def out(self, text: str) -> None:
        """A line (or block) for stdout: the command's result."""
        ...

    def err(self, text: str) -> None:
        """A line for stderr: progress, notes, errors."""
        ...

    def confirm(self, question: str) -> bool: ...

    def progress(self, total: int, label: str) -> AbstractContextManager[Callable[[str], None]]:
        """A progress bar on a terminal, plain lines otherwise. Call the yielded function with
        a short status line each time one unit of work finishes."""
        ...

    @property
    def progress_prints_lines(self) -> bool:
        """`progress` prints each status line (off a terminal) rather than drawing a bar, so a
        recap after it would print those lines a second time."""
        ...
