"""The `vault` store: HashiCorp Vault (or OpenBao) KV version 2, over HTTP.

Each secret is one KV entry at `<mount>/data/<prefix><key>`: the payload under the field `key`
(default "token"), and the metadata in the entry's custom_metadata, which the planner reads from
`<mount>/metadata/...` without ever reading a value. custom_metadata also records `kv_version`,
the version the payload was written as: when someone writes the entry out of band, the metadata
no longer describes the current version and the planner repairs the entry.

Writes use check-and-set against the version read just before (retried once, after a re-read,
when another writer got in between). The custom_metadata first takes the intent of the write
(`PendingWrite`: which token, what the entry held, the promise), then the value is written,
then its metadata: a cut in between (Vault unreachable, kill -9) leaves the intent, never
metadata vouching for a value that is not there, and the next run reads the value to learn
which token it is. The value is read only then: settled metadata says it without reading it.
Going back after an unconfirmed write writes the previous version's data again as a new
version (KV keeps its history), with the previous metadata.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from reconciler.backends.vault_client import VaultClient, retry_policy, vault_settings
from reconciler.backends.vault_kv import CasConflict, KvMetadata, KvV2, mount_and_prefix
from reconciler.desired import store_options
from reconciler.desired.vault_rules import (
    custom_metadata_problem,
    key_problem,
    prefix_problem,
)
from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import (
    PENDING_KEYS,
    KeyState,
    PendingWrite,
    SecretMeta,
    SecretPayload,
    StoreCapabilities,
    StoredValue,
)
from reconciler.stores.before_put import BeforePuts
from reconciler.stores.formats import inspect_payload

if TYPE_CHECKING:
    from reconciler.desired.model import StoreConfig
    from reconciler.stores.registry import StoreContext

# The SecretMeta fields and the version they describe; other custom_metadata keys (a team's
# own) are kept as they are.
OUR_KEYS = frozenset(
    {
        "token_guid",
        "name",
        "namespace",
        "created",
        "expires",
        "scope",
        "value_sha256",
        "format",
        "retire_previous_after",
        "kv_version",
        *PENDING_KEYS,
    }
)
READ_THREADS = 8


@dataclass(frozen=True)
class _Before:
    """What a key held before the first put of a token, kept until commit or restore."""

    version: int  # the live version then; 0 when nothing was readable
    custom: Mapping[str, str]
    existed: bool  # the entry existed (perhaps with only deleted versions)


class VaultStore:
    """See the module docstring."""

    capabilities = StoreCapabilities(
        readable_values=True, restorable=True, remote=True, tells_held=True
    )

    def __init__(self, name: str, kv: KvV2, *, prefix: str = "", value_key: str = "token") -> None:
        if problem := prefix_problem(prefix):
            raise StoreError(f"store '{name}' (vault): {problem}")
        self.name = name
        self.kv = kv
        self.prefix = prefix
        self.value_key = value_key
        self._before: BeforePuts[_Before] = BeforePuts()

    def _path(self, key: str) -> str:
        if problem := key_problem(key):
            raise StoreError(f"store '{self.name}': secret {key!r} {problem}")
        return self.prefix + key

    # -- reads --------------------------------------------------------------------------------

    def _meta_of(self, found: KvMetadata | None) -> SecretMeta | None:
        if found is None or not found.live:
            return None
        custom = found.custom
        if custom.get("kv_version") != str(found.current_version):
            return None  # written out of band since: the metadata describes another value
        try:
            return SecretMeta.from_strings({k: v for k, v in custom.items() if k in OUR_KEYS})
        except (KeyError, ValueError):
            return None

    def read_meta(self, key: str) -> SecretMeta | None:
        return self._meta_of(self.kv.metadata(self._path(key)))

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        return {key: self._meta_of(found) for key, found in self._found_many(keys).items()}

    def _found_many(self, keys: Sequence[str]) -> dict[str, KvMetadata | None]:
        """One LIST per directory finds the keys that exist; only those are read, in threads
        (KV v2 has no call that returns the metadata of many entries)."""
        paths = {key: self._path(key) for key in keys}
        listed: dict[str, set[str] | None] = {}
        for path in paths.values():
            directory = posixpath.dirname(path)
            if directory not in listed:
                listed[directory] = self.kv.list(directory + "/" if directory else "")
        present = [
            key
            for key, path in paths.items()
            if posixpath.basename(path) in (listed[posixpath.dirname(path)] or set())
        ]
        result: dict[str, KvMetadata | None] = dict.fromkeys(keys)
        with ThreadPoolExecutor(max_workers=READ_THREADS) as pool:
            for key, found in zip(
                present, pool.map(lambda k: self.kv.metadata(paths[k]), present), strict=True
            ):
                result[key] = found
        return result

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        """The metadata as read_meta_many reads it; the value only of an entry whose metadata
        does not describe its current version."""
        result: dict[str, KeyState] = {}
        for key, found in self._found_many(keys).items():
            meta = self._meta_of(found)
            if meta is not None or found is None:
                result[key] = KeyState(meta=meta)
                continue
            pending = PendingWrite.from_strings(found.custom)
            value = self._value_of(key) if found.live else StoredValue(None)
            result[key] = KeyState(pending=pending, value=value)
        return result

    def _value_of(self, key: str) -> StoredValue:
        found = self.kv.read(self._path(key))
        value = found[1].get(self.value_key) if found else None
        return inspect_payload(Secret(value)) if isinstance(value, str) else StoredValue(None)

    def read_value_hash(self, key: str) -> str | None:
        payload = self.read_payload(key)
        return payload.sha256() if payload is not None else None

    def read_payload(self, key: str) -> Secret | None:
        """The payload of the current version (see stores.base.PayloadReader)."""
        found = self.kv.read(self._path(key))
        if found is None:
            return None
        value = found[1].get(self.value_key)
        if not isinstance(value, str):
            raise StoreError(f"store '{self.name}': {key!r} has no string field {self.value_key!r}")
        return Secret(value)

    # -- writes -------------------------------------------------------------------------------

    def put(self, key: str, secret: SecretPayload) -> None:
        path = self._path(key)
        guid = secret.meta.token_guid
        strings = secret.meta.to_strings()
        if problem := custom_metadata_problem({**strings, "kv_version": "0"}):
            raise StoreError(f"store '{self.name}': the metadata of {key!r} {problem}")
        for attempt in range(2):
            found = self.kv.metadata(path)
            version = found.current_version if found else 0
            self._before.remember(key, guid, self._as_before(found))
            if found is not None and found.live and self._holds(path, version, secret.payload):
                written = version  # a retried put: the value is there, maybe not its metadata
            else:
                self._write_intent(path, found, secret.meta)
                try:
                    written = self.kv.write(
                        path, {self.value_key: secret.payload.reveal()}, cas=version
                    )
                except CasConflict:
                    if attempt == 0:
                        continue  # another writer got in between: read again, once
                    raise StoreError(
                        f"store '{self.name}': {key!r} kept changing while it was written "
                        "(check-and-set failed twice): is another run writing it?"
                    ) from None
            custom = self._merged(found, {**strings, "kv_version": str(written)})
            self.kv.write_custom_metadata(path, custom)
            return

    def _write_intent(self, path: str, found: KvMetadata | None, meta: SecretMeta) -> None:
        custom = found.custom if found else {}
        intent = PendingWrite.superseding(
            meta, self._meta_of(found), PendingWrite.from_strings(custom)
        )
        wanted = self._merged(found, intent.to_strings())
        if dict(custom) != wanted:
            self.kv.write_custom_metadata(path, wanted)

    def write_meta(self, key: str, meta: SecretMeta) -> None:
        path = self._path(key)
        found = self.kv.metadata(path)
        if found is None or not found.live:
            raise StoreError(f"store '{self.name}': {key!r} holds no value to write metadata for")
        custom = self._merged(
            found, {**meta.to_strings(), "kv_version": str(found.current_version)}
        )
        self.kv.write_custom_metadata(path, custom)

    def _holds(self, path: str, version: int, payload: Secret) -> bool:
        found = self.kv.read(path, version)
        value = found[1].get(self.value_key) if found else None
        return isinstance(value, str) and Secret(value).sha256() == payload.sha256()

    @staticmethod
    def _as_before(found: KvMetadata | None) -> _Before:
        return _Before(
            version=found.current_version if found and found.live else 0,
            custom=dict(found.custom) if found else {},
            existed=found is not None,
        )

    @staticmethod
    def _merged(found: KvMetadata | None, ours: Mapping[str, str]) -> dict[str, str]:
        theirs = {k: v for k, v in (found.custom if found else {}).items() if k not in OUR_KEYS}
        return {**theirs, **ours}

    def restore_previous(self, key: str, guid: str) -> bool:
        path = self._path(key)
        before = self._before.take(key, guid)
        if before is None and not self.read_states([key])[key].may_hand_out(guid):
            return True  # it does not hold that token: nothing to undo
        found = self.kv.metadata(path)
        if before is None:
            before = self._guess_before(found)
        if found is None:
            return True
        if found.current_version == before.version:
            # The value never landed; its intent may have: put the metadata back.
            if not before.existed:
                self.kv.destroy_all(path)
            elif dict(found.custom) != dict(before.custom):
                self.kv.write_custom_metadata(path, before.custom)
            return True
        if before.version == 0:
            if before.existed:
                self.kv.delete_versions(path, [found.current_version])
                self.kv.write_custom_metadata(path, before.custom)
            else:
                self.kv.destroy_all(path)
            return True
        previous = self.kv.read(path, before.version)
        if previous is None:
            raise StoreError(
                f"store '{self.name}': version {before.version} of {key!r}, which it held "
                "before, is gone (deleted or beyond max_versions): it cannot be restored"
            )
        written = self.kv.write(path, previous[1], cas=found.current_version)
        custom = dict(before.custom)
        if custom.get("kv_version") == str(before.version):
            custom["kv_version"] = str(written)  # the same value and metadata, one version on
        self.kv.write_custom_metadata(path, custom)
        return True

    @staticmethod
    def _guess_before(found: KvMetadata | None) -> _Before:
        """No record of the put (another process made it): go back to the newest live version
        before the current one, without metadata, which the planner then repairs."""
        assert found is not None
        older = [v for v in found.live_versions if v < found.current_version]
        custom = {k: v for k, v in found.custom.items() if k not in OUR_KEYS}
        return _Before(version=older[-1] if older else 0, custom=custom, existed=True)

    def commit(self, key: str, guid: str) -> None:
        self._before.commit(key, guid)

    def delete(self, key: str) -> None:
        self.kv.destroy_all(self._path(key))

    def sweep(self, keys: Sequence[str]) -> tuple[str, ...]:
        # Nothing is kept outside Vault: earlier versions are Vault's own history.
        return ()

    def close(self) -> None:
        self.kv.client.close()


def open_vault_store(config: StoreConfig, context: StoreContext) -> VaultStore:
    settings = vault_settings(config, context.env, context.spec_dir)
    mount, prefix = mount_and_prefix(config)
    client = VaultClient(
        settings,
        context.env,
        transport=context.http_transport,
        sleep=context.sleep,
        now=context.now,
        policy=retry_policy(config),
    )
    return VaultStore(
        config.name,
        KvV2(client, mount),
        prefix=prefix,
        value_key=store_options.text(config, "key", "token") or "token",
    )
