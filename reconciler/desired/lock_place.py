"""A vault lock's entry is not a token's secret.

A vault lock keeps its record in the KV mount of the store it names: at `lock.path`, else below
`<prefix>locks/<namespace>/` (one entry per server) and, as older versions did, at
`<prefix>locks/<namespace>` itself. A token whose secret is one of those entries would have its
value overwritten by the next apply's lock record (and the lock would read a token as a
foreign record), so the consumer holding that secret loses access. The places are compared as
reconciler.desired.locations compares secrets: two spellings of one Vault are one Vault.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from reconciler.desired import effective
from reconciler.desired.effective import mapping
from reconciler.desired.loader import JsonPath
from reconciler.desired.locations import SecretLocation
from reconciler.problems import Problem
from reconciler.sanitize import quoted

# (store name, key, token name) -> the places that secret takes
Places = Callable[[str, str, str], tuple[SecretLocation, ...]]


class _Context(Protocol):
    @property
    def data(self) -> object: ...

    def error(self, path: JsonPath, message: str, *, on_key: bool = False) -> Problem: ...

    def name(self, path: JsonPath) -> str: ...


@dataclass(frozen=True)
class VaultLockPlace:
    """Where a vault lock keeps its record: an entry (lock.path), or the directory of one
    entry per server and the older versions' entry of that name."""

    vault: tuple[object, ...]  # a vault SecretLocation's Vault, namespace and mount
    path: str
    directory: bool

    @property
    def said(self) -> str:
        if self.directory:
            return f"the apply lock's default place {quoted(self.path + '/')}"
        return f"lock.path {quoted(self.path)}"

    def holds(self, place: SecretLocation) -> bool:
        if place.place[:4] != self.vault:
            return False
        path = str(place.place[4])
        return path == self.path or (self.directory and path.startswith(f"{self.path}/"))


def vault_lock_place(
    store_places: Sequence[SecretLocation], prefix: object, namespace: str, explicit: object
) -> VaultLockPlace | None:
    """The place of a vault lock on the store whose (empty-keyed) places are `store_places`,
    with that store's `prefix`, the spec's namespace and `lock.path` as written."""
    vault = next((p.place[:4] for p in store_places if p.place[:1] == ("vault",)), None)
    if vault is None:
        return None
    if isinstance(explicit, str):
        return VaultLockPlace(vault, explicit, directory=False)
    prefix = prefix if isinstance(prefix, str) else ""
    return VaultLockPlace(vault, f"{prefix}locks/{namespace}", directory=True)


def lock_place_problems(ctx: _Context, places: Places) -> Iterator[Problem]:
    data = mapping(ctx.data)
    lock = mapping(data.get("lock"))
    store = lock.get("store")
    stores = mapping(data.get("stores"))
    entry = mapping(stores.get(store)) if isinstance(store, str) else {}
    if lock.get("type") != "vault" or entry.get("type") != "vault" or not isinstance(store, str):
        return  # other locks keep records where no secret can be (or another rule says why)
    # The Vault, namespace and mount the lock writes in: those of its store's secrets.
    held = vault_lock_place(
        places(store, "", ""), entry.get("prefix"), effective.namespace(data), lock.get("path")
    )
    if held is None:
        return
    for index, token in effective.entries(data):
        name, key = token.get("name"), effective.secret_name(data, index)
        token_store = effective.setting(data, index, "store").value
        if not (isinstance(name, str) and isinstance(key.value, str)):
            continue
        if not isinstance(token_store, str):
            continue
        place = next((p for p in places(token_store, key.value, name) if held.holds(p)), None)
        if place is not None:
            where = key.path or ("tokens", index)
            yield ctx.error(
                where,
                f"{ctx.name(where)}: secret {quoted(key.value)} in store {quoted(token_store)} "
                f"is where the vault lock keeps its record ({held.said}, {place.shown}): the "
                "next apply would overwrite the token's value; choose another secret or "
                "lock.path",
            )
