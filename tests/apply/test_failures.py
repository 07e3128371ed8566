"""What apply does when a store, a proof or the server fails: undo the new, never the old."""

from __future__ import annotations

import re

import pytest

from reconciler.apply import ApplyOptions
from reconciler.errors import StoreError, UsageError
from reconciler.plan.model import Action, ActionKind, PlanError
from reconciler.stores.base import SecretPayload
from tests.docs_pages import docs_section

from .conftest import World
from .fakes import make_plan, token_spec


def replace_plan(world: World) -> tuple[str, Action]:
    old = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    return old, Action(ActionKind.REPLACE, "ds-read", "scope changed", token, old, True)


def assert_value_free(world: World, *texts: str) -> None:
    for value in world.driver.issued_values:
        for text in texts:
            assert value not in text


def test_store_down_revokes_the_new_token_and_leaves_the_old_one(world: World) -> None:
    old, action = replace_plan(world)
    world.store.failing_puts = 100

    report = world.apply(make_plan(action), world.spec(action.token))  # type: ignore[arg-type]

    (result,) = report.results
    new = result.new_guid
    assert not report.ok and report.failed == 1 and report.replaced == 0
    assert new is not None and not world.driver.active(new) and world.driver.active(old)
    assert result.revoked == (new,)
    assert ("revoke", old) not in world.log.events
    assert result.error == (
        f"store 'local' failed for ds-read: store 'local': connection refused; "
        f"store 'local' holds what it held before under 'ppm/ds-read'; "
        f"the new token {new} was revoked, the current token is untouched"
    )
    assert ("restore", "ppm/ds-read", new, "done") in world.log.events
    assert world.store.put_attempts == 4
    assert world.sleeps == [0.5, 1.0, 2.0]  # exponential backoff between the four tries
    assert_value_free(world, result.error or "", repr(report))


def test_flaky_store_succeeds_on_retry(world: World) -> None:
    old, action = replace_plan(world)
    world.store.failing_puts = 2

    report = world.apply(make_plan(action), world.spec(action.token))  # type: ignore[arg-type]

    assert report.ok
    assert world.store.put_attempts == 3 and world.sleeps == [0.5, 1.0]
    assert not world.driver.active(old)


def test_token_that_never_authenticates_is_revoked_and_the_store_never_touched(
    world: World,
) -> None:
    old, action = replace_plan(world)
    world.driver.failed_checks = 100

    report = world.apply(make_plan(action), world.spec(action.token))  # type: ignore[arg-type]

    (result,) = report.results
    new = result.new_guid or ""
    assert not result.ok and not world.driver.active(new) and world.driver.active(old)
    assert world.log.count("check") == 5
    assert world.store.put_attempts == 0 and not world.secrets_dir.exists()
    assert "proving the new token for ds-read failed" in (result.error or "")
    assert f"the new token {new} does not authenticate against the server" in (result.error or "")
    assert ("revoke", old) not in world.log.events


def test_verification_waits_for_propagation(world: World) -> None:
    old, action = replace_plan(world)
    world.driver.failed_checks = 2

    report = world.apply(make_plan(action), world.spec(action.token))  # type: ignore[arg-type]

    assert report.ok and world.log.count("check") == 3 and world.sleeps == [0.5, 1.0]
    new = report.results[0].new_guid or ""
    assert world.log.index("check", new, "ok") < world.log.index("revoke", old)


def test_store_metadata_for_another_token_fails_verification(world: World) -> None:
    old, action = replace_plan(world)
    world.store.meta_guid_override = "someone-else"

    report = world.apply(
        make_plan(action),
        world.spec(action.token),  # type: ignore[arg-type]
        ApplyOptions(verify_attempts=2),
    )

    (result,) = report.results
    assert not result.ok and world.driver.active(old)
    assert "holds metadata of token someone-else" in (result.error or "")
    assert not world.driver.active(result.new_guid or "")


def test_lost_create_response_revokes_the_orphan_then_creates_again(world: World) -> None:
    """The old token has the very same description: only what the lost attempt made is
    revoked."""
    old = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    world.driver.lost_create_responses = 1
    action = Action(ActionKind.ROTATE, "ds-read", "age", token, guid=old)

    report = world.apply(make_plan(action), world.spec(token))

    (result,) = report.results
    assert result.ok, result.error
    assert world.log.count("create") == 2
    (orphan,) = result.revoked
    assert orphan not in (old, result.new_guid) and not world.driver.active(orphan)
    assert world.driver.active(old) and world.driver.active(result.new_guid or "")
    assert world.log.index("revoke", orphan) < world.log.index("create", result.new_guid or "")
    assert len(world.sleeps) == 1 and 0 <= world.sleeps[0] <= 0.2  # the reads' backoff
    # The orphan was made by this run: the summary counts it apart from what it superseded.
    assert (report.revoked, report.rolled_back) == (0, 1)


def test_creates_that_never_get_an_answer_give_up_after_the_attempts_limit(world: World) -> None:
    old = world.driver.seed("ds-read").guid
    token = token_spec("ds-read")
    world.driver.lost_create_responses = 100
    action = Action(ActionKind.ROTATE, "ds-read", "age", token, guid=old)

    report = world.apply(make_plan(action), world.spec(token), ApplyOptions(create_attempts=3))

    (result,) = report.results
    assert not result.ok and result.new_guid is None
    assert world.log.count("create") == 3 and len(result.revoked) == 3
    assert [world.driver.active(g) for g in world.driver.guids_for("ds-read")] == [
        True,
        False,
        False,
        False,
    ]
    assert result.error is not None
    assert result.error.startswith("creating ds-read got no usable answer in 3 attempts")
    assert "nothing else changed: run apply again" in result.error
    assert world.log.count("put") == 0 and len(world.sleeps) == 2


def test_rollback_that_fails_says_so(world: World) -> None:
    old, action = replace_plan(world)
    world.store.failing_puts = 100
    original_create = world.driver.create_token

    def create_and_break_revoke(request):  # type: ignore[no-untyped-def]
        created = original_create(request)
        world.driver.revoke_fails_for.add(created.token.guid)
        return created

    world.driver.create_token = create_and_break_revoke  # type: ignore[method-assign]

    report = world.apply(make_plan(action), world.spec(action.token))  # type: ignore[arg-type]

    (result,) = report.results
    new = result.new_guid or ""
    assert world.driver.active(new) and world.driver.active(old)
    assert f"revoking the new token {new} failed too" in (result.error or "")
    assert result.revoked == ()


def test_failed_revoke_of_the_replaced_token_keeps_the_verified_successor(world: World) -> None:
    old, action = replace_plan(world)
    world.driver.revoke_fails_for.add(old)

    report = world.apply(make_plan(action), world.spec(action.token))  # type: ignore[arg-type]

    (result,) = report.results
    new = result.new_guid or ""
    assert not result.ok and world.driver.active(new) and world.driver.active(old)
    # The guide's "When a run fails" (docs/github-actions.md) quotes this message for users to
    # find in their logs.
    guide = docs_section("github-actions.md", "## When a run fails")
    quoted = re.search(r'Exit 1 with "([^"]+)"', guide)
    assert quoted is not None and quoted[1] in (result.error or "")


def test_values_never_reach_errors_or_the_report(world: World) -> None:
    """A misbehaving store quotes the payload in its error, another raises something unexpected
    with the value in it: neither reaches the result."""
    tokens = (token_spec("quoting"), token_spec("crashing"))
    world.store.failing_puts = 100

    def error_for(payload: SecretPayload) -> Exception:
        text = f"rejected {payload.payload.reveal()}"
        return StoreError(text) if payload.meta.name == "quoting" else RuntimeError(text)

    world.store.put_error = error_for
    plan = make_plan(*(Action(ActionKind.CREATE, t.name, "new", t) for t in tokens))

    report = world.apply(plan, world.spec(*tokens), ApplyOptions(concurrency=1))

    assert report.failed == 2
    assert len(world.driver.issued_values) == 2
    errors = [r.error or "" for r in report.results]
    assert_value_free(world, repr(report), str(report), *errors)
    assert "rejected (sensitive value)" in errors[0]
    assert "unexpected RuntimeError at " in errors[1]
    assert all("was revoked" in e for e in errors)


def test_plan_with_errors_is_refused_before_any_call(world: World) -> None:
    token = token_spec("ds-read")
    plan = make_plan(Action(ActionKind.CREATE, "ds-read", "new", token))
    broken = type(plan)(**{**vars(plan), "errors": (PlanError("repository 'cran' is missing"),)})

    with pytest.raises(UsageError, match="repository 'cran' is missing"):
        world.apply(broken, world.spec(token))
    assert world.log.events == []


def test_plan_for_another_namespace_is_refused(world: World) -> None:
    token = token_spec("ds-read")
    plan = make_plan(Action(ActionKind.CREATE, "ds-read", "new", token))
    other = type(plan)(**{**vars(plan), "namespace": "someone-else"})

    with pytest.raises(UsageError, match="namespace"):
        world.apply(other, world.spec(token))
    assert world.log.events == []
