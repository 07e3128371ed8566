"""The emulator's clock: the wall clock plus an offset, or a frozen instant. Persisted in the db
so a restarted emulator keeps the time tests moved it to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


def iso(moment: datetime) -> str:
    """Fixed-width UTC text: sorts like the instants it names (the db orders by it)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClockState:
    offset_seconds: float = 0.0
    frozen_at: datetime | None = None

    def now(self, wall: Callable[[], datetime] = wall_clock) -> datetime:
        if self.frozen_at is not None:
            return self.frozen_at
        return wall() + timedelta(seconds=self.offset_seconds)

    def set_now(
        self, moment: datetime, *, frozen: bool, wall: Callable[[], datetime] = wall_clock
    ) -> ClockState:
        if frozen:
            return ClockState(frozen_at=moment)
        return ClockState(offset_seconds=(moment - wall()).total_seconds())

    def advance(self, seconds: float) -> ClockState:
        if self.frozen_at is not None:
            return ClockState(frozen_at=self.frozen_at + timedelta(seconds=seconds))
        return ClockState(offset_seconds=self.offset_seconds + seconds)

    def to_json(self) -> dict[str, object]:
        return {
            "offset_seconds": self.offset_seconds,
            "frozen_at": iso(self.frozen_at) if self.frozen_at else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ClockState:
        frozen = data.get("frozen_at")
        offset = data.get("offset_seconds", 0.0)
        return cls(
            offset_seconds=float(offset) if isinstance(offset, int | float) else 0.0,
            frozen_at=parse_iso(frozen) if isinstance(frozen, str) else None,
        )
