"""The live state as the server reports it: plain frozen data, no behaviour beyond status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.secret import Secret


class TokenStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True)
class LiveToken:
    guid: str
    description: str  # as stored, marker included
    user: str
    scope: str  # kept as text: a server may report a scope this version does not know
    resources: tuple[str, ...]  # names, or ("*",)
    resource_ids: tuple[str, ...]  # the server's GUIDs for those names (empty for "*")
    created: datetime
    expires: datetime | None  # None: never expires
    revoked: datetime | None = None
    email: str | None = None

    def status(self, now: datetime) -> TokenStatus:
        if self.revoked is not None:
            return TokenStatus.REVOKED
        if self.expires is not None and self.expires <= now:
            return TokenStatus.EXPIRED
        return TokenStatus.ACTIVE

    def is_active(self, now: datetime) -> bool:
        return self.status(now) is TokenStatus.ACTIVE


@dataclass(frozen=True)
class Resource:
    id: str  # the server's GUID
    name: str
    kind: str  # "repo" or "source"
    type: str  # python, r, bioconductor, local, git, ...


@dataclass(frozen=True)
class TokenRequest:
    """What a create sends. `description` already carries the ownership marker."""

    description: str
    user: str
    scope: str
    resources: tuple[str, ...]
    expires: datetime | None  # absolute; None = never
    # The declared lifetime when the expiry counts from creation (`expires: 90d`), for a driver
    # that sends a lifetime (rspm's --expires): exact, whenever the server makes the token.
    lifetime: timedelta | None = None


@dataclass(frozen=True)
class CreatedToken:
    token: LiveToken
    value: Secret  # shown once by the server; never logged
