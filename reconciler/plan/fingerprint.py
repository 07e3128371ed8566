"""A fingerprint of the live state, recorded in a saved plan and checked before it is applied."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

from reconciler.server.model import LiveToken, Resource


def _instant(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


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


def live_fingerprint(live: Sequence[LiveToken], resources: Sequence[Resource]) -> str:
    """ "sha256:<hex>" of a canonical form: the order in which a server lists things and the
    time zone it reports them in do not change it; any field the planner reads does."""
    canonical = {
        "tokens": sorted((_token_form(t) for t in live), key=lambda form: str(form["guid"])),
        "resources": sorted(
            ({"id": r.id, "name": r.name, "kind": r.kind} for r in resources),
            key=lambda form: (form["kind"], form["name"], form["id"]),
        ),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()
