"""A token whose expiry or rotation fails a rule of the date (time passed; nobody changed the
spec) is an error of that token alone: it is kept as it is, the other tokens are planned as
on any day, and apply may go on with them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from reconciler.desired.model import Spec, TimeProblem, TokenSpec
from reconciler.durations import Expiry
from reconciler.plan.model import ActionKind, Plan, PlanError
from reconciler.problems import Problem

from .conftest import DAY, NOW, live_token, make_spec, meta_for, run_plan, token_spec

# NOW is 2026-03-01 12:00 UTC: this date is 40 days ahead, under rotation.after 60d.
DATED = token_spec("dated", expires=Expiry(on=date(2026, 4, 10)))
PLAIN = token_spec("plain")
RULE = Problem(
    "tokens.yaml",
    14,
    14,
    "/tokens/0/expires",
    "token 'dated': rotation.after 60d (from defaults) is not shorter than the expiry "
    "2026-04-10: the token would expire before it is rotated; shorten rotation.after, or give "
    "expires a later date or a duration",
    clock=True,
)


def held_spec(*tokens: TokenSpec, problems: tuple[TimeProblem, ...] | None = None) -> Spec:
    found = (TimeProblem(RULE, "dated"),) if problems is None else problems
    return replace(make_spec(*tokens), time_problems=found)


def kinds(plan: Plan) -> list[tuple[ActionKind, str | None]]:
    return [(a.kind, a.name) for a in plan.actions]


def test_the_held_token_is_kept_and_the_others_are_planned() -> None:
    dated = live_token(DATED, "dated", age=61 * DAY)
    plain = live_token(PLAIN, "plain", age=61 * DAY)
    # The store lost the dated token's value: a repair is due, and it is held too.
    meta = {"plain": meta_for(plain, "plain"), "dated": None}
    plan = run_plan(held_spec(DATED, PLAIN), [dated, plain], meta)
    assert kinds(plan) == [(ActionKind.ROTATE, "plain"), (ActionKind.NOOP, "dated")]
    noop = plan.actions[1]
    assert noop.guid == dated.guid
    assert noop.reason.startswith("kept as it is: its expiry or rotation fails a rule of the date")
    assert plan.errors == (
        PlanError(
            f"tokens.yaml:14:14: {RULE.message} (until it is fixed, token dated is left as it "
            "is: nothing is created, rotated or repaired for it)",
            "dated",
            token_only=True,
        ),
    )
    assert plan.blocking_errors == ()


def test_a_held_token_with_nothing_live_is_not_created() -> None:
    plan = run_plan(held_spec(DATED, PLAIN), [])
    assert kinds(plan) == [(ActionKind.CREATE, "plain")]
    assert [(e.name, e.token_only) for e in plan.errors] == [("dated", True)]


def test_a_held_tokens_older_generation_still_retires_once_its_grace_has_passed() -> None:
    current = live_token(DATED, "dated-current", age=10 * DAY)
    older = live_token(DATED, "dated-older", age=80 * DAY)
    plan = run_plan(held_spec(DATED), [current, older], {"dated": meta_for(current, "dated")})
    assert [(a.kind, a.guid) for a in plan.actions] == [
        (ActionKind.RETIRE, older.guid),
        (ActionKind.NOOP, current.guid),
    ]


def test_a_date_the_plan_time_has_passed_holds_its_token() -> None:
    """A Spec not checked at the plan's time (built in code here) is held all the same."""
    passed = token_spec("dated", expires=Expiry(on=date(2026, 2, 1)))
    current = live_token(passed, "dated", age=40 * DAY, expires=NOW + DAY)
    plan = run_plan(make_spec(passed), [current], {"dated": None})
    assert kinds(plan) == [(ActionKind.NOOP, "dated")]
    assert [(e.name, e.token_only) for e in plan.errors] == [("dated", True)]
    assert "expires on 2026-02-01, which has passed" in plan.errors[0].message


def test_a_date_error_no_token_takes_holds_nothing_and_is_reported() -> None:
    unused = replace(RULE, path="/defaults/expires", message="defaults.expires 2026-02-01 is past")
    spec = held_spec(PLAIN, problems=(TimeProblem(unused, None),))
    plan = run_plan(spec, [])
    assert kinds(plan) == [(ActionKind.CREATE, "plain")]
    assert [(e.name, e.token_only) for e in plan.errors] == [(None, True)]
    assert "no token takes this value" in plan.errors[0].message


def test_other_errors_still_block_the_whole_plan() -> None:
    unknown = replace(PLAIN, resources=("nope",))
    plan = run_plan(held_spec(DATED, unknown), [])
    assert [(e.name, e.token_only) for e in plan.blocking_errors] == [("plain", False)]
