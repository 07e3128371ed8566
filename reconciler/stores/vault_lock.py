"""The `vault` apply lock: a KV v2 entry written with check-and-set through a vault store's
connection (`lock.store`; the spec's only vault store when not given).

The entry (`lock.path`, default `<store prefix>locks/<namespace>` on the store's mount) holds the
holder and the lease's end in its data. Taking the lock is a write with `cas` set to the version
just read: `cas=0` when there is no entry, so of two runs that both found it free exactly one
write succeeds. A record whose lease has ended is taken over the same way. Releasing writes a
"released" record (again with check-and-set), so the entry's history shows who held it when.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from reconciler.apply.lock import LockContext, LockInfo
from reconciler.errors import LockError, StoreError
from reconciler.spec.model import LockConfig
from reconciler.stores import lock_records
from reconciler.stores.vault import mount_and_prefix
from reconciler.stores.vault_client import VaultClient, retry_policy, vault_settings
from reconciler.stores.vault_kv import CasConflict, KvV2
from reconciler.stores.vault_rules import key_problem


class VaultLock:
    def __init__(
        self,
        kv: KvV2,
        path: str,
        *,
        now: Callable[[], datetime],
        poll: float = lock_records.POLL_SECONDS,
    ) -> None:
        self.kv = kv
        self.path = path
        self._now = now
        self._poll = poll
        self._held: LockInfo | None = None
        self._where = f"vault {kv.mount}/{path}"

    def _read(self) -> tuple[int, Mapping[str, Any] | None]:
        try:
            found = self.kv.metadata(self.path)
            if found is None:
                return 0, None
            data = self.kv.read(self.path) if found.live else None
        except StoreError as exc:
            raise LockError(f"lock ({self._where}): {exc}") from None
        return found.current_version, data[1] if data else None

    def _write(self, data: Mapping[str, str], version: int) -> None:
        """Raises CasConflict when another run wrote in between."""
        try:
            self.kv.write(self.path, data, cas=version)
        except StoreError as exc:
            raise LockError(f"lock ({self._where}): {exc}") from None

    def acquire(self, info: LockInfo, *, timeout: float) -> None:
        waiter = lock_records.Waiter(timeout, poll=self._poll)
        while True:
            version, data = self._read()
            record = lock_records.from_record(data)
            if record is None or record.stale(self._now()):
                try:
                    self._write({"state": "held", **lock_records.to_record(info)}, version)
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
        record = lock_records.from_record(data)
        if record is None or record.id != held.id:
            raise LockError(
                f"lock ({self._where}) is no longer this run's (broken or taken over): stopping"
            )
        renewed = LockInfo(held.id, held.key, held.holder, held.operation, held.created, expires)
        try:
            self._write({"state": "held", **lock_records.to_record(renewed)}, version)
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
        record = lock_records.from_record(data)
        if record is None or record.id != held.id:
            return  # broken or taken over since: not ours to release
        try:
            self._write({"state": "released", "id": held.id, "key": held.key}, version)
        except CasConflict:
            return

    def current(self) -> LockInfo | None:
        return lock_records.from_record(self._read()[1])

    def force_unlock(self, lock_id: str) -> LockInfo:
        version, data = self._read()
        record = lock_records.from_record(data)
        if record is None or record.id != lock_id:
            held = f"it holds lock {record.id}" if record else "no lock is held"
            raise LockError(f"no lock with ID {lock_id} at {self._where}: {held}")
        try:
            self._write({"state": "released", "id": record.id, "key": record.key}, version)
        except CasConflict:
            raise LockError(
                f"lock at {self._where} changed while it was broken: look again"
            ) from None
        return record


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
    path = str(config.options.get("path") or f"{prefix}locks/{context.namespace}")
    if problem := key_problem(path):
        raise LockError(f"lock (vault store '{store_name}'): lock.path {path!r} {problem}")
    try:
        client = VaultClient(
            settings, context.env, sleep=time.sleep, now=context.now, policy=retry_policy(store)
        )
    except StoreError as exc:
        raise LockError(f"lock (vault store '{store_name}'): {exc}") from None
    return VaultLock(KvV2(client, mount), path, now=context.now)
