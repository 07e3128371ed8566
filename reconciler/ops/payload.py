"""The token inside a stored payload (raw, JSON or netrc): the inverse of
`reconciler.stores.formats.render_payload`, so `revoke` can prove the value it revoked is
refused. Pure; the value stays wrapped in a Secret."""

from __future__ import annotations

import json

from reconciler.secret import Secret
from reconciler.spec.model import SecretFormat


def token_from_payload(payload: Secret, fmt: str | None) -> Secret | None:
    """The token in `payload` written in format `fmt` (None: raw); None when it is not there."""
    text = payload.reveal()
    if fmt == SecretFormat.JSON.value:
        try:
            document = json.loads(text)
        except ValueError:
            return None
        token = document.get("token") if isinstance(document, dict) else None
        return Secret(token) if isinstance(token, str) and token else None
    if fmt == SecretFormat.NETRC.value:
        words = text.split()
        if "password" in words[:-1]:
            return Secret(words[words.index("password") + 1])
        return None
    value = text.strip()
    return Secret(value) if value else None
