"""`POST /__api__/token`: an OpenID Connect identity token for a short-lived PPM token (RFC 8693).

The request is form-encoded (`grant_type`, `subject_token`, `subject_token_type`, optionally
`scope`); no other credential is needed, the identity token is one. The answer is RFC 8693's
(`access_token`, `issued_token_type`, `token_type`, `expires_in`, `scope`), or an RFC 6749 error
(`{"error": ..., "error_description": ...}`, status 400). Keys are fetched per exchange, by
discovery from the issuer unless the configuration holds them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qs

import httpx

from reconciler.emulator import federation, oidc, tokens
from reconciler.emulator.db import Database
from reconciler.emulator.federation import Refused, TrustedIssuer
from reconciler.ownership import DESCRIPTION_LIMIT

DISCOVERY = "/.well-known/openid-configuration"
FETCH_TIMEOUT = 5.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]
    guid: str | None = None  # the token made, for the request log


def configured(db: Database) -> tuple[TrustedIssuer, ...]:
    text = db.federation()
    return federation.parse_config(json.loads(text)) if text else ()


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), strict_parsing=False)
    except UnicodeDecodeError:
        raise Refused("invalid_request", "the request body is not form-encoded text") from None
    return {name: values[0] for name, values in fields.items() if values}


async def _get_json(client: httpx.AsyncClient, url: str, what: str) -> Mapping[str, object]:
    try:
        response = await client.get(url)
        data = response.json() if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        raise Refused("temporarily_unavailable", f"{what} ({url}): {type(exc).__name__}") from None
    if not isinstance(data, dict):
        raise Refused("temporarily_unavailable", f"{what} ({url}) could not be read")
    return data


async def issuer_keys(entry: TrustedIssuer) -> Mapping[str, object]:
    """The issuer's JWKS: from the configuration, else by OpenID Connect discovery."""
    if entry.jwks is not None:
        return entry.jwks
    async with httpx.AsyncClient(timeout=FETCH_TIMEOUT) as client:
        discovery = await _get_json(
            client, entry.issuer.rstrip("/") + DISCOVERY, "the issuer's discovery document"
        )
        if discovery.get("issuer") != entry.issuer:
            # OpenID Connect Discovery: the document must name the issuer it was fetched for.
            raise Refused("temporarily_unavailable", "the discovery document names another issuer")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise Refused("temporarily_unavailable", "the discovery document has no jwks_uri")
        return await _get_json(client, jwks_uri, "the issuer's keys")


def _status(error: str) -> int:
    return 503 if error == "temporarily_unavailable" else 400


async def exchange(db: Database, body: bytes, now: datetime) -> Answer:
    try:
        form = _form(body)
        identity = oidc.parse(federation.check_request(form))
        entries = federation.candidates(configured(db), identity)
        oidc.verify_signature(identity, await issuer_keys(entries[0]))
        entry = federation.match(entries, identity.claims, now)
        federation.check_scope(entry, form.get("scope"))
        resources, all_resources = tokens.resolve_resources(
            entry.scope, list(entry.resources) or None, db
        )
    except oidc.BadIdentityToken as exc:
        refused = federation.refusal(exc)
        return Answer(400, {"error": refused.error, "error_description": str(refused)})
    except Refused as exc:
        return Answer(_status(exc.error), {"error": exc.error, "error_description": str(exc)})
    except tokens.Rejected as exc:
        return Answer(400, {"error": "invalid_target", "error_description": str(exc)})
    subject = str(identity.claims.get("sub") or "(no subject)")
    new = tokens.NewToken(
        description=f"identity federation {entry.name}: {subject}"[:DESCRIPTION_LIMIT],
        user=subject[:200],
        email=None,
        scope=entry.scope,
        resources=resources,
        all_resources=all_resources,
        expires=now + entry.lifetime,
        listed=entry.listed,
    )
    row, value = tokens.issue(db, new, now)
    return Answer(
        200,
        {
            "access_token": value,
            "issued_token_type": federation.ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": int(entry.lifetime.total_seconds()),
            "scope": entry.scope.value,
        },
        guid=row.guid,
    )
