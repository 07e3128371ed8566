"""The `file` store: one private file per secret, outside any git work tree.

Layout under the store's directory: `<key>` holds the payload, `<key>.meta.json` the metadata.
A key may contain "/" to make subdirectories. Directories are created 0700, files 0600.

Every write is atomic (a temporary file in the same directory, fsync, rename, fsync of the
directory), and the value is written before its metadata. A crash between the two leaves the old
or no metadata beside the new value; the planner then sees metadata that does not match the live
token and repairs it, which is safe. The reverse order could leave metadata claiming a value that
was never written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import SecretMeta, SecretPayload, StoreCapabilities, read_meta_each

if TYPE_CHECKING:
    from reconciler.spec.model import StoreConfig
    from reconciler.stores.registry import StoreContext

META_SUFFIX = ".meta.json"

Replace = Callable[[str, str], None]


def find_git_work_tree(path: Path) -> Path | None:
    """The git work tree that holds `path` (or would, once created); None when there is none."""
    resolved = path.resolve()
    for candidate in (resolved, *resolved.parents):
        # `.git` is a directory in a plain clone and a file in worktrees and submodules.
        if (candidate / ".git").exists():
            return candidate
    return None


def expand_path(text: str, *, base: Path, env: Mapping[str, str]) -> Path:
    """`~` from the given environment's HOME; a relative path against `base` (the spec's dir)."""
    if text == "~" or text.startswith("~/"):
        home = env.get("HOME")
        if not home:
            raise StoreError(f"path {text!r} starts with ~ but HOME is not set")
        text = home + text[1:]
    elif text.startswith("~"):
        raise StoreError(f"path {text!r}: only ~ or ~/ is understood, not ~user")
    path = Path(text)
    return path if path.is_absolute() else base / path


def key_parts(store: str, key: str) -> tuple[str, ...]:
    """The path components of `key`, refusing anything that could leave the store's directory."""
    problem = None
    parts = tuple(key.split("/"))
    if not key:
        problem = "is empty"
    elif "\0" in key:
        problem = "contains a NUL character"
    elif key.startswith("/"):
        problem = "is an absolute path"
    elif any(part in ("", ".", "..") for part in parts):
        problem = "has an empty, '.' or '..' component"
    elif parts[-1].endswith(META_SUFFIX):
        problem = f"ends with {META_SUFFIX}, which is reserved for metadata"
    if problem:
        raise StoreError(f"store '{store}': secret key {key!r} {problem}: use a relative name")
    return parts


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(path: Path, data: bytes, *, replace: Replace = os.replace) -> None:
    """Atomically replace `path` with `data`, mode 0600: readers see the old or the new content,
    never a mix, even after a crash."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        replace(temporary, str(path))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_dir(path.parent)


def make_private_dirs(root: Path, subdirs: Iterable[str]) -> Path:
    """Create `root` and `subdirs` below it as 0700 where missing; return the deepest one."""
    if not root.is_dir():
        root.parent.mkdir(parents=True, exist_ok=True)
        _make_private_dir(root)
    directory = root
    for part in subdirs:
        directory = directory / part
        if not directory.is_dir():
            _make_private_dir(directory)
    return directory


def _make_private_dir(directory: Path) -> None:
    try:
        directory.mkdir(mode=0o700)
    except FileExistsError:
        return  # another writer (a parallel action) made it first
    directory.chmod(0o700)  # mkdir's mode is filtered by the umask; make it exact


def _oserror_text(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


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
        parts = key_parts(self.store, key)
        try:
            make_private_dirs(self.root, parts[:-1])
            data = json.dumps(meta.to_strings(), sort_keys=True, indent=2) + "\n"
            write_private_file(self.path(key), data.encode(), replace=self._replace)
        except OSError as exc:
            raise StoreError(
                f"store '{self.store}': could not write the metadata of {key!r} under "
                f"{self.root}: {_oserror_text(exc)}"
            ) from None

    def read(self, key: str) -> SecretMeta | None:
        """None when missing or unreadable as metadata: the planner then repairs the entry."""
        path = self.path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"store '{self.store}': could not read {path}: {_oserror_text(exc)}"
            ) from None
        try:
            data = json.loads(text)
            return SecretMeta.from_strings({str(k): str(v) for k, v in dict(data).items()})
        except (ValueError, TypeError, KeyError):
            return None

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(
                f"store '{self.store}': could not delete the metadata of {key!r}: "
                f"{_oserror_text(exc)}"
            ) from None


class FileStore:
    """Secrets as private files under `root`, which must not be inside a git work tree."""

    capabilities = StoreCapabilities(readable_values=True, restorable=False, remote=False)

    def __init__(self, name: str, root: Path, *, replace: Replace = os.replace) -> None:
        work_tree = find_git_work_tree(root)
        if work_tree is not None:
            raise StoreError(
                f"store '{name}': {root} is inside the git work tree {work_tree}; token values "
                "must never be written where they could be committed: choose a path outside it, "
                "such as ~/.local/share/ppm-tokens"
            )
        self.name = name
        self.root = root
        self._replace = replace
        self._meta = MetadataFiles(name, root, replace=replace)

    def _value_path(self, key: str) -> Path:
        return self.root.joinpath(*key_parts(self.name, key))

    def put(self, key: str, secret: SecretPayload) -> None:
        parts = key_parts(self.name, key)
        try:
            make_private_dirs(self.root, parts[:-1])
            write_private_file(
                self._value_path(key), secret.payload.reveal().encode(), replace=self._replace
            )
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not write {key!r} under {self.root}: "
                f"{_oserror_text(exc)}"
            ) from None
        self._meta.write(key, secret.meta)

    def read_meta(self, key: str) -> SecretMeta | None:
        # Metadata without its value describes nothing usable.
        if not self._value_path(key).is_file():
            return None
        return self._meta.read(key)

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        return read_meta_each(self, keys)

    def restore_previous(self, key: str, guid: str) -> bool:
        meta = self.read_meta(key)
        return meta is None or meta.token_guid != guid

    def commit(self, key: str, guid: str) -> None:
        return None

    def sweep(self) -> tuple[str, ...]:
        return ()

    def read_payload(self, key: str) -> Secret | None:
        """The stored payload, for `revoke` to prove the revoked value is refused. Optional
        beyond the SecretStore contract (see reconciler.commands.revoke.PayloadReader)."""
        try:
            return Secret(self._value_path(key).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            reason = _oserror_text(exc) if isinstance(exc, OSError) else "not UTF-8"
            raise StoreError(f"store '{self.name}': could not read {key!r}: {reason}") from None

    def read_value_hash(self, key: str) -> str | None:
        path = self._value_path(key)
        try:
            return hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not read {key!r}: {_oserror_text(exc)}"
            ) from None

    def delete(self, key: str) -> None:
        # Metadata first: a crash in between leaves a value without metadata, never metadata
        # that vouches for a value that is gone.
        self._meta.delete(key)
        path = self._value_path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(
                f"store '{self.name}': could not delete {key!r}: {_oserror_text(exc)}"
            ) from None
        self._prune(path.parent)

    def _prune(self, directory: Path) -> None:
        """Remove subdirectories a deleted key leaves empty, never the store's own directory."""
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent


def open_file_store(config: StoreConfig, context: StoreContext) -> FileStore:
    raw = config.options.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise StoreError(f"store '{config.name}' (type file) needs a 'path' option")
    root = expand_path(raw.strip(), base=context.spec_dir, env=context.env)
    return FileStore(config.name, root)
