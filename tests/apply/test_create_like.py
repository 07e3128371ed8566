"""The create -> prove -> store -> confirm -> commit -> revoke order, on the fake server and a
real file store."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from reconciler.desired.model import SecretFormat
from reconciler.plan.model import Action, ActionKind

from .conftest import World
from .fakes import make_plan, token_spec

DAY = timedelta(days=1)


def test_create_stores_and_verifies_a_new_token(world: World) -> None:
    token = token_spec("ds-read")
    report = world.apply(
        make_plan(Action(ActionKind.CREATE, "ds-read", "new", token)), world.spec(token)
    )

    assert report.ok and report.created == 1 and report.failed == 0
    (result,) = report.results
    new = result.new_guid
    assert new is not None and world.driver.active(new)
    assert (world.secrets_dir / "ppm" / "ds-read").read_text() == world.driver.value_of(
        new
    ).reveal()
    meta = world.files.read_meta("ppm/ds-read")
    assert meta is not None and meta.token_guid == new and meta.namespace == "data-platform"
    assert meta.value_sha256 == world.files.read_value_hash("ppm/ds-read")
    events = world.log.events
    assert events.index(("create", new)) < events.index(("check", new, "ok"))
    assert events.index(("check", new, "ok")) < events.index(("put", "ppm/ds-read", new))
    assert events.index(("put", "ppm/ds-read", new)) < events.index(("commit", "ppm/ds-read", new))
    assert world.log.count("revoke") == 0
    assert sorted(p.name for p in (world.secrets_dir / "ppm").iterdir()) == [
        "ds-read",
        "ds-read.meta.json",
    ]
    assert world.progress == [result]


def test_the_description_carries_the_ownership_marker_and_expiry_is_absolute(
    world: World,
) -> None:
    token = token_spec("ds-read", description="Data science")
    report = world.apply(
        make_plan(Action(ActionKind.CREATE, "ds-read", "new", token)), world.spec(token)
    )

    live = world.driver.tokens[report.results[0].new_guid or ""]
    assert live.description == "Data science [ppm-tokens:data-platform/ds-read]"
    assert live.expires == world.clock.now + token.expires.lifetime  # type: ignore[operator]


@pytest.mark.parametrize("kind", [ActionKind.REPLACE, ActionKind.REPAIR])
def test_replaced_token_is_revoked_only_after_successor_is_proven_stored_and_confirmed(
    world: World, kind: ActionKind
) -> None:
    """I1: no revoke of the old GUID before the new value is proven, stored and confirmed."""
    old = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    action = Action(kind, "ds-read", "changed", token, guid=old, revoke_replaced=True)

    report = world.apply(make_plan(action), world.spec(token))

    assert report.ok
    (result,) = report.results
    new = result.new_guid
    assert new is not None and result.revoked == (old,)
    events = world.log.events
    revoke_at = events.index(("revoke", old))
    assert events.index(("create", new)) < events.index(("check", new, "ok"))
    assert events.index(("check", new, "ok")) < events.index(("put", "ppm/ds-read", new))
    assert events.index(("commit", "ppm/ds-read", new)) < revoke_at
    assert not world.driver.active(old) and world.driver.active(new)
    assert (report.replaced, report.repaired) == ((1, 0) if kind is ActionKind.REPLACE else (0, 1))


def test_rotate_leaves_the_old_token_active(world: World) -> None:
    old = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    action = Action(ActionKind.ROTATE, "ds-read", "age 61 days", token, guid=old)

    report = world.apply(make_plan(action), world.spec(token))

    assert report.ok and report.rotated == 1
    new = report.results[0].new_guid
    assert new is not None and world.driver.active(new) and world.driver.active(old)
    assert ("revoke", old) not in world.log.events
    meta = world.files.read_meta("ppm/ds-read")
    assert meta is not None and meta.token_guid == new


def test_the_grace_is_recorded_from_the_store_write_however_late_the_plan_runs(
    world: World,
) -> None:
    """A plan made 5 days ago still gives the old token its whole grace, counted from when the
    new value was written (on apply's clock); no grace is recorded as the new token's
    creation, so the next run reads it as "no grace was promised"."""
    token = token_spec("ds-read")
    rotated = world.driver.seed("ds-read").guid
    world.clock.now += timedelta(days=5)
    rotation = Action(ActionKind.ROTATE, "ds-read", "age", token, guid=rotated, grace=3 * DAY)
    assert world.apply(make_plan(rotation), world.spec(token)).ok
    meta = world.files.read_meta("ppm/ds-read")
    assert meta is not None and meta.retire_previous_after == world.clock.now + 3 * DAY
    new = world.driver.tokens[meta.token_guid]
    assert new.expires == world.clock.now + timedelta(days=90)  # from the create, not the plan

    world.clock.now += timedelta(hours=1)
    replacement = Action(
        ActionKind.REPLACE, "ds-read", "scope", token, new.guid, revoke_replaced=True, grace=0 * DAY
    )
    assert world.apply(make_plan(replacement), world.spec(token)).ok
    meta = world.files.read_meta("ppm/ds-read")
    assert meta is not None and meta.token_guid != new.guid
    assert meta.retire_previous_after == world.driver.tokens[meta.token_guid].created


def test_netrc_payload_is_stored_and_the_raw_value_authenticates(world: World) -> None:
    token = token_spec("ds-read", fmt=SecretFormat.NETRC)
    report = world.apply(
        make_plan(Action(ActionKind.CREATE, "ds-read", "new", token)), world.spec(token)
    )

    assert report.ok
    value = world.driver.value_of(report.results[0].new_guid or "").reveal()
    stored = (world.secrets_dir / "ppm" / "ds-read").read_text()
    assert stored == f"machine ppm.example.com login __token__ password {value}\n"


def test_json_payload_carries_the_new_guid(world: World) -> None:
    token = token_spec("ds-read", fmt=SecretFormat.JSON)
    report = world.apply(
        make_plan(Action(ActionKind.CREATE, "ds-read", "new", token)), world.spec(token)
    )

    new = report.results[0].new_guid
    document = json.loads((world.secrets_dir / "ppm" / "ds-read").read_text())
    assert document["guid"] == new and document["name"] == "ds-read"
    assert document["token"] == world.driver.value_of(new or "").reveal()


def test_noops_are_not_executed_or_reported(world: World) -> None:
    current = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    plan = make_plan(Action(ActionKind.NOOP, "ds-read", "up to date", guid=current))

    report = world.apply(plan, world.spec(token))

    assert report.results == () and report.ok and world.progress == []
    assert world.log.events == []
