"""Properties of the planner over generated specs and live states.

A small simulator applies a plan the way `apply` would; planning again at the same moment must
then find nothing to do.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings

from reconciler.plan.model import ActionKind, Plan
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretMeta

from .conftest import NOW, created_token
from .strategies import World, meta_of, plan_world, worlds


def simulate(result: Plan, world: World) -> tuple[list[LiveToken], dict[str, SecretMeta | None]]:
    """What a successful `apply` leaves behind, without a server."""
    live = {t.guid: t for t in world.live}
    meta = dict(world.meta)
    for n, action in enumerate(result.actions):
        if action.kind.creates:
            token = action.token
            assert token is not None
            new = created_token(token, result.namespace, f"new-{n}")
            live[new.guid] = new
            meta[token.name] = meta_of(new, token.name)
            if action.revoke_replaced:
                assert action.guid is not None
                live[action.guid] = replace(live[action.guid], revoked=NOW)
        elif action.kind in (ActionKind.RETIRE, ActionKind.REVOKE):
            assert action.guid is not None
            live[action.guid] = replace(live[action.guid], revoked=NOW)
            if action.delete_secret is not None:
                assert action.name is not None
                meta[action.name] = None
    return list(live.values()), meta


PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(worlds())
def test_applying_the_plan_converges(world: World) -> None:
    first = plan_world(world, world.live, world.meta, force_rotate=world.force_rotate)
    assert first.errors == ()
    live, meta = simulate(first, world)
    second = plan_world(world, live, meta)
    assert second.changes == (), (first.actions, second.changes)


@PROPERTY_SETTINGS
@given(worlds())
def test_nothing_of_a_name_is_revoked_before_its_successor_is_planned(world: World) -> None:
    """Except orphans: tokens newer than the one the store holds, whose value nobody has."""
    result = plan_world(world, world.live, world.meta, force_rotate=world.force_rotate)
    live = {t.guid: t for t in world.live}
    last_create = {a.name: i for i, a in enumerate(result.actions) if a.kind.creates}
    for i, action in enumerate(result.actions):
        if action.kind.creates or action.kind is ActionKind.NOOP:
            continue
        name = action.name
        if last_create.get(name, -1) < i:
            continue
        meta = world.meta.get(name) if name is not None else None
        assert action.kind is ActionKind.RETIRE and meta is not None, action
        held, orphan = live[meta.token_guid], live[str(action.guid)]
        assert held.is_active(NOW) and (orphan.created, orphan.guid) > (held.created, held.guid)


@PROPERTY_SETTINGS
@given(worlds())
def test_never_revokes_foreign_self_or_protected_tokens(world: World) -> None:
    result = plan_world(world, world.live, world.meta, force_rotate=world.force_rotate)
    untouchable = world.spec.policy.protect | {world.self_guid} - {None}
    for action in result.actions:
        assert action.guid not in world.foreign
        revokes = action.kind in (ActionKind.RETIRE, ActionKind.REVOKE) or action.revoke_replaced
        if revokes:
            assert action.guid not in untouchable


@PROPERTY_SETTINGS
@given(worlds())
def test_plan_does_not_depend_on_listing_order(world: World) -> None:
    forward = plan_world(world, world.live, world.meta)
    backward = plan_world(world, world.live[::-1], world.meta)
    assert forward == backward
