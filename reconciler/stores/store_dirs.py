"""A store's own directory (the `file` store's `path`, a `command` store's `state_dir`): refused
when it is not the store's, marked as the store's on its first write.

The store writes, replaces and deletes files there, so a directory other programs use must never
be one. Two checks, when the store opens:
- a directory known to be shared (reconciler.desired.file_rules: the root, a home, a temporary
  directory, ...) is refused whatever it holds;
- any other existing directory must carry the marker file `.ppm-tokens-store`, which the store
  writes on its first write, or hold only what such a store writes (values beside their
  `.meta.json` sidecars, kept copies, temporary files, lock records): an empty directory, or
  one an earlier version of the store filled. Anything else means the directory is someone
  else's, and the store refuses it rather than write among, or sweep, their files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from reconciler.backends.private_files import (
    LOCKS_DIR,
    META_SUFFIX,
    PREVIOUS_SUFFIX,
    STORE_MARKER,
    TEMPORARY_NAME,
    make_private_dirs,
)
from reconciler.desired.file_rules import SUGGESTION, shared_directory

MARKER = STORE_MARKER
_MARKER_TEXT = (
    b"This directory belongs to a ppm-tokens store, which writes, replaces and deletes files "
    b"here. Keep nothing else in it.\n"
)
# Entries looked at in an unmarked directory before it counts as not the store's.
SCAN_LIMIT = 100_000


def directory_problem(store: str, root: Path, env: Mapping[str, str]) -> str | None:
    """Why `root` cannot be store `store`'s directory (a whole message), or None. `env` gives
    HOME and TMPDIR as the run sees them."""
    resolved = _resolved(str(root))
    assert resolved is not None
    home = _resolved(env.get("HOME"))
    temporary = _resolved(env.get("TMPDIR"))
    reason = shared_directory(resolved, home, [temporary] if temporary else [])
    if reason is not None:
        return f"store '{store}': {root} {reason}: {SUGGESTION}"
    stranger = _stranger(root)
    if stranger is not None:
        return (
            f"store '{store}': {root} holds {stranger}, which this store did not write: "
            f"{SUGGESTION}. If everything in {root} is this store's, create the empty file "
            f"{root / MARKER} to say so"
        )
    return None


def claim(root: Path) -> None:
    """Create `root` (0700) where missing and mark it as a store's, once."""
    make_private_dirs(root, ())
    try:
        fd = os.open(root / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as handle:
        handle.write(_MARKER_TEXT)


def _resolved(text: str | None) -> PurePosixPath | None:
    if not text:
        return None
    with contextlib.suppress(OSError, RuntimeError, ValueError):
        return PurePosixPath(Path(text).resolve())
    return PurePosixPath(os.path.normpath(text))


def _stranger(root: Path) -> str | None:
    """Something below an unmarked `root` that a store does not write, quoted; None when the
    directory is missing, marked, or holds only a store's files."""
    try:
        if (root / MARKER).is_file() and not (root / MARKER).is_symlink():
            return None
    except OSError:
        pass
    pending = [Path()]
    seen = 0
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(root / relative) as scan:
                entries = list(scan)
        except (FileNotFoundError, NotADirectoryError):
            if relative == Path():
                return None  # nothing there yet: the first write makes and marks it
            return repr(str(relative))
        except OSError:
            return f"{str(relative)!r} (which it cannot list)"
        names = {entry.name for entry in entries}
        for entry in entries:
            seen += 1
            path = relative / entry.name
            if seen > SCAN_LIMIT:
                return f"more than {SCAN_LIMIT} entries"
            if relative == Path() and entry.name == LOCKS_DIR and entry.is_dir():
                continue  # the `file` lock's records
            if entry.is_symlink():
                return repr(str(path))
            if entry.is_dir():
                if entry.name.startswith("."):
                    return repr(str(path))
                pending.append(path)
            elif not _written_by_a_store(entry.name, names):
                return repr(str(path))
    return None


def _written_by_a_store(name: str, beside: set[str]) -> bool:
    if TEMPORARY_NAME.match(name):
        return True
    if name.startswith("."):
        return False
    if name.endswith((META_SUFFIX, PREVIOUS_SUFFIX)):
        return True
    return name + META_SUFFIX in beside  # a value, beside its metadata
