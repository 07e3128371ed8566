"""Hypothesis strategies for specs and live states around one fixed `now`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hypothesis import strategies as st

from reconciler.desired.model import (
    OnDelete,
    Rotation,
    Scope,
    Spec,
    TokenSpec,
    TokenState,
    UnmanagedPolicy,
)
from reconciler.durations import NEVER, Expiry
from reconciler.ownership import stored_description
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretMeta

from .conftest import DAY, NOW, NS, RESOURCES, SERVER, make_spec, resource_ids

OTHER_NS = "other-team"
NAMES = ("a", "b", "c", "d", "e", "f", "g", "h")
HOUR = timedelta(hours=1)
LIFETIMES = (1 * DAY, 7 * DAY, 30 * DAY, 90 * DAY, 365 * DAY)
REPOS = ("bioc", "cran", "pypi")


@dataclass(frozen=True)
class World:
    spec: Spec
    live: tuple[LiveToken, ...]
    meta: Mapping[str, SecretMeta | None]
    self_guid: str | None
    force_rotate: frozenset[str]
    grace_override: timedelta | None
    foreign: frozenset[str]  # GUIDs of another namespace's tokens


def _guid(n: int) -> str:
    return f"{n:08x}-0000-4000-8000-000000000000"


@st.composite
def resources_for(draw: st.DrawFn, scope: Scope) -> tuple[str, ...]:
    kind = scope.resource_kind
    if kind is None:
        return ()
    if draw(st.booleans()) and draw(st.booleans()):
        return ("*",)
    if kind == "source":
        return ("internal",)
    names = draw(st.lists(st.sampled_from(REPOS), min_size=1, max_size=3, unique=True))
    return tuple(sorted(names))


@st.composite
def token_specs(draw: st.DrawFn, name: str, adoptable: Sequence[str]) -> TokenSpec:
    scope = draw(st.sampled_from(list(Scope)))
    shape = draw(st.sampled_from(["lifetime", "lifetime", "never", "date"]))
    if shape == "lifetime":
        expires = Expiry(lifetime=draw(st.sampled_from(LIFETIMES)))
    elif shape == "date":
        expires = Expiry(on=NOW.date() + timedelta(days=draw(st.integers(1, 400))))
    else:
        expires = NEVER
    longest = expires.longest_from(NOW)
    # The validator guarantees rotation.after and before_expiry are shorter than the expiry.
    shorter = [
        d for d in (HOUR, DAY, 7 * DAY, 14 * DAY, 60 * DAY) if longest is None or d < longest
    ]
    rotation = Rotation(
        after=draw(st.none() | st.sampled_from(shorter)),
        before_expiry=draw(st.none() | st.sampled_from(shorter)),
        grace=draw(st.sampled_from([timedelta(0), HOUR, 3 * DAY])),
    )
    return TokenSpec(
        name=name,
        user=draw(st.sampled_from(["ana@example.com", "ci-system"])),
        description=draw(st.sampled_from(["Read CRAN", "Upload"])),
        scope=scope,
        resources=draw(resources_for(scope)),
        expires=expires,
        rotation=rotation,
        store="vault",
        secret=name,
        on_delete=draw(st.sampled_from(list(OnDelete))),
        adopt=draw(st.none() | st.sampled_from(list(adoptable))) if adoptable else None,
        state=draw(st.sampled_from([TokenState.PRESENT] * 4 + [TokenState.ABSENT])),
    )


@st.composite
def live_tokens(draw: st.DrawFn, guid: str, description: str) -> LiveToken:
    scope = draw(st.sampled_from(list(Scope)))
    resources = draw(resources_for(scope))
    created = NOW - timedelta(minutes=draw(st.integers(1, 400 * 24 * 60)))
    lifetime = draw(st.none() | st.sampled_from(LIFETIMES))
    ids = resource_ids(resources)
    if ids and draw(st.integers(0, 5)) == 0:
        ids = ("0c1d0000-0000-4000-8000-0000000dead0", *ids[1:])  # a repository recreated since
    revoked = created + timedelta(minutes=1) if draw(st.integers(0, 4)) == 0 else None
    return LiveToken(
        guid=guid,
        description=description,
        user=draw(st.sampled_from(["ana@example.com", "ci-system"])),
        scope=scope.value,
        resources=resources,
        resource_ids=ids,
        created=created,
        expires=None if lifetime is None else created + lifetime,
        revoked=revoked,
    )


def _faithful(token: TokenSpec, live: LiveToken) -> LiveToken:
    """The live token as a create of `token` at its creation time would have made it."""
    return replace(
        live,
        description=stored_description(token.description, NS, token.name),
        user=token.user,
        scope=token.scope.value,
        resources=token.resources,
        resource_ids=resource_ids(token.resources),
        expires=token.expires.deadline(live.created),
    )


@st.composite
def worlds(draw: st.DrawFn) -> World:
    counter = iter(range(1, 10_000))
    unmanaged = [
        draw(live_tokens(_guid(next(counter)), draw(st.sampled_from(["legacy", "by hand"]))))
        for _ in range(draw(st.integers(0, 3)))
    ]
    declared = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=6, unique=True))
    adoptable = [t.guid for t in unmanaged]
    tokens = [draw(token_specs(name, adoptable)) for name in declared]
    seen: set[str] = set()
    for i, token in enumerate(tokens):  # one adopter per GUID, as the validator requires
        if token.adopt in seen:
            tokens[i] = replace(token, adopt=None)
        seen.add(token.adopt or "")
    by_name = {t.name: t for t in tokens}
    live: list[LiveToken] = list(unmanaged)
    foreign: set[str] = set()
    for name in NAMES:
        for _ in range(draw(st.integers(0, 3))):
            namespace = draw(st.sampled_from([NS, NS, NS, OTHER_NS]))
            marker = stored_description("x", namespace, name)
            token = draw(live_tokens(_guid(next(counter)), marker))
            if namespace == NS and name in by_name and draw(st.integers(0, 3)) > 0:
                token = _faithful(by_name[name], token)
            if namespace == OTHER_NS:
                foreign.add(token.guid)
            live.append(token)
    guids = [t.guid for t in live]
    meta: dict[str, SecretMeta | None] = {}
    for name in declared:
        own = [t for t in live if t.description.endswith(f"[ppm-tokens:{NS}/{name}]")]
        active = sorted(
            (t for t in own if t.is_active(NOW)), key=lambda t: (t.created, t.guid), reverse=True
        )
        choice = draw(st.sampled_from(["current", "current", "missing", "own", "other"]))
        target = None
        if choice == "current" and active:
            target = active[0]
        elif choice == "own" and own:
            target = draw(st.sampled_from(own))
        if choice == "other":
            target = replace(live[0], guid=_guid(9999)) if live else None
        meta[name] = None if target is None else meta_of(target, name)
    present = [t.name for t in tokens if t.state is TokenState.PRESENT]
    protect = draw(st.frozensets(st.sampled_from(guids), max_size=2)) if guids else frozenset()
    spec = make_spec(
        *tokens,
        unmanaged=draw(st.sampled_from(list(UnmanagedPolicy))),
        protect=protect,
        allow_never_expires=True,
    )
    return World(
        spec=spec,
        live=tuple(live),
        meta=meta,
        self_guid=draw(st.none() | st.sampled_from(guids)) if guids else None,
        force_rotate=draw(st.frozensets(st.sampled_from(present))) if present else frozenset(),
        grace_override=draw(st.none() | st.sampled_from([timedelta(0), DAY])),
        foreign=frozenset(foreign),
    )


def meta_of(token: LiveToken, name: str) -> SecretMeta:
    return SecretMeta(token.guid, name, NS, token.created, token.expires, token.scope)


def plan_world(world: World, live: Sequence[LiveToken], meta: Any, **options: Any) -> Plan:
    return plan(
        world.spec,
        live,
        RESOURCES,
        meta,
        NOW,
        server=SERVER,
        self_guid=world.self_guid,
        grace_override=world.grace_override,
        **options,
    )
