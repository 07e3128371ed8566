"""What the engine refuses whatever the plan says: a plan file can be edited or stale, so the
engine checks ownership and the store itself before every revocation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from reconciler.desired.model import OnDelete, Policy, Spec, TokenState, UnmanagedPolicy
from reconciler.errors import StoreError
from reconciler.plan.model import Action, ActionKind, SecretRef
from reconciler.stores.base import SecretMeta, SecretPayload

from .conftest import World
from .fakes import make_plan, token_spec


def seed_described(world: World, description: str) -> str:
    token = world.driver.seed("placeholder")
    world.driver.tokens[token.guid] = replace(token, description=description)
    return token.guid


def store_token(world: World, name: str, guid: str) -> None:
    live = world.driver.tokens[guid]
    meta = SecretMeta(guid, name, "data-platform", live.created, live.expires, live.scope)
    world.files.put(f"ppm/{name}", SecretPayload(world.driver.value_of(guid), meta))


def with_policy(spec: Spec, unmanaged: UnmanagedPolicy) -> Spec:
    return replace(spec, policy=Policy(unmanaged=unmanaged))


def test_a_failed_create_like_action_stops_the_rest_of_its_name(world: World) -> None:
    older = world.driver.seed("a").guid
    current = world.driver.seed("a").guid
    other = world.driver.seed("b").guid
    world.store.failing_puts = 100
    a, b = token_spec("a"), token_spec("b")
    plan = make_plan(
        Action(ActionKind.REPAIR, "a", "store holds older", a, current, True),
        Action(ActionKind.RETIRE, "a", "grace passed", guid=older),
        Action(ActionKind.RETIRE, "b", "grace passed", guid=other),
    )

    report = world.apply(plan, world.spec(a, b))

    repair, retire_a, retire_b = report.results
    assert not repair.ok and world.driver.active(older) and world.driver.active(current)
    assert not retire_a.ok and retire_a.revoked == ()
    assert retire_a.error == (
        f"retire of a: not run because the repair of a before it failed; {older} is untouched"
    )
    assert retire_b.ok and not world.driver.active(other)


def test_retire_refuses_the_token_whose_value_the_store_holds(world: World) -> None:
    held = world.driver.seed("ds-read").guid
    world.driver.seed("ds-read")  # a newer generation, never stored
    store_token(world, "ds-read", held)
    plan = make_plan(Action(ActionKind.RETIRE, "ds-read", "grace passed", guid=held))

    report = world.apply(plan, world.spec(token_spec("ds-read")))

    (result,) = report.results
    assert not result.ok and world.driver.active(held) and world.log.count("revoke") == 0
    assert result.error == (
        f"refusing to revoke {held}: store 'local' still holds its value under 'ppm/ds-read' "
        "(consumers use it); run plan again"
    )


def test_retire_refuses_the_token_a_store_holds_without_its_metadata(world: World) -> None:
    """A put cut between its value and its metadata: only the value says which token the key
    hands out, and that token is not retired whatever a (stale) plan says."""
    older = world.driver.seed("ds-read").guid
    store_token(world, "ds-read", older)
    held = world.driver.seed("ds-read").guid
    store_token(world, "ds-read", held)
    (world.secrets_dir / "ppm" / "ds-read.meta.json").unlink()
    plan = make_plan(Action(ActionKind.RETIRE, "ds-read", "never stored", guid=held))

    (result,) = world.apply(plan, world.spec(token_spec("ds-read"))).results

    assert not result.ok and world.driver.active(held) and world.log.count("revoke") == 0
    assert "still holds its value under 'ppm/ds-read'" in (result.error or "")


def test_retire_proceeds_when_the_store_holds_a_successor(world: World) -> None:
    older = world.driver.seed("ds-read").guid
    store_token(world, "ds-read", world.driver.seed("ds-read").guid)
    plan = make_plan(Action(ActionKind.RETIRE, "ds-read", "grace passed", guid=older))

    assert world.apply(plan, world.spec(token_spec("ds-read"))).ok
    assert not world.driver.active(older)


@pytest.mark.parametrize(
    "description, name, kind, why",
    [
        pytest.param(
            "Theirs [ppm-tokens:other-team/ds-read]",
            "ds-read",
            ActionKind.RETIRE,
            "it belongs to namespace other-team",
            id="other-namespace-by-name",
        ),
        pytest.param(
            "Theirs [ppm-tokens:other-team/ds-read]",
            None,
            ActionKind.REVOKE,
            "it belongs to namespace other-team",
            id="other-namespace-as-unmanaged",
        ),
        pytest.param(
            "Read [ppm-tokens:data-platform/ci]",
            "ds-read",
            ActionKind.RETIRE,
            "it is token ci, not ds-read",
            id="another-name",
        ),
        pytest.param(
            "Read [ppm-tokens:data-platform/ci]",
            None,
            ActionKind.REVOKE,
            "it is token ci, not an unmanaged token",
            id="managed-as-unmanaged",
        ),
        pytest.param(
            "hand-made",
            None,
            ActionKind.REVOKE,
            "it has no ppm-tokens marker and policy.unmanaged is report",
            id="unmanaged-under-report",
        ),
        pytest.param(
            "hand-made",
            "ds-read",
            ActionKind.RETIRE,
            "it has no ppm-tokens marker and ds-read does not adopt it",
            id="unmanaged-by-name",
        ),
    ],
)
def test_revocations_outside_the_plan_owners_are_refused(
    world: World, description: str, name: str | None, kind: ActionKind, why: str
) -> None:
    guid = seed_described(world, description)
    plan = make_plan(Action(kind, name, "edited plan", guid=guid))

    report = world.apply(plan, world.spec(token_spec("ds-read")))

    (result,) = report.results
    assert not result.ok and world.driver.active(guid) and world.log.count("revoke") == 0
    assert result.error == f"refusing to revoke {guid}: {why}"


def test_a_token_the_server_does_not_list_is_not_revoked(world: World) -> None:
    plan = make_plan(Action(ActionKind.REVOKE, "ds-read", "absent", guid="no-such-guid"))

    (result,) = world.apply(plan, world.spec(token_spec("ds-read"))).results

    assert result.error == "refusing to revoke no-such-guid: the server does not list it"


def test_unmanaged_tokens_go_under_policy_revoke_and_adopted_ones_by_their_name(
    world: World,
) -> None:
    unmanaged = seed_described(world, "hand-made")
    adopted = seed_described(world, "legacy")
    spec = with_policy(
        world.spec(replace(token_spec("ds-read"), adopt=adopted)), UnmanagedPolicy.REVOKE
    )
    plan = make_plan(
        Action(ActionKind.REVOKE, None, "unmanaged", guid=unmanaged),
        Action(ActionKind.RETIRE, "ds-read", "superseded", guid=adopted),
    )

    report = world.apply(plan, spec)

    assert report.ok, [r.error for r in report.failures]
    assert not world.driver.active(unmanaged) and not world.driver.active(adopted)


def test_replacing_another_namespaces_token_creates_nothing(world: World) -> None:
    theirs = seed_described(world, "Theirs [ppm-tokens:other-team/ds-read]")
    token = token_spec("ds-read")
    plan = make_plan(Action(ActionKind.REPLACE, "ds-read", "edited", token, theirs, True))

    (result,) = world.apply(plan, world.spec(token)).results

    assert not result.ok and world.log.count("create") == 0 and world.driver.active(theirs)
    assert result.error == (
        f"replace of ds-read: refusing to revoke {theirs}: it belongs to namespace other-team"
    )


def absent_plan(world: World) -> tuple[str, Spec, Action]:
    guid = world.driver.seed("gone").guid
    store_token(world, "gone", guid)
    token = replace(token_spec("gone"), state=TokenState.ABSENT, on_delete=OnDelete.DELETE)
    ref = SecretRef("local", "ppm/gone")
    action = Action(ActionKind.REVOKE, "gone", "absent", guid=guid, delete_secret=ref)
    return guid, world.spec(token), action


def test_a_token_already_gone_only_has_its_secret_deleted(world: World) -> None:
    """What a later run does when an earlier one revoked the token but could not delete."""
    guid, spec, action = absent_plan(world)
    world.driver.revoke_token(guid)

    (result,) = world.apply(make_plan(action), spec).results

    assert result.ok and result.revoked == () and world.log.count("revoke") == 1
    assert world.files.read_meta("ppm/gone") is None


@pytest.mark.parametrize("failing", ["rollback", "replaced"])
def test_errors_quoting_the_new_value_are_scrubbed(world: World, failing: str) -> None:
    """A driver should never quote a value; if one does, the result still must not carry it."""
    old = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    if failing == "rollback":
        world.driver.failed_checks = 100
    revoke = world.driver.revoke_token

    def leaky_revoke(guid: str) -> None:
        if (guid == old) == (failing == "replaced"):
            new = next(g for g in world.driver.tokens if g != old)
            value = world.driver.value_of(new).reveal()
            raise StoreError(f"revoke {guid} rejected: request echoed {value}")
        revoke(guid)

    world.driver.revoke_token = leaky_revoke  # type: ignore[method-assign]
    plan = make_plan(Action(ActionKind.REPLACE, "ds-read", "scope", token, old, True))

    (result,) = world.apply(plan, world.spec(token)).results

    assert not result.ok and result.error is not None
    assert "request echoed (sensitive value)" in result.error
    for value in world.driver.issued_values:
        assert value not in result.error
