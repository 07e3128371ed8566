"""PPM's token and resource JSON, read tolerantly: the one place that knows the field names."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from reconciler.errors import ServerError
from reconciler.server.model import LiveToken, Resource


def _first(data: Mapping[str, object], *keys: str) -> object:
    for key in keys:
        value = data.get(key)
        if value is not None:
            return value
    return None


def _time(value: object) -> datetime | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"not a time: {value!r}")


def _names(value: object, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list):
        out = []
        for item in value:
            name = item.get(key) if isinstance(item, dict) else item
            if isinstance(name, str) and name:
                out.append(name)
        return tuple(out)
    return ()


def token_identity(data: Mapping[str, object]) -> tuple[str, str]:
    """The GUID and stored description of a token object, read as `token_from_json` reads
    them: enough to tell whose token it is before reading the rest."""
    guid = _first(data, "guid", "id", "jti")
    if not isinstance(guid, str) or not guid:
        raise ServerError("the server sent a token without a guid")
    return guid, str(data.get("description") or "")


def token_from_json(data: Mapping[str, object]) -> LiveToken:
    """A token object as a server reports it, read tolerantly: the one place that knows the
    field names (guid/id, created/created_at, revoked as a time or a flag, ...)."""
    guid, description = token_identity(data)
    scope = _first(data, "scope", "scopes")
    if isinstance(scope, list):
        scope = next(iter(_names(scope, "scope")), "")
    try:
        created = _time(_first(data, "created", "created_at", "issued_at"))
        expires = _time(_first(data, "expires", "expires_at", "expiration", "expiry"))
        revoked_raw = _first(data, "revoked", "revoked_at")
        revoked = _time(revoked_raw)
    except ValueError as exc:
        raise ServerError(f"token {guid}: the server sent a bad time ({exc})") from None
    if created is None:
        raise ServerError(f"token {guid}: the server sent no creation time")
    if revoked is None and revoked_raw is True:
        revoked = created  # revoked, time unknown: the status is what matters
    email = data.get("email")
    return LiveToken(
        guid=guid,
        description=description,
        user=str(_first(data, "user", "username", "user_name") or ""),
        scope=str(scope or ""),
        resources=_names(_first(data, "resources", "resource_names"), "name"),
        resource_ids=_names(data.get("resource_ids"), "id"),
        created=created,
        expires=expires,
        revoked=revoked,
        email=email if isinstance(email, str) and email else None,
    )


def resource_from_json(data: Mapping[str, object], kind: str) -> Resource:
    return Resource(
        id=str(_first(data, "id", "guid") or ""),
        name=str(data.get("name") or ""),
        kind=kind,
        type=str(data.get("type") or ""),
    )
