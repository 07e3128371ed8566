"""The file lock: a record beside a file store's secrets, shared by every machine that mounts
the directory; stale after its lease, taken over atomically, broken only by its ID."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import MappingProxyType

import pytest

from reconciler.desired.model import LockConfig, StoreConfig
from reconciler.errors import LockError, LockHeld
from reconciler.locks.base import LockContext, LockInfo
from reconciler.locks.file import FileLock
from reconciler.locks.record import new_info
from reconciler.locks.registry import open_lock

KEY = "https://ppm.example.com|data-platform"
LEASE = timedelta(minutes=15)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "shared-secrets"


class FakeTime:
    """monotonic() and sleep() without waiting: sleeping moves the time on."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def lock_at(root: Path, clock: Clock, **options: object) -> FileLock:
    return FileLock(root, KEY, now=clock, lease=LEASE, **options)  # type: ignore[arg-type]


def info(clock: Clock, operation: str = "apply") -> LockInfo:
    return new_info(KEY, operation, clock(), LEASE)


def records(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob(".ppm-tokens-locks/*/*.json"))


def test_a_second_run_fails_at_once_naming_the_holder(root: Path, clock: Clock) -> None:
    first = lock_at(root, clock)
    held = info(clock)
    first.acquire(held, timeout=0)

    with pytest.raises(LockHeld) as caught:
        lock_at(root, clock).acquire(info(clock, "rotate"), timeout=0)

    message = str(caught.value)
    assert held.holder in message and f"lock ID {held.id}" in message
    assert f"ppm-tokens force-unlock {held.id}" in message
    assert f"file lock in {root}" in message
    assert records(root) == ["000000000001.json"]
    assert os.stat(root / ".ppm-tokens-locks").st_mode & 0o777 == 0o700
    first.release()
    assert lock_at(root, clock).current() is None


def test_release_keeps_the_number_and_the_next_run_takes_the_next(root: Path, clock: Clock) -> None:
    for _ in range(3):
        lock = lock_at(root, clock)
        lock.acquire(info(clock), timeout=0)
        lock.release()
    # Numbers only grow, and only the latest record is kept.
    assert records(root) == ["000000000003.json"]


def test_a_stale_lock_is_taken_over_and_its_holder_stops(root: Path, clock: Clock) -> None:
    dead = lock_at(root, clock)
    dead.acquire(info(clock), timeout=0)
    clock.now += LEASE + timedelta(seconds=1)  # never renewed: its holder is gone

    taker = lock_at(root, clock)
    taker.acquire(info(clock), timeout=0)

    assert records(root) == ["000000000002.json"]
    # The old holder, had it only been paused, finds out at its next renewal.
    with pytest.raises(LockError, match="taken over or force-unlocked"):
        dead.renew(clock() + LEASE)
    dead.release()  # no longer its lock: giving it back touches nothing
    assert taker.current() is not None
    taker.renew(clock() + LEASE)
    taker.release()


def test_a_renewed_lock_is_not_stale(root: Path, clock: Clock) -> None:
    holder = lock_at(root, clock)
    holder.acquire(info(clock), timeout=0)
    clock.now += LEASE - timedelta(minutes=1)
    holder.renew(clock() + LEASE)
    clock.now += timedelta(minutes=5)

    with pytest.raises(LockHeld):
        lock_at(root, clock).acquire(info(clock), timeout=0)
    holder.release()


def test_force_unlock_takes_only_the_lock_with_that_id(root: Path, clock: Clock) -> None:
    holder = lock_at(root, clock)
    held = info(clock)
    holder.acquire(held, timeout=0)
    breaker = lock_at(root, clock)

    with pytest.raises(LockError, match=f"the current one is {held.id}"):
        breaker.force_unlock("00000000-0000-4000-8000-000000000000")
    assert breaker.force_unlock(held.id) == held

    assert breaker.current() is None
    with pytest.raises(LockError, match="taken over or force-unlocked"):
        holder.renew(clock() + LEASE)
    with pytest.raises(LockError, match="no lock is held"):
        breaker.force_unlock(held.id)
    lock_at(root, clock).acquire(info(clock), timeout=0)


def test_a_waiting_run_gets_the_lock_once_the_holder_releases(root: Path, clock: Clock) -> None:
    holder = lock_at(root, clock)
    holder.acquire(info(clock), timeout=0)
    waits: list[float] = []

    def holder_finishes(seconds: float) -> None:
        waits.append(seconds)
        holder.release()

    waiter = lock_at(root, clock, sleep=holder_finishes)
    waiter.acquire(info(clock), timeout=60)
    assert len(waits) == 1 and waiter.current() is not None


def test_a_record_being_written_holds_until_a_lease_has_passed(root: Path, clock: Clock) -> None:
    """Another machine created the next record and has not written it yet."""
    lock_at(root, clock).acquire(info(clock), timeout=0)
    directory = next(root.glob(".ppm-tokens-locks/*"))
    (directory / "000000000002.json").write_bytes(b"")
    clock.now = datetime.now(UTC)

    ticks = FakeTime()
    with pytest.raises(LockHeld, match="its record cannot be read yet"):
        lock_at(root, clock, sleep=ticks.sleep, monotonic=ticks.monotonic).acquire(
            info(clock), timeout=0
        )
    assert 2.0 <= ticks.now < 3.0  # it waited a moment for the record to name the holder
    clock.now += LEASE + timedelta(seconds=1)
    lock_at(root, clock).acquire(info(clock), timeout=0)
    assert records(root) == ["000000000003.json"]


def test_many_runs_racing_hold_the_lock_one_at_a_time(root: Path) -> None:
    """Threads stand in for machines: each takes the lock, checks that nobody else holds it,
    gives it back. Every one gets it once, never two at the same time."""
    inside = 0
    most = 0
    guard = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(8, timeout=10)

    def run() -> None:
        nonlocal inside, most
        lock = FileLock(root, KEY, now=lambda: datetime.now(UTC), lease=LEASE, sleep=time.sleep)
        try:
            start.wait()
            lock.acquire(new_info(KEY, "apply", datetime.now(UTC), LEASE), timeout=30)
            with guard:
                inside += 1
                most = max(most, inside)
            with guard:
                inside -= 1
            lock.release()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == [] and most == 1
    assert records(root) == ["000000000008.json"]


def test_a_linked_lock_directory_is_refused(root: Path, clock: Clock, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    root.mkdir()
    (root / ".ppm-tokens-locks").symlink_to(elsewhere)

    with pytest.raises(LockError, match="symbolic link"):
        lock_at(root, clock).acquire(info(clock), timeout=0)
    assert list(elsewhere.iterdir()) == []


def context(tmp_path: Path, clock: Clock, stores: dict[str, StoreConfig]) -> LockContext:
    return LockContext(
        server_url="https://ppm.example.com",
        namespace="data-platform",
        stores=MappingProxyType(stores),
        spec_dir=tmp_path,
        env={"HOME": str(tmp_path / "home")},
        now=clock,
    )


def test_lock_store_names_the_file_store_whose_directory_holds_the_lock(
    tmp_path: Path, clock: Clock
) -> None:
    stores = {"shared": StoreConfig("shared", "file", MappingProxyType({"path": "~/shared"}))}
    config = LockConfig(type="file", lease=LEASE, options=MappingProxyType({"store": "shared"}))

    lock = open_lock(config, context(tmp_path, clock, stores))
    lock.acquire(info(clock), timeout=0)

    assert records(tmp_path / "home" / "shared") == ["000000000001.json"]
    lock.release()


@pytest.mark.parametrize("store", [None, "missing", "op"])
def test_lock_store_must_be_a_file_store(tmp_path: Path, clock: Clock, store: str | None) -> None:
    stores = {"op": StoreConfig("op", "command", MappingProxyType({"command": ["op"]}))}
    options = MappingProxyType({"store": store} if store else {})
    config = LockConfig(type="file", options=options)

    with pytest.raises(LockError, match=r"needs lock\.store to name a store of type file"):
        open_lock(config, context(tmp_path, clock, stores))


def test_a_planted_record_is_quoted_as_an_excerpt(root: Path, clock: Clock) -> None:
    """Whoever can write where the lock lives can plant a record of any size: a waiting run
    and force-unlock quote an excerpt of each of its fields, not the whole."""
    huge = "x" * 100_000
    planted = replace(info(clock), id=huge, holder=huge, operation=huge)
    lock_at(root, clock).acquire(planted, timeout=0)

    with pytest.raises(LockHeld) as held:
        lock_at(root, clock).acquire(info(clock), timeout=0)
    with pytest.raises(LockError) as refused:
        lock_at(root, clock).force_unlock("00000000-0000-4000-8000-000000000000")

    for message in (str(held.value), str(refused.value)):
        assert "x" * 201 not in message
        assert "... (100,000 characters)" in message
