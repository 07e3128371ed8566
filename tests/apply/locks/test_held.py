"""Holding the lock for a run: renewed in the background; a failed renewal stops new actions."""

from __future__ import annotations

import threading
import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.apply import ApplyOptions
from reconciler.errors import LockError, LockHeld
from reconciler.locks.base import LockInfo
from reconciler.locks.held import HeldLock, hold
from reconciler.locks.record import new_info
from reconciler.plan.model import Action, ActionKind

from ..conftest import World
from ..fakes import make_plan, token_spec

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


def test_a_failed_renewal_stops_actions_not_yet_started(world: World) -> None:
    lock = RecordingLock(fail_after=0)
    tokens = tuple(token_spec(n) for n in ("a", "b"))
    plan = make_plan(*(Action(ActionKind.CREATE, t.name, "new", t) for t in tokens))
    with _hold(lock, renew_every=0.001) as held:
        assert lock.failed.wait(10)
        deadline = time.monotonic() + 10
        while held.lost() is None and time.monotonic() < deadline:
            time.sleep(0.001)  # the renewal thread records the failure right after it
        report = world.apply(plan, world.spec(*tokens), ApplyOptions(concurrency=1), halt=held.lost)

    assert report.failed == 2 and world.log.count("create") == 0
    assert all(
        (r.error or "").endswith(
            "not started: the apply lock could not be renewed: the record is gone"
        )
        for r in report.results
    )
