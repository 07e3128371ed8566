"""The fingerprint covers what this namespace's plan depends on, and nothing else: another team's
activity on a shared server leaves a saved plan applicable; a change the plan reads does not."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from typing import Any

import pytest

from reconciler.desired.model import Spec, UnmanagedPolicy
from reconciler.plan.fingerprint import live_fingerprint
from reconciler.server.model import LiveToken, Resource

from .conftest import NOW, RESOURCES, guid, live_token, make_spec, token_spec

T = token_spec("a", resources=("cran",))
SPEC = make_spec(T, token_spec("b", resources=("cran",)))
A = live_token(T, "a")
B = live_token(token_spec("b"), "b", revoked=NOW)  # history counts too
THEIRS = live_token(token_spec("a"), "theirs", namespace="other-team")
BY_HAND = live_token(token_spec("hand", description="made by hand"), "hand", namespace=None)
LIVE = (A, B, THEIRS, BY_HAND)


def fingerprint(
    live: tuple[LiveToken, ...] = LIVE,
    resources: tuple[Resource, ...] = RESOURCES,
    spec: Spec = SPEC,
    **options: Any,
) -> str:
    return live_fingerprint(spec, live, resources, **options)


def test_format() -> None:
    value = fingerprint()
    assert value.startswith("sha256:")
    assert len(value) == len("sha256:") + 64


def test_order_and_time_zone_do_not_matter() -> None:
    shifted = replace(A, created=A.created.astimezone(timezone(timedelta(hours=2))))
    assert fingerprint() == fingerprint((BY_HAND, THEIRS, B, shifted), RESOURCES[::-1])


@pytest.mark.parametrize(
    "change",
    [
        {"description": "other"},
        {"user": "someone"},
        {"scope": "sources:write"},
        {"resources": ("pypi",)},
        {"resource_ids": ("x", "y")},
        {"created": NOW},
        {"expires": None},
        {"revoked": NOW},
        {"guid": "other-guid"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_every_field_of_our_tokens_counts(change: dict[str, object]) -> None:
    assert fingerprint() != fingerprint((replace(A, **change), B, THEIRS, BY_HAND))


CRAN, PYPI = RESOURCES[0], RESOURCES[1]
OTHER_TEAM_NEW = live_token(token_spec("x"), "theirs-new", namespace="other-team")


@pytest.mark.parametrize(
    "live, resources",
    [
        pytest.param((*LIVE, OTHER_TEAM_NEW), RESOURCES, id="another-namespace-creates"),
        pytest.param(
            (A, B, replace(THEIRS, revoked=NOW), BY_HAND), RESOURCES, id="another-namespace-revokes"
        ),
        pytest.param(
            (A, B, BY_HAND), RESOURCES, id="another-namespace-token-gone-from-the-listing"
        ),
        pytest.param(
            LIVE,
            (CRAN, replace(PYPI, id="new-id"), *RESOURCES[2:]),
            id="unreferenced-repo-recreated",
        ),
        pytest.param(LIVE, (CRAN,), id="unreferenced-repos-deleted"),
    ],
)
def test_unrelated_activity_does_not_count(
    live: tuple[LiveToken, ...], resources: tuple[Resource, ...]
) -> None:
    assert fingerprint() == fingerprint(live, resources)


@pytest.mark.parametrize(
    "live, resources",
    [
        pytest.param((replace(A, revoked=NOW), B, THEIRS, BY_HAND), RESOURCES, id="ours-revoked"),
        pytest.param((*LIVE, live_token(T, "a-2")), RESOURCES, id="ours-created"),
        pytest.param(
            (*LIVE, live_token(token_spec("gone"), "gone")), RESOURCES, id="ours-undeclared-created"
        ),
        pytest.param((A, B, THEIRS), RESOURCES, id="unmanaged-gone"),
        pytest.param(
            (*LIVE, live_token(token_spec("h2"), "h2", namespace=None)),
            RESOURCES,
            id="unmanaged-created",
        ),
        pytest.param(LIVE, (replace(CRAN, id="new-id"), *RESOURCES[1:]), id="referenced-recreated"),
        pytest.param(LIVE, RESOURCES[1:], id="referenced-deleted"),
        pytest.param(
            LIVE,
            (*RESOURCES, Resource("id-x", "cran", "source", "local")),
            id="same-name-other-kind",
        ),
    ],
)
def test_what_the_plan_reads_counts(
    live: tuple[LiveToken, ...], resources: tuple[Resource, ...]
) -> None:
    assert fingerprint() != fingerprint(live, resources)


def test_unmanaged_tokens_do_not_count_when_the_policy_ignores_them() -> None:
    spec = make_spec(T, unmanaged=UnmanagedPolicy.IGNORE)
    assert fingerprint(spec=spec) == fingerprint((A, B, THEIRS), spec=spec)
    revoking = make_spec(T, unmanaged=UnmanagedPolicy.REVOKE)
    assert fingerprint(spec=revoking) != fingerprint((A, B, THEIRS), spec=revoking)


def test_an_adopted_token_counts_whoever_owns_it() -> None:
    spec = make_spec(replace(T, adopt=THEIRS.guid), unmanaged=UnmanagedPolicy.IGNORE)
    moved = replace(THEIRS, revoked=NOW)
    assert fingerprint(spec=spec) != fingerprint((A, B, moved, BY_HAND), spec=spec)


def test_the_self_token_counts_only_when_the_plan_can_touch_it() -> None:
    assert fingerprint(self_guid=BY_HAND.guid) != fingerprint(self_guid=A.guid)
    assert fingerprint(self_guid=THEIRS.guid) == fingerprint(self_guid=None)
    assert fingerprint(self_guid=guid("not listed")) == fingerprint()


def test_absent_tokens_reference_no_resources() -> None:
    from reconciler.desired.model import TokenState

    spec = make_spec(replace(T, resources=("pypi",), state=TokenState.ABSENT))
    assert fingerprint(spec=spec) == fingerprint(resources=(CRAN,), spec=spec)
