"""The plan as JSON (reconciler/schemas/plan.schema.json) and back, for `plan --out` and
`apply PLAN.json`. Reading back re-binds each create-like action to the spec's TokenSpec: the
saved `token` object is for reviewers, never for apply."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from reconciler.desired.model import OnDelete, Spec, TokenSpec, TokenState
from reconciler.durations import as_utc, format_duration
from reconciler.errors import MalformedPlanError, StalePlanError
from reconciler.plan.fingerprint import NO_FINGERPRINT
from reconciler.plan.json_reader import Reader, malformed
from reconciler.plan.many import PlanSet
from reconciler.plan.model import (
    Action,
    ActionKind,
    ActiveGeneration,
    Plan,
    PlanError,
    PlanWarning,
    SecretRef,
    WarningCode,
)
from reconciler.sanitize import quoted

# 2: a create-like action carries the grace it promises (`grace`, a duration counted from when
# apply stores the new value), no longer a time computed when the plan was made.
FORMAT_VERSION = 2
# The keys this version writes, object by object; a saved plan with any other key was not
# written by it (docs/plan-and-apply.md: a file that is not a plan this version wrote is
# refused, exit 4).
PLAN_KEYS = frozenset(
    {
        "format_version",
        "generated_at",
        "server",
        "namespace",
        "spec_path",
        "spec_sha256",
        "live_fingerprint",
        "actions",
        "warnings",
        "errors",
        "still_active",
        "summary",
    }
)
ACTION_KEYS = frozenset(
    {
        "kind",
        "name",
        "reason",
        "guid",
        "revoke_replaced",
        "grace",
        "retire_after",
        "delete_secret",
        "token",
    }
)
SECRET_REF_KEYS = frozenset({"store", "key"})
WARNING_KEYS = frozenset({"code", "message", "name", "guid"})
ERROR_KEYS = frozenset({"message", "name", "token_only"})
GENERATION_KEYS = frozenset({"name", "guid", "current", "retire_after", "note", "grace"})
PLAN_SET_KEYS = frozenset({"format_version", "plans", "failures", "summary"})


def _time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return as_utc(moment).isoformat().replace("+00:00", "Z")


def _duration(delta: timedelta | None) -> str | None:
    return None if delta is None else format_duration(delta)


def _token(token: TokenSpec) -> dict[str, object]:
    return {
        "user": token.user,
        "description": token.description,
        "scope": token.scope.value,
        "resources": list(token.resources),
        "expires": str(token.expires),
        "store": token.store,
        "secret": token.secret,
        "format": token.format.value,
    }


def _action(action: Action) -> dict[str, object]:
    ref = action.delete_secret
    return {
        "kind": action.kind.value,
        "name": action.name,
        "reason": action.reason,
        "guid": action.guid,
        "revoke_replaced": action.revoke_replaced,
        "grace": _duration(action.grace),
        "retire_after": _time(action.retire_after),
        "delete_secret": None if ref is None else {"store": ref.store, "key": ref.key},
        "token": None if action.token is None else _token(action.token),
    }


def plan_to_json(plan: Plan) -> dict[str, object]:
    if plan.live_fingerprint == NO_FINGERPRINT:
        # A saved plan without one could never be checked against the live state (I8).
        raise ValueError("this plan was made without its live fingerprint: plan with one")
    return {
        "format_version": FORMAT_VERSION,
        "generated_at": _time(plan.generated_at),
        "server": plan.server,
        "namespace": plan.namespace,
        "spec_path": plan.spec_path,
        "spec_sha256": plan.spec_sha256,
        "live_fingerprint": plan.live_fingerprint,
        "actions": [_action(a) for a in plan.actions],
        "warnings": [
            {"code": w.code.value, "message": w.message, "name": w.name, "guid": w.guid}
            for w in plan.warnings
        ],
        "errors": [
            {"message": e.message, "name": e.name, "token_only": e.token_only} for e in plan.errors
        ],
        "still_active": [
            {
                "name": g.name,
                "guid": g.guid,
                "current": g.current,
                "retire_after": _time(g.retire_after),
                "note": g.note,
                "grace": _duration(g.grace),
            }
            for g in plan.still_active
        ],
        "summary": plan.summary(),
    }


def _read_action(reader: Reader, declared_tokens: Mapping[str, TokenSpec]) -> Action:
    kind = reader.choice("kind", ActionKind)
    name = reader.text_or_none("name")
    token = None
    if kind.writes_store:
        declared = declared_tokens.get(name) if name is not None else None
        if declared is None or declared.state is not TokenState.PRESENT:
            raise StalePlanError(
                f"the saved plan would {kind.value} token {quoted(name)}, which the spec does "
                "not declare: run `ppm-tokens plan` again"
            )
        _check_binding(reader, kind, declared)
        token = declared
    ref = reader.object_or_none("delete_secret", SECRET_REF_KEYS)
    delete = None if ref is None else SecretRef(ref.text("store"), ref.text("key"))
    if delete is not None:
        _check_deletion(name, delete, declared_tokens)
    return Action(
        kind=kind,
        name=name,
        reason=reader.text("reason"),
        token=token,
        guid=reader.text_or_none("guid"),
        revoke_replaced=reader.flag("revoke_replaced"),
        grace=reader.duration_or_none("grace"),
        retire_after=reader.time_or_none("retire_after"),
        delete_secret=delete,
    )


def _check_binding(reader: Reader, kind: ActionKind, declared: TokenSpec) -> None:
    """The saved token must be the spec's: callers compare the spec's hash, but a plan applied
    with another spec would otherwise write where nobody reviewed, with fields nobody saw."""
    saved = reader.object_or_none("token")
    if saved is None:
        # What a reviewer approved is the token the plan shows: a create-like action without
        # one was not made by `plan --out`.
        raise StalePlanError(
            f"the saved plan would {kind.value} token {declared.name!r} but shows none of its "
            "fields: the file was edited; run `ppm-tokens plan` again"
        )
    expected = _token(declared)
    raw = saved.raw()
    changed = sorted(
        key if key in expected else quoted(str(key))  # a key of its own: quoted, cut
        for key in {*expected, *raw}
        if key not in expected or raw.get(key) != expected[key]
    )
    if changed:
        listed = ", ".join(changed[:10]) + (", ..." if len(changed) > 10 else "")
        raise StalePlanError(
            f"the saved plan would {kind.value} token {declared.name!r} with "
            f"{listed} other than the spec now declares: run `ppm-tokens plan` again"
        )


def _check_deletion(
    name: str | None, ref: SecretRef, declared_tokens: Mapping[str, TokenSpec]
) -> None:
    declared = declared_tokens.get(name) if name is not None else None
    if declared is None:
        return  # an entry dropped from the file: the plan, reviewed, is all there is to go on
    if (
        declared.state is not TokenState.ABSENT
        or declared.on_delete is not OnDelete.DELETE
        or (declared.store, declared.secret) != (ref.store, ref.key)
    ):
        raise StalePlanError(
            f"the saved plan would delete secret {quoted(ref.key)} from store {quoted(ref.store)} "
            f"for token {quoted(name)}, but the spec now declares that token otherwise: run "
            "`ppm-tokens plan` again"
        )


def _check_version(root: Reader) -> None:
    version = root.integer("format_version")
    if version != FORMAT_VERSION:
        raise MalformedPlanError(
            f"plan file format_version {version} is not supported (this version reads "
            f"{FORMAT_VERSION}): run `ppm-tokens plan` again with this version"
        )


def plan_from_json(data: Mapping[str, object], spec: Spec) -> Plan:
    """Read a saved plan. The caller has checked that `spec` has the plan's spec_sha256."""
    root = Reader(data, "")
    _check_version(root)
    root = Reader(data, "", PLAN_KEYS)  # after the version: another one's keys say which
    declared = {t.name: t for t in spec.tokens}
    return Plan(
        namespace=root.text("namespace"),
        server=root.text("server"),
        generated_at=root.time("generated_at"),
        spec_path=root.text("spec_path"),
        spec_sha256=root.text("spec_sha256"),
        live_fingerprint=root.text("live_fingerprint"),
        actions=tuple(_read_action(a, declared) for a in root.objects("actions", ACTION_KEYS)),
        warnings=tuple(
            PlanWarning(
                code=w.choice("code", WarningCode),
                message=w.text("message"),
                name=w.text_or_none("name"),
                guid=w.text_or_none("guid"),
            )
            for w in root.objects("warnings", WARNING_KEYS, optional=True)
        ),
        errors=tuple(
            PlanError(
                message=e.text("message"),
                name=e.text_or_none("name"),
                token_only=e.flag("token_only"),
            )
            for e in root.objects("errors", ERROR_KEYS, optional=True)
        ),
        still_active=tuple(
            ActiveGeneration(
                name=g.text("name"),
                guid=g.text("guid"),
                current=g.text("current"),
                retire_after=g.time_or_none("retire_after"),
                note=g.text("note"),
                grace=g.duration_or_none("grace"),
            )
            for g in root.objects("still_active", GENERATION_KEYS, optional=True)
        ),
    )


# -- Several specs -----------------------------------------------------------------------------
# One spec keeps the shape above exactly. Several: {"format_version", "plans": [one plan each,
# the shape above], "failures": [specs that could not be planned], "summary": over every plan}.


def plans_to_json(plans: PlanSet) -> dict[str, object]:
    return {
        "format_version": FORMAT_VERSION,
        "plans": [plan_to_json(plan) for plan in plans.plans],
        "failures": [
            {
                "spec_path": part.spec_path,
                "server": part.server,
                "namespace": part.namespace,
                "message": part.error,
            }
            for part in plans.failed
        ],
        "summary": plans.summary(),
    }


def is_plan_set(data: Mapping[str, object]) -> bool:
    return "plans" in data


def plan_set_parts(data: Mapping[str, object]) -> list[Mapping[str, object]]:
    """The saved plan of each spec in a document of several, each to be read and checked like
    a single saved plan. A document that lists specs it could not plan, or whose summary does
    not add up, is not applied."""
    root = Reader(data, "")
    _check_version(root)
    root = Reader(data, "", PLAN_SET_KEYS)
    parts = [reader.raw() for reader in root.objects("plans", None)]
    if not parts:
        raise malformed("plans", "is empty")
    if root.objects("failures", None, optional=True):
        raise StalePlanError(
            "the saved plan lists specs that could not be planned: it is not the whole "
            "repository's plan; fix them and run `ppm-tokens plan --out` again"
        )
    counts: dict[str, int] = {kind.value: 0 for kind in ActionKind}
    for index, part in enumerate(root.objects("plans", None)):
        summary = part.object_or_none("summary")
        raw = summary.raw() if summary is not None else {}
        for kind in counts:
            value = raw.get(kind)
            if not isinstance(value, int) or isinstance(value, bool):
                raise malformed(f"plans[{index}].summary.{kind}", "must be an integer")
            counts[kind] += value
    if data.get("summary") != counts:
        raise StalePlanError(
            "the summary of the saved plan does not add up the summaries of its specs: the "
            "file was edited; run `ppm-tokens plan --out` again and review it"
        )
    return [{str(key): value for key, value in part.items()} for part in parts]
