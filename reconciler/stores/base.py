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


# Candidates an unfinished write records, newest first: each cut that the next run cannot
# resolve adds one, and a metadata value (AWS tags: 255 characters) has room for a few.
MAX_CANDIDATES = 5
_PENDING_GUID = "pending_token_guid"
_PENDING_REPLACES = "pending_replaces"
_PENDING_PROMISE = "pending_retire_previous_after"
_PENDING_FORMAT = "pending_format"
PENDING_KEYS = frozenset({_PENDING_GUID, _PENDING_REPLACES, _PENDING_PROMISE, _PENDING_FORMAT})


@dataclass(frozen=True)
class PendingWrite:
    """The intent a put records in a key's metadata before it writes the value; the token's
    metadata replaces it once the value is written. A run cut short in between (kill -9, the
    store unreachable, credentials that may write values but not metadata) leaves it behind, so
    the next run knows which tokens the key may hand out and what the write promised the tokens
    it supersedes, even where it cannot read the value."""

    token_guid: str
    # What the key may have handed out before this write, newest first: the token its metadata
    # named, or the candidates of an earlier write that was cut short too.
    replaces: tuple[str, ...] = ()
    retire_previous_after: datetime | None = None  # the promise of the write (SecretMeta's)
    format: str | None = None

    @property
    def candidates(self) -> tuple[str, ...]:
        """Every token the key may hand out while this write is unfinished, newest first."""
        return (self.token_guid, *(g for g in self.replaces if g != self.token_guid))

    def to_strings(self) -> dict[str, str]:
        """Flat strings whose keys never collide with SecretMeta's: a store writes either these
        or the metadata, never both. Values use only characters AWS allows in tags."""
        return {
            _PENDING_GUID: self.token_guid,
            # Vault refuses an empty custom_metadata value: no key at all when nothing is replaced.
            **(
                {_PENDING_REPLACES: " ".join(self.replaces[:MAX_CANDIDATES])}
                if self.replaces
                else {}
            ),
            **(
                {_PENDING_PROMISE: self.retire_previous_after.isoformat()}
                if self.retire_previous_after
                else {}
            ),
            **({_PENDING_FORMAT: self.format} if self.format else {}),
        }

    @classmethod
    def from_strings(cls, data: Mapping[str, str]) -> PendingWrite | None:
        """None when `data` records no intent. A promise that does not parse is dropped (the
        next run then falls back to the spec's grace): the candidates are what matter."""
        guid = data.get(_PENDING_GUID, "").strip()
        if not guid:
            return None
        try:
            promise = datetime.fromisoformat(data[_PENDING_PROMISE])
        except (KeyError, ValueError):
            promise = None
        return cls(
            token_guid=guid,
            replaces=tuple(data.get(_PENDING_REPLACES, "").split()),
            retire_previous_after=promise,
            format=data.get(_PENDING_FORMAT) or None,
        )

    @classmethod
    def superseding(
        cls, meta: SecretMeta, held: SecretMeta | None, unfinished: PendingWrite | None
    ) -> PendingWrite:
        """The intent of writing `meta` over a key whose metadata is `held` or which holds the
        intent of an `unfinished` earlier write."""
        before = unfinished.candidates if unfinished else (held.token_guid,) if held else ()
        replaces = tuple(g for g in before if g != meta.token_guid)[: MAX_CANDIDATES - 1]
        return cls(meta.token_guid, replaces, meta.retire_previous_after, meta.format)


@dataclass(frozen=True)
class StoredValue:
    """What a value read back from a store says of itself (never the value): the token its JWT
    names, the format it is written in, and its hash. Read only where values are readable and
    the metadata does not already say which token the key holds."""

    token_guid: str | None  # the JWT's `jti`; None: no value, or one that names no token
    format: str | None = None  # raw | json | netrc, as recognised; None when not recognised
    sha256: str | None = None  # of the payload as stored


@dataclass(frozen=True)
class KeyState:
    """What a store holds under one key, as far as it can tell. `meta` is the metadata only
    while it describes the current value (no intent beside it); `pending` an unfinished write;
    `value` what the value itself says, where it was read."""

    meta: SecretMeta | None = None
    pending: PendingWrite | None = None
    value: StoredValue | None = None

    @property
    def held_guid(self) -> str | None:
        """The token the key is known to hand out: what its value names where read, else what
        its metadata names; None when nothing, or when an unfinished write leaves it unknown."""
        if self.value is not None:
            return self.value.token_guid
        if self.pending is not None:
            return None
        return self.meta.token_guid if self.meta is not None else None

    @property
    def unsure(self) -> tuple[str, ...]:
        """The tokens the key may hand out when an unfinished write leaves it unknown."""
        return self.pending.candidates if self.pending is not None and self.value is None else ()

    def may_hand_out(self, guid: str) -> bool:
        """Whether consumers reading this key may get token `guid`."""
        if self.value is not None:
            return self.value.token_guid == guid
        if self.pending is not None:
            return guid in self.pending.candidates
        return self.meta is not None and self.meta.token_guid == guid


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
    tells_held:      `read_states` can say which token the key hands out even when its
                     metadata does not (the value read back, or a command store's
                     read_command): a write cut before its metadata is then resolved, not
                     guessed at.
    """

    readable_values: bool
    restorable: bool
    remote: bool
    tells_held: bool = False


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
        """Write the payload and its metadata under `key`: first the intent (`PendingWrite`) in
        the metadata, then the value, then `write_meta`. When the intent cannot be written,
        nothing else is.

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

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        """What each key holds: its metadata, an unfinished write's intent, and, where values
        are readable and the metadata does not settle which token the key holds, what the
        value itself says. As few calls as `read_meta_many` when every key is settled. Every
        key of `keys` is in the result."""
        ...

    def write_meta(self, key: str, meta: SecretMeta) -> None:
        """Write the metadata of the token whose value `key` holds, replacing whatever metadata
        or intent is there, without touching the value: the last step of `put`, and all that
        is left to do after a put cut short between its value and its metadata."""
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
