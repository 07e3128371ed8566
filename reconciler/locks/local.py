"""The `local` lock: fcntl.flock on a file in the user's state directory, one per server and
namespace. The kernel releases it when the holder exits, however it exits (kill -9 included),
so it is never stale; a JSON record beside it names the holder for whoever waits.

    $XDG_STATE_HOME/ppm-tokens/locks/<digest>.lock   (else ~/.local/state/ppm-tokens/locks)
    $XDG_STATE_HOME/ppm-tokens/locks/<digest>.json   the holder's record, written atomically

One machine only: runs on other machines (CI runners) need the `file` lock on a shared
directory, or a vault or dynamodb lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from reconciler.backends.private_files import make_private_dirs, read_private, write_private_file
from reconciler.desired.model import LockConfig
from reconciler.errors import LockError, LockHeld
from reconciler.locks.base import LockContext, LockInfo
from reconciler.locks.record import from_json, held_message, key_digest, shown, to_json

POLL_SECONDS = 0.1
# A holder writes its record right after it takes the lock: a run that finds the lock taken and
# no record yet waits this long for the record, to name the holder.
RECORD_WAIT_SECONDS = 2.0


def locks_dir(env: Mapping[str, str]) -> Path:
    state_home = env.get("XDG_STATE_HOME")
    if state_home and Path(state_home).is_absolute():
        return Path(state_home) / "ppm-tokens" / "locks"
    home = env.get("HOME")
    if not home:
        raise LockError(
            "the local apply lock lives in $XDG_STATE_HOME or ~/.local/state, but neither "
            "XDG_STATE_HOME nor HOME is set"
        )
    return Path(home) / ".local" / "state" / "ppm-tokens" / "locks"


class LocalLock:
    def __init__(
        self,
        directory: Path,
        key: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        digest = key_digest(key)
        self._directory = directory
        self._lock_path = directory / f"{digest}.lock"
        self._record_path = directory / f"{digest}.json"
        self._sleep = sleep
        self._monotonic = monotonic
        self._fd: int | None = None
        self._info: LockInfo | None = None

    def _open(self) -> int:
        try:
            make_private_dirs(self._directory, ())
            return os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise LockError(
                f"cannot open the local apply lock {self._lock_path}: {exc.strerror or exc}"
            ) from None

    def acquire(self, info: LockInfo, *, timeout: float) -> None:
        if self._fd is not None:
            raise LockError("this run already holds the lock")
        fd = self._open()
        deadline = self._monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    os.close(fd)
                    raise LockHeld(held_message(self._holder(), self.key, "local")) from None
                self._sleep(min(POLL_SECONDS, remaining))
        self._fd, self._info = fd, info
        try:
            self._write(info)
        except BaseException:
            self.release()
            raise

    def _holder(self) -> LockInfo | None:
        give_up = self._monotonic() + RECORD_WAIT_SECONDS
        while (info := self.current()) is None and self._monotonic() < give_up:
            self._sleep(POLL_SECONDS)
        return info

    def _write(self, info: LockInfo) -> None:
        try:
            write_private_file(self._record_path, to_json(info))
        except OSError as exc:
            raise LockError(
                f"cannot write the lock record {self._record_path}: {exc.strerror or exc}"
            ) from None

    def renew(self, expires: datetime) -> None:
        if self._fd is None or self._info is None:
            raise LockError("the local apply lock is not held by this run")
        self._info = LockInfo(**{**vars(self._info), "expires": expires})
        self._write(self._info)

    def release(self) -> None:
        fd, self._fd, self._info = self._fd, None, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            self._record_path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def current(self) -> LockInfo | None:
        try:
            data = read_private(self._record_path)
        except OSError:
            return None
        parsed = from_json(data) if data is not None else None
        return parsed[0] if parsed else None

    def force_unlock(self, lock_id: str) -> LockInfo:
        info = self.current()
        if info is None or info.id != lock_id:
            found = f"the current one is {shown(info.id)}" if info else "there is no lock record"
            raise LockError(f"no local apply lock with ID {lock_id} for this key: {found}")
        fd = self._open()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockError(
                    f"lock {lock_id} is held by a live process ({shown(info.holder)}): stop that "
                    "process instead; a local lock is released by the system when its holder "
                    "exits, even when it is killed"
                ) from None
            # Its holder is gone: only the record was left; remove it.
            with contextlib.suppress(OSError):
                self._record_path.unlink(missing_ok=True)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
        return info


def open_local_lock(config: LockConfig, context: LockContext) -> LocalLock:
    del config
    return LocalLock(locks_dir(context.env), context.key)
