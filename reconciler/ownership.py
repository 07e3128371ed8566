"""The ownership marker: written into and parsed from a token's description, in one place.

PPM tokens have no tags and cannot be edited, so ownership lives in the stored description:
`<description> [ppm-tokens:<namespace>/<name>]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DESCRIPTION_LIMIT = 500  # PPM's web page limit for the stored description
# Every marker holds this text: a description without it is unmanaged, with no regex run.
MARKER_START = "[ppm-tokens:"
_MARKER = re.compile(
    r"\s*\[ppm-tokens:(?P<ns>[a-z0-9][a-z0-9._-]{0,62})/(?P<name>[a-z0-9][a-z0-9._-]{0,62})\]\s*$"
)


@dataclass(frozen=True)
class Owner:
    namespace: str
    name: str


def marker(namespace: str, name: str) -> str:
    return f"[ppm-tokens:{namespace}/{name}]"


def stored_description(description: str, namespace: str, name: str) -> str:
    """The description as the server will store it: the text, a space, the marker."""
    return f"{description} {marker(namespace, name)}"


def parse_owner(stored: str) -> Owner | None:
    """The owner recorded in a stored description, or None for an unmanaged token."""
    match = _MARKER.search(stored)
    return Owner(match["ns"], match["name"]) if match else None


def strip_marker(stored: str) -> str:
    """The description a person wrote, without our marker."""
    return _MARKER.sub("", stored)
