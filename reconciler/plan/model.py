"""The plan: plain data. Computing it (planner) and showing it (renderers) are separate.

`apply` acts on `kind`, `guid`, `revoke_replaced`, `grace` (turned into the time written beside
the new token's value, from which its predecessors may be retired) and `delete_secret`; `reason`
exists for people and is never branched on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from reconciler.desired.model import TokenSpec


class ActionKind(StrEnum):
    CREATE = "create"
    RECREATE = "recreate"
    ROTATE = "rotate"
    REPLACE = "replace"
    REPAIR = "repair"
    # The store holds the current token's value without its metadata (a write cut between
    # the two): write the metadata. Creates and revokes nothing.
    RECORD = "record"
    RETIRE = "retire"
    REVOKE = "revoke"
    NOOP = "noop"

    @property
    def creates(self) -> bool:
        """Create-like kinds: create a token, store it, verify it, then deal with the old one."""
        return self in _CREATE_LIKE

    @property
    def writes_store(self) -> bool:
        """Kinds that write the declared token's store entry, so they carry its TokenSpec."""
        return self in _CREATE_LIKE or self is ActionKind.RECORD


_CREATE_LIKE = frozenset(
    {
        ActionKind.CREATE,
        ActionKind.RECREATE,
        ActionKind.ROTATE,
        ActionKind.REPLACE,
        ActionKind.REPAIR,
    }
)


@dataclass(frozen=True)
class SecretRef:
    store: str  # key of Spec.stores
    key: str


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    name: str | None  # the declared token's name; None for an unmanaged token
    reason: str  # for people only
    # create-like and record: the desired token. None for retire/revoke/noop.
    token: TokenSpec | None = None
    # rotate/replace/repair: the current token being replaced; retire/revoke: the token revoked;
    # record and noop: the current token.
    guid: str | None = None
    # create-like only: revoke `guid` as soon as the successor is stored and verified
    # (replace, repair). False for rotate: the old token retires after grace in a later run.
    revoke_replaced: bool = False
    # create-like: how long the older generations of this name are kept once the new value is
    # stored: the grace for a rotation, 0 when nothing is owed one (create, replace, repair, a
    # rotation without grace). A duration, not a time: a plan may be reviewed for days before
    # it runs, and the grace is for consumers that read the new value, which they can only do
    # once apply has stored it. Apply records the time it ends beside the new value
    # (SecretMeta.retire_previous_after) and later plans keep to it, so a run killed before it
    # revoked what it replaced leaves its intent behind. None for retire/revoke/noop.
    grace: timedelta | None = None
    # record only: the promise the cut-short write recorded with its intent (a time already
    # fixed when that write ran; None: none known), written as the metadata's
    # retire_previous_after. None for every other kind.
    retire_after: datetime | None = None
    # revoke of a token declared `state: absent` with on_delete: delete.
    delete_secret: SecretRef | None = None


class WarningCode(StrEnum):
    UNMANAGED = "unmanaged"
    NEVER_EXPIRES = "never_expires"
    EXPIRING_SOON = "expiring_soon"
    PROTECTED = "protected"  # an action would have revoked a protected/authenticating token
    DEPRECATED_SCOPE = "deprecated_scope"
    ADOPTED_UNVERIFIED = "adopted_unverified"
    ADOPT_IGNORED = "adopt_ignored"  # the adopt GUID is missing, inactive or owned
    WEAKER_PROOF = "weaker_proof"  # server.proof: new tokens of this scope proven by listing


@dataclass(frozen=True)
class PlanWarning:
    code: WarningCode
    message: str
    name: str | None = None
    guid: str | None = None


@dataclass(frozen=True)
class PlanError:
    """Something that makes the plan unusable (e.g. a resource the server does not have), or,
    `token_only`, unusable for token `name` alone: the planner keeps that token as it is
    (nothing created, rotated or repaired for it) and the rest of the plan may be applied. A
    token_only error without a name holds no token (a spec value no token takes)."""

    message: str
    name: str | None = None
    token_only: bool = False


@dataclass(frozen=True)
class ActiveGeneration:
    """An older generation of a declared name that stays active after this plan, so a reviewer
    sees every token of the name that still works, not only the current one."""

    name: str
    guid: str
    current: str  # the GUID of the name's current token
    retire_after: datetime | None  # None: kept with no date (protected)
    note: str  # why it is still active; for people
    # Set when it is kept for the grace of this plan's own create-like action for the name: the
    # grace then counts from when apply stores the new value, and `retire_after` is when it
    # would end were the plan applied at its `generated_at`.
    grace: timedelta | None = None


@dataclass(frozen=True)
class Plan:
    namespace: str
    server: str
    generated_at: datetime
    spec_path: str
    spec_sha256: str
    live_fingerprint: str
    actions: tuple[Action, ...]
    warnings: tuple[PlanWarning, ...] = ()
    errors: tuple[PlanError, ...] = ()
    still_active: tuple[ActiveGeneration, ...] = ()

    @property
    def changes(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind is not ActionKind.NOOP)

    @property
    def has_changes(self) -> bool:
        return bool(self.changes)

    @property
    def blocking_errors(self) -> tuple[PlanError, ...]:
        """The errors that forbid applying any of the plan."""
        return tuple(e for e in self.errors if not e.token_only)

    def summary(self) -> dict[str, int]:
        """Counts per kind, every kind present (0 when absent), in ActionKind order."""
        counts = Counter(a.kind for a in self.actions)
        return {kind.value: counts.get(kind, 0) for kind in ActionKind}
