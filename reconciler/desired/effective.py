"""Where a token's setting comes from: the token itself, `defaults:`, or a built-in.

The semantic rules and the model builder both need the effective value and, for messages, the
place it was written; this module is the one place that knows the fallback order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from reconciler.desired.loader import JsonPath

# Built-in defaults, also stated in the schema's descriptions.
BUILTIN_NAMESPACE = "default"
BUILTIN_EXPIRES = "90d"
BUILTIN_FORMAT = "raw"
BUILTIN_ON_DELETE = "keep"
BUILTIN_ROTATION: Mapping[str, str] = {"after": "none", "before_expiry": "none", "grace": "0s"}
DEFAULTABLE = ("expires", "store", "format", "on_delete")
_BUILTINS: Mapping[str, str | None] = {
    "expires": BUILTIN_EXPIRES,
    "store": None,
    "format": BUILTIN_FORMAT,
    "on_delete": BUILTIN_ON_DELETE,
}
# The admin token the runs authenticate with (server.auth.token) lives days, rotates at every
# daily run and leaves its predecessor an hour for other pipelines that read it before: its
# own built-ins, never `defaults:` (made for consumers' tokens, whose before_expiry would not
# even fit a week), and always the value alone, as a job's secret hands it over.
ADMIN_EXPIRES = "7d"
ADMIN_ROTATION: Mapping[str, str] = {"after": "1d", "before_expiry": "none", "grace": "1h"}
_ADMIN_OWN = frozenset({"expires", "format"})


@dataclass(frozen=True)
class Sourced:
    """An effective value and where it was written (None: built in)."""

    value: object
    path: JsonPath | None

    @property
    def from_token(self) -> bool:
        return self.path is not None and self.path[0] == "tokens"


_EMPTY: Mapping[str, object] = MappingProxyType({})


def mapping(value: object) -> Mapping[str, object]:
    return value if isinstance(value, dict) else _EMPTY


def entries(data: object) -> list[tuple[int, Mapping[str, object]]]:
    """The token entries that are mappings, with their index."""
    tokens = mapping(data).get("tokens")
    if not isinstance(tokens, list):
        return []
    return [(index, entry) for index, entry in enumerate(tokens) if isinstance(entry, dict)]


def namespace(data: object) -> str:
    value = mapping(data).get("namespace")
    return value if isinstance(value, str) else BUILTIN_NAMESPACE


def is_admin_token(data: object, index: int) -> bool:
    """Whether token `index` is the admin token the runs authenticate with (server.auth.token)."""
    auth = mapping(mapping(mapping(data).get("server")).get("auth"))
    name = auth.get("token")
    return isinstance(name, str) and token(data, index).get("name") == name


def setting(data: object, index: int, key: str) -> Sourced:
    """`expires`, `store`, `format` or `on_delete` of token `index`."""
    entry = token(data, index)
    if key in entry:
        return Sourced(entry[key], ("tokens", index, key))
    if key in _ADMIN_OWN and is_admin_token(data, index):
        return Sourced(ADMIN_EXPIRES if key == "expires" else BUILTIN_FORMAT, None)
    defaults = mapping(mapping(data).get("defaults"))
    if key in defaults:
        return Sourced(defaults[key], ("defaults", key))
    return Sourced(_BUILTINS[key], None)


def rotation_setting(data: object, index: int | None, key: str) -> Sourced:
    """One rotation key, merged key by key: token, then defaults.rotation, then built in.
    `index` None asks for the defaults' own view."""
    if index is not None:
        rotation = mapping(token(data, index).get("rotation"))
        if key in rotation:
            return Sourced(rotation[key], ("tokens", index, "rotation", key))
        if is_admin_token(data, index):
            return Sourced(ADMIN_ROTATION[key], None)
    defaults = mapping(mapping(mapping(data).get("defaults")).get("rotation"))
    if key in defaults:
        return Sourced(defaults[key], ("defaults", "rotation", key))
    return Sourced(BUILTIN_ROTATION[key], None)


def secret_name(data: object, index: int) -> Sourced:
    entry = token(data, index)
    if "secret" in entry:
        return Sourced(entry["secret"], ("tokens", index, "secret"))
    return Sourced(entry.get("name"), ("tokens", index, "name"))


def token(data: object, index: int) -> Mapping[str, object]:
    # Asked for every setting of every token: kept to a few lookups.
    tokens = data.get("tokens") if isinstance(data, dict) else None
    if isinstance(tokens, list) and 0 <= index < len(tokens):
        entry = tokens[index]
        if isinstance(entry, dict):
            return entry
    return _EMPTY
