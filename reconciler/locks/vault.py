"""The `vault` apply lock: a KV v2 entry written with check-and-set through a vault store's
connection (`lock.store`; the spec's only vault store when not given).

The entry (`lock.path`, default `<store prefix>locks/<namespace>/<server digest>` on the store's
mount) holds the holder and the lease's end in its data. The digest is of the server's identity
(reconciler.urls), so two servers that share a namespace name and a Vault do not wait for each
other, and two spellings of one server's URL share one lock.

Taking the lock is a write with `cas` set to the version just read: `cas=0` when there is no
entry, so of two runs that both found it free exactly one write succeeds. A record whose lease
has ended is taken over the same way. Releasing writes a "released" record (again with
check-and-set), so the entry's history shows who held it when.

Older versions kept the lock at `<store prefix>locks/<namespace>`, for every server. A record
there whose lease has not ended and whose key names this server and namespace is an older
version's run of this very lock: it is waited for (and force-unlock breaks it by its ID) as if it
were at the new path. The other way round cannot hold: an older version does not look at the new
path, so upgrade every runner that applies a namespace together.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reconciler.backends.vault_client import VaultClient, retry_policy, vault_settings
from reconciler.backends.vault_kv import CasConflict, KvV2, mount_and_prefix
from reconciler.desired.model import LockConfig
from reconciler.desired.vault_rules import key_problem
from reconciler.errors import LockError, StoreError
from reconciler.locks import remote_records
from reconciler.locks.base import LockContext, LockInfo
from reconciler.locks.record import key_digest, shown
from reconciler.urls import server_identity


class VaultLock:
    def __init__(
        self,
        kv: KvV2,
        path: str,
        *,
        now: Callable[[], datetime],
        poll: float = remote_records.POLL_SECONDS,
        legacy_path: str | None = None,
    ) -> None:
        self.kv = kv
        self.path = path
        self.legacy_path = legacy_path  # where older versions kept this lock (module docstring)
        self._now = now
        self._poll = poll
        self._held: LockInfo | None = None
        self._where = f"vault {kv.mount}/{path}"

    def _read(self, path: str | None = None) -> tuple[int, Mapping[str, Any] | None]:
        path = path or self.path
        try:
            found = self.kv.metadata(path)
            if found is None:
                return 0, None
            data = self.kv.read(path) if found.live else None
        except StoreError as exc:
            raise LockError(f"lock ({self._where}): {exc}") from None
        return found.current_version, data[1] if data else None

    def _write(self, data: Mapping[str, str], version: int, path: str | None = None) -> None:
        """Raises CasConflict when another run wrote in between."""
        try:
            self.kv.write(path or self.path, data, cas=version)
        except StoreError as exc:
            raise LockError(f"lock ({self._where}): {exc}") from None

    def _legacy_holder(self, key: str) -> LockInfo | None:
        """A live record of this lock at the older versions' path, if any."""
        if self.legacy_path is None:
            return None
        record = remote_records.from_record(self._read(self.legacy_path)[1])
        if record is None or record.stale(self._now()) or not same_lock(record.key, key):
            return None
        return record

    def acquire(self, info: LockInfo, *, timeout: float) -> None:
        waiter = remote_records.Waiter(timeout, poll=self._poll)
        while True:
            older = self._legacy_holder(info.key)
            if older is not None:
                waiter.wait_or_give_up(older, f"vault {self.kv.mount}/{self.legacy_path}")
                continue
            version, data = self._read()
            if data and "state" not in data:
                # Every lock record of every version has a state; this entry is something else,
                # such as a token's secret, which writing the lock over would destroy.
                raise LockError(
                    f"lock ({self._where}): that entry holds something that is not a lock "
                    "record, which the lock will not overwrite: set lock.path to an entry of "
                    "its own"
                )
            record = remote_records.from_record(data)
            if record is None or record.stale(self._now()):
                try:
                    self._write({"state": "held", **remote_records.to_record(info)}, version)
                except CasConflict:
                    continue  # another run got there first: look again
                self._held = info
                return
            waiter.wait_or_give_up(record, self._where)

    def renew(self, expires: datetime) -> None:
        held = self._held
        if held is None:
            raise LockError(f"lock ({self._where}): not held, so it cannot be renewed")
        version, data = self._read()
        record = remote_records.from_record(data)
        if record is None or record.id != held.id:
            raise LockError(
                f"lock ({self._where}) is no longer this run's (broken or taken over): stopping"
            )
        renewed = LockInfo(held.id, held.key, held.holder, held.operation, held.created, expires)
        try:
            self._write({"state": "held", **remote_records.to_record(renewed)}, version)
        except CasConflict:
            raise LockError(
                f"lock ({self._where}) changed while it was renewed: stopping"
            ) from None
        self._held = renewed

    def release(self) -> None:
        held, self._held = self._held, None
        if held is None:
            return
        version, data = self._read()
        record = remote_records.from_record(data)
        if record is None or record.id != held.id:
            return  # broken or taken over since: not ours to release
        try:
            self._write({"state": "released", "id": held.id, "key": held.key}, version)
        except CasConflict:
            return

    def current(self) -> LockInfo | None:
        return remote_records.from_record(self._read()[1])

    def force_unlock(self, lock_id: str) -> LockInfo:
        version, data = self._read()
        record = remote_records.from_record(data)
        path = self.path
        if (record is None or record.id != lock_id) and self.legacy_path is not None:
            # An older version's record, which acquire waits for: broken by its ID the same way.
            legacy_version, legacy_data = self._read(self.legacy_path)
            legacy = remote_records.from_record(legacy_data)
            if legacy is not None and legacy.id == lock_id:
                version, record, path = legacy_version, legacy, self.legacy_path
        if record is None or record.id != lock_id:
            held = f"it holds lock {shown(record.id)}" if record else "no lock is held"
            raise LockError(f"no lock with ID {lock_id} at {self._where}: {held}")
        try:
            self._write({"state": "released", "id": record.id, "key": record.key}, version, path)
        except CasConflict:
            raise LockError(
                f"lock at {self._where} changed while it was broken: look again"
            ) from None
        return record


def same_lock(recorded_key: str, key: str) -> bool:
    """Whether a record's key ("<server URL>|<namespace>", as any version wrote it) names the
    lock `key` names. A key that cannot be read counts as the same: a lock nobody can place is
    waited for rather than run past."""
    server, separator, namespace = recorded_key.rpartition("|")
    ours, _, our_namespace = key.rpartition("|")
    if not separator:
        return True
    return namespace == our_namespace and server_identity(server) == server_identity(ours)


def open_vault_lock(config: LockConfig, context: LockContext) -> VaultLock:
    store_name = config.options.get("store")
    vaults = [name for name, store in context.stores.items() if store.type == "vault"]
    if store_name is None and len(vaults) == 1:
        store_name = vaults[0]
    if not isinstance(store_name, str) or store_name not in vaults:
        raise LockError(
            "lock type vault needs `lock.store` naming a vault store of the spec "
            f"(vault stores: {', '.join(vaults) or 'none'})"
        )
    store = context.stores[store_name]
    try:
        # The store's own reading of its options: the lock lives where the store does.
        settings = vault_settings(store, context.env, context.spec_dir)
        mount, prefix = mount_and_prefix(store)
    except StoreError as exc:
        raise LockError(f"lock (vault store '{store_name}'): {exc}") from None
    legacy_path = f"{prefix}locks/{context.namespace}"
    explicit = config.options.get("path")
    path = str(explicit or f"{legacy_path}/{key_digest(context.server)}")
    if problem := key_problem(path):
        raise LockError(f"lock (vault store '{store_name}'): lock.path {path!r} {problem}")
    try:
        client = VaultClient(
            settings, context.env, sleep=time.sleep, now=context.now, policy=retry_policy(store)
        )
    except StoreError as exc:
        raise LockError(f"lock (vault store '{store_name}'): {exc}") from None
    return VaultLock(
        KvV2(client, mount),
        path,
        now=context.now,
        legacy_path=None if explicit else legacy_path,
    )
