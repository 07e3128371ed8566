"""A saved plan applies only if it is exactly the plan the spec and the live state give: every
kind of edit is refused, naming what differs."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import pytest

from reconciler.errors import StalePlanError
from reconciler.plan.model import Action, ActionKind, Plan, PlanError, SecretRef
from reconciler.plan.render_json import plan_from_json, plan_to_json
from reconciler.plan.saved import CLOCK_SKEW, check_moment, check_saved

from .conftest import DAY, NOW, guid
from .scenario import scenario

SPEC, PLAN = scenario()


def _at(kind: ActionKind) -> int:
    return next(i for i, a in enumerate(PLAN.actions) if a.kind is kind)


def _edit_action(kind: ActionKind, **changes: object) -> Callable[[Plan], Plan]:
    def edit(plan: Plan) -> Plan:
        actions = list(plan.actions)
        index = _at(kind)
        actions[index] = replace(actions[index], **changes)  # type: ignore[arg-type]
        return replace(plan, actions=tuple(actions))

    return edit


def _noop_into_revoke(plan: Plan) -> Plan:
    actions = list(plan.actions)
    index = _at(ActionKind.NOOP)
    actions[index] = replace(actions[index], kind=ActionKind.REVOKE, reason="no longer declared")
    return replace(plan, actions=tuple(actions))


def _added(plan: Plan) -> Plan:
    extra = Action(ActionKind.REVOKE, "docs", "no longer declared", guid=guid("docs-1"))
    return replace(plan, actions=(*plan.actions, extra))


def _dropped(plan: Plan) -> Plan:
    index = _at(ActionKind.CREATE)
    return replace(plan, actions=plan.actions[:index] + plan.actions[index + 1 :])


TAMPERING: dict[str, tuple[Callable[[Plan], Plan], str]] = {
    "noop-edited-into-a-revoke": (_noop_into_revoke, "its kind and reason differ;"),
    "guid-swapped": (
        _edit_action(ActionKind.RETIRE, guid=guid("theirs")),
        "its guid differs;",
    ),
    "server-changed": (lambda p: replace(p, server="https://evil.example.com"), "server"),
    "namespace-changed": (lambda p: replace(p, namespace="other-team"), "namespace"),
    "fingerprint-changed": (
        lambda p: replace(p, live_fingerprint="sha256:" + "0" * 64),
        "live tokens this plan depends on changed",
    ),
    "action-added": (_added, "has 1 action"),
    "action-dropped": (_dropped, "differ"),
    "reason-edited": (_edit_action(ActionKind.ROTATE, reason="routine"), "its reason differs;"),
    "grace-extended": (
        _edit_action(ActionKind.ROTATE, grace=300 * DAY),
        "its grace differs;",
    ),
    "revoke-at-once": (
        _edit_action(ActionKind.ROTATE, revoke_replaced=True),
        "its revoke_replaced differs;",
    ),
    "secret-deletion-added": (
        _edit_action(ActionKind.RETIRE, delete_secret=SecretRef("vault", "ds-read")),
        "its delete_secret differs;",
    ),
    "still-active-hidden": (lambda p: replace(p, still_active=()), "still active"),
    "warnings-hidden": (lambda p: replace(p, warnings=()), "warnings"),
    "error-added": (lambda p: replace(p, errors=(PlanError("made up"),)), "errors"),
}


def test_the_untouched_plan_passes() -> None:
    saved = plan_from_json(json.loads(json.dumps(plan_to_json(PLAN))), SPEC)
    check_saved(saved, PLAN)
    check_moment(saved, NOW)


@pytest.mark.parametrize("edit, message", [pytest.param(*v, id=k) for k, v in TAMPERING.items()])
def test_every_edit_is_refused(edit: Callable[[Plan], Plan], message: str) -> None:
    tampered = edit(PLAN)
    assert tampered != PLAN
    with pytest.raises(StalePlanError, match=message):
        check_saved(tampered, PLAN)


def test_a_dropped_action_is_named() -> None:
    with pytest.raises(StalePlanError, match=r"saved action 1 \(recreate ci-read\)"):
        check_saved(_dropped(PLAN), PLAN)


def test_an_added_action_is_named() -> None:
    with pytest.raises(StalePlanError, match=f"from revoke docs {guid('docs-1')} on"):
        check_saved(_added(PLAN), PLAN)


def test_hostile_text_in_a_tampered_plan_is_shown_escaped() -> None:
    tampered = replace(PLAN, server="https://x\x1b]0;owned\x07")
    with pytest.raises(StalePlanError) as raised:
        check_saved(tampered, PLAN)
    assert "\x1b" not in str(raised.value) and "\\x1b]0;owned\\x07" in str(raised.value)


@pytest.mark.parametrize("spelling", ["HTTPS://PPM.Example.com:443/", "https://ppm.example.com/"])
def test_a_plan_saved_with_another_spelling_of_the_server_applies(spelling: str) -> None:
    """Plans saved before the server URL had one canonical form record it as typed: the same
    server, so the saved plan still applies."""
    assert PLAN.server == "https://ppm.example.com"
    check_saved(replace(PLAN, server=spelling), PLAN)
    with pytest.raises(StalePlanError, match="server"):
        check_saved(replace(PLAN, server="https://ppm.example.com:8443"), PLAN)


def test_a_plan_from_the_future_is_refused() -> None:
    check_moment(PLAN, NOW - CLOCK_SKEW)  # clocks a little apart
    with pytest.raises(StalePlanError, match="later than now"):
        check_moment(PLAN, NOW - CLOCK_SKEW - DAY)


def test_errors_that_appeared_since_the_plan_was_saved_are_said_first() -> None:
    """Time passed between plan and apply, and a date rule now holds a token: its action
    changed too, but the error is what tells the user what to fix."""
    error = PlanError(
        "tokens.yaml:14:14: token 'ds-read' expires 2026-03-01 is in the past", "ds-read", True
    )
    derived = _edit_action(ActionKind.ROTATE, reason="kept")(replace(PLAN, errors=(error,)))
    with pytest.raises(StalePlanError, match="errors the saved plan does not have, the first: "):
        check_saved(PLAN, derived)


def test_a_rotation_saved_and_applied_days_later_promises_its_whole_grace() -> None:
    """The plan promises a duration: applied 5 days after it was made (longer than the 3-day
    grace), it is neither refused nor carries a retire time already in the past."""
    data = json.loads(json.dumps(plan_to_json(PLAN)))
    (rotate,) = [a for a in data["actions"] if a["kind"] == "rotate"]
    assert rotate["grace"] == "3d" and rotate["retire_after"] is None

    saved = plan_from_json(data, SPEC)
    check_moment(saved, NOW + 5 * DAY)
    check_saved(saved, PLAN)  # what apply plans again at the saved moment
    (action,) = [a for a in saved.actions if a.kind is ActionKind.ROTATE]
    assert (action.revoke_replaced, action.grace) == (False, 3 * DAY)
    # Nothing in the plan is a time from which that grace would count.
    assert all(a.grace == 0 * DAY for a in saved.actions if a.kind.creates and a is not action)
