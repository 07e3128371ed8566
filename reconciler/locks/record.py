"""Lock records as JSON, the holder's name, and the message a waiting run shows: shared by every
lock kind, so `force-unlock` and "held by" read the same everywhere."""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta

from reconciler.inputs import parse_json
from reconciler.locks.base import LockInfo
from reconciler.sanitize import excerpt, for_terminal

# The most of a record's field a message quotes: a record may come from another machine, or
# from anyone who can write where the lock lives, and be of any size.
FIELD_EXCERPT = 200


def holder_name() -> str:
    """ "user@host pid N": enough to find the process that holds a lock."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def new_info(key: str, operation: str, now: datetime, lease: timedelta) -> LockInfo:
    return LockInfo(
        id=str(uuid.uuid4()),
        key=key,
        holder=holder_name(),
        operation=operation,
        created=now,
        expires=now + lease,
    )


def key_digest(key: str) -> str:
    """A file name for a lock key (a server's identity and a namespace)."""
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def fields(info: LockInfo) -> dict[str, str]:
    """A lock record as plain strings: what every lock kind stores."""
    return {
        "id": info.id,
        "key": info.key,
        "holder": info.holder,
        "operation": info.operation,
        "created": info.created.isoformat(),
        "expires": info.expires.isoformat(),
    }


def from_fields(record: Mapping[str, object]) -> LockInfo:
    """The inverse of `fields`; KeyError or ValueError when a field is missing or malformed."""
    return LockInfo(
        id=str(record["id"]),
        key=str(record["key"]),
        holder=str(record["holder"]),
        operation=str(record["operation"]),
        created=datetime.fromisoformat(str(record["created"])),
        expires=datetime.fromisoformat(str(record["expires"])),
    )


def to_json(info: LockInfo, *, released: bool = False) -> bytes:
    return (json.dumps({**fields(info), "released": released}, indent=2) + "\n").encode()


def from_json(data: bytes) -> tuple[LockInfo, bool] | None:
    """The record and whether it was released; None when unreadable (being written)."""
    try:
        record = parse_json(data.decode("utf-8"))
        return from_fields(record), record.get("released") is True
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError):
        return None


def shown(field: str) -> str:
    """A lock record's field as a message quotes it: escaped, cut to FIELD_EXCERPT."""
    return excerpt(field, FIELD_EXCERPT)


def held_message(info: LockInfo | None, key: str, where: str) -> str:
    """Who holds the lock, since when, its ID and what to do: the LockHeld message, worded as
    the other lock kinds word it. Record fields may come from another machine: sanitised."""
    if info is None:
        return (
            f"another run holds the apply lock for {for_terminal(key)} ({where}), and its "
            "record cannot be read yet: try again, or wait for it (--lock-timeout)"
        )
    return (
        f"another run holds the apply lock for {for_terminal(key)} ({where}): "
        f"{shown(info.holder)}, {shown(info.operation)} since "
        f"{info.created.isoformat(timespec='seconds')}, lease until "
        f"{info.expires.isoformat(timespec='seconds')}, lock ID {shown(info.id)}. Wait for "
        "it (--lock-timeout), or, if that run is dead, break the lock: ppm-tokens force-unlock "
        f"{shown(info.id)}"
    )
