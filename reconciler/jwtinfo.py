"""Read a JWT's claims without verifying it: only to learn facts about our own admin token
(its `jti` is its GUID), and to tell an identity token from anything else a file may hold.
Never used to decide whether a token is valid."""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path

from reconciler.inputs import Unreadable, parse_json, read_bounded

# An identity token is a kilobyte or two; a Kubernetes service account token a little more.
IDENTITY_FILE_BYTES = 64 * 1024
PPM_AUDIENCE = "packagemanager"  # the `aud` of every PPM API token
_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")


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


def read_identity_token(path: Path) -> str:
    """The identity token (a JSON Web Token) the file `path` holds, for a login or a token
    exchange to send. Read to a bound through the open descriptor; Unreadable, quoting nothing
    of the file, when it is not a small regular file, holds anything but one JWT, or holds a
    PPM API token. The name comes from a spec, which a pull request writes, and the value goes
    to an address the pull request may choose (a Vault's `address`, `server.url`): only what is
    meant to go there may, never a netrc, /proc/self/environ or a token a file store keeps."""
    text = read_bounded(path, IDENTITY_FILE_BYTES).decode("utf-8-sig", errors="replace").strip()
    claims = unverified_claims(text) if _COMPACT.fullmatch(text) else None
    if claims is None:
        raise Unreadable("it does not hold one JSON Web Token (header.payload.signature) alone")
    audience = claims.get("aud")
    if audience == PPM_AUDIENCE or (isinstance(audience, list) and PPM_AUDIENCE in audience):
        raise Unreadable(f"it holds a PPM API token (aud: {PPM_AUDIENCE}), not an identity token")
    return text
