"""Problems are values: collected during validation and shown all together."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from reconciler.sanitize import for_terminal, has_unsafe_characters


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One problem in a file. `line` and `col` are 1-based; 0 means "the whole file"."""

    file: str
    line: int
    col: int
    path: str  # JSON-pointer-like location in the document, e.g. "/tokens/2/scope"
    message: str
    severity: Severity = Severity.ERROR
    # The rule reads the date (a date expiry against today): time alone can make a spec that
    # passed break it. `validate` refuses it like any other error; plan and apply report it and
    # keep only the tokens it concerns as they are (spec.load_spec), so the rest still rotate.
    clock: bool = False

    def render(self) -> str:
        """`FILE:LINE:COL: message`. A whole-file problem shows as 1:1: editors and CI
        annotations (GitHub's among them) drop or misplace positions below 1."""
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        line, col = max(self.line, 1), max(self.col, 1)
        # A file name is whatever a repository holds. Messages quote values escaped already;
        # one that does not (a rule quoting a spec value as it stands) is escaped here, so no
        # message can drive a terminal, or lose text where click strips escapes on a pipe.
        return f"{_shown(self.file)}:{line}:{col}: {prefix}{_shown(self.message)}"


def _shown(text: str) -> str:
    return for_terminal(text) if has_unsafe_characters(text) else text
