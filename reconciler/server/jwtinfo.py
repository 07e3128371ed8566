"""Read a JWT's claims without verifying it: only to learn facts about our own admin token
(its `jti` is its GUID). Never used to decide whether a token is valid."""

from __future__ import annotations

import base64
import binascii

from reconciler.inputs import parse_json


def unverified_claims(value: str) -> dict[str, object] | None:
    """The claims of a compact JWT, or None when `value` is not one."""
    parts = value.strip().split(".")
    if len(parts) != 3:
        return None
    payload = parts[1]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        claims = parse_json(raw)
    except (binascii.Error, ValueError):
        return None
    return claims if isinstance(claims, dict) else None


def token_guid(value: str) -> str | None:
    """The `jti` claim (PPM uses the token GUID), or None."""
    claims = unverified_claims(value)
    jti = claims.get("jti") if claims else None
    return jti if isinstance(jti, str) and jti else None
