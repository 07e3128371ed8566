"""HS256 JSON Web Tokens with the standard library only (the emulator's token values)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping

_HEADER = {"alg": "HS256", "typ": "JWT"}


class InvalidToken(ValueError):
    """Not a JWT, or its signature does not verify. The message never contains the value."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise InvalidToken("malformed token") from None


def _json(data: Mapping[str, object]) -> bytes:
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def encode(claims: Mapping[str, object], key: bytes) -> str:
    signing_input = f"{_b64(_json(_HEADER))}.{_b64(_json(claims))}"
    signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def decode(value: str, key: bytes) -> dict[str, object]:
    """The claims of a token signed with `key`; raises InvalidToken otherwise."""
    parts = value.strip().split(".")
    if len(parts) != 3:
        raise InvalidToken("malformed token")
    try:
        header = json.loads(_unb64(parts[0]))
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
    except (ValueError, UnicodeEncodeError):
        raise InvalidToken("malformed token") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise InvalidToken("unsupported token algorithm")
    expected = hmac.new(key, signing_input, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _unb64(parts[2])):
        raise InvalidToken("bad token signature")
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError:
        raise InvalidToken("malformed token") from None
    if not isinstance(claims, dict):
        raise InvalidToken("malformed token")
    return claims
