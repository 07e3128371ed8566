"""The JSON plan: valid against its schema, and read back into the same Plan."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from jsonschema import Draft202012Validator

import reconciler
from reconciler.desired.model import Spec, TokenState
from reconciler.errors import MalformedPlanError, ReconcilerError, StalePlanError
from reconciler.plan.model import Plan, PlanError
from reconciler.plan.render_json import (
    ACTION_KEYS,
    ERROR_KEYS,
    GENERATION_KEYS,
    PLAN_KEYS,
    SECRET_REF_KEYS,
    WARNING_KEYS,
    plan_from_json,
    plan_to_json,
)

from .scenario import scenario
from .strategies import World, plan_world, worlds

SCHEMA_PATH = Path(reconciler.__file__).parent / "schemas" / "plan.schema.json"


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def saved() -> tuple[Spec, Plan, dict[str, Any]]:
    spec, plan = scenario()
    # Through real JSON text, as `plan --out` and `apply PLAN.json` see it.
    return spec, plan, json.loads(json.dumps(plan_to_json(plan)))


def test_validates_against_the_schema(
    validator: Draft202012Validator, saved: tuple[Spec, Plan, dict[str, Any]]
) -> None:
    errors = sorted(validator.iter_errors(saved[2]), key=str)
    assert errors == []


def test_round_trip(saved: tuple[Spec, Plan, dict[str, Any]]) -> None:
    spec, plan, data = saved
    assert plan_from_json(data, spec) == plan


def test_document_fields(saved: tuple[Spec, Plan, dict[str, Any]]) -> None:
    _, plan, data = saved
    assert data["format_version"] == 2
    assert data["generated_at"] == "2026-03-01T12:00:00Z"
    assert data["live_fingerprint"] == plan.live_fingerprint
    assert data["summary"] == plan.summary()
    create = next(a for a in data["actions"] if a["kind"] == "create")
    assert create["token"] == {
        "user": "analyst@example.com",
        "description": "Access for ds-write",
        "scope": "sources:write",
        "resources": ["internal"],
        "expires": "90d",
        "store": "vault",
        "secret": "ds-write",
        "format": "raw",
    }
    revoke = next(a for a in data["actions"] if a["kind"] == "revoke")
    assert revoke["delete_secret"] == {"store": "vault", "key": "old-upload"}


def test_schema_rejects_a_create_without_its_token(
    validator: Draft202012Validator, saved: tuple[Spec, Plan, dict[str, Any]]
) -> None:
    data = copy.deepcopy(saved[2])
    next(a for a in data["actions"] if a["kind"] == "create")["token"] = None
    assert not validator.is_valid(data)


@settings(max_examples=50, deadline=None)
@given(worlds())
def test_round_trip_and_schema_for_generated_plans(world: World) -> None:
    plan = plan_world(world, world.live, world.meta, force_rotate=world.force_rotate)
    data = json.loads(json.dumps(plan_to_json(plan)))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert Draft202012Validator(schema).is_valid(data)
    assert plan_from_json(data, world.spec) == plan


def test_stale_when_a_created_token_left_the_spec(
    saved: tuple[Spec, Plan, dict[str, Any]],
) -> None:
    spec, _, data = saved
    smaller = replace(spec, tokens=tuple(t for t in spec.tokens if t.name != "ds-write"))
    with pytest.raises(StalePlanError, match="'ds-write'"):
        plan_from_json(data, smaller)


def test_stale_when_a_created_token_is_now_absent(
    saved: tuple[Spec, Plan, dict[str, Any]],
) -> None:
    spec, _, data = saved
    tokens = tuple(
        replace(t, state=TokenState.ABSENT) if t.name == "ds-write" else t for t in spec.tokens
    )
    with pytest.raises(StalePlanError):
        plan_from_json(data, replace(spec, tokens=tokens))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda token: None, id="token-removed"),
        pytest.param(
            lambda token: {k: v for k, v in token.items() if k != "user"}, id="field-removed"
        ),
        pytest.param(lambda token: {**token, "admin": True}, id="field-added"),
    ],
)
def test_a_created_token_must_show_exactly_the_spec_fields(
    saved: tuple[Spec, Plan, dict[str, Any]], edit: Any
) -> None:
    """What a reviewer approved is the token the saved plan shows: an action whose token was
    removed or given fields of its own is an edited plan, not one bound to the spec."""
    spec, _, data = saved
    edited = copy.deepcopy(data)
    create = next(a for a in edited["actions"] if a["kind"] == "create")
    create["token"] = edit(create["token"])
    with pytest.raises(StalePlanError, match=repr(create["name"])):
        plan_from_json(edited, spec)


def test_revokes_of_undeclared_names_need_no_spec_entry(
    saved: tuple[Spec, Plan, dict[str, Any]],
) -> None:
    spec, plan, data = saved
    # "old-upload" is revoked; without its entry the plan still reads back.
    smaller = replace(spec, tokens=tuple(t for t in spec.tokens if t.name != "old-upload"))
    assert plan_from_json(data, smaller).actions == plan.actions


def _broken(data: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(data)
    target = broken
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return broken


@pytest.mark.parametrize(
    "path, value, message",
    [
        (["format_version"], 1, "format_version 1 is not supported"),
        (["format_version"], "2", "format_version must be an integer"),
        (["namespace"], KeyError, "namespace is missing"),
        (["actions"], {}, "actions must be an array"),
        (["actions", 0], "create", r"actions\[0\] must be an object"),
        (["actions", 0, "kind"], "explode", r"actions\[0\].kind is 'explode'; expected one of"),
        (["actions", 1, "guid"], 7, r"actions\[1\].guid must be a string or null"),
        (["actions", 2, "grace"], "soon", r"actions\[2\].grace is not a duration"),
        (["actions", 2, "grace"], 3, r"actions\[2\].grace must be a string"),
        (["still_active", 0, "retire_after"], "2026-03-04T12:00:00", "has no time zone"),
        (["actions", 3, "revoke_replaced"], "yes", "must be true or false"),
        (["warnings", 0, "code"], "meh", r"warnings\[0\].code is 'meh'"),
        (["generated_at"], None, "generated_at must be a string"),
    ],
)
def test_malformed_plans_say_what_is_wrong(
    saved: tuple[Spec, Plan, dict[str, Any]], path: list[Any], value: Any, message: str
) -> None:
    spec, _, data = saved
    with pytest.raises(ReconcilerError, match=message) as raised:
        plan_from_json(_broken(data, path, value), spec)
    # Edited, truncated or from another version: refused as any edited plan is, exit 4.
    assert isinstance(raised.value, MalformedPlanError)
    assert raised.value.exit_code == 4
    assert str(raised.value).startswith("malformed plan file: ") or "format_version" in message


def test_a_document_that_is_not_an_object() -> None:
    spec, _ = scenario()
    with pytest.raises(ReconcilerError, match="the document must be an object"):
        plan_from_json([], spec)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path, where",
    [
        ([], "the document"),
        (["actions", 0], r"actions\[0\]"),
        (["actions", 8, "delete_secret"], r"actions\[8\].delete_secret"),
        (["warnings", 0], r"warnings\[0\]"),
        (["still_active", 0], r"still_active\[0\]"),
    ],
)
def test_a_key_this_version_never_writes_is_refused(
    saved: tuple[Spec, Plan, dict[str, Any]], path: list[Any], where: str
) -> None:
    """Whatever an unknown key would mean (another version's field, an edit that hopes to be
    read), a plan holding one is not what this version wrote and reviewers read."""
    spec, _, data = saved
    edited = copy.deepcopy(data)
    target = edited
    for key in path:
        target = target[key]
    target["x" * 5000] = True
    with pytest.raises(MalformedPlanError, match=f"{where} has the key 'x{{40}}'... ") as raised:
        plan_from_json(edited, spec)
    assert raised.value.exit_code == 4
    assert len(str(raised.value)) < 300


def test_the_keys_read_back_are_exactly_the_keys_written(
    saved: tuple[Spec, Plan, dict[str, Any]],
) -> None:
    data = saved[2]
    assert set(data) == PLAN_KEYS
    for kind, keys in (
        ("actions", ACTION_KEYS),
        ("warnings", WARNING_KEYS),
        ("errors", ERROR_KEYS),
        ("still_active", GENERATION_KEYS),
    ):
        for item in data[kind]:
            assert set(item) == keys, kind
    refs = [a["delete_secret"] for a in data["actions"] if a["delete_secret"]]
    assert refs and all(set(ref) == SECRET_REF_KEYS for ref in refs)
    _, plan, _ = saved
    with_error = plan_to_json(replace(plan, errors=(PlanError("no such repository", "x"),)))
    assert [set(error) for error in with_error["errors"]] == [ERROR_KEYS]


def test_a_value_is_quoted_as_an_excerpt(saved: tuple[Spec, Plan, dict[str, Any]]) -> None:
    spec, _, data = saved
    with pytest.raises(MalformedPlanError) as raised:
        plan_from_json(_broken(data, ["actions", 0, "kind"], "k" * 100_000), spec)
    assert "k" * 41 not in str(raised.value) and "(100,000 characters)" in str(raised.value)
