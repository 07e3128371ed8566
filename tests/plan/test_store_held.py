"""The token consumers hold is the one in the store: the planner never schedules its revocation
before a successor's value is stored, and a saved plan binds to the spec entry it was made from."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from reconciler.desired.model import OnDelete, Scope, SecretFormat, TokenState
from reconciler.errors import StalePlanError
from reconciler.plan.model import ActionKind, Plan
from reconciler.plan.render_json import plan_from_json, plan_to_json

from .conftest import DAY, NOW, live_token, make_spec, meta_for, run_plan, token_spec

T = token_spec("ds-read")


def kinds(result: Plan) -> list[tuple[ActionKind, str | None]]:
    return [(a.kind, a.guid) for a in result.actions]


def test_a_token_newer_than_the_store_holds_is_retired_first_and_the_store_token_decided() -> None:
    """A run created `orphan` and died before storing it. Nobody holds its value, so it goes
    before anything else of the name; the store's token was due for rotation, and still is."""
    held = live_token(T, "held", age=70 * DAY)
    orphan = live_token(T, "orphan", age=5 * DAY)

    result = run_plan(make_spec(T), [orphan, held], {"ds-read": meta_for(held, "ds-read")})

    assert kinds(result) == [(ActionKind.RETIRE, orphan.guid), (ActionKind.ROTATE, held.guid)]
    assert "never stored" in result.actions[0].reason
    rotate = result.actions[1]
    assert (rotate.revoke_replaced, rotate.grace) == (False, 3 * DAY)


def test_older_generations_than_the_store_token_follow_its_promise() -> None:
    held = live_token(T, "held", age=40 * DAY)
    orphan = live_token(T, "orphan", age=5 * DAY)
    oldest = live_token(T, "oldest", age=80 * DAY)

    result = run_plan(make_spec(T), [orphan, held, oldest], {"ds-read": meta_for(held, "ds-read")})

    assert kinds(result) == [
        (ActionKind.RETIRE, orphan.guid),
        (ActionKind.RETIRE, oldest.guid),
        (ActionKind.NOOP, held.guid),
    ]


def test_repair_after_a_rolled_back_successor_keeps_the_current_token_for_grace() -> None:
    """A rotation stored its new token, failed to verify it and revoked it: the store now names
    a newer token that is gone, and consumers that read the store before still hold `current`."""
    current = live_token(T, "current", age=61 * DAY)
    rolled_back = live_token(T, "rolled-back", age=DAY / 24, revoked=NOW - DAY / 48)

    result = run_plan(
        make_spec(T), [current, rolled_back], {"ds-read": meta_for(rolled_back, "ds-read")}
    )

    (action,) = result.actions
    assert (action.kind, action.guid) == (ActionKind.REPAIR, current.guid)
    assert (action.revoke_replaced, action.grace) == (False, 3 * DAY)


def test_repair_with_an_immutable_change_still_revokes_at_once() -> None:
    current = live_token(T, "current", age=10 * DAY)
    rolled_back = live_token(T, "rolled-back", age=DAY / 24, revoked=NOW - DAY / 48)
    changed = replace(T, user="lead@example.com")

    result = run_plan(
        make_spec(changed), [current, rolled_back], {"ds-read": meta_for(rolled_back, "ds-read")}
    )

    (action,) = result.actions
    assert action.kind is ActionKind.REPAIR and action.revoke_replaced is True


def test_metadata_with_a_naive_time_is_read_as_utc() -> None:
    current = live_token(T, "current", age=10 * DAY)
    rolled_back = live_token(T, "rolled-back", age=DAY / 24, revoked=NOW - DAY / 48)
    meta = meta_for(rolled_back, "ds-read")
    naive = replace(meta, created=meta.created.replace(tzinfo=None))

    (action,) = run_plan(make_spec(T), [current, rolled_back], {"ds-read": naive}).actions

    assert action.kind is ActionKind.REPAIR and action.revoke_replaced is False


def saved_rotation() -> dict[str, Any]:
    aged = live_token(T, "aged", age=61 * DAY)
    result = run_plan(make_spec(T), [aged], {"ds-read": meta_for(aged, "ds-read")})
    assert result.actions[0].kind is ActionKind.ROTATE
    return json.loads(json.dumps(plan_to_json(result)))


@pytest.mark.parametrize(
    "changes, field",
    [
        pytest.param({"store": "local"}, "store", id="store"),
        pytest.param({"secret": "elsewhere"}, "secret", id="secret"),
        pytest.param({"scope": Scope.REPOS_READ, "resources": ("cran",)}, "resources", id="res"),
        pytest.param({"user": "lead@example.com"}, "user", id="user"),
    ],
)
def test_a_saved_action_whose_spec_entry_changed_is_stale(
    changes: dict[str, Any], field: str
) -> None:
    """The caller compares the spec's hash first; this holds even if it forgot."""
    data = saved_rotation()

    with pytest.raises(StalePlanError, match=f"token 'ds-read' .*{field}"):
        plan_from_json(data, make_spec(replace(T, **changes)))


def test_a_saved_action_with_another_format_is_stale() -> None:
    """The saved plan records the payload format reviewers saw; another one is not theirs."""
    data = saved_rotation()
    spec = make_spec(replace(T, format=SecretFormat.NETRC))

    with pytest.raises(StalePlanError, match="format"):
        plan_from_json(data, spec)


def test_a_saved_secret_deletion_must_match_the_spec() -> None:
    gone = replace(T, state=TokenState.ABSENT, on_delete=OnDelete.DELETE)
    live = live_token(T, "gone", age=10 * DAY)
    data = json.loads(json.dumps(plan_to_json(run_plan(make_spec(gone), [live]))))
    assert data["actions"][0]["delete_secret"] == {"store": "vault", "key": "ds-read"}

    assert plan_from_json(data, make_spec(gone)).actions[0].delete_secret is not None
    for edited in (replace(gone, secret="other"), replace(gone, on_delete=OnDelete.KEEP)):
        with pytest.raises(StalePlanError, match="would delete"):
            plan_from_json(data, make_spec(edited))


GONE = replace(T, state=TokenState.ABSENT, on_delete=OnDelete.DELETE)


def test_a_secret_that_outlived_its_absent_token_is_deleted() -> None:
    """An earlier apply revoked the token, then failed to delete its secret."""
    revoked = live_token(T, "revoked", age=10 * DAY, revoked=NOW - DAY)

    result = run_plan(make_spec(GONE), [revoked], {"ds-read": meta_for(revoked, "ds-read")})

    (action,) = result.actions
    assert (action.kind, action.guid) == (ActionKind.REVOKE, revoked.guid)
    assert action.delete_secret is not None and action.delete_secret.key == "ds-read"


@pytest.mark.parametrize(
    "spec_token, meta_label",
    [
        pytest.param(replace(GONE, on_delete=OnDelete.KEEP), "revoked", id="keep"),
        pytest.param(GONE, "unknown", id="metadata-of-a-token-the-server-never-listed"),
    ],
)
def test_a_leftover_secret_is_left_when_not_ours_to_delete(
    spec_token: Any, meta_label: str
) -> None:
    revoked = live_token(T, "revoked", age=10 * DAY, revoked=NOW - DAY)
    meta = meta_for(live_token(T, meta_label), "ds-read")

    assert run_plan(make_spec(spec_token), [revoked], {"ds-read": meta}).actions == ()
