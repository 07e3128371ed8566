"""Offline rules for the `github` store (GitHub Actions secrets and their metadata variables).

Pure functions of strings, no PyNaCl, so `validate` can use them without the `github` extra.
"""

from __future__ import annotations

import re

# Where the API is unless the store's `api_url` or GITHUB_API_URL (GitHub Enterprise) says.
DEFAULT_API_URL = "https://api.github.com"
# GitHub's rules for secret and variable names: letters, digits and underscores, not starting
# with a digit or with GITHUB_, case-insensitive. Upper case only here: GitHub upper-cases names,
# so a lower-case name in the spec would never match what the API lists.
_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
META_SUFFIX = "_PPM_TOKENS_META"
# GitHub limits a secret (and a variable) to 48 KB.
MAX_PAYLOAD_BYTES = 48 * 1024
# Not a documented GitHub limit: a bound that keeps names usable in every UI and workflow file,
# with room for the metadata variable's suffix.
MAX_NAME_LENGTH = 200


def key_problem(key: str) -> str | None:
    """Why `key` cannot be an Actions secret name; None when it can."""
    if not key:
        return "is empty"
    if not _NAME.match(key):
        return (
            "must use only A-Z, 0-9 and _ and not start with a digit (GitHub Actions secret "
            "names), e.g. PPM_TOKEN"
        )
    if key.startswith("GITHUB_"):
        return "must not start with GITHUB_, which GitHub reserves"
    if len(key) > MAX_NAME_LENGTH:
        return f"has {len(key)} characters; use at most {MAX_NAME_LENGTH}"
    if key.endswith(META_SUFFIX):
        return f"ends with {META_SUFFIX}, which names the variable that holds a secret's metadata"
    return None


def metadata_variable(key: str) -> str:
    """The Actions variable beside secret `key` that holds its metadata (secrets are write-only)."""
    return key + META_SUFFIX


def payload_problem(size: int) -> str | None:
    if size > MAX_PAYLOAD_BYTES:
        return f"is {size} bytes; GitHub Actions secrets hold at most {MAX_PAYLOAD_BYTES}"
    return None
