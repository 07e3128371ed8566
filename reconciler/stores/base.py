"""The SecretStore Protocol and the metadata every stored secret carries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

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


class SecretStore(Protocol):
    """Every call may raise `reconciler.errors.StoreError` with a message that names the store
    and the key and never contains a value."""

    name: str  # the key under `stores:` in the spec

    def put(self, key: str, secret: SecretPayload) -> None: ...

    def read_meta(self, key: str) -> SecretMeta | None:
        """Metadata of what is stored under `key`; None when nothing (or no metadata) is."""
        ...

    def read_value_hash(self, key: str) -> str | None:
        """SHA-256 of the stored payload where the store can read values back; else None."""
        ...

    def delete(self, key: str) -> None:
        """Delete value and metadata. Deleting what is not there is not an error."""
        ...
