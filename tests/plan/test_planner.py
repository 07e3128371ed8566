"""Every action kind and reason the planner gives (a row of planner_cases each), and its rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest

from reconciler.desired.model import OnDelete, Rotation, Scope, TokenState, UnmanagedPolicy
from reconciler.durations import NEVER, Expiry
from reconciler.plan.model import Action, ActionKind, Plan, SecretRef, WarningCode

from .conftest import (
    DAY,
    NOW,
    guid,
    live_token,
    make_spec,
    meta_for,
    run_plan,
    token_spec,
)
from .planner_cases import CASES, CURRENT, OK_META, OLD_70, Case, Expected, T


def _plan(case: Case) -> Plan:
    spec = make_spec(*case.spec_tokens, **case.policy)
    return run_plan(spec, case.live, case.meta, **case.options)


def _summary(action: Action) -> Expected:
    return (action.kind, action.name, action.guid, action.reason)


@pytest.mark.parametrize("case", [pytest.param(c, id=i) for i, c in CASES.items()])
def test_actions_and_reasons(case: Case) -> None:
    result = _plan(case)
    assert [_summary(a) for a in result.actions] == list(case.expected)
    assert result.errors == ()
    assert {w.code for w in result.warnings} == case.warnings


def _one(kind: ActionKind, result: Plan) -> Action:
    matches = [a for a in result.actions if a.kind is kind]
    assert len(matches) == 1, result.actions
    return matches[0]


def test_rotate_keeps_the_old_token_for_grace() -> None:
    aged = live_token(T, "aged", age=61 * DAY)
    action = _one(
        ActionKind.ROTATE, run_plan(make_spec(T), [aged], {"ds-read": meta_for(aged, "ds-read")})
    )
    assert action.token == T
    assert action.revoke_replaced is False
    # A duration, counted from when apply stores the new value, not from the plan's time.
    assert action.grace == 3 * DAY


def test_rotate_without_grace_revokes_at_once() -> None:
    result = run_plan(
        make_spec(T),
        [CURRENT],
        OK_META,
        force_rotate=frozenset({"ds-read"}),
        grace_override=DAY * 0,
    )
    action = _one(ActionKind.ROTATE, result)
    # No grace: recorded with the new token, it tells the next run that nothing older is owed
    # one, should this one be killed before it revokes.
    assert (action.revoke_replaced, action.grace) == (True, DAY * 0)


@pytest.mark.parametrize(
    "kind_case", ["replace-user", "repair-store-empty", "repair-store-holds-other-guid"]
)
def test_replace_and_repair_revoke_the_replaced_token(kind_case: str) -> None:
    action = _plan(CASES[kind_case]).actions[0]
    assert action.kind.creates
    assert action.revoke_replaced is True
    assert action.grace == DAY * 0  # no grace promised to anything older
    assert action.token is not None and action.token.name == "ds-read"


@pytest.mark.parametrize(
    "options, policy",
    [
        pytest.param({"self_guid": CURRENT.guid}, {}, id="self"),
        pytest.param({}, {"protect": frozenset({CURRENT.guid})}, id="policy-protect"),
    ],
)
def test_protected_current_is_replaced_but_not_revoked(
    options: dict[str, Any], policy: dict[str, Any]
) -> None:
    spec = make_spec(replace(T, user="lead@example.com"), **policy)
    result = run_plan(spec, [CURRENT], OK_META, **options)
    action = _one(ActionKind.REPLACE, result)
    assert action.revoke_replaced is False
    [warning] = result.warnings
    assert warning.code is WarningCode.PROTECTED
    assert warning.guid == CURRENT.guid
    assert warning.message.startswith(f"would revoke {CURRENT.guid} but ")


def test_self_token_message_names_the_reason() -> None:
    spec = make_spec(token_spec("ci"))
    result = run_plan(spec, [CURRENT], {}, self_guid=CURRENT.guid)
    assert not [a for a in result.actions if a.kind is ActionKind.REVOKE]
    [warning] = [w for w in result.warnings if w.code is WarningCode.PROTECTED]
    assert warning.message == (
        f"would revoke {CURRENT.guid} but it is the token this run authenticates with"
    )


def test_absent_deletes_the_secret_once_with_the_first_revoke() -> None:
    spec = make_spec(replace(T, state=TokenState.ABSENT, on_delete=OnDelete.DELETE))
    revokes = run_plan(spec, [CURRENT, OLD_70], OK_META).actions
    assert [a.delete_secret for a in revokes] == [SecretRef("vault", "ds-read"), None]


def test_absent_keep_does_not_delete_the_secret() -> None:
    spec = make_spec(replace(T, state=TokenState.ABSENT))
    [revoke] = run_plan(spec, [CURRENT], OK_META).actions
    assert revoke.delete_secret is None


def test_a_removed_entry_is_revoked_and_its_secret_kept() -> None:
    """on_delete belongs to the entry: once the entry is gone nothing says to delete (the
    README tells users to declare `state: absent` for one apply first)."""
    [revoke] = run_plan(make_spec(), [CURRENT], OK_META).actions
    assert (revoke.kind, revoke.guid, revoke.delete_secret) == (
        ActionKind.REVOKE,
        CURRENT.guid,
        None,
    )


def test_absent_skips_the_protected_token_and_moves_the_delete_on() -> None:
    spec = make_spec(
        replace(T, state=TokenState.ABSENT, on_delete=OnDelete.DELETE),
        protect=frozenset({CURRENT.guid}),
    )
    [revoke] = run_plan(spec, [CURRENT, OLD_70], OK_META).actions
    assert (revoke.guid, revoke.delete_secret) == (OLD_70.guid, SecretRef("vault", "ds-read"))


def test_absent_with_nothing_live_plans_nothing() -> None:
    spec = make_spec(replace(T, state=TokenState.ABSENT))
    assert run_plan(spec, [replace(CURRENT, revoked=NOW - DAY)], {}).actions == ()


@pytest.mark.parametrize(
    "spec_token, message",
    [
        pytest.param(
            replace(T, resources=("cran", "foo")),
            "unknown repository 'foo' in token ds-read",
            id="unknown-repository",
        ),
        pytest.param(
            replace(T, scope=Scope.SOURCES_WRITE, resources=("nope",)),
            "unknown source 'nope' in token ds-read",
            id="unknown-source",
        ),
        pytest.param(
            replace(T, resources=("internal",)),
            "'internal' in token ds-read is a source, but scope repos:read takes repository names",
            id="source-named-as-repository",
        ),
        pytest.param(
            replace(T, expires=Expiry(on=date(2026, 2, 1))),
            "token ds-read expires on 2026-02-01, which has passed: choose a later date or a "
            "duration (until then it is left as it is: nothing is created, rotated or repaired "
            "for it)",
            id="expiry-date-passed",
        ),
    ],
)
def test_errors(spec_token: Any, message: str) -> None:
    result = run_plan(make_spec(spec_token), [], {})
    assert [(e.message, e.name) for e in result.errors] == [(message, "ds-read")]


def test_absent_tokens_are_not_checked_against_the_server() -> None:
    spec = make_spec(replace(T, resources=("gone",), state=TokenState.ABSENT))
    assert run_plan(spec, [], {}).errors == ()


def test_forcing_an_undeclared_name_is_an_error() -> None:
    result = run_plan(make_spec(T), [], {}, force_rotate=frozenset({"nope"}))
    assert [e.message for e in result.errors] == [
        "cannot rotate nope: the spec declares no present token of that name"
    ]


def test_all_resources_need_no_server_entry() -> None:
    result = run_plan(make_spec(replace(T, resources=("*",))), [], {})
    assert result.errors == ()


def test_all_resources_never_equal_a_list() -> None:
    live = replace(CURRENT, resources=("*",), resource_ids=())
    result = run_plan(make_spec(T), [live], {"ds-read": meta_for(live, "ds-read")})
    assert _one(ActionKind.REPLACE, result).reason == "resources changed [*] -> [cran, pypi]"


def test_resources_compare_as_sets() -> None:
    live = replace(CURRENT, resources=("pypi", "cran"), resource_ids=CURRENT.resource_ids[::-1])
    result = run_plan(make_spec(T), [live], {"ds-read": meta_for(live, "ds-read")})
    assert [a.kind for a in result.actions] == [ActionKind.NOOP]


def test_expiry_within_five_minutes_matches() -> None:
    assert CURRENT.expires is not None
    near = replace(CURRENT, expires=CURRENT.expires + timedelta(minutes=4))
    far = replace(CURRENT, expires=CURRENT.expires + timedelta(minutes=6))
    kinds = [
        run_plan(make_spec(T), [tok], {"ds-read": meta_for(tok, "ds-read")}).actions[0].kind
        for tok in (near, far)
    ]
    assert kinds == [ActionKind.NOOP, ActionKind.REPLACE]


def test_date_expiry_close_ahead_does_not_rotate_forever() -> None:
    # The successor would expire on the same date: rotating would not help.
    t = replace(T, expires=Expiry(on=date(2026, 3, 5)), rotation=Rotation(before_expiry=14 * DAY))
    live = live_token(t, "dated", age=10 * DAY)
    result = run_plan(make_spec(t), [live], {"ds-read": meta_for(live, "ds-read")})
    assert [a.kind for a in result.actions] == [ActionKind.NOOP]
    assert {w.code for w in result.warnings} == {WarningCode.EXPIRING_SOON}


def test_repair_takes_precedence_over_replace_and_rotate() -> None:
    aged = live_token(T, "aged", age=61 * DAY)
    spec = make_spec(replace(T, user="lead@example.com"))
    result = run_plan(spec, [aged], {"ds-read": None})
    assert _one(ActionKind.REPAIR, result).reason == "store has no value for the current token"


def test_replace_takes_precedence_over_rotate() -> None:
    aged = live_token(T, "aged", age=61 * DAY)
    spec = make_spec(replace(T, user="lead@example.com"))
    result = run_plan(spec, [aged], {"ds-read": meta_for(aged, "ds-read")})
    assert _one(ActionKind.REPLACE, result).reason.startswith("user changed")


def test_newest_generation_is_current_whatever_the_list_order() -> None:
    a = run_plan(make_spec(T), [OLD_70, CURRENT], OK_META)
    b = run_plan(make_spec(T), [CURRENT, OLD_70], OK_META)
    assert a == b
    assert _one(ActionKind.NOOP, a).guid == CURRENT.guid


def test_warnings() -> None:
    never = replace(token_spec("forever"), expires=NEVER, rotation=Rotation())
    meta_read = replace(token_spec("meta"), scope=Scope.METADATA_READ, resources=())
    soon = live_token(T, "soon", age=70 * DAY)  # expires in 20 days, rotation.after off below
    unmanaged_soon = live_token(token_spec("x"), "x", age=80 * DAY, namespace=None)
    spec = make_spec(replace(T, rotation=Rotation()), never, meta_read)
    forever_live = live_token(never, "forever")
    meta_live = live_token(meta_read, "meta")
    result = run_plan(
        spec,
        [soon, forever_live, meta_live, unmanaged_soon],
        {
            "ds-read": meta_for(soon, "ds-read"),
            "forever": meta_for(forever_live, "forever"),
            "meta": meta_for(meta_live, "meta"),
        },
    )
    assert [a.kind for a in result.actions] == [ActionKind.NOOP] * 3
    assert [(w.code, w.name, w.guid) for w in result.warnings] == [
        (WarningCode.UNMANAGED, None, guid("x")),
        (WarningCode.NEVER_EXPIRES, "forever", guid("forever")),
        (WarningCode.EXPIRING_SOON, "ds-read", guid("soon")),
        (WarningCode.EXPIRING_SOON, None, guid("x")),
        (WarningCode.DEPRECATED_SCOPE, "meta", None),
    ]
    messages = [w.message for w in result.warnings]
    assert (
        messages[2]
        == f"token ds-read ({guid('soon')[:8]}) expires in 20 days, on 2026-03-21 12:00 UTC"
    )
    assert messages[4] == "token meta uses metadata:read, which PPM deprecates: use repos:read"


@pytest.mark.parametrize(
    ("unmanaged", "expected"),
    [
        (UnmanagedPolicy.REPORT, [WarningCode.UNMANAGED, WarningCode.NEVER_EXPIRES]),
        (UnmanagedPolicy.IGNORE, []),
    ],
    ids=["report", "ignore"],
)
def test_never_expiring_unmanaged_token_is_warned_where_reported(
    unmanaged: UnmanagedPolicy, expected: list[WarningCode]
) -> None:
    forever = live_token(token_spec("x"), "x", namespace=None, expires=None)
    result = run_plan(make_spec(unmanaged=unmanaged), [forever])
    assert [(w.code, w.guid) for w in result.warnings] == [(c, forever.guid) for c in expected]


def test_never_expiring_live_token_of_a_finite_declaration_is_warned() -> None:
    old = live_token(T, "old-forever", age=DAY / 2, expires=None)
    fresh = live_token(T, "fresh", age=DAY / 4)
    # Unlike the spec, the old token keeps no grace; protected, it stays, and is warned about.
    spec = make_spec(T, protect=frozenset({old.guid}))
    result = run_plan(spec, [fresh, old], {"ds-read": meta_for(fresh, "ds-read")})
    assert [(w.code, w.guid) for w in result.warnings] == [
        (WarningCode.NEVER_EXPIRES, old.guid),
        (WarningCode.PROTECTED, old.guid),
    ]


def test_action_order_creates_then_retires_then_revokes_then_noops() -> None:
    a, b, c = token_spec("a"), token_spec("b"), token_spec("c")
    a_now, a_old = live_token(a, "a-now"), live_token(a, "a-old", age=70 * DAY)
    c_now = live_token(c, "c-now")
    gone = live_token(token_spec("gone"), "gone")
    result = run_plan(
        make_spec(a, b, c),
        [gone, c_now, a_old, a_now],
        {"a": None, "c": meta_for(c_now, "c")},
    )
    assert [(x.kind, x.name) for x in result.actions] == [
        (ActionKind.REPAIR, "a"),
        (ActionKind.CREATE, "b"),
        (ActionKind.RETIRE, "a"),
        (ActionKind.REVOKE, "gone"),
        (ActionKind.NOOP, "c"),
    ]


def test_plan_header_fields() -> None:
    result = run_plan(make_spec(T), [CURRENT], OK_META)
    assert (result.namespace, result.server, result.generated_at) == (
        "data-platform",
        "https://ppm.example.com",
        NOW,
    )
    assert (result.spec_path, result.spec_sha256) == ("tokens.yaml", "5" * 64)
    assert result.live_fingerprint.startswith("sha256:")
