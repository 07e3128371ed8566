"""Files a command writes for people (reports, audit output, incident records, saved plans).

Where a file cannot be written is checked before the command reads a server or changes anything:
an incident record that cannot be written must not be found out after the token is revoked.

A checkout may carry a symbolic link where a command writes (`plan --out plan.json` in a pull
request's checkout, the link leading to `~/.bashrc`): a file is never written through a link
to a file or to where none is yet. A link to a terminal or a pipe (`--out /dev/stdout`) is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from reconciler.errors import UsageError


def _through_a_link(path: Path) -> bool:
    """Whether `path` is a symbolic link that leads to a file, a directory, or nothing yet."""
    if not path.is_symlink():
        return False
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True  # dangling: writing would make the file it names
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def _refuse_link(path: Path, option: str) -> None:
    if _through_a_link(path):
        raise UsageError(
            f"cannot write {option} {path}: it is a symbolic link, which is not written through "
            "(a checkout may carry one): name the file itself"
        )


def check_writable(path: Path, option: str) -> None:
    """Raise UsageError, naming `option`, unless `path` can be created or overwritten."""
    _refuse_link(path, option)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        reason = "it is a directory"
    elif not parent.is_dir():
        reason = f"its directory {parent} does not exist"
    elif path.exists() and not os.access(path, os.W_OK):
        reason = "it is not writable"
    elif not path.exists() and not os.access(parent, os.W_OK | os.X_OK):
        reason = f"its directory {parent} is not writable"
    else:
        return
    raise UsageError(f"cannot write {option} {path}: {reason}; choose another path")


def write_output(path: Path, text: str, option: str) -> None:
    _refuse_link(path, option)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    if not path.is_symlink():
        flags |= os.O_NOFOLLOW  # nor a link planted since the check
    try:
        with os.fdopen(os.open(path, flags, 0o666), "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise UsageError(f"cannot write {option} {path}: {exc.strerror or exc}") from None
