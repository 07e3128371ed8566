"""Retire and revoke, deleting secrets on request, and the tokens apply never revokes."""

from __future__ import annotations

from reconciler.plan.model import Action, ActionKind, SecretRef
from reconciler.secret import Secret
from reconciler.stores.base import SecretMeta, SecretPayload

from .conftest import World
from .fakes import START, make_plan, token_spec


def put_secret(world: World, key: str, guid: str) -> None:
    meta = SecretMeta(guid, "ds-read", "data-platform", START, None, "repos:read")
    world.files.put(key, SecretPayload(Secret("eyJx.eyJ.sig"), meta))


def test_retire_revokes_and_keeps_the_secret(world: World) -> None:
    old = world.driver.seed("ds-read").guid
    put_secret(world, "ppm/ds-read", world.driver.seed("ds-read").guid)  # the successor's
    plan = make_plan(Action(ActionKind.RETIRE, "ds-read", "grace passed", guid=old))

    report = world.apply(plan, world.spec(token_spec("ds-read")))

    assert report.ok and report.revoked == 1 and report.results[0].revoked == (old,)
    assert not world.driver.active(old)
    assert world.files.read_meta("ppm/ds-read") is not None


def test_revoke_with_on_delete_deletes_the_secret_after_revoking(world: World) -> None:
    old = world.driver.seed("gone").guid
    put_secret(world, "ppm/gone", old)
    ref = SecretRef("local", "ppm/gone")
    plan = make_plan(Action(ActionKind.REVOKE, "gone", "absent", guid=old, delete_secret=ref))

    report = world.apply(plan, world.spec(token_spec("gone")))

    assert report.ok and not world.driver.active(old)
    assert world.log.index("revoke", old) < world.log.index("delete", "ppm/gone")
    assert world.files.read_meta("ppm/gone") is None
    assert not (world.secrets_dir / "ppm" / "gone").exists()


def test_revoke_whose_secret_cannot_be_deleted_reports_both_facts(world: World) -> None:
    old = world.driver.seed("gone").guid
    ref = SecretRef("elsewhere", "ppm/gone")
    plan = make_plan(Action(ActionKind.REVOKE, "gone", "absent", guid=old, delete_secret=ref))

    report = world.apply(plan, world.spec(token_spec("gone")))

    (result,) = report.results
    assert not result.ok and result.revoked == (old,) and not world.driver.active(old)
    assert result.error == (
        f"token {old} was revoked, but deleting its secret 'ppm/gone' from store 'elsewhere' "
        "failed: store 'elsewhere' is not open"
    )


def test_protected_and_own_tokens_are_never_revoked(world: World) -> None:
    protected = world.driver.seed("keep").guid
    plan = make_plan(
        Action(ActionKind.REVOKE, None, "unmanaged", guid=protected),
        Action(ActionKind.RETIRE, None, "unmanaged", guid="admin-guid"),
    )

    report = world.apply(plan, world.spec(protect=frozenset({protected})))

    assert report.failed == 2 and world.log.count("revoke") == 0
    assert world.driver.active(protected)
    errors = [r.error for r in report.results]
    assert errors == [
        f"refusing to revoke {protected}: it is listed in policy.protect",
        "refusing to revoke admin-guid: it is the token this run authenticates with",
    ]


def test_replacing_a_protected_token_fails_before_creating_anything(world: World) -> None:
    protected = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    action = Action(ActionKind.REPLACE, "ds-read", "scope", token, protected, True)

    report = world.apply(make_plan(action), world.spec(token, protect=frozenset({protected})))

    assert not report.ok and world.log.count("create") == 0 and world.driver.active(protected)
    assert "refusing to revoke" in (report.results[0].error or "")
