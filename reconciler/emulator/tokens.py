"""Token rules of the emulator: validate a create request, mint a JWT, identify a caller."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.desired.model import ALL_RESOURCES, Scope
from reconciler.durations import MAX_DURATION, DurationError, parse_expiry, parse_when
from reconciler.emulator import jwt
from reconciler.emulator.db import Database, ResourceRow, TokenRow, new_guid
from reconciler.ownership import DESCRIPTION_LIMIT

AUDIENCE = "packagemanager"
ISSUER = "ppm-emulator"


# PPM's `--expires`: a whole number of any length and s, m, h or d (`7776000s` for 90 days).
_LIFETIME = re.compile(r"^([0-9]{1,12})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class Rejected(ValueError):
    """A create request the server refuses (HTTP 400 with this message)."""


@dataclass(frozen=True)
class NewToken:
    description: str
    user: str
    email: str | None
    scope: Scope
    resources: tuple[ResourceRow, ...]  # empty with all_resources or for scopes without any
    all_resources: bool
    expires: datetime | None
    listed: bool = True


def _expiry(value: object, now: datetime) -> datetime | None:
    if value is None or value == "never":
        return None
    if not isinstance(value, str):
        raise Rejected("expires must be an ISO 8601 time, a duration like 90d, or null")
    lifetime = _LIFETIME.match(value.strip())
    if lifetime is not None:
        seconds = int(lifetime[1]) * _UNIT_SECONDS[lifetime[2]]
        if seconds > MAX_DURATION.total_seconds():
            raise Rejected("expires is more than 100 years away: use null for never")
        deadline: datetime | None = now + timedelta(seconds=seconds)
    else:
        deadline = _expiry_text(value, now)
    if deadline is not None and deadline <= now:
        raise Rejected("expires is in the past")
    return deadline


def _expiry_text(value: str, now: datetime) -> datetime | None:
    """`2w`, a date, or an ISO 8601 time."""
    try:
        deadline = parse_expiry(value).deadline(now)
    except DurationError:
        try:
            deadline = parse_when(value, now)
        except DurationError as exc:
            raise Rejected(str(exc)) from None
    return deadline


def resolve_resources(
    scope: Scope, value: object, db: Database
) -> tuple[tuple[ResourceRow, ...], bool]:
    names = [] if value is None else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise Rejected("resources must be a list of names")
    kind = scope.resource_kind
    if kind is None:
        if names:
            raise Rejected(f"scope {scope.value} takes no resources")
        return (), False
    if not names:
        raise Rejected(f'scope {scope.value} needs at least one {kind} or "*"')
    if ALL_RESOURCES in names:
        if len(names) > 1:
            raise Rejected('"*" cannot be combined with names')
        return (), True
    label = "repository" if kind == "repo" else "source"
    found: list[ResourceRow] = []
    for name in dict.fromkeys(names):
        row = db.resource(name)
        if row is None or row.kind != kind:
            raise Rejected(f"unknown {label} {name!r}")
        found.append(row)
    return tuple(found), False


def parse_create(body: object, db: Database, now: datetime) -> NewToken:
    if not isinstance(body, dict):
        raise Rejected("the request body must be a JSON object")
    user = body.get("user")
    if not isinstance(user, str) or not user.strip():
        raise Rejected("user is required")
    description = body.get("description", "")
    if not isinstance(description, str):
        raise Rejected("description must be text")
    if len(description) > DESCRIPTION_LIMIT:
        raise Rejected(f"description is longer than {DESCRIPTION_LIMIT} characters")
    email = body.get("email")
    if email is not None and not isinstance(email, str):
        raise Rejected("email must be text or null")
    try:
        scope = Scope(str(body.get("scope")))
    except ValueError:
        raise Rejected(f"unknown scope {body.get('scope')!r}") from None
    resources, all_resources = resolve_resources(scope, body.get("resources"), db)
    return NewToken(
        description=description,
        user=user,
        email=email,
        scope=scope,
        resources=resources,
        all_resources=all_resources,
        expires=_expiry(body.get("expires"), now),
    )


def mint(new: NewToken, now: datetime, key: bytes) -> tuple[TokenRow, str]:
    """The stored row and the value (shown once). Pure but for the random GUID."""
    guid = new_guid()
    ids = tuple(r.id for r in new.resources)
    claims: dict[str, object] = {
        "aud": AUDIENCE,
        "iss": ISSUER,
        "jti": guid,
        "iat": int(now.timestamp()),
        "scopes": [
            {
                "scope": new.scope.value,
                "resources": [ALL_RESOURCES] if new.all_resources else list(ids),
            }
        ],
    }
    if new.expires is not None:
        claims["exp"] = int(new.expires.timestamp())
    row = TokenRow(
        guid=guid,
        description=new.description,
        user=new.user,
        email=new.email,
        scope=new.scope.value,
        resources=(ALL_RESOURCES,) if new.all_resources else tuple(r.name for r in new.resources),
        resource_ids=ids,
        created=now,
        expires=new.expires,
        listed=new.listed,
    )
    return row, jwt.encode(claims, key)


def issue(db: Database, new: NewToken, now: datetime) -> tuple[TokenRow, str]:
    row, value = mint(new, now, db.signing_key())
    db.insert_tokens([(row, value)])
    return row, value


@dataclass(frozen=True)
class Caller:
    """Who presented a token: `guid` when the signature verified, `token` when also active."""

    guid: str | None
    token: TokenRow | None


def identify(db: Database, value: str | None, now: datetime) -> Caller:
    if not value:
        return Caller(None, None)
    try:
        claims = jwt.decode(value, db.signing_key())
    except jwt.InvalidToken:
        return Caller(None, None)
    guid = claims.get("jti")
    if claims.get("aud") != AUDIENCE or not isinstance(guid, str):
        return Caller(None, None)
    row = db.token(guid)
    return Caller(guid, row if row is not None and row.active(now) else None)


def may(token: TokenRow, scopes: frozenset[Scope], resource: ResourceRow | None = None) -> bool:
    """Whether `token` has one of `scopes` (global:admin has them all), for `resource` when the
    request is about one."""
    if token.scope == Scope.GLOBAL_ADMIN.value:
        return True
    if token.scope not in {s.value for s in scopes}:
        return False
    if resource is None:
        return True
    return ALL_RESOURCES in token.resources or resource.id in token.resource_ids


def can_read(token: TokenRow, repo: ResourceRow) -> bool:
    return may(token, frozenset({Scope.REPOS_READ}), repo)
