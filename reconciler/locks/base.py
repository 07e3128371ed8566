"""The apply lock: one `apply` (or `rotate`, `revoke --replace`) at a time per server and
namespace, as Terraform's state lock. This module is the protocol every lock kind implements;
reconciler.locks.registry opens the kind a spec chooses.

A lock record (LockInfo) names its holder and carries a lease: a holder that dies (kill -9, a
lost runner) leaves a record that is stale once `expires` passes, and the next run takes it
over. A live holder renews the lease while it works. `ppm-tokens force-unlock ID` removes a
record by its ID, for when the lease is long and the holder is known to be dead.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from reconciler.desired.model import StoreConfig
from reconciler.urls import server_identity


@dataclass(frozen=True)
class LockInfo:
    """One lock record. Value-free: it is printed when another run finds the lock held."""

    id: str  # random UUID, what force-unlock takes
    key: str  # what is locked: "<server identity>|<namespace>" (LockContext.key)
    holder: str  # "user@host pid N"
    operation: str  # apply | rotate | revoke
    created: datetime
    expires: datetime  # end of the lease; renewed while the holder works

    def stale(self, now: datetime) -> bool:
        return now >= self.expires


class ApplyLock(Protocol):
    """Every call may raise `reconciler.errors.LockError`; `acquire` raises `LockHeld`."""

    def acquire(self, info: LockInfo, *, timeout: float) -> None:
        """Take the lock for `info.key`, waiting up to `timeout` seconds (0: fail at once) while
        another live holder has it; a stale record is taken over. Raises LockHeld naming the
        holder when the time is up."""
        ...

    def renew(self, expires: datetime) -> None:
        """Extend the lease of the lock this object holds. Raises LockError when the record is
        no longer ours (broken by force-unlock, or taken over as stale): the caller stops
        starting new work."""
        ...

    def release(self) -> None:
        """Give the lock back; releasing a lock no longer held is not an error."""
        ...

    def current(self) -> LockInfo | None:
        """The record for this key as stored now (held or stale), or None."""
        ...

    def force_unlock(self, lock_id: str) -> LockInfo:
        """Remove the record whose ID is `lock_id` and return it. Raises LockError when there
        is no record or it has another ID (someone else's newer lock)."""
        ...


@dataclass(frozen=True)
class LockContext:
    """What a lock kind may need, passed in so tests hand in their own."""

    server_url: str
    namespace: str
    stores: Mapping[str, StoreConfig]  # the spec's store declarations, for lock.store
    spec_dir: Path  # relative paths resolve against the spec file's directory
    env: Mapping[str, str]  # HOME, XDG_STATE_HOME, VAULT_*, AWS_*
    now: Callable[[], datetime]

    @property
    def server(self) -> str:
        """The server's identity: one lock however its URL is spelled (reconciler.urls)."""
        return server_identity(self.server_url)

    @property
    def key(self) -> str:
        return f"{self.server}|{self.namespace}"


DEFAULT_LEASE = timedelta(minutes=15)
