"""The planner's table: one case per action kind and reason, with the live state that causes it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from reconciler.desired.model import OnDelete, Rotation, Scope, TokenState, UnmanagedPolicy
from reconciler.durations import NEVER, Expiry
from reconciler.plan.model import ActionKind, WarningCode
from reconciler.server.model import LiveToken
from reconciler.stores.base import SecretMeta

from .conftest import (
    DAY,
    NOW,
    guid,
    live_token,
    meta_for,
    token_spec,
)

T = token_spec("ds-read")
CURRENT = live_token(T, "current")
OK_META = {"ds-read": meta_for(CURRENT, "ds-read")}

Expected = tuple[ActionKind, str | None, str | None, str]  # kind, name, guid, exact reason


@dataclass(frozen=True)
class Case:
    spec_tokens: tuple[Any, ...]
    live: tuple[LiveToken, ...]
    meta: Mapping[str, SecretMeta | None]
    expected: tuple[Expected, ...]
    options: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    warnings: frozenset[WarningCode] = frozenset()


def replaced(spec_token: Any, reason: str, live: LiveToken = CURRENT) -> Case:
    return Case(
        (spec_token,),
        (live,),
        {"ds-read": meta_for(live, "ds-read")},
        ((ActionKind.REPLACE, "ds-read", live.guid, reason),),
    )


OLD_70 = live_token(T, "old", age=70 * DAY)
RECREATED_CRAN = replace(
    CURRENT, resource_ids=("0c1d0000-0000-4000-8000-0000000dead0", CURRENT.resource_ids[1])
)
UNMANAGED = live_token(
    token_spec("legacy", description="hand-made token"), "legacy", age=5 * DAY, namespace=None
)
OTHER_NS = live_token(T, "theirs", age=DAY, namespace="other-team")  # newer than ours
OTHER_NS_UNDECLARED = live_token(token_spec("ci"), "theirs-ci", namespace="other-team")

CASES = {
    "create": Case((T,), (), {}, ((ActionKind.CREATE, "ds-read", None, "new token"),)),
    # Not "out of band": the live state cannot tell a person's revoke from a run's rollback.
    "recreate-revoked": Case(
        (T,),
        (replace(CURRENT, revoked=NOW - 2 * DAY),),
        OK_META,
        (
            (
                ActionKind.RECREATE,
                "ds-read",
                None,
                f"its last token {CURRENT.guid[:8]} was revoked on 2026-02-27",
            ),
        ),
    ),
    "recreate-expired": Case(
        (T,),
        (live_token(T, "expired", age=100 * DAY),),
        {},
        ((ActionKind.RECREATE, "ds-read", None, "expired on 2026-02-19"),),
    ),
    "rotate-age": Case(
        (T,),
        (live_token(T, "aged", age=61 * DAY),),
        {"ds-read": meta_for(live_token(T, "aged", age=61 * DAY), "ds-read")},
        ((ActionKind.ROTATE, "ds-read", guid("aged"), "age 61 days >= rotation.after 60d"),),
    ),
    "rotate-before-expiry": Case(
        (replace(T, rotation=Rotation(before_expiry=14 * DAY, grace=DAY)),),
        (live_token(T, "ending", age=85 * DAY),),
        {"ds-read": meta_for(live_token(T, "ending", age=85 * DAY), "ds-read")},
        (
            (
                ActionKind.ROTATE,
                "ds-read",
                guid("ending"),
                "expires in 5 days (rotation.before_expiry 14d)",
            ),
        ),
    ),
    "rotate-forced": Case(
        (T,),
        (CURRENT,),
        OK_META,
        ((ActionKind.ROTATE, "ds-read", CURRENT.guid, "forced (--rotate)"),),
        options={"force_rotate": frozenset({"ds-read"})},
    ),
    "replace-scope": replaced(
        replace(T, scope=Scope.SOURCES_WRITE, resources=("internal",)),
        "scope changed repos:read -> sources:write; resources changed [cran, pypi] -> [internal]",
    ),
    "replace-resources": replaced(
        replace(T, resources=("bioc", "cran", "pypi")),
        "resources changed [cran, pypi] -> [bioc, cran, pypi]",
    ),
    "replace-resources-all": replaced(
        replace(T, resources=("*",)), "resources changed [cran, pypi] -> [*]"
    ),
    "replace-description": replaced(
        replace(T, description="Read access for the data science team"), "description changed"
    ),
    "replace-user": replaced(
        replace(T, user="lead@example.com"), "user changed analyst@example.com -> lead@example.com"
    ),
    "replace-expiry-lifetime": replaced(
        replace(T, expires=Expiry(lifetime=30 * DAY), rotation=Rotation(after=20 * DAY)),
        "expiry changed 90d -> 30d",
    ),
    "replace-expiry-never": replace(
        replaced(replace(T, expires=NEVER), "expiry changed 90d -> never"),
        warnings=frozenset({WarningCode.NEVER_EXPIRES}),
    ),
    "replace-expiry-date": replaced(
        replace(T, expires=Expiry(on=date(2026, 6, 30))), "expiry changed 2026-05-20 -> 2026-06-30"
    ),
    "replace-repository-recreated": replaced(
        T, "repository cran was recreated on the server (new id)", live=RECREATED_CRAN
    ),
    "repair-store-holds-other-guid": Case(
        (T,),
        (CURRENT,),
        {"ds-read": meta_for(OLD_70, "ds-read")},
        ((ActionKind.REPAIR, "ds-read", CURRENT.guid, f"store holds the value of {guid('old')}"),),
    ),
    "repair-store-empty": Case(
        (T,),
        (CURRENT,),
        {"ds-read": None},
        ((ActionKind.REPAIR, "ds-read", CURRENT.guid, "store has no value for the current token"),),
    ),
    "retire-past-grace": Case(
        (T,),
        (CURRENT, OLD_70),
        OK_META,
        (
            (
                ActionKind.RETIRE,
                "ds-read",
                guid("old"),
                f"superseded by {CURRENT.guid[:8]} on 2026-02-19; grace 3d passed",
            ),
            (ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),
        ),
    ),
    "within-grace-nothing": Case(
        (T,),
        (live_token(T, "fresh", age=DAY / 2), OLD_70),
        {"ds-read": meta_for(live_token(T, "fresh", age=DAY / 2), "ds-read")},
        (
            (
                ActionKind.NOOP,
                "ds-read",
                guid("fresh"),
                "up to date; 1 older generation retiring after 2026-03-04 00:00 UTC",
            ),
        ),
    ),
    "revoke-no-longer-declared": Case(
        (token_spec("ci"),),
        (live_token(token_spec("ci"), "ci"), CURRENT),
        {"ci": meta_for(live_token(token_spec("ci"), "ci"), "ci")},
        (
            (ActionKind.REVOKE, "ds-read", CURRENT.guid, "no longer declared"),
            (ActionKind.NOOP, "ci", guid("ci"), "up to date"),
        ),
    ),
    "revoke-declared-absent": Case(
        (replace(T, state=TokenState.ABSENT, on_delete=OnDelete.DELETE),),
        (CURRENT, OLD_70),
        OK_META,
        (
            (ActionKind.REVOKE, "ds-read", CURRENT.guid, "declared absent"),
            (ActionKind.REVOKE, "ds-read", guid("old"), "declared absent"),
        ),
    ),
    "other-namespace-untouched": Case(
        (T,),
        (CURRENT, OTHER_NS, OTHER_NS_UNDECLARED),
        OK_META,
        ((ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),),
        policy={"unmanaged": UnmanagedPolicy.REVOKE},
    ),
    "unmanaged-report": Case(
        (T,),
        (CURRENT, UNMANAGED),
        OK_META,
        ((ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),),
        warnings=frozenset({WarningCode.UNMANAGED}),
    ),
    "unmanaged-revoke": Case(
        (T,),
        (CURRENT, UNMANAGED),
        OK_META,
        (
            (ActionKind.REVOKE, None, UNMANAGED.guid, "unmanaged (policy.unmanaged: revoke)"),
            (ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),
        ),
        policy={"unmanaged": UnmanagedPolicy.REVOKE},
    ),
    "unmanaged-ignore": Case(
        (T,),
        (CURRENT, UNMANAGED),
        OK_META,
        ((ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),),
        policy={"unmanaged": UnmanagedPolicy.IGNORE},
    ),
    "self-token-protected-from-unmanaged-revoke": Case(
        (T,),
        (CURRENT, UNMANAGED),
        OK_META,
        ((ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),),
        options={"self_guid": UNMANAGED.guid},
        policy={"unmanaged": UnmanagedPolicy.REVOKE},
        warnings=frozenset({WarningCode.PROTECTED}),
    ),
    "policy-protect-blocks-retire": Case(
        (T,),
        (CURRENT, OLD_70),
        OK_META,
        ((ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),),
        policy={"protect": frozenset({guid("old")})},
        warnings=frozenset({WarningCode.PROTECTED}),
    ),
    "adopt-without-metadata": Case(
        (replace(T, adopt=guid("legacy"), description="hand-made token"),),
        (live_token(replace(T, description="hand-made token"), "legacy", namespace=None),),
        {},
        ((ActionKind.NOOP, "ds-read", guid("legacy"), "adopted; store unverified"),),
        warnings=frozenset({WarningCode.ADOPTED_UNVERIFIED}),
    ),
    "adopt-with-metadata-rotates-when-due": Case(
        (replace(T, adopt=guid("legacy"), description="anything: not compared"),),
        (live_token(T, "legacy", namespace=None, age=65 * DAY),),
        {"ds-read": meta_for(live_token(T, "legacy", age=65 * DAY), "ds-read")},
        ((ActionKind.ROTATE, "ds-read", guid("legacy"), "age 65 days >= rotation.after 60d"),),
    ),
    "adopted-token-retires-after-successor": Case(
        (replace(T, adopt=guid("legacy")),),
        (CURRENT, live_token(T, "legacy", namespace=None, age=300 * DAY, expires=None)),
        OK_META,
        (
            (
                ActionKind.RETIRE,
                "ds-read",
                guid("legacy"),
                f"superseded by {CURRENT.guid[:8]} on 2026-02-19; grace 3d passed",
            ),
            (ActionKind.NOOP, "ds-read", CURRENT.guid, "up to date"),
        ),
    ),
}
