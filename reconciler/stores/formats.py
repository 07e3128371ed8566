"""How a token value is shaped before it goes into a store: raw, a JSON document, a netrc line.

Each shape is read as it is by the clients that consume tokens: netrc by pip, uv, curl, pak,
renv (through `~/.curlrc`) and R's curl download method; raw by anything that takes the value
from an environment variable; JSON by the External Secrets Operator and scripts that pick
fields. A client that needs more than one line of its own configuration to use one of them is a
reason for a new format.

Pure. The value is revealed only here, to build the payload (it leaves wrapped in a Secret)
or to learn which token a stored payload holds (only the GUID and the format leave).
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

from reconciler.desired.model import SecretFormat
from reconciler.errors import UsageError
from reconciler.inputs import parse_json
from reconciler.jwtinfo import token_guid
from reconciler.secret import Secret
from reconciler.stores.base import SecretMeta, StoredValue


def render_payload(
    value: Secret, fmt: SecretFormat, *, server_url: str, meta: SecretMeta
) -> Secret:
    """The payload a store writes for `value` in format `fmt`."""
    if fmt is SecretFormat.RAW:
        return value
    if fmt is SecretFormat.JSON:
        document = {
            "token": value.reveal(),
            "guid": meta.token_guid,
            "server": server_url,
            "expires": meta.expires.isoformat() if meta.expires else None,
            "scope": meta.scope,
            "name": meta.name,
        }
        return Secret(json.dumps(document, sort_keys=True, indent=2) + "\n")
    if fmt is SecretFormat.NETRC:
        host = netrc_host(server_url)
        return Secret(f"machine {host} login __token__ password {value.reveal()}\n")
    raise UsageError(f"secret format {fmt!r} is not supported")  # pragma: no cover - closed enum


def netrc_host(server_url: str) -> str:
    """The host name alone: netrc matches on it and ignores scheme, port and path (PPM.md)."""
    text = server_url.strip()
    # Without a scheme, urlsplit reads everything as a path; "//" makes it read a network location.
    parts = urlsplit(text if "://" in text else f"//{text}")
    host = parts.hostname
    if not host:
        raise UsageError(
            f"server URL {server_url!r} has no host name, which the netrc format needs: "
            "use a URL like https://ppm.example.com"
        )
    return host


def token_from_payload(payload: Secret, fmt: str | None) -> Secret | None:
    """The token in `payload` written in format `fmt` (None: raw); None when it is not there.
    The inverse of `render_payload`; the value stays wrapped in a Secret."""
    text = payload.reveal()
    if fmt == SecretFormat.JSON.value:
        try:
            document = parse_json(text)
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


def inspect_payload(payload: Secret) -> StoredValue:
    """Which token a stored payload holds, read from the payload itself: PPM tokens are JWTs
    whose `jti` is the token's GUID. Any of the three formats, recognised by its shape; a
    payload that holds no JWT names no token. Only the GUID, the format and the hash leave."""
    text = payload.reveal().lstrip()
    if text.startswith("{"):
        fmt = SecretFormat.JSON
    elif text.startswith("machine "):
        fmt = SecretFormat.NETRC
    else:
        fmt = SecretFormat.RAW
    token = token_from_payload(payload, fmt.value)
    guid = token_guid(token.reveal()) if token is not None else None
    return StoredValue(guid, fmt.value if guid else None, payload.sha256())
