"""A fingerprint of the part of the live state one namespace's plan depends on, recorded in a
saved plan and checked before it is applied.

Several teams may share one server, each with its own spec and namespace. Hashing every token
on the server would make a saved plan stale whenever any team did anything; hashing less than
the planner reads would let a plan apply to a state nobody reviewed. So the fingerprint takes
exactly what `plan()` can look at for this spec:

- every token carrying this namespace's marker, whatever its status (the newest revoked one
  names a recreate's reason; a leftover secret is matched against the gone ones);
- every token a declaration adopts, whoever owns it (an adopt of someone else's token is warned
  about);
- unmanaged tokens (no marker), unless `policy.unmanaged` is `ignore`: the policy revokes them
  or reports them;
- the token this run authenticates with, when it is one of the above (it is protected);
- the repositories and sources whose names a present token references, of either kind (a
  resource of the other kind with that name changes the error message).

Other namespaces' tokens and resources nobody references do not count.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from reconciler.desired.model import ALL_RESOURCES, Spec, TokenState, UnmanagedPolicy
from reconciler.durations import as_utc
from reconciler.ownership import MARKER_START, parse_owner
from reconciler.server.model import LiveToken, Resource

# In a plan made without its fingerprint: never equal to one, so such a plan cannot pass for a
# saved one (plan/saved.py compares them), and refused where one is written (render_json).
NO_FINGERPRINT = ""


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat()


def _token_form(token: LiveToken) -> dict[str, object]:
    return {
        "guid": token.guid,
        "description": token.description,
        "user": token.user,
        "scope": token.scope,
        "resources": sorted(token.resources),
        "resource_ids": sorted(token.resource_ids),
        "created": _instant(token.created),
        "expires": _instant(token.expires),
        "revoked": _instant(token.revoked),
    }


def plan_reads(spec: Spec) -> Callable[[str, str], bool]:
    """Whether this spec's plan can read a live token, told from its GUID and stored
    description alone (see the module docstring): what a listing may keep, and all it needs to
    keep, for plan, apply and this fingerprint."""
    adopted = frozenset(t.adopt for t in spec.tokens if t.adopt)
    unmanaged_count = spec.policy.unmanaged is not UnmanagedPolicy.IGNORE
    namespace = spec.namespace

    def reads(guid: str, description: str) -> bool:
        if guid in adopted:
            return True
        owner = parse_owner(description) if MARKER_START in description else None
        if owner is not None:
            return owner.namespace == namespace
        return unmanaged_count

    return reads


def relevant_tokens(spec: Spec, live: Iterable[LiveToken]) -> list[LiveToken]:
    """The live tokens this spec's plan can read (see the module docstring)."""
    reads = plan_reads(spec)
    return [token for token in live if reads(token.guid, token.description)]


def referenced_resources(spec: Spec, resources: Iterable[Resource]) -> list[Resource]:
    names = {
        name
        for token in spec.tokens
        if token.state is TokenState.PRESENT
        for name in token.resources
        if name != ALL_RESOURCES
    }
    return [r for r in resources if r.name in names]


def live_fingerprint(
    spec: Spec,
    live: Sequence[LiveToken],
    resources: Sequence[Resource],
    *,
    self_guid: str | None = None,
) -> str:
    """ "sha256:<hex>" of a canonical form of what `spec`'s plan depends on: the order in which
    a server lists things and the time zone it reports them in do not change it; any field the
    planner reads of a token or resource it can look at does."""
    tokens = relevant_tokens(spec, live)
    guids = {t.guid for t in tokens}
    referenced = referenced_resources(spec, resources)
    canonical = {
        "tokens": sorted((_token_form(t) for t in tokens), key=lambda form: str(form["guid"])),
        "resources": sorted(
            ({"id": r.id, "name": r.name, "kind": r.kind} for r in referenced),
            key=lambda form: (form["kind"], form["name"], form["id"]),
        ),
        "self": self_guid if self_guid in guids else None,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
