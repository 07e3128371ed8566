"""One live token as the day-2 commands see it: who owns it, which spec declares it, which
generation it is and when it rotates or retires. Pure: built from the live tokens, the loaded
specs, the stored metadata and `now`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reconciler.desired.model import Spec, TokenSpec, TokenState
from reconciler.ops import schedule
from reconciler.ownership import Owner, parse_owner, strip_marker
from reconciler.plan.inventory import take_inventory
from reconciler.plan.standing import as_state, standing
from reconciler.server.model import LiveToken, TokenStatus
from reconciler.stores.base import KeyState, SecretMeta

# (namespace, declared name) -> what its store holds (its metadata alone, or all a store read);
# a missing key means "not read", None "holds nothing".
StoredMeta = Mapping[tuple[str, str], KeyState | SecretMeta | None]


class Generation(StrEnum):
    CURRENT = "current"  # the newest active token of a declared name
    RETIRING = "retiring"  # an older active generation, revoked once its grace ends
    UNDECLARED = "undeclared"  # a loaded namespace's marker, name not declared: apply revokes it
    FOREIGN = "foreign"  # another namespace's marker, no loaded spec for it
    UNMANAGED = "unmanaged"  # no marker, not adopted
    INACTIVE = "inactive"  # revoked or expired


@dataclass(frozen=True)
class TokenView:
    token: LiveToken
    name: str  # the marker's (or adopting entry's) name, else the description
    status: TokenStatus
    owner: Owner | None  # from the marker, or from the spec entry that adopts it
    adopted: bool
    generation: Generation
    spec: Spec | None = None  # the loaded spec of the owner's namespace
    declared: TokenSpec | None = None  # its entry in that spec
    rotation_due: datetime | None = None
    retires: datetime | None = None
    authenticating: bool = False  # the token this run authenticates with
    description: str = ""  # the description without the ownership marker

    @property
    def guid(self) -> str:
        return self.token.guid

    @property
    def managed_by(self) -> str | None:
        return f"{self.owner.namespace}/{self.owner.name}" if self.owner else None

    @property
    def active(self) -> bool:
        return self.status is TokenStatus.ACTIVE


@dataclass(frozen=True)
class _Placement:
    spec: Spec
    declared: TokenSpec | None
    generation: Generation
    rotation_due: datetime | None = None
    retires: datetime | None = None


def _place(
    spec: Spec, live: Sequence[LiveToken], now: datetime, stored: StoredMeta
) -> dict[str, _Placement]:
    """GUID -> where it stands in `spec`'s namespace, for the active tokens the spec owns."""
    inventory = take_inventory(spec, live, now)
    placed: dict[str, _Placement] = {}
    for name, generations in inventory.generations.items():
        declared = spec.token(name)
        if declared is None or declared.state is not TokenState.PRESENT:
            for token in generations:
                placed[token.guid] = _Placement(spec, declared, Generation.UNDECLARED)
            continue
        key = (spec.namespace, name)
        # The planner's own rule (plan.standing): current is what the store hands out. Newer
        # generations were made by a run that died before storing them; nobody holds their
        # values, so they are due for retirement from the moment they were made.
        stand = standing(generations, as_state(stored[key]) if key in stored else None)
        for orphan in stand.orphans:
            placed[orphan.guid] = _Placement(
                spec, declared, Generation.RETIRING, retires=orphan.created
            )
        current, older = stand.current, stand.older
        placed[current.guid] = _Placement(
            spec,
            declared,
            Generation.CURRENT,
            rotation_due=schedule.rotation_due(declared, current),
            retires=schedule.current_retires(declared, current),
        )
        for token in older:
            placed[token.guid] = _Placement(
                spec,
                declared,
                Generation.RETIRING,
                retires=schedule.older_retires(declared, current, token, stand.promise),
            )
    return placed


def build_views(
    live: Sequence[LiveToken],
    specs: Sequence[Spec],
    now: datetime,
    *,
    self_guid: str | None = None,
    stored: StoredMeta | None = None,
) -> tuple[TokenView, ...]:
    """A view of every live token, in the server's order."""
    stored = stored or {}
    by_namespace = {spec.namespace: spec for spec in specs}
    adopters = {t.adopt: (spec, t) for spec in specs for t in spec.tokens if t.adopt is not None}
    placed: dict[str, _Placement] = {}
    for loaded in specs:
        placed.update(_place(loaded, live, now, stored))
    views = []
    for token in live:
        owner = parse_owner(token.description)
        adopted = False
        spec: Spec | None = by_namespace.get(owner.namespace) if owner else None
        declared = spec.token(owner.name) if spec and owner else None
        if owner is None and token.guid in adopters:
            spec, declared = adopters[token.guid]
            owner, adopted = Owner(spec.namespace, declared.name), True
        place = placed.get(token.guid)
        status = token.status(now)
        if status is not TokenStatus.ACTIVE:
            generation = Generation.INACTIVE
        elif place is not None:
            generation = place.generation
        elif owner is not None:
            generation = Generation.FOREIGN
        else:
            generation = Generation.UNMANAGED
        description = strip_marker(token.description)
        views.append(
            TokenView(
                token=token,
                name=owner.name if owner else description,
                status=status,
                owner=owner,
                adopted=adopted,
                generation=generation,
                spec=spec,
                declared=declared,
                rotation_due=place.rotation_due if place else None,
                retires=place.retires if place else None,
                authenticating=self_guid is not None and token.guid == self_guid,
                description=description,
            )
        )
    return tuple(views)


def generations_of(views: Sequence[TokenView], owner: Owner) -> tuple[TokenView, ...]:
    """Every token of one managed name, active ones first, newest first within each."""
    same = [v for v in views if v.owner == owner]
    return tuple(sorted(same, key=lambda v: (not v.active, -v.token.created.timestamp(), v.guid)))
