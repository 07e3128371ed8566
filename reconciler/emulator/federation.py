"""Identity federation as PPM configures it with `[IdentityFederation "name"]` entries: which
OpenID Connect issuers it trusts, for which audience and subject (or claims), and the scope and
lifetime of the PPM token it gives in exchange (RFC 8693 token exchange).

The configuration is set with the test control `PUT /__emulator__/federation`:

    {"issuers": [{"name": "ci", "issuer": "https://token.actions.githubusercontent.com",
                  "audience": "https://ppm.example.com",
                  "subject": "repo:acme/pipelines:*",        # a glob; and/or
                  "claims": {"repository": "acme/pipelines"},  # exact values
                  "scope": "global:admin", "resources": [],
                  "lifetime_seconds": 900,
                  "jwks": null}]}                              # else fetched by discovery

Without `jwks`, the issuer's keys are fetched as PPM would fetch them: its discovery document
(`<issuer>/.well-known/openid-configuration`), then its `jwks_uri`. Each entry needs a subject or
claims: an entry that trusted every identity of an issuer (all of GitHub) would grant its scope
to anyone. Whether a real PPM lists the tokens it gives in exchange is not documented: the
emulator keeps them out of the list unless an entry says `"listed": true` (then they show like
any other token, `user` being the identity's subject), so both can be tried.

Pure but for the caller's clock: the app fetches keys and mints the token.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType

from reconciler.desired.model import ALL_RESOURCES, Scope
from reconciler.emulator.oidc import BadIdentityToken, IdentityJwt
from reconciler.server.federation import GRANT_TYPE, ID_TOKEN_TYPE

JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
DEFAULT_LIFETIME = timedelta(minutes=15)
# Clocks of the issuer and the server differ a little; a token is not refused for seconds.
LEEWAY = timedelta(seconds=30)


@dataclass(frozen=True)
class TrustedIssuer:
    name: str
    issuer: str
    audience: str
    scope: Scope
    subject: str | None = None  # a glob (`*`, `?`) the `sub` claim must match
    claims: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    resources: tuple[str, ...] = ()  # names, or ("*",), for scopes that take them
    lifetime: timedelta = DEFAULT_LIFETIME
    jwks: Mapping[str, object] | None = None  # None: by discovery from the issuer
    listed: bool = False  # whether the tokens it gives show in the token list

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "issuer": self.issuer,
            "audience": self.audience,
            "subject": self.subject,
            "claims": dict(self.claims),
            "scope": self.scope.value,
            "resources": list(self.resources),
            "lifetime_seconds": int(self.lifetime.total_seconds()),
            "jwks": None if self.jwks is None else dict(self.jwks),
            "listed": self.listed,
        }


def _text(entry: Mapping[str, object], key: str, *, required: bool = True) -> str | None:
    value = entry.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ValueError(f"issuer entry {entry.get('name')!r}: {key} must be non-empty text")
    return value


_KEYS = frozenset(
    {
        "name",
        "issuer",
        "audience",
        "subject",
        "claims",
        "scope",
        "resources",
        "lifetime_seconds",
        "jwks",
        "listed",
    }
)


def _issuer(entry: object) -> TrustedIssuer:
    if not isinstance(entry, dict):
        raise ValueError("each issuer entry must be a JSON object")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise ValueError(f"unknown issuer settings: {', '.join(unknown)}")
    name = _text(entry, "name") or ""
    claims = entry.get("claims") or {}
    if not isinstance(claims, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in claims.items()
    ):
        raise ValueError(f"issuer entry {name!r}: claims must map claim names to text")
    subject = _text(entry, "subject", required=False)
    if subject is None and not claims:
        raise ValueError(
            f"issuer entry {name!r} needs a subject or claims: without them it would trust "
            "every identity of the issuer"
        )
    try:
        scope = Scope(str(entry.get("scope")))
    except ValueError:
        raise ValueError(f"issuer entry {name!r}: unknown scope {entry.get('scope')!r}") from None
    resources = entry.get("resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        raise ValueError(f"issuer entry {name!r}: resources must be a list of names")
    if (scope.resource_kind is None) != (not resources):
        needs = "takes no resources" if scope.resource_kind is None else 'needs resources or "*"'
        raise ValueError(f"issuer entry {name!r}: scope {scope.value} {needs}")
    lifetime = entry.get("lifetime_seconds", int(DEFAULT_LIFETIME.total_seconds()))
    if isinstance(lifetime, bool) or not isinstance(lifetime, int) or not 60 <= lifetime <= 86400:
        raise ValueError(f"issuer entry {name!r}: lifetime_seconds must be 60 to 86400")
    listed = entry.get("listed", False)
    if not isinstance(listed, bool):
        raise ValueError(f"issuer entry {name!r}: listed must be true or false")
    jwks = entry.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise ValueError(f"issuer entry {name!r}: jwks must be a JSON Web Key Set or null")
    return TrustedIssuer(
        name=name,
        issuer=_text(entry, "issuer") or "",
        audience=_text(entry, "audience") or "",
        scope=scope,
        subject=subject,
        claims=MappingProxyType(dict(claims)),
        resources=(ALL_RESOURCES,) if ALL_RESOURCES in resources else tuple(resources),
        lifetime=timedelta(seconds=lifetime),
        jwks=None if jwks is None else MappingProxyType(dict(jwks)),
        listed=listed,
    )


def parse_config(body: object) -> tuple[TrustedIssuer, ...]:
    """Raises ValueError with a message for the 400 answer."""
    if not isinstance(body, dict) or set(body) - {"issuers"}:
        raise ValueError('the federation configuration is {"issuers": [...]}')
    entries = body.get("issuers") or []
    if not isinstance(entries, list):
        raise ValueError("issuers must be a list")
    return tuple(_issuer(entry) for entry in entries)


class Refused(Exception):
    """An exchange the server refuses: `error` is the RFC 6749 code, the message its
    error_description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


def check_request(form: Mapping[str, str]) -> str:
    """The subject token of a well-formed token exchange request."""
    if form.get("grant_type") != GRANT_TYPE:
        raise Refused("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}")
    token = form.get("subject_token", "")
    if not token:
        raise Refused("invalid_request", "subject_token is required")
    if form.get("subject_token_type") not in (ID_TOKEN_TYPE, JWT_TOKEN_TYPE):
        raise Refused("invalid_request", f"subject_token_type must be {ID_TOKEN_TYPE}")
    return token


def candidates(issuers: tuple[TrustedIssuer, ...], token: IdentityJwt) -> list[TrustedIssuer]:
    """The entries for the token's (unverified) issuer; the signature is checked next."""
    iss = token.claims.get("iss")
    found = [entry for entry in issuers if entry.issuer == iss]
    if not found:
        shown = str(iss)[:200] if isinstance(iss, str) else "none"
        raise Refused("invalid_request", f"the identity token's issuer ({shown}) is not trusted")
    return found


def _audiences(claims: Mapping[str, object]) -> list[str]:
    aud = claims.get("aud")
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def _time(claims: Mapping[str, object], name: str) -> datetime | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused("invalid_request", f"the identity token's {name} is not a time")
    return datetime.fromtimestamp(value, UTC)


def _times(claims: Mapping[str, object], now: datetime) -> None:
    expires = _time(claims, "exp")
    if expires is None:
        raise Refused("invalid_request", "the identity token has no expiry (exp)")
    if expires + LEEWAY <= now:
        raise Refused("invalid_request", f"the identity token expired at {expires.isoformat()}")
    not_before = _time(claims, "nbf")
    if not_before is not None and not_before - LEEWAY > now:
        raise Refused("invalid_request", "the identity token is not valid yet (nbf)")
    issued = _time(claims, "iat")
    if issued is not None and issued - LEEWAY > now:
        raise Refused("invalid_request", "the identity token was issued in the future (iat)")


def _identity_mismatch(entry: TrustedIssuer, claims: Mapping[str, object]) -> str | None:
    if entry.audience not in _audiences(claims):
        return f"its audience is not {entry.audience}"
    subject = claims.get("sub")
    if entry.subject is not None and not (
        isinstance(subject, str) and fnmatch.fnmatchcase(subject, entry.subject)
    ):
        return "its subject is not one this server trusts"
    for name, wanted in entry.claims.items():
        if claims.get(name) != wanted:
            return f"its claim {name!r} does not have the trusted value"
    return None


def match(
    entries: list[TrustedIssuer], claims: Mapping[str, object], now: datetime
) -> TrustedIssuer:
    """The first entry whose audience, subject and claims the (verified) token has."""
    _times(claims, now)
    reasons = []
    for entry in entries:
        reason = _identity_mismatch(entry, claims)
        if reason is None:
            return entry
        reasons.append(f"{entry.name}: {reason}")
    raise Refused("invalid_request", "no trusted identity matches: " + "; ".join(reasons))


def check_scope(entry: TrustedIssuer, requested: str | None) -> None:
    """A client may name the scope it needs; the server grants only what it configured."""
    if requested and requested.split() != [entry.scope.value]:
        raise Refused(
            "invalid_scope",
            f"this identity is granted {entry.scope.value}, not {requested[:100]}",
        )


def refusal(exc: BadIdentityToken) -> Refused:
    return Refused("invalid_request", str(exc))
