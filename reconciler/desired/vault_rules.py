"""Offline rules for the `vault` store: what `validate` can say about a spec without a server.

Pure functions of strings, no imports beyond the standard library, so the spec's checks can use
them without loading an HTTP client.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from reconciler.sanitize import quoted

# Vault accepts nearly any path, but policies treat `*` and `+` as globs and whitespace or
# control characters make paths that nobody can type into a policy: keep to a safe alphabet.
_SEGMENT = re.compile(r"^[A-Za-z0-9_.@=,-]+$")

# Vault's own paths: never a secrets engine's mount (Vault refuses to mount there), so a store
# whose mount starts with one would send its requests to Vault itself.
_PROTECTED_MOUNTS = frozenset({"sys", "auth", "audit", "cubbyhole", "identity"})
# Names Vault refuses for a namespace (its own paths; `root` names the root namespace itself).
_RESERVED_NAMESPACES = frozenset({"sys", "audit", "auth", "cubbyhole", "identity"})
_NAMESPACE_SEGMENT = re.compile(r"^[!-~]+$")  # printable ASCII without spaces: an HTTP header

# KV v2 custom_metadata limits (Vault's and OpenBao's documented bounds).
MAX_METADATA_KEYS = 64
MAX_METADATA_KEY_LENGTH = 128
MAX_METADATA_VALUE_LENGTH = 512


def key_problem(key: str) -> str | None:
    """Why `key` cannot be a secret path under a vault store's prefix; None when it can."""
    if not key:
        return "is empty"
    if key.startswith("/") or key.endswith("/"):
        return "starts or ends with '/': write a relative path like team/ds-read"
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            return "has an empty, '.' or '..' path segment"
        if not _SEGMENT.match(segment):
            return (
                f"segment {quoted(segment)} has characters Vault policies cannot match safely: use "
                "A-Z a-z 0-9 _ . @ = , - and '/' between segments"
            )
    return None


def leaves_mount(path: str) -> bool:
    """'.' and '..' segments survive quoting and the HTTP client resolves them: a path that
    has them would reach outside the mount, anywhere the token may write."""
    return any(segment in (".", "..") for segment in path.split("/"))


def path_problem(path: str) -> str | None:
    """Why `path` (a mount's path, without the slashes around it) cannot name a mount; None
    when it can."""
    body = path.strip("/")
    if not body:
        return "is empty"
    if leaves_mount(body):
        return "has a '.' or '..' segment"
    for segment in body.split("/"):
        if not segment:
            return "has an empty segment ('//')"
        if not _SEGMENT.match(segment):
            return (
                f"segment {quoted(segment)} has characters a mount path cannot safely hold: use "
                "A-Z a-z 0-9 _ . @ = , - and '/' between segments"
            )
    return None


def mount_problem(mount: str) -> str | None:
    """Why `mount` cannot be the KV v2 mount of a store; None when it can."""
    problem = path_problem(mount)
    if problem is not None:
        return problem
    first = mount.strip("/").split("/")[0]
    if first in _PROTECTED_MOUNTS:
        return (
            f"starts with {first}/, a path of Vault's own where no KV mount can be: name the "
            "KV v2 mount, e.g. secret"
        )
    return None


def namespace_problem(namespace: str) -> str | None:
    """Why `namespace` cannot be a Vault Enterprise or OpenBao namespace path; None when it
    can. Leading and trailing slashes are fine (Vault drops them)."""
    body = namespace.strip("/")
    if not body:
        return "is empty: leave namespace out for the root namespace"
    for segment in body.split("/"):
        if not segment:
            return "has an empty segment ('//')"
        if segment in (".", ".."):
            return "has a '.' or '..' segment"
        if not _NAMESPACE_SEGMENT.match(segment):
            return (
                f"segment {quoted(segment)} has spaces or characters other than printable ASCII, "
                "which namespace names (sent in the X-Vault-Namespace header) cannot hold"
            )
        if segment in _RESERVED_NAMESPACES:
            return f"has the segment {quoted(segment)}, which Vault reserves: no namespace has it"
    return None


def prefix_problem(prefix: str) -> str | None:
    """Why `prefix` cannot prefix every secret path; an empty prefix is allowed."""
    if not prefix:
        return None
    body = prefix[:-1] if prefix.endswith("/") else prefix
    problem = key_problem(body)
    return None if problem is None else f"prefix {quoted(prefix)} {problem}"


def custom_metadata_problem(metadata: Mapping[str, str]) -> str | None:
    """Why `metadata` does not fit KV v2's custom_metadata; None when it does."""
    if len(metadata) > MAX_METADATA_KEYS:
        return f"has {len(metadata)} keys; custom_metadata holds at most {MAX_METADATA_KEYS}"
    for name, value in metadata.items():
        if not name or len(name) > MAX_METADATA_KEY_LENGTH:
            return (
                f"key {name[:40]!r} has {len(name)} characters; custom_metadata keys have 1 to "
                f"{MAX_METADATA_KEY_LENGTH}"
            )
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            return (
                f"the value of {quoted(name)} has {len(value)} characters; custom_metadata values "
                f"have at most {MAX_METADATA_VALUE_LENGTH}"
            )
    return None
