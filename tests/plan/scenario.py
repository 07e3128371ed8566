"""One spec and live state that yields every kind of action, for renderer and JSON tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from reconciler.desired.model import (
    OnDelete,
    Rotation,
    Scope,
    Spec,
    TokenState,
    UnmanagedPolicy,
)
from reconciler.durations import NEVER, Expiry
from reconciler.plan.model import Plan
from reconciler.stores.base import KeyState, PendingWrite, StoredValue

from .conftest import DAY, NOW, live_token, make_spec, meta_for, run_plan, token_spec


def scenario() -> tuple[Spec, Plan]:
    new = token_spec("ds-write", scope=Scope.SOURCES_WRITE, resources=("internal",))
    lost = token_spec("ci-read", user="ci-system", resources=("*",))
    aged = token_spec("ds-read")
    widened = token_spec("analytics", resources=("bioc", "cran", "pypi"))
    broken = token_spec("reports", expires=Expiry(on=date(2026, 12, 31)), store="local")
    fine = token_spec("mirror", expires=NEVER, rotation=Rotation())
    calm = token_spec("docs")
    rotated = token_spec("cache")
    cut = token_spec("wheels")
    legacy = token_spec(
        "old-upload",
        scope=Scope.METADATA_READ,
        resources=(),
        state=TokenState.ABSENT,
        on_delete=OnDelete.DELETE,
    )
    spec = make_spec(
        new,
        lost,
        aged,
        widened,
        broken,
        fine,
        calm,
        rotated,
        cut,
        legacy,
        unmanaged=UnmanagedPolicy.REVOKE,
    )
    lost_live = live_token(lost, "ci-read-1", age=40 * DAY, revoked=NOW - 3 * DAY)
    aged_live = live_token(aged, "ds-read-1", age=61 * DAY)
    aged_older = live_token(aged, "ds-read-0", age=130 * DAY, expires=None)
    widened_live = live_token(token_spec("analytics"), "analytics-1", age=20 * DAY)
    broken_live = live_token(broken, "reports-1", age=30 * DAY)
    fine_live = live_token(fine, "mirror-1", age=300 * DAY)
    calm_live = live_token(calm, "docs-1", age=5 * DAY)
    calm_older = live_token(calm, "docs-0", age=65 * DAY)
    rotated_live = live_token(rotated, "cache-1", age=DAY)
    rotated_older = live_token(rotated, "cache-0", age=61 * DAY)
    cut_live = live_token(cut, "wheels-1", age=DAY)
    cut_older = live_token(cut, "wheels-0", age=61 * DAY)
    legacy_live = live_token(legacy, "old-upload-1", age=100 * DAY, expires=None)
    stray = live_token(token_spec("stray", description="made by hand"), "stray", namespace=None)
    live = [
        lost_live,
        aged_live,
        aged_older,
        widened_live,
        broken_live,
        fine_live,
        calm_live,
        calm_older,
        rotated_live,
        rotated_older,
        cut_live,
        cut_older,
        legacy_live,
        stray,
    ]
    meta = {
        "ds-read": meta_for(aged_live, "ds-read"),
        "analytics": meta_for(widened_live, "analytics"),
        "reports": meta_for(aged_older, "reports"),
        "mirror": meta_for(fine_live, "mirror"),
        "docs": meta_for(calm_live, "docs"),
        # Rotated yesterday with a 3-day grace: its predecessor works for two more days.
        "cache": replace(meta_for(rotated_live, "cache"), retire_previous_after=NOW + 2 * DAY),
        # Rotated yesterday, the run cut between the value and its metadata: the value names
        # the new token, the metadata is still the intent, which keeps the promise.
        "wheels": KeyState(
            pending=PendingWrite(cut_live.guid, (cut_older.guid,), NOW + 2 * DAY, "raw"),
            value=StoredValue(cut_live.guid, "raw", "0" * 64),
        ),
    }
    return spec, run_plan(spec, live, meta, self_guid=stray.guid)
