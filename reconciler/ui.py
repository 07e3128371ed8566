"""How commands talk to a person, without printing: `cli.py` passes an implementation in."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Protocol


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
