"""Metadata sidecars `<key>.meta.json` below a store's directory: what the file store and the
command store's state directory record of each secret they hold (never its value)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from reconciler.backends.private_files import (
    META_SUFFIX,
    Replace,
    key_parts,
    make_private_dirs,
    oserror_text,
    read_private,
    refuse_links,
    write_private_file,
)
from reconciler.errors import StoreError
from reconciler.inputs import parse_json
from reconciler.stores.base import SecretMeta


def parse_strings(data: bytes | None) -> dict[str, str] | None:
    """A sidecar's flat strings; None when missing or not a JSON object."""
    if data is None:
        return None
    try:
        loaded = parse_json(data.decode("utf-8"))
        return {str(k): str(v) for k, v in dict(loaded).items()}
    except (ValueError, TypeError, UnicodeDecodeError):
        return None


def parse_meta(data: bytes | None) -> SecretMeta | None:
    """Metadata from a sidecar's bytes; None when missing or not metadata."""
    strings = parse_strings(data)
    if strings is None:
        return None
    try:
        return SecretMeta.from_strings(strings)
    except (ValueError, KeyError):
        return None


def meta_bytes(meta: SecretMeta | Mapping[str, str]) -> bytes:
    strings = meta.to_strings() if isinstance(meta, SecretMeta) else dict(meta)
    return (json.dumps(strings, sort_keys=True, indent=2) + "\n").encode()


class MetadataFiles:
    """Metadata sidecars `<key>.meta.json` under a directory; shared by the file and command
    stores."""

    def __init__(self, store: str, root: Path, *, replace: Replace = os.replace) -> None:
        self.store = store
        self.root = root
        self._replace = replace

    def path(self, key: str) -> Path:
        parts = key_parts(self.store, key)
        return self.root.joinpath(*parts[:-1], parts[-1] + META_SUFFIX)

    def write(self, key: str, meta: SecretMeta) -> None:
        self._write_bytes(key, meta_bytes(meta))

    def _write_bytes(self, key: str, data: bytes) -> None:
        parts = key_parts(self.store, key)
        refuse_links(self.store, self.root, (*parts[:-1], parts[-1] + META_SUFFIX))
        try:
            make_private_dirs(self.root, parts[:-1])
            write_private_file(self.path(key), data, replace=self._replace)
        except OSError as exc:
            raise StoreError(
                f"store '{self.store}': could not write the metadata of {key!r} under "
                f"{self.root}: {oserror_text(exc)}"
            ) from None

    def read(self, key: str) -> SecretMeta | None:
        """None when missing or unreadable as metadata (an intent is not metadata): the
        planner then looks further."""
        return parse_meta(self._read_bytes(key))

    def read_strings(self, key: str) -> dict[str, str] | None:
        """The sidecar as flat strings, metadata or an intent alike; None when missing or not
        a JSON object."""
        return parse_strings(self._read_bytes(key))

    def write_strings(self, key: str, strings: Mapping[str, str]) -> None:
        """Write flat strings (an intent) where the metadata goes."""
        self._write_bytes(key, meta_bytes(strings))

    def _read_bytes(self, key: str) -> bytes | None:
        parts = key_parts(self.store, key)
        refuse_links(self.store, self.root, (*parts[:-1], parts[-1] + META_SUFFIX))
        path = self.path(key)
        try:
            return read_private(path)
        except OSError as exc:
            raise StoreError(
                f"store '{self.store}': could not read {path}: {oserror_text(exc)}"
            ) from None

    def delete(self, key: str) -> None:
        parts = key_parts(self.store, key)
        refuse_links(self.store, self.root, parts[:-1])
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(
                f"store '{self.store}': could not delete the metadata of {key!r}: "
                f"{oserror_text(exc)}"
            ) from None
