"""Which request proves that a new token works: pure, one place for the scope -> request table.

Each request is one that only a token of that scope (or global:admin) may make, for the token's
resources, and that the server refuses without a token; the driver checks the refusal once per
path, since a request that also works anonymously proves nothing.

    scope            request (GET)                                  authentication
    global:admin     /__api__/tokens?_limit=1                       Bearer
    repos:read       /<repo>/latest/simple/ (Python)                Basic __token__
                     /<repo>/latest/src/contrib/PACKAGES (R)
    sources:write    /__api__/sources/<source>/uploads              Bearer
    sources:admin    /__api__/sources/<source>/settings             Bearer
    blocklist:read   /__api__/blocklist                             Bearer
    blocklist:admin  /__api__/blocklist/settings                    Bearer
    metadata:read    /__api__/metadata                              Bearer
    metadata:admin   /__api__/metadata/settings                     Bearer

Where no request can prove a scope on a server, the spec may declare the weaker proof for it
(`server.proof: {SCOPE: listed}`, audited): `listed_proof` then judges from the token list
alone, and the value itself is never tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from reconciler import jwtinfo
from reconciler.desired.model import ALL_RESOURCES, Scope
from reconciler.secret import Secret
from reconciler.server import endpoints
from reconciler.server.model import LiveToken, Resource


@dataclass(frozen=True)
class ProofRequest:
    path: str
    basic: bool  # HTTP Basic __token__/value, as package clients send it; else Bearer
    params: dict[str, int] = field(default_factory=dict)


_FIXED = {
    Scope.BLOCKLIST_READ.value: endpoints.BLOCKLIST,
    Scope.BLOCKLIST_ADMIN.value: endpoints.BLOCKLIST_SETTINGS,
    Scope.METADATA_READ.value: endpoints.METADATA,
    Scope.METADATA_ADMIN.value: endpoints.METADATA_SETTINGS,
}


class NoProof(Exception):
    """No request can prove this token; the message says why."""


def _first(token: LiveToken, resources: Sequence[Resource], kind: str) -> Resource | None:
    """The first of the token's resources of `kind` that the server has."""
    present = {r.name: r for r in resources if r.kind == kind}
    names = list(present) if ALL_RESOURCES in token.resources else token.resources
    return next((present[n] for n in names if n in present), None)


def proof_request(token: LiveToken, resources: Sequence[Resource]) -> ProofRequest | None:
    """The request proving `token`; None when none of its resources exists any more (no value
    of it can work). Raises NoProof for a scope this version cannot prove."""
    scope = token.scope
    if scope == Scope.GLOBAL_ADMIN.value:
        return ProofRequest(
            endpoints.TOKENS,
            basic=False,
            params={endpoints.LIMIT_PARAM: endpoints.TOKEN_PROOF_LIMIT},
        )
    if scope == Scope.REPOS_READ.value:
        repo = _first(token, resources, "repo")
        if repo is None:
            return None
        return ProofRequest(endpoints.repository_index(repo.name, repo.type), basic=True)
    if scope in (Scope.SOURCES_WRITE.value, Scope.SOURCES_ADMIN.value):
        source = _first(token, resources, "source")
        if source is None:
            return None
        if scope == Scope.SOURCES_WRITE.value:
            return ProofRequest(endpoints.source_uploads(source.name), basic=False)
        return ProofRequest(endpoints.source_settings(source.name), basic=False)
    if scope in _FIXED:
        return ProofRequest(_FIXED[scope], basic=False)
    raise NoProof(f"scope {scope!r} has no proof request in this version")


def listed_proof(
    listed: Sequence[LiveToken], value: Secret, token: LiveToken, now: datetime
) -> str | None:
    """Why the weaker proof fails for `token`, or None when it holds: the value is a JWT whose
    jti is the token's GUID, and the list shows that GUID with the token's scope and resources,
    active. It shows the server made that token; not that the value authenticates."""
    if jwtinfo.token_guid(value.reveal()) != token.guid:
        return f"the value's jti is not the GUID {token.guid}"
    found = next((t for t in listed if t.guid == token.guid), None)
    if found is None:
        return f"the token list does not show {token.guid}"
    if found.scope != token.scope:
        return f"the token list shows {token.guid} with scope {found.scope}, not {token.scope}"
    if sorted(found.resources) != sorted(token.resources):
        return f"the token list shows {token.guid} with other resources"
    if not found.is_active(now):
        return f"the token list shows {token.guid} as {found.status(now).value}"
    return None
