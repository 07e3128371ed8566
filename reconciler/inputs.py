"""Reading a file whose name or content someone else chose: a spec from a pull request, a saved
plan from an artifact, an admin token file.

    read_bounded(path, limit)   its bytes; Unreadable before a byte is read when it is not a
                                regular file (a FIFO, /dev/zero, a directory; `pipes` lets a
                                pipe through) or is over `limit`;
                                OSError when it cannot be opened or read (missing, no access)
    leaves(path, boundary)      why `path`, links followed, is not a file below `boundary`
    parse_json(text)            json.loads, JSON nested past the parser a ValueError too

The file is opened once, without blocking (a FIFO with no writer would hang the run), and what
it is and how large it is are read from the open descriptor, so the checks are about the file
that is then read. At most `limit` + 1 bytes are read whatever the size said: a file that grows
while it is read is refused too, never read to the end.

A pull request can replace a spec with a symbolic link to any file on the runner (a netrc, the
checkout's credentials in `.git/config`, an SSH key); a spec is therefore read only if its name,
every link followed as the system follows them (`a/../b` through a linked `a` included), stays
below a boundary (`leaves`), and the file is opened by that resolved name with O_NOFOLLOW, so
the file checked is the file read. A race with another process changing the tree between the
check and the open is not defended: whoever can do that can read the file themselves.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class Unreadable(Exception):
    """The file was not read; `reason` says why, for a message that names the file."""

    def __init__(self, reason: str, *, size: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.size = size  # set when the file is over the limit: its size


def read_bounded(
    path: Path, limit: int, *, follow_links: bool = True, pipes: bool = False
) -> bytes:
    """The bytes of the regular file `path`, at most `limit` of them. `follow_links` False
    refuses a final component that is a symbolic link (OSError, ELOOP) instead of following
    it. `pipes` True also reads a pipe to its end (`--token-file /dev/stdin` fed by another
    command), within the same bound; one nobody writes to reads as empty, without waiting."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if not follow_links:
        flags |= os.O_NOFOLLOW
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if pipes and stat.S_ISFIFO(info.st_mode):
            # Opened without blocking so that a FIFO with no writer could not hang the open;
            # a writer that is there is waited for, as a shell's `read` would.
            os.set_blocking(fd, True)
        elif not stat.S_ISREG(info.st_mode):
            kind = next((name for test, name in _KINDS if test(info.st_mode)), "something else")
            raise Unreadable(f"it is {kind}, not a regular file")
        if info.st_size > limit:
            raise Unreadable(too_large(info.st_size, limit), size=info.st_size)
        chunks: list[bytes] = []
        left = limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    if left <= 0:
        # A file whose size said otherwise (one still being written, one under /proc that
        # says 0): what was read is over the limit, and the rest is never read.
        read = limit + 1 - left
        raise Unreadable(f"it is over the limit of {_size(limit)} (still growing)", size=read)
    return b"".join(chunks)


def too_large(size: int, limit: int) -> str:
    return f"it is {_size(size)}; the limit is {_size(limit)}"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / 1024 / 1024:.1f} MiB".replace(".0 MiB", " MiB")
    if n >= 1024:
        return f"{n / 1024:.1f} KiB".replace(".0 KiB", " KiB")
    return f"{n} bytes"


def resolved(path: Path) -> Path:
    """`path` with every link followed, as opening it would: `..` after a link to a directory
    is that directory's parent, not the link's (a lexical `normpath` would say otherwise)."""
    return Path(os.path.realpath(path))


def leaves(path: Path, boundary: Path) -> str | None:
    """None when `resolved(path)` is `boundary` (resolved) or below it and enters no hidden
    directory or file (`.git`, `.env`) that the name itself does not spell out; else how it
    leaves, as "a symbolic link leads ...". A link within the boundary (`tokens.yaml ->
    deploy/tokens.yaml`) is fine."""
    named = Path(os.path.abspath(path))  # lexical: only for the names it spells
    base = Path(os.path.abspath(boundary))
    real = resolved(path)
    real_base = resolved(boundary)
    where = "the current directory" if base == Path.cwd() else str(boundary)
    if real != real_base and real_base not in real.parents:
        return f"a symbolic link leads outside {where}"
    spelled = set(named.relative_to(base).parts) if base in named.parents else set()
    if any(
        part.startswith(".") and part not in spelled for part in real.relative_to(real_base).parts
    ):
        return f"a symbolic link leads into a hidden file or directory of {where}"
    return None


def boundary_of(path: Path) -> Path:
    """Where a file named on the command line must stay: the current directory (the checkout,
    in CI) when it is named inside it, else the directory that holds it."""
    here = Path.cwd()
    absolute = Path(os.path.normpath(os.path.abspath(path)))
    return here if here in absolute.parents else absolute.parent


class NestedTooDeeply(ValueError):
    """JSON nested deeper than the parser goes."""


def parse_json(text: str | bytes) -> Any:
    """`json.loads` for JSON someone else wrote (a server's or a store's answer, a file a store
    keeps, a lock record, a program's output). json.loads gives up on deep nesting with a
    RecursionError, which the `except ValueError` every reader has for JSON it cannot read lets
    through as a traceback; here it is a ValueError like the rest."""
    try:
        return json.loads(text)
    except RecursionError:
        raise NestedTooDeeply("the JSON is nested too deeply") from None
