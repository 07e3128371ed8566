"""What a rotation wrote into the store's metadata binds later plans: the payload format and the
grace promised to the replaced token."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from reconciler.desired.model import SecretFormat, Spec
from reconciler.plan.model import ActionKind, Plan
from reconciler.plan.planner import plan
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretMeta

from .conftest import (
    DAY,
    NOW,
    RESOURCES,
    SERVER,
    live_token,
    make_spec,
    meta_for,
    run_plan,
    token_spec,
)

T = token_spec("ds-read")


def plan_at(
    spec: Spec, live: Sequence[LiveToken], meta: Mapping[str, SecretMeta | None], now: datetime
) -> Plan:
    return plan(spec, live, RESOURCES, meta, now, server=SERVER)


def test_a_format_change_rotates_because_the_old_payload_cannot_be_rewritten() -> None:
    current = live_token(T, "current", age=5 * DAY)
    meta = replace(meta_for(current, "ds-read"), format="raw")
    netrc = replace(T, format=SecretFormat.NETRC)

    result = run_plan(make_spec(netrc), [current], {"ds-read": meta})

    (action,) = result.actions
    assert action.kind is ActionKind.ROTATE
    assert action.reason.startswith("format changed raw -> netrc")
    assert action.revoke_replaced is (T.rotation.grace == 0 * DAY)


def test_same_format_or_unknown_format_is_left_alone() -> None:
    current = live_token(T, "current", age=5 * DAY)
    for recorded in ("raw", None):
        meta = replace(meta_for(current, "ds-read"), format=recorded)
        result = run_plan(make_spec(T), [current], {"ds-read": meta})
        assert [a.kind for a in result.actions] == [ActionKind.NOOP]


def test_the_grace_a_rotation_promised_is_kept_rather_than_the_spec_grace() -> None:
    old = live_token(T, "old", age=70 * DAY)
    current = live_token(T, "current", age=10 * DAY)
    promised = current.created + 20 * DAY  # e.g. `rotate --grace 20d`, longer than the spec's
    meta = replace(meta_for(current, "ds-read"), retire_previous_after=promised)
    spec = make_spec(T)

    before = plan_at(spec, [current, old], {"ds-read": meta}, promised - DAY)
    after = plan_at(spec, [current, old], {"ds-read": meta}, promised + DAY)

    assert ActionKind.RETIRE not in [a.kind for a in before.actions]
    (retire,) = [a for a in after.actions if a.kind is ActionKind.RETIRE]
    assert retire.guid == old.guid
    assert "grace until" in retire.reason


def test_a_short_promise_retires_earlier_than_the_spec_grace() -> None:
    old = live_token(T, "old", age=30 * DAY)
    current = live_token(T, "current", age=2 * DAY)
    meta = replace(meta_for(current, "ds-read"), retire_previous_after=current.created + DAY)

    result = plan_at(make_spec(T), [current, old], {"ds-read": meta}, NOW)

    assert [a.guid for a in result.actions if a.kind is ActionKind.RETIRE] == [old.guid]


def test_an_adopt_that_cannot_take_effect_is_warned_about() -> None:
    from reconciler.plan.model import WarningCode

    theirs = live_token(T, "theirs", age=5 * DAY)  # carries our namespace's marker for ds-read
    cases = {
        "00000000-0000-4000-8000-0000000000aa": "the server does not list it",
        theirs.guid: "it already belongs to",
    }
    for adopt, fragment in cases.items():
        spec = make_spec(token_spec("other", adopt=adopt))
        result = run_plan(spec, [theirs])
        warnings = [w for w in result.warnings if w.code is WarningCode.ADOPT_IGNORED]
        assert len(warnings) == 1 and fragment in warnings[0].message, result.warnings
        assert [a.kind for a in result.actions if a.name == "other"] == [ActionKind.CREATE]
