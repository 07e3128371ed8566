"""What one plan() call reads (the context) and what it accumulates (the draft)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.desired.model import Spec, TokenSpec
from reconciler.plan.compare import ResourceIndex
from reconciler.plan.inventory import Inventory
from reconciler.plan.model import (
    Action,
    ActionKind,
    ActiveGeneration,
    PlanError,
    PlanWarning,
    WarningCode,
)
from reconciler.plan.standing import as_state
from reconciler.stores.base import KeyState, SecretMeta


@dataclass(frozen=True)
class Context:
    spec: Spec
    inventory: Inventory
    index: ResourceIndex
    # name -> what its store holds (metadata alone, or all a store read: see plan.standing)
    stored_meta: Mapping[str, SecretMeta | KeyState | None]
    now: datetime
    self_guid: str | None
    force_rotate: frozenset[str]
    grace_override: timedelta | None

    def state(self, name: str) -> KeyState:
        """What the name's store holds; an empty state when it holds nothing."""
        return as_state(self.stored_meta.get(name))

    def grace(self, token: TokenSpec) -> timedelta:
        return self.grace_override if self.grace_override is not None else token.rotation.grace

    def protected_because(self, guid: str) -> str | None:
        if self.self_guid is not None and guid == self.self_guid:
            return "it is the token this run authenticates with"
        if guid in self.spec.policy.protect:
            return "policy.protect lists it"
        return None


@dataclass
class Draft:
    """What one plan() call accumulates; never leaves it."""

    # Retirements of tokens nobody holds (created by an interrupted run, never stored): they
    # go first, before anything of their name is created.
    orphans: list[Action] = field(default_factory=list)
    creates: list[Action] = field(default_factory=list)
    retires: list[Action] = field(default_factory=list)
    revokes: list[Action] = field(default_factory=list)
    noops: list[Action] = field(default_factory=list)
    warnings: list[PlanWarning] = field(default_factory=list)
    errors: list[PlanError] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    still_active: list[ActiveGeneration] = field(default_factory=list)

    def warn(
        self, code: WarningCode, message: str, name: str | None, guid: str | None = None
    ) -> None:
        self.warnings.append(PlanWarning(code, message, name, guid))


def add_revoke(ctx: Context, draft: Draft, action: Action, *, orphan: bool = False) -> bool:
    """Add a retire/revoke unless its token is protected; say whether it was added."""
    assert action.guid is not None
    why = ctx.protected_because(action.guid)
    if why is not None:
        draft.warn(
            WarningCode.PROTECTED, f"would revoke {action.guid} but {why}", action.name, action.guid
        )
        return False
    if orphan:
        draft.orphans.append(action)
    elif action.kind is ActionKind.RETIRE:
        draft.retires.append(action)
    else:
        draft.revokes.append(action)
    draft.revoked.add(action.guid)
    return True
