"""Which secret keys each store type can hold, checked by `validate` rather than found by `plan`.

`KEY_RULES[store_type](key)` is None for a key the store takes, else the reason it does not
(the caller names the field, the key and the store). A store type without an entry takes any
key the schema allows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from reconciler.desired import aws_rules, github_rules, vault_rules
from reconciler.sanitize import quoted

KeyRule = Callable[[str], str | None]

# Names the file store (and the command store's state directory) use beside a secret's own file:
# the metadata sidecar, and the previous payload it keeps until a new write is confirmed.
META_SUFFIX = ".meta.json"
PREVIOUS_SUFFIX = ".previous"
_GITHUB_SECRET = re.compile(r"^[A-Z0-9_]+$")


def file_key(key: str) -> str | None:
    """A relative path of plain names: nothing that leaves the store's directory or collides
    with what the store keeps beside a secret (its temporary files start with '.')."""
    if not key:
        return "the key is empty"
    if key.startswith("/"):
        return "an absolute path leaves the store's directory: use a relative name"
    parts = key.split("/")
    if "" in parts:
        return "an empty path component ('//' or a trailing '/') is not a name"
    if "." in parts or ".." in parts:
        return "'.' and '..' components could leave the store's directory: use plain names"
    hidden = next((part for part in parts if part.startswith(".")), None)
    if hidden is not None:
        return f"names starting with '.' ({quoted(hidden)}) are the store's temporary files"
    for suffix, use in ((META_SUFFIX, "metadata"), (PREVIOUS_SUFFIX, "previous value")):
        if parts[-1].endswith(suffix):
            return f"names ending with {suffix} hold the store's {use}"
    return None


def github_key(key: str) -> str | None:
    """GitHub Actions secret names: A-Z, 0-9 and _, not starting with GITHUB_ or a digit."""
    suggestion = re.sub(r"[^A-Z0-9_]", "_", key.upper()).removeprefix("GITHUB_")
    if suggestion[:1].isdigit():
        suggestion = "_" + suggestion
    fix = f": try {suggestion}"
    if not _GITHUB_SECRET.match(key):
        return f"GitHub secret names use A-Z, 0-9 and _ only{fix}"
    if key.startswith("GITHUB_"):
        return f"GitHub secret names cannot start with GITHUB_{fix}"
    if key[0].isdigit():
        return f"GitHub secret names cannot start with a digit{fix}"
    return None


def _the_name(rule: KeyRule) -> KeyRule:
    """A store module's rule, whose reasons are fragments ("is empty"), as a whole reason."""

    def check(key: str) -> str | None:
        reason = rule(key)
        return None if reason is None else f"the name {reason}"

    return check


def _first(*rules: KeyRule) -> KeyRule:
    def check(key: str) -> str | None:
        return next((reason for rule in rules if (reason := rule(key)) is not None), None)

    return check


KEY_RULES: dict[str, KeyRule] = {
    "file": file_key,
    # The command store keeps `<key>.meta.json` in its state directory, like the file store.
    "command": file_key,
    # The suggestion-giving check first; then the store's own bounds (length, the name of the
    # companion metadata variable).
    "github": _first(github_key, _the_name(github_rules.key_problem)),
    "vault": _the_name(vault_rules.key_problem),
    "aws": _the_name(aws_rules.key_problem),
}
