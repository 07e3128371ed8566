"""What a listing may drop before it reads a token in full (`plan_reads`): nothing the plan, its
fingerprint or apply looks at, and another team's tokens always."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings

from reconciler.desired.model import UnmanagedPolicy
from reconciler.plan.fingerprint import NO_FINGERPRINT, plan_reads, relevant_tokens
from reconciler.plan.render_json import plan_to_json

from .conftest import guid, live_token, make_spec, run_plan, token_spec
from .strategies import World, plan_world, worlds

PROPERTY_SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROPERTY_SETTINGS
@given(worlds())
def test_the_plan_from_the_kept_tokens_is_the_plan_from_all(world: World) -> None:
    reads = plan_reads(world.spec)
    kept = tuple(t for t in world.live if reads(t.guid, t.description))
    assert plan_world(world, kept, world.meta) == plan_world(world, world.live, world.meta)
    assert not world.foreign & {t.guid for t in kept}


def test_another_teams_tokens_are_dropped_unless_adopted() -> None:
    theirs = live_token(token_spec("x"), "theirs", namespace="other-team")
    adopted = live_token(token_spec("y"), "adopted", namespace="other-team")
    ours = live_token(token_spec("a"), "ours")
    by_hand = live_token(token_spec("hand"), "hand", namespace=None)
    spec = make_spec(token_spec("a"), token_spec("b", adopt=guid("adopted")))
    reads = plan_reads(spec)

    assert [reads(t.guid, t.description) for t in (theirs, adopted, ours, by_hand)] == [
        False,
        True,
        True,
        True,
    ]
    live = (theirs, adopted, ours, by_hand)
    kept = [t for t in live if reads(t.guid, t.description)]
    assert run_plan(spec, kept) == run_plan(spec, live)  # the adopt warning names its owner


def test_unmanaged_tokens_are_dropped_when_the_policy_ignores_them() -> None:
    by_hand = live_token(token_spec("hand"), "hand", namespace=None)
    ignoring = make_spec(token_spec("a"), unmanaged=UnmanagedPolicy.IGNORE)
    reporting = make_spec(token_spec("a"))
    assert not plan_reads(ignoring)(by_hand.guid, by_hand.description)
    assert plan_reads(reporting)(by_hand.guid, by_hand.description)
    assert relevant_tokens(ignoring, [by_hand]) == []
    assert run_plan(ignoring, []) == run_plan(ignoring, [by_hand])


def test_a_marker_that_is_not_at_the_end_is_no_marker() -> None:
    spec = make_spec(token_spec("a"))
    text = "see [ppm-tokens:other-team/x] for details"
    assert plan_reads(spec)("g", text)  # unmanaged, so reported: kept


def test_a_plan_made_without_its_fingerprint_is_otherwise_the_same_and_cannot_be_saved() -> None:
    spec = make_spec(token_spec("a"), token_spec("b"))
    live = [live_token(token_spec("a"), "a")]
    full = run_plan(spec, live)
    quick = run_plan(spec, live, fingerprint=False)
    assert quick.live_fingerprint == NO_FINGERPRINT != full.live_fingerprint
    assert quick == replace(full, live_fingerprint=NO_FINGERPRINT)
    with pytest.raises(ValueError, match="without its live fingerprint"):
        plan_to_json(quick)
