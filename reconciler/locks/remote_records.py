"""What the cross-machine locks (vault, dynamodb) share: a lock record as plain data, the
message that names a holder, and waiting for a lock with the clock passed in."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from reconciler.errors import LockHeld
from reconciler.locks import record
from reconciler.locks.base import LockInfo

POLL_SECONDS = 1.0


def to_record(info: LockInfo) -> dict[str, str]:
    return record.fields(info)


def from_record(data: Mapping[str, object] | None) -> LockInfo | None:
    """None for no record, a released one, or one this version cannot read (which is then
    treated as free: a lock nobody can name is one nobody can break)."""
    if not data or data.get("state") == "released":
        return None
    try:
        return record.from_fields(data)
    except (KeyError, ValueError):
        return None


def held_message(info: LockInfo, where: str) -> str:
    return record.held_message(info, info.key, where)


class Waiter:
    """Polls until a deadline; `sleep` and `monotonic` are passed in for tests."""

    def __init__(
        self,
        timeout: float,
        *,
        poll: float = POLL_SECONDS,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deadline = monotonic() + max(0.0, timeout)
        self._poll = poll
        self._sleep = sleep
        self._monotonic = monotonic

    def wait_or_give_up(self, record: LockInfo, where: str) -> None:
        remaining = self._deadline - self._monotonic()
        if remaining <= 0:
            raise LockHeld(held_message(record, where))
        self._sleep(min(self._poll, remaining))
