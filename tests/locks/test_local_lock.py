"""The local lock: one holder per server and namespace on this machine, released by the kernel
when its holder dies."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.desired.model import LockConfig
from reconciler.errors import LockError, LockHeld
from reconciler.locks.base import LockContext
from reconciler.locks.local import LocalLock, locks_dir
from reconciler.locks.record import new_info
from reconciler.locks.registry import open_lock

KEY = "https://ppm.example.com|data-platform"
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=15)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "state" / "ppm-tokens" / "locks"


def test_a_second_run_fails_at_once_naming_the_holder(directory: Path) -> None:
    first, second = LocalLock(directory, KEY), LocalLock(directory, KEY)
    held = new_info(KEY, "apply", NOW, LEASE)
    first.acquire(held, timeout=0)

    with pytest.raises(LockHeld) as caught:
        second.acquire(new_info(KEY, "rotate", NOW, LEASE), timeout=0)

    message = str(caught.value)
    assert held.holder in message and "pid" in message
    assert "since 2027-03-01T12:00:00+00:00" in message
    assert f"lock ID {held.id}" in message
    assert f"ppm-tokens force-unlock {held.id}" in message
    assert message.startswith(
        f"another run holds the apply lock for {KEY} (local): {held.holder}, apply since"
    )
    assert second.current() == held
    first.release()
    second.acquire(new_info(KEY, "rotate", NOW, LEASE), timeout=0)
    assert second.current() is not None and second.current().operation == "rotate"  # type: ignore[union-attr]
    second.release()
    assert second.current() is None


def test_a_holder_that_has_not_written_its_record_yet_is_waited_for(directory: Path) -> None:
    """The record is written right after the lock is taken: the refusal names the holder."""
    first = LocalLock(directory, KEY)
    held = new_info(KEY, "apply", NOW, LEASE)
    first.acquire(held, timeout=0)
    record = next(directory.glob("*.json"))
    saved = record.read_bytes()
    record.unlink()
    calls: list[float] = []

    def record_appears(seconds: float) -> None:
        calls.append(seconds)
        if len(calls) == 3:
            record.write_bytes(saved)

    with pytest.raises(LockHeld, match=f"lock ID {held.id}"):
        LocalLock(directory, KEY, sleep=record_appears).acquire(
            new_info(KEY, "apply", NOW, LEASE), timeout=0
        )
    assert len(calls) == 3
    first.release()


def test_a_waiting_run_gets_the_lock_when_the_holder_releases_it(directory: Path) -> None:
    first = LocalLock(directory, KEY)
    first.acquire(new_info(KEY, "apply", NOW, LEASE), timeout=0)
    waits: list[float] = []

    def holder_finishes(seconds: float) -> None:
        waits.append(seconds)
        first.release()

    second = LocalLock(directory, KEY, sleep=holder_finishes)
    second.acquire(new_info(KEY, "apply", NOW, LEASE), timeout=60)

    assert len(waits) == 1
    second.release()


def test_other_namespaces_are_not_blocked(directory: Path) -> None:
    first = LocalLock(directory, KEY)
    first.acquire(new_info(KEY, "apply", NOW, LEASE), timeout=0)
    other_key = "https://ppm.example.com|someone-else"
    other = LocalLock(directory, other_key)
    other.acquire(new_info(other_key, "apply", NOW, LEASE), timeout=0)
    other.release()
    first.release()


HOLDER = """
import sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from reconciler.locks.local import LocalLock
from reconciler.locks.record import new_info
lock = LocalLock(Path(sys.argv[1]), sys.argv[2])
info = new_info(sys.argv[2], "apply", datetime.now(UTC), timedelta(minutes=15))
lock.acquire(info, timeout=0)
print(info.id, flush=True)
sys.stdin.read()  # hold until killed
"""


def start_holder(directory: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(HOLDER), str(directory), KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lock_id = process.stdout.readline().strip()
    assert lock_id, "the holder did not start"
    return process, lock_id


def kill_minus_nine(process: subprocess.Popen[str]) -> None:
    process.kill()  # SIGKILL: no handler, no cleanup, no release
    process.wait()
    for pipe in (process.stdin, process.stdout):
        if pipe is not None:
            pipe.close()


def test_a_holder_killed_with_sigkill_blocks_nobody(directory: Path) -> None:
    process, lock_id = start_holder(directory)
    try:
        with pytest.raises(LockHeld, match=lock_id):
            LocalLock(directory, KEY).acquire(new_info(KEY, "apply", NOW, LEASE), timeout=0)
        # Breaking a live holder's lock is refused: it would let two runs mutate at once.
        with pytest.raises(LockError, match="held by a live process"):
            LocalLock(directory, KEY).force_unlock(lock_id)
    finally:
        kill_minus_nine(process)

    after = LocalLock(directory, KEY)
    assert after.current() is not None  # the dead holder's record is left ...
    after.acquire(new_info(KEY, "apply", NOW, LEASE), timeout=0)  # ... and blocks nothing
    after.release()


def test_force_unlock_clears_a_dead_holders_record(directory: Path) -> None:
    process, lock_id = start_holder(directory)
    kill_minus_nine(process)
    lock = LocalLock(directory, KEY)

    with pytest.raises(LockError, match="no local apply lock with ID nope"):
        lock.force_unlock("nope")
    removed = lock.force_unlock(lock_id)

    assert removed.id == lock_id and lock.current() is None


def test_renew_extends_the_recorded_lease(directory: Path) -> None:
    lock = LocalLock(directory, KEY)
    held = new_info(KEY, "apply", NOW, LEASE)
    lock.acquire(held, timeout=0)

    lock.renew(NOW + timedelta(hours=1))

    current = lock.current()
    assert current is not None and current.expires == NOW + timedelta(hours=1)
    assert current.id == held.id
    lock.release()
    lock.release()  # releasing what is no longer held is not an error
    with pytest.raises(LockError, match="not held"):
        lock.renew(NOW)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"XDG_STATE_HOME": "/x/state", "HOME": "/h"}, "/x/state/ppm-tokens/locks"),
        ({"XDG_STATE_HOME": "relative", "HOME": "/h"}, "/h/.local/state/ppm-tokens/locks"),
        ({"HOME": "/h"}, "/h/.local/state/ppm-tokens/locks"),
    ],
)
def test_the_lock_lives_in_the_users_state_directory(env: dict[str, str], expected: str) -> None:
    assert locks_dir(env) == Path(expected)


def test_without_a_home_there_is_no_local_lock() -> None:
    with pytest.raises(LockError, match="neither XDG_STATE_HOME nor HOME is set"):
        locks_dir({})


def test_the_default_kind_is_local(tmp_path: Path) -> None:
    context = LockContext(
        server_url="https://ppm.example.com",
        namespace="data-platform",
        stores={},
        spec_dir=tmp_path,
        env={"XDG_STATE_HOME": str(tmp_path / "xdg")},
        now=lambda: NOW,
    )
    lock = open_lock(LockConfig(), context)
    assert isinstance(lock, LocalLock) and lock.key == KEY
    lock.acquire(new_info(KEY, "apply", NOW, LEASE), timeout=0)
    assert len(list((tmp_path / "xdg" / "ppm-tokens" / "locks").glob("*.lock"))) == 1
    lock.release()


@pytest.mark.parametrize(
    "spelling",
    ["HTTPS://PPM.example.com", "https://ppm.example.com:443/", "https://ppm.example.com/"],
)
def test_another_spelling_of_the_server_is_the_same_lock(tmp_path: Path, spelling: str) -> None:
    """Two spellings as two locks would let two applies of one namespace run at once, each
    revoking the tokens the other just created."""

    def context(server: str) -> LockContext:
        env = {"XDG_STATE_HOME": str(tmp_path / "xdg")}
        return LockContext(server, "data-platform", {}, tmp_path, env, lambda: NOW)

    first = open_lock(LockConfig(), context("https://ppm.example.com"))
    second = open_lock(LockConfig(), context(spelling))
    assert context(spelling).key == KEY
    first.acquire(new_info(KEY, "apply", NOW, LEASE), timeout=0)
    with pytest.raises(LockHeld):
        second.acquire(new_info(context(spelling).key, "apply", NOW, LEASE), timeout=0)
    other = open_lock(LockConfig(), context("https://ppm-eu.example.com"))
    other.acquire(
        new_info("https://ppm-eu.example.com|data-platform", "apply", NOW, LEASE), timeout=0
    )
    other.release()
    first.release()


@pytest.mark.timeout(20)
def test_a_record_that_is_a_fifo_is_no_record(directory: Path) -> None:
    """Something else at the record's path (a FIFO would hold every reader for ever) reads as
    a record that cannot be read."""
    lock = LocalLock(directory, KEY)
    directory.mkdir(parents=True)
    os.mkfifo(lock._record_path)
    assert lock.current() is None
