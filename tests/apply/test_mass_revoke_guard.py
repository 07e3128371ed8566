"""The mass-revoke guard, on plans: revocations without successors are counted."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from reconciler.apply.guards import mass_revoke_refusal
from reconciler.ownership import stored_description
from reconciler.plan.model import Action, ActionKind
from reconciler.server.model import LiveToken

from .fakes import NAMESPACE, START, make_plan, make_spec, token_spec


def live(name: str, namespace: str = NAMESPACE, *, revoked: bool = False) -> LiveToken:
    return LiveToken(
        guid=f"{namespace}-{name}",
        description=stored_description("d", namespace, name),
        user="u",
        scope="repos:read",
        resources=("cran",),
        resource_ids=(),
        created=START - timedelta(days=1),
        expires=START + timedelta(days=30),
        revoked=START if revoked else None,
    )


def revoke(token: LiveToken) -> Action:
    return Action(ActionKind.REVOKE, token.guid.split("-", 1)[1], "not declared", guid=token.guid)


def refusal(actions: list[Action], tokens: list[LiveToken], max_revokes: int = 10) -> str | None:
    spec = make_spec(())
    spec = replace(spec, policy=replace(spec.policy, max_revokes=max_revokes))
    return mass_revoke_refusal(make_plan(*actions), tokens, spec, START)


def test_more_than_max_revokes_is_refused_with_the_usual_cause() -> None:
    tokens = [live(f"t{i}") for i in range(30)]

    message = refusal([revoke(t) for t in tokens[:11]], tokens)

    assert message is not None
    assert message.startswith(
        "this apply would revoke 11 token(s), more than policy.max_revokes (10)"
    )
    assert "two spec files sharing namespace 'data-platform'" in message
    assert message.endswith("run again with --allow-mass-revoke")
    assert refusal([revoke(t) for t in tokens[:10]], tokens) is None
    assert refusal([revoke(t) for t in tokens[:11]], tokens, max_revokes=11) is None


def test_more_than_half_of_the_namespace_is_refused() -> None:
    tokens = [live(f"t{i}") for i in range(6)] + [live("x", "other"), live("gone", revoked=True)]

    message = refusal([revoke(t) for t in tokens[:4]], tokens)

    assert (
        message is not None
        and "4 of the 6 active tokens namespace 'data-platform' manages" in message
    )
    assert refusal([revoke(t) for t in tokens[:3]], tokens) is None  # half is not more than half


@pytest.mark.parametrize(
    "kind", [ActionKind.RETIRE, ActionKind.REPLACE, ActionKind.REPAIR, ActionKind.ROTATE]
)
def test_actions_with_successors_are_not_counted(kind: ActionKind) -> None:
    tokens = [live(f"t{i}") for i in range(20)]
    token = token_spec("t0")
    actions = [
        Action(kind, f"t{i}", "r", None if kind is ActionKind.RETIRE else token, t.guid, True)
        for i, t in enumerate(tokens)
    ]
    assert refusal(actions, tokens) is None


def test_a_plan_without_revocations_passes() -> None:
    assert refusal([], []) is None
