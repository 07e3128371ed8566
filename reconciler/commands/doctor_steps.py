"""What `doctor` reports: one step per assumption, with what it found and what it assumed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    OK = "ok"
    FAIL = "FAIL"
    NOTE = "note"


@dataclass(frozen=True)
class Step:
    title: str
    outcome: Outcome
    detail: str
    assumes: str = ""

    def render(self) -> str:
        line = f"{self.outcome.value:<5} {self.title}: {self.detail}"
        return line + (f"\n      assumes: {self.assumes}" if self.assumes else "")
