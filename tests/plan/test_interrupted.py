"""The intent of an interrupted action survives the crash.

A run can be killed between any two steps of an action: after the create (the value never
reached the store), after the store write, before or during the revoke of what it replaced.
The next plan sees only the live tokens and the store's metadata; from those it must finish the
job: an older generation the store does not hold and no rotation promised a grace to is retired,
never left "unchanged".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired.model import Rotation, TokenState
from reconciler.ownership import Owner, parse_owner
from reconciler.plan.compare import immutable_changes, index_resources
from reconciler.plan.model import ActionKind, Plan
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretMeta

from .conftest import (
    DAY,
    NOW,
    RESOURCES,
    created_token,
    guid,
    live_token,
    make_spec,
    meta_for,
    run_plan,
    token_spec,
)
from .strategies import World, plan_world, worlds

MINUTE = timedelta(minutes=1)
INDEX = index_resources(RESOURCES)
T = token_spec("ds-read")
WIDER = replace(T, resources=("bioc", "cran", "pypi"))  # what a replace narrowed from
NO_GRACE = replace(T, rotation=Rotation(after=60 * DAY, before_expiry=14 * DAY, grace=0 * DAY))


def promised(token: LiveToken, until: datetime | None) -> SecretMeta:
    """Metadata as apply writes it: the new token, and the grace its predecessors were owed."""
    return replace(meta_for(token, "ds-read"), retire_previous_after=until)


NEW = live_token(T, "new", age=MINUTE * 30)  # made by the interrupted run
OLD = live_token(T, "old", age=61 * DAY)  # what it replaced (rotation due)
OLD_WIDE = live_token(WIDER, "old-wide", age=20 * DAY)  # replaced for its scope
ORPHAN = live_token(T, "orphan", age=MINUTE * 40)  # created, value never stored
AT_ONCE = NEW.created  # what a replace, repair or grace-0 rotation records: no grace
GRACE_END = NEW.created + MINUTE + 3 * DAY  # the store write plus the grace, for a rotation

Row = tuple[ActionKind, str, str]  # kind, GUID label, a piece of the reason


@dataclass(frozen=True)
class Case:
    spec_token: Any
    live: tuple[LiveToken, ...]
    meta: SecretMeta | None
    expected: tuple[Row, ...]
    still_active: tuple[tuple[str, datetime | None], ...] = ()
    options: dict[str, Any] = field(default_factory=dict)


CASES = {
    "replace-killed-after-store-before-revoke": Case(
        T,
        (NEW, OLD_WIDE),
        promised(NEW, AT_ONCE),
        (
            (ActionKind.RETIRE, "old-wide", "no grace was promised to it"),
            (ActionKind.NOOP, "new", "up to date"),
        ),
    ),
    "replace-killed-before-revoke-store-records-no-promise": Case(
        T,
        (NEW, OLD_WIDE),
        promised(NEW, None),
        (
            (ActionKind.RETIRE, "old-wide", "a token unlike the spec keeps no grace"),
            (ActionKind.NOOP, "new", "up to date"),
        ),
    ),
    "repair-killed-after-store-before-revoke": Case(
        T,
        (NEW, ORPHAN),
        promised(NEW, AT_ONCE),
        (
            (ActionKind.RETIRE, "orphan", "no grace was promised to it"),
            (ActionKind.NOOP, "new", "up to date"),
        ),
    ),
    "rotation-without-grace-killed-before-revoke": Case(
        NO_GRACE,
        (NEW, OLD),
        promised(NEW, AT_ONCE),
        (
            (ActionKind.RETIRE, "old", "no grace was promised to it"),
            (ActionKind.NOOP, "new", "up to date"),
        ),
    ),
    "rotation-with-grace-keeps-its-promise": Case(
        T,
        (NEW, OLD),
        promised(NEW, GRACE_END),
        ((ActionKind.NOOP, "new", "1 older generation retiring after"),),
        still_active=(("old", GRACE_END),),
    ),
    "rotation-promise-passed": Case(
        T,
        (NEW, OLD),
        promised(NEW, NOW - MINUTE),
        ((ActionKind.RETIRE, "old", "passed"), (ActionKind.NOOP, "new", "up to date")),
    ),
    "rotation-killed-after-create": Case(
        T,
        (ORPHAN, OLD),
        meta_for(OLD, "ds-read"),
        (
            (ActionKind.RETIRE, "orphan", "never stored"),
            (ActionKind.ROTATE, "old", "age 61 days"),
        ),
    ),
    "replace-killed-after-create": Case(
        T,
        (ORPHAN, OLD_WIDE),
        meta_for(OLD_WIDE, "ds-read"),
        (
            (ActionKind.RETIRE, "orphan", "never stored"),
            (ActionKind.REPLACE, "old-wide", "resources changed"),
        ),
    ),
    "first-create-killed-after-create": Case(
        T,
        (ORPHAN,),
        None,
        ((ActionKind.REPAIR, "orphan", "store has no value"),),
    ),
    "create-killed-after-store": Case(
        T, (NEW,), promised(NEW, AT_ONCE), ((ActionKind.NOOP, "new", "up to date"),)
    ),
    "forced-rotation-extends-an-older-grace": Case(
        T,
        (live_token(T, "current", age=DAY), live_token(T, "older", age=2 * DAY)),
        promised(live_token(T, "current", age=DAY), NOW + 2 * DAY),
        ((ActionKind.ROTATE, "current", "forced"),),
        still_active=(("older", NOW + 3 * DAY),),
        options={"force_rotate": frozenset({"ds-read"})},
    ),
    "emergency-rotation-without-grace-retires-every-older": Case(
        T,
        (live_token(T, "current", age=DAY), live_token(T, "older", age=2 * DAY)),
        promised(live_token(T, "current", age=DAY), NOW + 2 * DAY),
        (
            (ActionKind.ROTATE, "current", "forced"),
            (ActionKind.RETIRE, "older", "this run's rotate gives no grace"),
        ),
        options={"force_rotate": frozenset({"ds-read"}), "grace_override": 0 * DAY},
    ),
    "protected-orphan-stays-and-is-listed": Case(
        T,
        (ORPHAN, OLD),
        meta_for(OLD, "ds-read"),
        ((ActionKind.ROTATE, "old", "age 61 days"),),
        still_active=(("orphan", None),),
        options={"protect": frozenset({guid("orphan")})},
    ),
}


def _plan(case: Case) -> Plan:
    options = dict(case.options)
    protect = options.pop("protect", frozenset())
    spec = make_spec(case.spec_token, protect=protect)
    return run_plan(spec, case.live, {"ds-read": case.meta}, **options)


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in CASES.items()])
def test_the_next_plan_finishes_what_the_interrupted_run_meant(case: Case) -> None:
    result = _plan(case)

    rows = [(a.kind, a.guid, a.reason) for a in result.actions]
    assert [(k, g) for k, g, _ in rows] == [(k, guid(label)) for k, label, _ in case.expected]
    for (_, _, reason), (_, _, piece) in zip(rows, case.expected, strict=True):
        assert piece in reason
    assert [(g.guid, g.retire_after) for g in result.still_active] == [
        (guid(label), when) for label, when in case.still_active
    ]


def test_a_replaced_wider_token_is_never_unchanged_whatever_the_promise() -> None:
    """However the metadata reads, the old scope does not survive the next run."""
    for meta in (promised(NEW, AT_ONCE), promised(NEW, GRACE_END), promised(NEW, None)):
        result = run_plan(make_spec(T), [NEW, OLD_WIDE], {"ds-read": meta})
        assert (ActionKind.RETIRE, OLD_WIDE.guid) in [(a.kind, a.guid) for a in result.actions]


# A step-level simulation of apply: a kill leaves every name somewhere along its own steps.


@dataclass
class State:
    live: dict[str, LiveToken]
    meta: dict[str, SecretMeta | None]
    created: int = 0
    refused: list[str] = field(default_factory=list)  # retirements of what the store holds

    def new_guid(self) -> str:
        self.created += 1
        return f"new-{self.created:04d}"  # later creations sort as newer at the same time


def _steps(result: Plan) -> dict[str, list[tuple[str, Any]]]:
    """Each name's steps in plan order, as apply runs them."""
    steps: dict[str, list[tuple[str, Any]]] = {}
    for action in result.changes:
        key = action.name or f"guid:{action.guid}"
        group = steps.setdefault(key, [])
        if action.kind.creates:
            group.append(("create", action))
            group.append(("store", action))
            if action.revoke_replaced:
                group.append(("revoke", action))
        else:
            group.append(("revoke", action))
    return steps


def _run(state: State, result: Plan, stops: Mapping[str, int] | None = None) -> None:
    """Apply `result`; with `stops`, each name stops after that many of its steps (a kill)."""
    made: dict[int, LiveToken] = {}
    for key, group in _steps(result).items():
        limit = len(group) if stops is None else stops.get(key, 0) % (len(group) + 1)
        for step, action in group[:limit]:
            if step == "create":
                token = action.token
                new = created_token(token, result.namespace, state.new_guid())
                state.live[new.guid] = new
                made[id(action)] = new
            elif step == "store":
                new = made[id(action)]
                meta = SecretMeta(
                    new.guid, action.name, result.namespace, new.created, new.expires, new.scope
                )
                # As apply records it: the grace from this write (at NOW), else no grace.
                after = NOW + action.grace if action.grace else new.created
                state.meta[action.name] = replace(meta, retire_previous_after=after)
            else:
                _revoke(state, action)


def _revoke(state: State, action: Any) -> None:
    held = state.meta.get(action.name) if action.name else None
    if action.kind is ActionKind.RETIRE and held is not None and held.token_guid == action.guid:
        # Apply refuses to retire what the store still hands out; the planner must never ask.
        state.refused.append(action.guid)
        return
    live = state.live[action.guid]
    if live.revoked is None:
        state.live[action.guid] = replace(live, revoked=NOW)
    if action.delete_secret is not None:
        state.meta[action.name] = None


def _unexplained_generations(world: World, state: State) -> list[str]:
    """Active older generations that nothing keeps: not protected, not in a promised grace."""
    problems = []
    spec = world.spec
    untouchable = spec.policy.protect | {world.self_guid}
    for token in spec.tokens:
        if token.state is not TokenState.PRESENT:
            continue
        ours = [
            t
            for t in state.live.values()
            if t.is_active(NOW) and parse_owner(t.description) == Owner(spec.namespace, token.name)
        ]
        ours.sort(key=lambda t: (t.created, t.guid), reverse=True)
        meta = state.meta.get(token.name)
        held = state.live.get(meta.token_guid) if meta is not None else None
        if held is not None and not held.is_active(NOW):
            problems.append(f"{token.name}: the store holds {held.guid}, which is revoked")
        if not ours or meta is None or meta.token_guid != ours[0].guid:
            continue  # no managed current held: nothing older is judged against it
        current = ours[0]
        grace = world.grace_override if world.grace_override is not None else token.rotation.grace
        until = meta.retire_previous_after or current.created + grace
        for old in ours[1:]:
            changes = immutable_changes(token, old, spec.namespace, INDEX, adopted=False)
            kept = old.guid in untouchable or (until > NOW and not changes)
            if not kept:
                problems.append(f"{token.name}: {old.guid} is active and owed nothing")
    return problems


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 6)))
def test_after_a_kill_at_any_step_the_next_run_converges_and_keeps_no_unowed_token(
    world: World, stops: dict[str, int]
) -> None:
    state = State({t.guid: t for t in world.live}, dict(world.meta))
    first = plan_world(world, world.live, world.meta, force_rotate=world.force_rotate)
    _run(state, first, stops)

    second = plan_world(world, list(state.live.values()), state.meta)
    _run(state, second)
    third = plan_world(world, list(state.live.values()), state.meta)

    assert third.changes == (), (second.actions, third.changes)
    assert state.refused == []
    assert _unexplained_generations(world, state) == []
