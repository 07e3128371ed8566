"""Offline rules for the directories the `file` store (and a `command` store's `state_dir`) own.

A store writes, replaces and deletes files in its directory, so the directory must be its own.
Some directories are known to be shared whatever they hold today: the filesystem root and the
directories right below it, a home directory and the directories above it, the XDG base
directories in a home, the system's temporary directories. Pure functions of paths (the home
directory is passed in), so `validate` says so offline and the store says so again at run time
with the real home. A directory that is shared but not on this list is caught by the store's
marker (reconciler.stores.store_dirs).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import PurePosixPath

# Below a home directory: the roots every program that follows the XDG base directories shares.
_HOME_SHARED = frozenset(
    PurePosixPath(p) for p in (".local", ".local/share", ".local/state", ".config", ".cache")
)
_TEMPORARY = frozenset(
    PurePosixPath(p) for p in ("/tmp", "/var/tmp", "/dev/shm", "/private/tmp", "/private/var/tmp")
)
_HOMES = frozenset({"home", "Users"})  # /home/NAME (Linux), /Users/NAME (macOS)
SUGGESTION = (
    "the store writes and deletes files in its directory, so it needs one of its own, such as "
    "~/.local/share/ppm-tokens"
)


def normalized(text: str) -> PurePosixPath:
    """`text` without '.', '..' and repeated '/' (lexically, as the spec writes it)."""
    return PurePosixPath(posixpath.normpath(text))


def shared_directory(
    path: PurePosixPath, home: PurePosixPath | None, others: Iterable[PurePosixPath] = ()
) -> str | None:
    """Why `path` (normalized) is a directory other programs use, or None. `home` may be the
    relative PurePosixPath('~') for a path as written in a spec; `others` are further shared
    directories known at run time (TMPDIR)."""
    if path.is_absolute() and len(path.parts) == 1:
        return "is the filesystem root"
    if home is not None:
        if path == home:
            return "is the home directory"
        if path in home.parents:
            return "holds the home directory"
        if path.is_relative_to(home) and path.relative_to(home) in _HOME_SHARED:
            below = path.relative_to(home)
            return f"is ~/{below}, where other programs keep files"
    if path in _TEMPORARY or path in set(others):
        return "is a temporary directory every program shares"
    if path.is_absolute():
        if len(path.parts) == 2:
            return "is a directory right below the filesystem root"
        if len(path.parts) == 3 and path.parts[1] in _HOMES:
            return "is a home directory"
    return None


def written_path_problem(text: str, spec_dir: PurePosixPath | None) -> str | None:
    """`shared_directory` for a path as a spec writes it: `~` and `~/...` are the home
    directory, a relative path is taken from the spec's directory (when known)."""
    if text == "~" or text.startswith("~/"):
        home = PurePosixPath("~")
        below = normalized(text[1:].lstrip("/") or ".")
        if below.parts and all(part == ".." for part in below.parts):
            # `~/..`: what holds the home, whatever the home is (elsewhere, `~/../x`, is
            # known only at run time, from the real home).
            return "holds the home directory"
        return shared_directory(home / below, home)
    if text.startswith("/"):
        return shared_directory(normalized(text), None)
    if spec_dir is None:
        return None
    return shared_directory(normalized(str(spec_dir / text)), None)
