"""The `file` store: one private file per secret, outside any git work tree.

Layout under the store's directory: `<key>` holds the payload, `<key>.meta.json` the metadata.
A key may contain "/" to make subdirectories. Directories are created 0700, files 0600, and no
symbolic link below the directory is ever followed.

Every write is atomic. A put replaces the old metadata with the intent of the write (which
token it writes, what the key held, the promise it makes: `PendingWrite`), then writes the
value, then the new metadata, so that metadata never vouches for a value it does not describe:
a crash in between leaves the intent beside the old or the new value, and the next run reads
the value to learn which token it is (the JWT's `jti`), keeps that one current and writes its
metadata with the intent's promise. Old metadata left beside a new value would name the old
token as held, and the next run would retire the new token as an orphan while the store hands
its value out; new metadata beside an old value would claim a value that was never written.

Until apply confirms a put (`commit`), what the key held before stays beside it as
`<key>.previous` (the value) and `<key>.previous.meta.json` (a record: which token's put
displaced it, whether there was a value, and its metadata), so `restore_previous` can put it
back. A run killed in between leaves that copy; the next run's `sweep` removes it along with any
temporary file of an interrupted write of that key (`.<file>.<random>.tmp`, for the key's four
files): only names derived from the declared keys, since only those are provably its own.

The directory must be the store's own (reconciler.stores.store_dirs): one that other programs
use is refused when the store opens, and the first write marks it with `.ppm-tokens-store`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from reconciler.backends.private_files import (
    META_SUFFIX,
    PREVIOUS_SUFFIX,
    Replace,
    key_parts,
    make_private_dirs,
    oserror_text,
    read_private,
    refuse_links,
    sweep_leftovers,
    write_private_file,
)
from reconciler.desired.store_options import expand_path
from reconciler.errors import StoreError
from reconciler.inputs import parse_json
from reconciler.secret import Secret
from reconciler.stores.base import (
    KeyState,
    PendingWrite,
    SecretMeta,
    SecretPayload,
    StoreCapabilities,
    StoredValue,
)
from reconciler.stores.formats import inspect_payload
from reconciler.stores.metadata_files import MetadataFiles, meta_bytes, parse_meta, parse_strings
from reconciler.stores.store_dirs import claim, directory_problem

if TYPE_CHECKING:
    from reconciler.desired.model import StoreConfig
    from reconciler.stores.registry import StoreContext

__all__ = ["FileStore", "find_git_work_tree", "open_file_store"]

_log = logging.getLogger(__name__)
_PREVIOUS_RECORD = PREVIOUS_SUFFIX + META_SUFFIX


def find_git_work_tree(path: Path) -> Path | None:
    """The git work tree that holds `path` (or would, once created); None when there is none."""
    resolved = path.resolve()
    for candidate in (resolved, *resolved.parents):
        # `.git` is a directory in a plain clone and a file in worktrees and submodules.
        if (candidate / ".git").exists():
            return candidate
    return None


@dataclass(frozen=True)
class _Previous:
    """What a key held before the put of `displaced_by`."""

    displaced_by: str
    had_value: bool
    meta: dict[str, str] | None

    def to_bytes(self) -> bytes:
        record = {"displaced_by": self.displaced_by, "had_value": self.had_value, "meta": self.meta}
        return (json.dumps(record, sort_keys=True, indent=2) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> _Previous | None:
        try:
            record = parse_json(data.decode("utf-8"))
            meta = record.get("meta")
            return cls(
                displaced_by=str(record["displaced_by"]),
                had_value=record["had_value"] is True,
                meta={str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else None,
            )
        except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
            return None


def _kept_copies(name: str) -> tuple[str, str]:
    return name + PREVIOUS_SUFFIX, name + _PREVIOUS_RECORD


def _own_files(name: str) -> tuple[str, ...]:
    """Every file a put of key `name` writes (each through a temporary file)."""
    return name, name + META_SUFFIX, *_kept_copies(name)


class FileStore:
    """Secrets as private files under `root`, which must not be inside a git work tree."""

    capabilities = StoreCapabilities(
        readable_values=True, restorable=True, remote=False, tells_held=True
    )

    def __init__(
        self,
        name: str,
        root: Path,
        *,
        replace: Replace = os.replace,
        env: Mapping[str, str] = MappingProxyType({}),
    ) -> None:
        work_tree = find_git_work_tree(root)
        if work_tree is not None:
            raise StoreError(
                f"store '{name}': {root} is inside the git work tree {work_tree}; token values "
                "must never be written where they could be committed: choose a path outside it, "
                "such as ~/.local/share/ppm-tokens"
            )
        problem = directory_problem(name, root, env)
        if problem is not None:
            raise StoreError(problem)
        self.name = name
        self.root = root
        self._replace = replace
        self._meta = MetadataFiles(name, root, replace=replace)
        _warn_if_writable_by_others(name, root)

    # Paths -------------------------------------------------------------------------------------

    def _parts(self, key: str) -> tuple[str, ...]:
        """The key's components, after checking that nothing on its way is a link."""
        parts = key_parts(self.name, key)
        refuse_links(self.name, self.root, parts)
        return parts

    def _value_path(self, key: str) -> Path:
        return self.root.joinpath(*self._parts(key))

    def _sibling(self, key: str, suffix: str) -> Path:
        parts = key_parts(self.name, key)
        refuse_links(self.name, self.root, (*parts[:-1], parts[-1] + suffix))
        return self.root.joinpath(*parts[:-1], parts[-1] + suffix)

    def _read(self, path: Path, what: str) -> bytes | None:
        try:
            return read_private(path)
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not read {what}: {oserror_text(exc)}"
            ) from None

    def _failed(self, doing: str, key: str, exc: OSError) -> StoreError:
        return StoreError(
            f"store '{self.name}': could not {doing} {key!r} under {self.root}: {oserror_text(exc)}"
        )

    # The contract ------------------------------------------------------------------------------

    def put(self, key: str, secret: SecretPayload) -> None:
        parts = self._parts(key)
        try:
            claim(self.root)
            make_private_dirs(self.root, parts[:-1])
            self._keep_previous(key, secret.meta.token_guid)
        except OSError as exc:
            raise self._failed("write", key, exc) from None
        channel = self._meta.read_strings(key)
        held = self.read_meta(key)
        unfinished = PendingWrite.from_strings(channel) if channel else None
        intent = PendingWrite.superseding(secret.meta, held, unfinished)
        self._meta.write_strings(key, intent.to_strings())
        try:
            write_private_file(
                self._value_path(key), secret.payload.reveal().encode(), replace=self._replace
            )
        except OSError as exc:
            raise self._failed("write", key, exc) from None
        self.write_meta(key, secret.meta)

    def write_meta(self, key: str, meta: SecretMeta) -> None:
        self._meta.write(key, meta)

    def _keep_previous(self, key: str, guid: str) -> None:
        """Copy what `key` holds aside before the first put of `guid`; a retry of that put
        keeps the copy it made (the key may already hold part of the new write)."""
        record_path = self._sibling(key, _PREVIOUS_RECORD)
        existing = self._read(record_path, f"the copy kept for {key!r}")
        if existing is not None:
            previous = _Previous.from_bytes(existing)
            if previous is not None and previous.displaced_by == guid:
                return
        value = self._read(self._value_path(key), repr(key))
        # The metadata as it is, or the intent of an earlier write cut short: going back puts
        # back what the next run would have read.
        channel = parse_strings(self._read(self._meta.path(key), f"the metadata of {key!r}"))
        copy_path = self._sibling(key, PREVIOUS_SUFFIX)
        if value is not None:
            write_private_file(copy_path, value, replace=self._replace)
        else:
            copy_path.unlink(missing_ok=True)
        # The record goes last: with it present, the copy beside it is complete.
        record = _Previous(guid, value is not None, channel)
        write_private_file(record_path, record.to_bytes(), replace=self._replace)

    def read_meta(self, key: str) -> SecretMeta | None:
        # Metadata without its value describes nothing usable.
        path = self._value_path(key)
        try:
            if not stat.S_ISREG(os.lstat(path).st_mode):
                return None
        except FileNotFoundError:
            return None
        return self._meta.read(key)

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        """One scan per directory that holds a key, instead of two stats per key."""
        return {key: self._meta_of(key, *found) for key, found in self._entries(keys).items()}

    def _entries(
        self, keys: Sequence[str]
    ) -> dict[str, tuple[os.DirEntry[str] | None, os.DirEntry[str] | None]]:
        """(value, metadata) directory entries of each key, from one scan per directory."""
        listings: dict[tuple[str, ...], dict[str, os.DirEntry[str]]] = {}
        result = {}
        for key in keys:
            parts = key_parts(self.name, key)
            directory = parts[:-1]
            if directory not in listings:
                listings[directory] = self._scan(directory)
            entries = listings[directory]
            value, meta = entries.get(parts[-1]), entries.get(parts[-1] + META_SUFFIX)
            for entry in (value, meta):
                if entry is not None and entry.is_symlink():
                    refuse_links(self.name, self.root, (*directory, entry.name))
            result[key] = (value, meta)
        return result

    def _meta_of(
        self, key: str, value: os.DirEntry[str] | None, meta: os.DirEntry[str] | None
    ) -> SecretMeta | None:
        if value is None or meta is None or not value.is_file(follow_symlinks=False):
            return None
        return parse_meta(self._read(Path(meta.path), f"the metadata of {key!r}"))

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        """The metadata by one scan per directory; the value is read only for a key whose
        metadata does not say what it holds."""
        result = {}
        for key, (value, meta_entry) in self._entries(keys).items():
            meta = self._meta_of(key, value, meta_entry)
            if meta is not None or (value is None and meta_entry is None):
                result[key] = KeyState(meta=meta)
            else:
                result[key] = self._unsettled(key)
        return result

    def _scan(self, directory: tuple[str, ...]) -> dict[str, os.DirEntry[str]]:
        refuse_links(self.name, self.root, directory)
        try:
            with os.scandir(self.root.joinpath(*directory)) as entries:
                return {entry.name: entry for entry in entries}
        except (FileNotFoundError, NotADirectoryError):
            return {}
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not list {self.root.joinpath(*directory)}: "
                f"{oserror_text(exc)}"
            ) from None

    def _unsettled(self, key: str) -> KeyState:
        channel = self._meta.read_strings(key)
        pending = PendingWrite.from_strings(channel) if channel else None
        data = self._read(self._value_path(key), repr(key))
        if data is None:
            # No value: whatever the metadata said, nothing is handed out.
            return KeyState(pending=pending, value=StoredValue(None) if pending else None)
        try:
            return KeyState(pending=pending, value=inspect_payload(Secret(data.decode("utf-8"))))
        except UnicodeDecodeError:
            return KeyState(pending=pending, value=StoredValue(None, sha256=_sha256(data)))

    def read_value_hash(self, key: str) -> str | None:
        data = self._read(self._value_path(key), repr(key))
        return None if data is None else _sha256(data)

    def read_payload(self, key: str) -> Secret | None:
        """The stored payload, for `revoke` to prove the revoked value is refused. Optional
        beyond the SecretStore contract (see stores.base.PayloadReader)."""
        data = self._read(self._value_path(key), repr(key))
        if data is None:
            return None
        try:
            return Secret(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise StoreError(f"store '{self.name}': {key!r} is not UTF-8 text") from None

    def restore_previous(self, key: str, guid: str) -> bool:
        record_data = self._read(self._sibling(key, _PREVIOUS_RECORD), f"the copy of {key!r}")
        previous = _Previous.from_bytes(record_data) if record_data is not None else None
        if previous is None or previous.displaced_by != guid:
            # No copy made by this put: there is nothing to undo only if the key does not hold
            # the token; otherwise nothing can take it back.
            return not self.read_states([key])[key].may_hand_out(guid)
        if previous.meta is not None and previous.meta.get("token_guid") == guid:
            return False  # the key held this very token before: "going back" changes nothing
        value = None
        if previous.had_value:
            value = self._read(self._sibling(key, PREVIOUS_SUFFIX), f"the copy of {key!r}")
            if value is None:
                return False  # the copy is gone: the key cannot be put back as it was
        # Metadata first, so that at no moment does metadata vouch for a value it does not
        # describe: in between, the key reads as holding nothing, which the planner repairs.
        self._meta.delete(key)
        path = self._value_path(key)
        try:
            if value is not None:
                write_private_file(path, value, replace=self._replace)
            else:
                path.unlink(missing_ok=True)
            if previous.meta is not None:
                write_private_file(
                    self._meta.path(key), meta_bytes(previous.meta), replace=self._replace
                )
        except OSError as exc:
            raise self._failed("restore", key, exc) from None
        self._drop_previous(key)
        if value is None:
            self._prune(path.parent)
        return True

    def commit(self, key: str, guid: str) -> None:
        record_data = self._read(self._sibling(key, _PREVIOUS_RECORD), f"the copy of {key!r}")
        previous = _Previous.from_bytes(record_data) if record_data is not None else None
        if previous is not None and previous.displaced_by == guid:
            self._drop_previous(key)

    def _drop_previous(self, key: str) -> None:
        try:
            # The copy before its record: a record without a copy claims nothing restorable.
            self._sibling(key, PREVIOUS_SUFFIX).unlink(missing_ok=True)
            self._sibling(key, _PREVIOUS_RECORD).unlink(missing_ok=True)
        except OSError as exc:
            raise self._failed("drop the copy kept for", key, exc) from None

    def sweep(self, keys: Sequence[str]) -> tuple[str, ...]:
        try:
            removed = sweep_leftovers(
                self.name, self.root, keys, own_files=_own_files, stale=_kept_copies
            )
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not clean up {self.root}: {oserror_text(exc)}"
            ) from None
        return tuple(
            f"store '{self.name}': removed {path}, left by an interrupted write" for path in removed
        )

    def delete(self, key: str) -> None:
        # Metadata first: a crash in between leaves a value without metadata, never metadata
        # that vouches for a value that is gone.
        self._meta.delete(key)
        path = self._value_path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise self._failed("delete", key, exc) from None
        self._drop_previous(key)
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        """Remove subdirectories a deleted key leaves empty, never the store's own directory."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _warn_if_writable_by_others(name: str, root: Path) -> None:
    try:
        mode = root.stat().st_mode
    except OSError:
        return  # created 0700 on first write
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        _log.warning(
            "store '%s': %s is writable by its group or others (mode %o): anyone who can write "
            "there can replace a secret that consumers read; run chmod go-w on it",
            name,
            root,
            stat.S_IMODE(mode),
        )


def open_file_store(config: StoreConfig, context: StoreContext) -> FileStore:
    raw = config.options.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise StoreError(f"store '{config.name}' (type file) needs a 'path' option")
    root = expand_path(raw.strip(), base=context.spec_dir, env=context.env)
    return FileStore(config.name, root, env=context.env)
