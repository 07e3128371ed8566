"""Checks on a whole plan before apply starts it. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from reconciler.desired.model import Spec
from reconciler.ownership import parse_owner
from reconciler.plan.model import ActionKind, Plan
from reconciler.server.model import LiveToken


def mass_revoke_refusal(
    plan: Plan, live: Sequence[LiveToken], spec: Spec, now: datetime
) -> str | None:
    """Why this plan revokes too much to apply without --allow-mass-revoke, or None.

    Counts `revoke` actions: tokens revoked with no successor (no longer declared, or unmanaged
    under `unmanaged: revoke`). Retirements after a grace and the tokens a replace supersedes
    have successors and are not counted."""
    revokes = [a for a in plan.changes if a.kind is ActionKind.REVOKE]
    if not revokes:
        return None
    namespace = spec.namespace
    managed = {
        t.guid
        for t in live
        if t.is_active(now)
        and (owner := parse_owner(t.description))
        and owner.namespace == namespace
    }
    managed_revoked = sum(1 for a in revokes if a.guid in managed)
    limit = spec.policy.max_revokes
    if len(revokes) > limit:
        why = f"more than policy.max_revokes ({limit})"
    elif managed_revoked * 2 > len(managed):
        why = (
            f"{managed_revoked} of the {len(managed)} active tokens namespace '{namespace}' manages"
        )
    else:
        return None
    return (
        f"this apply would revoke {len(revokes)} token(s), {why}, and nothing replaces them. "
        f"The usual cause is two spec files sharing namespace '{namespace}': each one revokes "
        "the tokens only the other declares. Give each spec its own namespace; if these "
        "revocations are intended, run again with --allow-mass-revoke"
    )
