"""Files a command writes for people (reports, audit output, incident records).

Where a file cannot be written is checked before the command reads a server or changes anything:
an incident record that cannot be written must not be found out after the token is revoked.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.errors import UsageError


def check_writable(path: Path, option: str) -> None:
    """Raise UsageError, naming `option`, unless `path` can be created or overwritten."""
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
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {option} {path}: {exc.strerror or exc}") from None
