"""Holding the lock for a run: renewed in the background, released however the run ends (what
apply does when a renewal fails: tests/apply/test_lock_lost.py)."""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.errors import LockError, LockHeld
from reconciler.locks.base import LockInfo
from reconciler.locks.held import HeldLock, hold
from reconciler.locks.record import new_info

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=15)


class RecordingLock:
    """An ApplyLock that records calls; renewals fail once `fail_after` have succeeded."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_after = fail_after
        self.renewed = threading.Event()
        self.failed = threading.Event()

    def acquire(self, info: LockInfo, *, timeout: float) -> None:
        self.calls.append(f"acquire {timeout:g}")

    def renew(self, expires: datetime) -> None:
        renewals = sum(1 for c in self.calls if c.startswith("renew"))
        if self.fail_after is not None and renewals >= self.fail_after:
            self.failed.set()
            raise LockError("the record is gone")
        self.calls.append(f"renew {expires.isoformat()}")
        if renewals + 1 >= 2:
            self.renewed.set()

    def release(self) -> None:
        self.calls.append("release")

    def current(self) -> LockInfo | None:
        return None

    def force_unlock(self, lock_id: str) -> LockInfo:
        raise LockError("not here")


def _hold(
    lock: RecordingLock, *, timeout: float = 0, renew_every: float | None = None
) -> AbstractContextManager[HeldLock]:
    """Hold `lock` for run "k" at NOW with a LEASE-long lease."""
    info = new_info("k", "apply", NOW, LEASE)
    return hold(lock, info, timeout=timeout, lease=LEASE, now=lambda: NOW, renew_every=renew_every)


def test_the_lease_is_renewed_while_the_run_works_and_released_after() -> None:
    lock = RecordingLock()
    with _hold(lock, timeout=5, renew_every=0.001) as held:
        assert lock.renewed.wait(10)
        assert held.lost() is None
    assert lock.calls[0] == "acquire 5" and lock.calls[-1] == "release"
    assert f"renew {(NOW + LEASE).isoformat()}" in lock.calls


def test_the_lock_is_released_when_the_run_fails() -> None:
    lock = RecordingLock()
    with pytest.raises(RuntimeError), _hold(lock):
        raise RuntimeError("boom")
    assert lock.calls == ["acquire 0", "release"]


def test_a_held_lock_is_never_entered() -> None:
    class Held(RecordingLock):
        def acquire(self, info: LockInfo, *, timeout: float) -> None:
            raise LockHeld("held by someone")

    lock = Held()
    with pytest.raises(LockHeld), _hold(lock):
        pytest.fail("entered a lock held by another run")
    assert lock.calls == []
