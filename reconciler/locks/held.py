"""Holding a lock for the length of a run: take it, renew its lease in a background thread,
give it back on exit. When a renewal fails the run is told (`lost`) and starts nothing new:
another run may already hold the lock."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from reconciler.errors import LockError
from reconciler.locks.base import ApplyLock, LockInfo


class HeldLock:
    def __init__(
        self,
        lock: ApplyLock,
        info: LockInfo,
        *,
        lease: timedelta,
        now: Callable[[], datetime],
        renew_every: float | None = None,
    ) -> None:
        self.lock = lock
        self.info = info
        self._lease = lease
        self._now = now
        # A third of the lease: two renewals can fail (a slow disk, a network blip) before the
        # lease runs out.
        self._every = renew_every if renew_every is not None else lease.total_seconds() / 3
        self._stop = threading.Event()
        self._lost: str | None = None
        self._thread = threading.Thread(
            target=self._renew_loop, name="ppm-tokens-lock-renewal", daemon=True
        )

    def lost(self) -> str | None:
        """Why the lock can no longer be trusted, once a renewal failed; else None."""
        return self._lost

    def _renew_loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                self.lock.renew(self._now() + self._lease)
            except LockError as exc:
                self._lost = f"the apply lock could not be renewed: {exc}"
                return
            except Exception as exc:  # an unexpected failure must not go unnoticed either
                self._lost = f"the apply lock could not be renewed ({type(exc).__name__})"
                return

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.lock.release()


@contextmanager
def hold(
    lock: ApplyLock,
    info: LockInfo,
    *,
    timeout: float,
    lease: timedelta,
    now: Callable[[], datetime],
    renew_every: float | None = None,
) -> Iterator[HeldLock]:
    """Acquire (raising LockHeld after `timeout` seconds), renew while the block runs, release
    when it ends, however it ends."""
    lock.acquire(info, timeout=timeout)
    held = HeldLock(lock, info, lease=lease, now=now, renew_every=renew_every)
    held.start()
    try:
        yield held
    finally:
        held.stop()
