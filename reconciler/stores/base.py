"""The SecretStore Protocol and the metadata every stored secret carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from reconciler.secret import Secret


@dataclass(frozen=True)
class SecretMeta:
    """Written beside every value (Vault custom_metadata, AWS tags, a sidecar file, ...).

    `value_sha256` is the SHA-256 of the payload as written, so a store that can read values
    back lets `apply` prove that what is stored is what it wrote."""

    token_guid: str
    name: str
    namespace: str
    created: datetime
    expires: datetime | None
    scope: str
    value_sha256: str | None = None
    # The payload format written (raw | json | netrc): a format change needs a new token,
    # since PPM shows a value only once and the old payload cannot be re-rendered.
    format: str | None = None
    # When a rotation made this token, the time its predecessor may be retired (the grace the
    # rotation promised, including `rotate --grace`): later runs honour it.
    retire_previous_after: datetime | None = None

    def to_strings(self) -> dict[str, str]:
        """Flat string form, for stores whose metadata is string-only (tags, env vars)."""
        return {
            "token_guid": self.token_guid,
            "name": self.name,
            "namespace": self.namespace,
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat() if self.expires else "never",
            "scope": self.scope,
            **({"value_sha256": self.value_sha256} if self.value_sha256 else {}),
            **({"format": self.format} if self.format else {}),
            **(
                {"retire_previous_after": self.retire_previous_after.isoformat()}
                if self.retire_previous_after
                else {}
            ),
        }

    @classmethod
    def from_strings(cls, data: dict[str, str]) -> SecretMeta:
        expires = data.get("expires", "never")
        return cls(
            token_guid=data["token_guid"],
            name=data["name"],
            namespace=data["namespace"],
            created=datetime.fromisoformat(data["created"]),
            expires=None if expires == "never" else datetime.fromisoformat(expires),
            scope=data["scope"],
            value_sha256=data.get("value_sha256") or None,
            format=data.get("format") or None,
            retire_previous_after=(
                datetime.fromisoformat(data["retire_previous_after"])
                if data.get("retire_previous_after")
                else None
            ),
        )


@dataclass(frozen=True)
class SecretPayload:
    """What `put` writes: the payload already rendered in the entry's format, plus metadata."""

    payload: Secret  # raw token, JSON document or netrc line
    meta: SecretMeta


@dataclass(frozen=True)
class StoreCapabilities:
    """What a store can promise; `apply` and the README's store table read these, never the type.

    readable_values: `read_value_hash` returns the hash of what is stored (file, vault, aws).
    restorable:      `restore_previous` can put back what the store held before a `put` (file:
                     the previous payload kept until `commit`; vault: the previous KV version;
                     aws: the AWSPREVIOUS version). Where False (github: write-only secrets), an
                     unconfirmed write keeps the new token alive instead and the run reports it.
    remote:          calls go over the network: bulk reads may run in threads.
    """

    readable_values: bool
    restorable: bool
    remote: bool


class SecretStore(Protocol):
    """The contract every store meets (file, command, vault, aws, github).

    Every call may raise `reconciler.errors.StoreError` with a message that names the store and
    the key and never contains a value. Apply calls, for one key, in this order and never
    otherwise: put -> read_meta / read_value_hash (confirm) -> commit, or put -> (confirm
    fails) -> restore_previous. Apply holds the run's lock, so no two runs write one store key.
    """

    name: str  # the key under `stores:` in the spec
    capabilities: StoreCapabilities

    def put(self, key: str, secret: SecretPayload) -> None:
        """Write the payload and its metadata under `key`.

        Idempotent for the same token GUID: putting the same token again (a retry after a lost
        response) leaves one copy, and does not make the earlier value unrestorable. What the
        key held before the first put of this GUID stays restorable until `commit` or
        `restore_previous`."""
        ...

    def read_meta(self, key: str) -> SecretMeta | None:
        """Metadata of what is stored under `key`; None when nothing (or no metadata) is."""
        ...

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        """`read_meta` for many keys, in as few calls as the backend allows (one directory scan,
        one list call). Every key of `keys` is in the result."""
        ...

    def read_value_hash(self, key: str) -> str | None:
        """SHA-256 of the stored payload where the store can read values back; else None."""
        ...

    def restore_previous(self, key: str, guid: str) -> bool:
        """Undo the put of token `guid` under `key`, which apply could not confirm: afterwards
        the key holds what it held before that put (or nothing, if it held nothing), value and
        metadata. True when done, or when `key` does not hold `guid` (nothing to undo). False
        when this store cannot go back (capabilities.restorable is False): the new value stays,
        and the caller must keep the new token alive."""
        ...

    def commit(self, key: str, guid: str) -> None:
        """The put of `guid` under `key` is confirmed: drop whatever was kept to restore the
        previous value (a store that keeps nothing does nothing)."""
        ...

    def delete(self, key: str) -> None:
        """Delete value and metadata. Deleting what is not there is not an error."""
        ...

    def sweep(self, keys: Sequence[str]) -> tuple[str, ...]:
        """Remove what interrupted writes of `keys` (every secret the spec declares in this
        store) left behind: temporary files that may hold a value, copies kept for a restore
        that no run will do. Nothing else: what a store cannot prove it wrote for one of these
        keys is not its to remove. Called once per apply, under the lock, before any put.
        Returns what it removed, as value-free descriptions."""
        ...


@runtime_checkable
class PayloadReader(Protocol):
    """A store that can hand back the payload it holds (file, vault, aws; a command store with
    a read_value_command), beyond the SecretStore contract: read to use the admin token a
    store keeps (server.auth) and to prove that a revoked value is refused. Never read for
    anything else: plan and apply tell tokens apart by metadata."""

    def read_payload(self, key: str) -> Secret | None:
        """The payload stored under `key`, as written (raw, JSON or netrc); None when nothing
        is stored there."""
        ...


def read_meta_each(store: SecretStore, keys: Sequence[str]) -> dict[str, SecretMeta | None]:
    """`read_meta_many` for stores without a bulk call: one `read_meta` per key."""
    return {key: store.read_meta(key) for key in keys}
