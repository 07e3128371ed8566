"""The `file` lock: a lock record in a `file` store's directory (`lock.store` names the store),
so every machine that mounts that directory shares one lock.

Records are numbered generations, `<store>/.ppm-tokens-locks/<digest>/<generation>.json`; the
highest generation is the lock. A run takes the lock by creating the next generation with
O_CREAT|O_EXCL: of runs that race for the same number, exactly one creates it. The next number
may be taken only when the highest record is released, or stale (its lease has passed without
renewal: its holder died). Taking over a stale lock is therefore the same atomic step as taking
a free one, and the stale record is never rewritten by anyone but its holder. Numbers only grow:
release and force-unlock mark the highest record released instead of deleting it, so a run
that saw an older state can never create a record that outranks the current holder's; a run
that finds a higher generation than its own after creating it backs off.

The holder renews its lease by rewriting its own record, and stops (LockError) when its record
is no longer the highest live one (taken over after its lease passed, or force-unlocked).
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from reconciler.backends.private_files import (
    LOCKS_DIR,
    fsync_dir,
    make_private_dirs,
    read_private,
    refuse_links,
    write_private_file,
)
from reconciler.desired.model import LockConfig
from reconciler.desired.store_options import expand_path
from reconciler.errors import LockError, LockHeld, StoreError
from reconciler.locks.base import LockContext, LockInfo
from reconciler.locks.record import from_json, held_message, key_digest, shown, to_json

POLL_SECONDS = 0.2
# A record is written right after it is created: wait this long for it before naming no holder.
RECORD_WAIT_SECONDS = 2.0
_GENERATION = re.compile(r"^([0-9]{12})\.json$")


class FileLock:
    def __init__(
        self,
        store_root: Path,
        key: str,
        *,
        now: Callable[[], datetime],
        lease: timedelta,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self._root = store_root
        self._parts = (LOCKS_DIR, key_digest(key))
        self._directory = store_root.joinpath(*self._parts)
        self._now = now
        self._lease = lease
        self._sleep = sleep
        self._monotonic = monotonic
        self._mine: tuple[int, LockInfo] | None = None

    # Records -----------------------------------------------------------------------------------

    def _path(self, generation: int) -> Path:
        return self._directory / f"{generation:012d}.json"

    def _generations(self) -> list[int]:
        try:
            refuse_links("lock", self._root, self._parts)
        except StoreError as exc:
            raise LockError(str(exc)) from None
        try:
            names = os.listdir(self._directory)
        except FileNotFoundError:
            return []
        return sorted(int(m[1]) for name in names if (m := _GENERATION.match(name)))

    def _read(self, generation: int) -> tuple[LockInfo, bool] | None:
        """The record and whether it is released; None when missing or not readable yet."""
        try:
            data = read_private(self._path(generation))
        except OSError:
            return None
        return from_json(data) if data is not None else None

    def _top(self) -> tuple[int, tuple[LockInfo, bool] | None]:
        generations = self._generations()
        if not generations:
            return 0, None
        top = generations[-1]
        return top, self._read(top)

    def _holder(self, generation: int) -> LockInfo | None:
        give_up = self._monotonic() + RECORD_WAIT_SECONDS
        while (record := self._read(generation)) is None and self._monotonic() < give_up:
            self._sleep(POLL_SECONDS)
        return record[0] if record else None

    def _blocking(self, top: int, record: tuple[LockInfo, bool] | None) -> bool:
        """Whether the highest record stands in the way of the next generation."""
        if top == 0:
            return False
        if record is None:
            # Created but not written yet, or unreadable: held until a lease has passed since.
            try:
                modified = datetime.fromtimestamp(self._path(top).stat().st_mtime, UTC)
            except FileNotFoundError:
                return False
            return self._now() < modified + self._lease
        info, released = record
        return not released and not info.stale(self._now())

    def _fail(self, doing: str, exc: OSError) -> LockError:
        return LockError(f"cannot {doing} the lock in {self._directory}: {exc.strerror or exc}")

    # ApplyLock ---------------------------------------------------------------------------------

    def acquire(self, info: LockInfo, *, timeout: float) -> None:
        if self._mine is not None:
            raise LockError("this run already holds the lock")
        try:
            refuse_links("lock", self._root, self._parts)
            make_private_dirs(self._root, self._parts)
        except StoreError as exc:
            raise LockError(str(exc)) from None
        except OSError as exc:
            raise self._fail("create", exc) from None
        deadline = self._monotonic() + max(0.0, timeout)
        while True:
            top, record = self._top()
            if self._blocking(top, record):
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    holder = record[0] if record else self._holder(top)
                    raise LockHeld(held_message(holder, self.key, f"file lock in {self._root}"))
                self._sleep(min(POLL_SECONDS, remaining))
                continue
            if self._create(top + 1, info):
                self._mine = (top + 1, info)
                self._drop_older(top + 1)
                return

    def _create(self, generation: int, info: LockInfo) -> bool:
        """Create generation `generation` holding `info`; False when another run made that
        number (or a higher one) first."""
        path = self._path(generation)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except FileExistsError:
            return False
        except OSError as exc:
            raise self._fail("create", exc) from None
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(to_json(info))
                handle.flush()
                os.fsync(handle.fileno())
            fsync_dir(self._directory)
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise self._fail("write", exc) from None
        if self._generations()[-1] != generation:
            # A run that saw an older state made a higher number: it outranks this one.
            with contextlib.suppress(OSError):
                path.unlink()
            return False
        return True

    def _drop_older(self, generation: int) -> None:
        for older in self._generations():
            if older < generation:
                with contextlib.suppress(OSError):
                    self._path(older).unlink()

    def _still_mine(self) -> tuple[int, LockInfo]:
        if self._mine is None:
            raise LockError("the file apply lock is not held by this run")
        generation, info = self._mine
        top, record = self._top()
        if top != generation or record is None or record[1] or record[0].id != info.id:
            self._mine = None
            raise LockError(
                f"the apply lock {info.id} was taken over or force-unlocked while this run held "
                "it (its lease may have passed without renewal)"
            )
        return generation, info

    def renew(self, expires: datetime) -> None:
        generation, info = self._still_mine()
        renewed = LockInfo(**{**vars(info), "expires": expires})
        try:
            write_private_file(self._path(generation), to_json(renewed))
        except OSError as exc:
            raise self._fail("renew", exc) from None
        self._mine = (generation, renewed)

    def release(self) -> None:
        if self._mine is None:
            return
        try:
            generation, info = self._still_mine()
        except LockError:
            return  # no longer ours: nothing to give back
        self._mine = None
        with contextlib.suppress(OSError):
            write_private_file(self._path(generation), to_json(info, released=True))

    def current(self) -> LockInfo | None:
        _, record = self._top()
        if record is None or record[1]:
            return None
        return record[0]

    def force_unlock(self, lock_id: str) -> LockInfo:
        top, record = self._top()
        if record is None or record[1] or record[0].id != lock_id:
            found = (
                f"the current one is {shown(record[0].id)}"
                if record and not record[1]
                else "no lock is held"
            )
            raise LockError(f"no apply lock with ID {lock_id} in {self._directory}: {found}")
        try:
            write_private_file(self._path(top), to_json(record[0], released=True))
        except OSError as exc:
            raise self._fail("release", exc) from None
        return record[0]


def open_file_lock(config: LockConfig, context: LockContext) -> FileLock:
    name = config.options.get("store")
    store = context.stores.get(name) if isinstance(name, str) else None
    if store is None or store.type != "file":
        raise LockError(
            f"lock type file needs lock.store to name a store of type file; {name!r} does not"
        )
    raw = store.options.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise LockError(f"store '{store.name}' (type file) needs a 'path' option for the lock")
    try:
        root = expand_path(raw.strip(), base=context.spec_dir, env=context.env)
    except StoreError as exc:
        raise LockError(str(exc)) from None
    return FileLock(root, context.key, now=context.now, lease=config.lease)
