"""KV version 2 operations on one mount, over a VaultClient, and the mount and prefix a vault
store declares. Shared by the vault store and the vault lock; every failure is a StoreError naming
the store, the operation and the path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from reconciler.backends.http_retry import error_text, json_object
from reconciler.backends.vault_client import VaultClient
from reconciler.desired import store_options
from reconciler.desired.model import StoreConfig
from reconciler.desired.vault_rules import leaves_mount
from reconciler.errors import StoreError


@dataclass(frozen=True)
class KvMetadata:
    current_version: int
    live: bool  # the current version is neither deleted nor destroyed
    custom: Mapping[str, str] = field(default_factory=dict)
    live_versions: tuple[int, ...] = ()  # every version still readable, oldest first


class CasConflict(Exception):
    """A check-and-set write found another version than the one it was given."""


class KvV2:
    def __init__(self, client: VaultClient, mount: str) -> None:
        self.client = client
        self.mount = mount.strip("/")
        self.store = client.settings.store

    def _url(self, kind: str, path: str) -> str:
        for part in (self.mount, path):
            if leaves_mount(part):
                raise StoreError(f"store '{self.store}': {part!r} has a '.' or '..' segment")
        return f"{quote(self.mount)}/{kind}/{quote(path)}"

    def _fail(self, response: httpx.Response, what: str, path: str) -> StoreError:
        detail = error_text(response)
        hint = ""
        if response.status_code == 403:
            hint = (
                f": the Vault token's policy must allow this on {self.mount}/data/{path} and "
                f"{self.mount}/metadata/{path} (see the Vault policy in docs/stores.md)"
            )
        elif response.status_code == 404:
            hint = f": is {self.mount!r} a KV version 2 mount?"
        return StoreError(f"store '{self.store}': {what} of {path!r} failed ({detail}){hint}")

    def metadata(self, path: str) -> KvMetadata | None:
        response = self.client.request("GET", self._url("metadata", path), what="metadata read")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, "metadata read", path)
        data = json_object(response, f"store '{self.store}': metadata read").get("data") or {}
        versions = data.get("versions") or {}
        live = tuple(
            sorted(
                int(number)
                for number, info in versions.items()
                if not (info or {}).get("deletion_time") and not (info or {}).get("destroyed")
            )
        )
        current = int(data.get("current_version") or 0)
        custom = data.get("custom_metadata") or {}
        return KvMetadata(
            current_version=current,
            live=current in live,
            custom={str(k): str(v) for k, v in custom.items()},
            live_versions=live,
        )

    def read(self, path: str, version: int | None = None) -> tuple[int, dict[str, Any]] | None:
        """(version, data) of `version` (default: the current one); None when it is missing,
        deleted or destroyed."""
        params = {"version": str(version)} if version is not None else None
        response = self.client.request("GET", self._url("data", path), what="read", params=params)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, "read", path)
        body = json_object(response, f"store '{self.store}': read").get("data") or {}
        data = body.get("data")
        if not isinstance(data, dict):
            return None  # deleted or destroyed versions come back with data: null
        return int((body.get("metadata") or {}).get("version") or 0), data

    def write(self, path: str, data: Mapping[str, Any], *, cas: int) -> int:
        """Write a new version if the current one is `cas` (0: only if none exists); return the
        new version. Raises CasConflict when another version is current."""
        response = self.client.request(
            "POST",
            self._url("data", path),
            what="write",
            json={"options": {"cas": cas}, "data": dict(data)},
        )
        if response.status_code == 400 and "check-and-set" in error_text(response):
            raise CasConflict(path)
        if response.status_code != 200:
            raise self._fail(response, "write", path)
        body = json_object(response, f"store '{self.store}': write")
        return int(((body.get("data") or {}).get("version")) or 0)

    def write_custom_metadata(self, path: str, custom: Mapping[str, str]) -> None:
        """Replace the secret's custom_metadata (KV v2 replaces the whole map)."""
        response = self.client.request(
            "POST",
            self._url("metadata", path),
            what="metadata write",
            json={"custom_metadata": dict(custom)},
        )
        if response.status_code not in (200, 204):
            raise self._fail(response, "metadata write", path)

    def delete_versions(self, path: str, versions: list[int]) -> None:
        """Soft-delete: the versions stay restorable with `undelete`."""
        response = self.client.request(
            "POST", self._url("delete", path), what="delete", json={"versions": versions}
        )
        if response.status_code not in (200, 204, 404):
            raise self._fail(response, "delete", path)

    def destroy_all(self, path: str) -> None:
        """Every version and the metadata: what `vault kv metadata delete` does."""
        response = self.client.request("DELETE", self._url("metadata", path), what="delete")
        if response.status_code not in (200, 204, 404):
            raise self._fail(response, "delete", path)

    def list(self, directory: str) -> set[str] | None:
        """The names directly under `directory` ("" for the mount's root); None when none."""
        response = self.client.request(
            "GET", self._url("metadata", directory), what="list", params={"list": "true"}
        )
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, "list", directory or "/")
        body = json_object(response, f"store '{self.store}': list")
        keys = (body.get("data") or {}).get("keys") or []
        return {str(k) for k in keys}


def mount_and_prefix(config: StoreConfig) -> tuple[str, str]:
    """Where a vault store keeps its entries (and the vault lock its own, by default)."""
    mount = store_options.required_text(config, "mount", hint="the KV v2 mount, e.g. secret")
    if leaves_mount(mount):
        raise StoreError(
            f"store '{config.name}' (vault): mount {mount!r} has a '.' or '..' segment"
        )
    return mount, store_options.text(config, "prefix", "") or ""
