"""Names for places in a spec, so every message says which field it is about."""

from __future__ import annotations

from typing import TYPE_CHECKING

from reconciler.sanitize import EXCERPT, cut, quoted

if TYPE_CHECKING:
    from reconciler.desired.loader import JsonPath


def describe(data: object, path: JsonPath) -> str:
    """A readable name for a location: "token 'ds-read' scope", "store 'ci'", "policy.protect".
    Empty for the document itself."""
    if len(path) >= 2 and path[0] == "tokens" and isinstance(path[1], int):
        tokens = data.get("tokens") if isinstance(data, dict) else None
        entry = tokens[path[1]] if isinstance(tokens, list) and len(tokens) > path[1] else None
        name = entry.get("name") if isinstance(entry, dict) else None
        head = f"token {quoted(name)}" if isinstance(name, str) else f"tokens[{path[1]}]"
        rest = ".".join(cut(str(part), EXCERPT) for part in path[2:])
        return f"{head} {rest}" if rest else head
    if len(path) >= 2 and path[0] == "stores":
        head = f"store {quoted(path[1])}"
        rest = ".".join(cut(str(part), EXCERPT) for part in path[2:])
        return f"{head} {rest}" if rest else head
    return ".".join(cut(str(part), EXCERPT) for part in path)
