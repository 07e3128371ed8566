"""Problems are values: collected during validation and shown all together."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


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

    def render(self) -> str:
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"
