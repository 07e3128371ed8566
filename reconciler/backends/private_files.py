"""Private files below a directory of our own: the layout rules the file store, the command
store's state directory and the file and local locks share (the metadata sidecars of the stores
are in reconciler.stores.metadata_files).

Every write is atomic (a temporary file `.<name>.<random>.tmp` in the same directory, fsync,
rename, fsync of the directory), files are 0600 and directories 0700. Nothing below the root is
ever followed through a symbolic link: a link could carry a secret into a git work tree or let
someone who can write below the root redirect a write.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from reconciler.errors import StoreError
from reconciler.inputs import Unreadable, read_bounded

META_SUFFIX = ".meta.json"
# What the key held before an unconfirmed put, kept until commit or restore_previous.
PREVIOUS_SUFFIX = ".previous"
TEMP_PREFIX = "."
TEMP_SUFFIX = ".tmp"
# `.<file>.<random>.tmp`, as write_private_file names them (tempfile's random part is lower-case
# letters, digits and _): the group is the file whose write it was.
TEMPORARY_NAME = re.compile(r"^\.(.+)\.[a-z0-9_]+\.tmp$")
# Lock records of the `file` lock kind live here, beside the secrets they guard.
LOCKS_DIR = ".ppm-tokens-locks"
# Says that the directory is a store's own (reconciler.stores.store_dirs).
STORE_MARKER = ".ppm-tokens-store"
# What the store writes (a payload, metadata, a lock record) is a few KiB at most.
PRIVATE_FILE_BYTES = 1024 * 1024

Replace = Callable[[str, str], None]


def reserved_key_problem(key: str) -> str | None:
    """Why `key` cannot name a secret in a file-backed store, or None: the stores' own last
    check. `validate` refuses more, earlier (reconciler.desired.store_rules.file_key)."""
    parts = key.split("/")
    if not key:
        return "is empty"
    if "\0" in key:
        return "contains a NUL character"
    if key.startswith("/"):
        return "is an absolute path"
    if any(part in ("", ".", "..") for part in parts):
        return "has an empty, '.' or '..' component"
    last = parts[-1]
    if last.endswith(META_SUFFIX):
        return f"ends with {META_SUFFIX}, which is reserved for metadata"
    if last.endswith(PREVIOUS_SUFFIX):
        return f"ends with {PREVIOUS_SUFFIX}, which is reserved for the copy kept during a write"
    if last.startswith(TEMP_PREFIX) and last.endswith(TEMP_SUFFIX):
        return f"looks like a temporary file (.*{TEMP_SUFFIX}), which the store removes"
    if parts[0] == LOCKS_DIR:
        return f"is inside {LOCKS_DIR}/, which is reserved for lock records"
    if key == STORE_MARKER:
        return f"is {STORE_MARKER}, the file that marks the store's directory"
    return None


def key_parts(store: str, key: str) -> tuple[str, ...]:
    """The path components of `key`, refusing anything that could leave the store's directory
    or collide with the store's own files."""
    problem = reserved_key_problem(key)
    if problem:
        raise StoreError(f"store '{store}': secret key {key!r} {problem}: use a relative name")
    return tuple(key.split("/"))


def oserror_text(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def refuse_links(store: str, root: Path, parts: Iterable[str]) -> None:
    """Raise StoreError when an existing component of `root/parts...` (below root) is a
    symbolic link. Components that do not exist yet end the walk: they will be created."""
    path = root
    for part in parts:
        path = path / part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(
                f"store '{store}': cannot inspect {path}: {oserror_text(exc)}"
            ) from None
        if stat.S_ISLNK(mode):
            raise StoreError(
                f"store '{store}': {path} is a symbolic link; the store never follows links "
                f"below {root} (one could lead a secret into a git work tree): replace it with "
                "a real directory or file"
            )


def read_private(path: Path) -> bytes | None:
    """The file's bytes, never through a link (ELOOP); None when it does not exist. Read
    through the open descriptor to a bound: what is there may not be what the store or a lock
    wrote (a FIFO would hold the run for ever, a huge file fill memory), and then it is an
    OSError saying what it is."""
    try:
        return read_bounded(path, PRIVATE_FILE_BYTES, follow_links=False)
    except FileNotFoundError:
        return None
    except Unreadable as exc:
        raise OSError(errno.EINVAL, exc.reason) from None


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private_file(path: Path, data: bytes, *, replace: Replace = os.replace) -> None:
    """Atomically replace `path` with `data`, mode 0600: readers see the old or the new content,
    never a mix, even after a crash. A crash before the rename leaves a temporary file, which
    `sweep` removes."""
    fd, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}.", suffix=TEMP_SUFFIX
    )
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


def sweep_leftovers(
    store: str,
    root: Path,
    keys: Sequence[str],
    *,
    own_files: Callable[[str], Iterable[str]],
    stale: Callable[[str], Iterable[str]] = lambda _name: (),
) -> list[str]:
    """Remove what interrupted writes of `keys` left below `root`: temporary files of the files
    `own_files(name)` names for a key's last component, and the files `stale(name)` names. Only
    names derived from `keys`, each in its key's own directory, never through a link: whatever
    else the directory holds is not this store's to remove. Returns their paths relative to
    `root`."""
    wanted: dict[tuple[str, ...], set[str]] = {}
    doomed: dict[tuple[str, ...], set[str]] = {}
    for key in keys:
        parts = key_parts(store, key)
        directory, name = parts[:-1], parts[-1]
        wanted.setdefault(directory, set()).update(own_files(name))
        doomed.setdefault(directory, set()).update(stale(name))
    removed: list[str] = []
    for directory, files in wanted.items():
        refuse_links(store, root, directory)
        try:
            with os.scandir(root.joinpath(*directory)) as scan:
                entries = [entry for entry in scan if entry.is_file(follow_symlinks=False)]
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            temporary = TEMPORARY_NAME.match(entry.name)
            if entry.name in doomed[directory] or (temporary and temporary[1] in files):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                    removed.append(str(Path(*directory, entry.name)))
    return sorted(removed)
