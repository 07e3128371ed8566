"""The plan: plain data. Computing it (planner) and showing it (renderers) are separate.

`apply` acts on `kind`, `guid`, `revoke_replaced`, `retire_after` (written beside the new
token's value as the grace its predecessors were promised) and `delete_secret`; `reason` exists
for people and is never branched on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reconciler.spec.model import TokenSpec


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
    # create-like: from when the older generations of this name may be retired. Apply records it
    # beside the new token's value (SecretMeta.retire_previous_after), and later plans keep to
    # it, so a run killed before it revoked what it replaced leaves its intent behind: the plan
    # time when nothing is owed a grace (create, replace, repair, a rotation without grace),
    # the plan time plus the grace for a rotation. Record: the promise the cut-short write
    # recorded with its intent (None: none known). None for retire/revoke/noop.
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


@dataclass(frozen=True)
class PlanWarning:
    code: WarningCode
    message: str
    name: str | None = None
    guid: str | None = None


@dataclass(frozen=True)
class PlanError:
    """Something that makes the plan unusable (e.g. a resource the server does not have)."""

    message: str
    name: str | None = None


@dataclass(frozen=True)
class ActiveGeneration:
    """An older generation of a declared name that stays active after this plan, so a reviewer
    sees every token of the name that still works, not only the current one."""

    name: str
    guid: str
    current: str  # the GUID of the name's current token
    retire_after: datetime | None  # None: kept with no date (protected)
    note: str  # why it is still active; for people


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

    def summary(self) -> dict[str, int]:
        """Counts per kind, every kind present (0 when absent), in ActionKind order."""
        counts = Counter(a.kind for a in self.actions)
        return {kind.value: counts.get(kind, 0) for kind in ActionKind}
