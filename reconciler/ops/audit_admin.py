"""The audit's rules for the admin token: the one a run authenticates with, and the one each
spec declares as its runs' own (server.auth.token). Pure: views, specs and `now` in, (rule,
view, message) out; `reconciler.ops.audit` makes them findings.

- PPMT017: a declared admin token expires before the scheduled run after its rotation point
  can replace it (runs may come up to the audit's overdue slack late): once it has expired no
  run can authenticate.
- PPMT018: the admin token in use carries no ppm-tokens marker: a hand-made one, known to
  whoever made it. Not for a token exchanged by identity federation, which lasts one run.
- PPMT019: the admin token in use is a generation of a declared admin token whose rotation
  point passed more than the slack ago. An older generation within its grace is not reported:
  a job that read its secret before the day's rotation uses it, which is what the grace is for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from reconciler.desired.model import Scope
from reconciler.durations import format_duration, humanize
from reconciler.ops import rules as R
from reconciler.ops import schedule
from reconciler.ops.rules import Rule
from reconciler.ops.view import Generation, TokenView
from reconciler.plan.labels import format_time

AdminFinding = tuple[Rule, TokenView, str]


def admin_checks(
    views: Sequence[TokenView],
    now: datetime,
    *,
    slack: timedelta,
    exchanged: bool,
) -> Iterator[AdminFinding]:
    for view in views:
        if not view.active:
            continue
        if _declared_admin(view) and view.generation is Generation.CURRENT:
            yield from _expiry(view, slack)
        if view.authenticating and view.token.scope == Scope.GLOBAL_ADMIN.value:
            yield from _in_use(view, now, slack, exchanged=exchanged)


def _declared_admin(view: TokenView) -> bool:
    """Whether `view` is a generation of a loaded spec's own admin token."""
    spec, owner = view.spec, view.owner
    return spec is not None and owner is not None and owner.name == spec.server.auth.token


def _expiry(view: TokenView, slack: timedelta) -> Iterator[AdminFinding]:
    expires, due = view.token.expires, view.rotation_due
    if expires is None:
        return  # never expires: PPMT001 says what to do
    if due is None:
        yield (
            R.ADMIN_EXPIRES_UNREPLACED,
            view,
            (
                f"the admin token the runs use expires on {format_time(expires)}, and no rotation "
                "is declared to replace it"
            ),
        )
    elif expires <= due + slack:
        yield (
            R.ADMIN_EXPIRES_UNREPLACED,
            view,
            (
                f"the admin token the runs use expires on {format_time(expires)}, before the "
                f"scheduled run after its rotation point ({format_time(due)}) is sure to replace "
                f"it (runs may come up to {format_duration(slack)} late)"
            ),
        )


def _in_use(
    view: TokenView,
    now: datetime,
    slack: timedelta,
    *,
    exchanged: bool,
) -> Iterator[AdminFinding]:
    if view.owner is None:
        if exchanged:
            return  # given by identity federation for this run
        lifetime = (
            "never expires"
            if view.token.expires is None
            else f"expires on {format_time(view.token.expires)}"
        )
        yield (
            R.ADMIN_UNMANAGED,
            view,
            (
                f"the admin token this audit authenticates with has no ppm-tokens marker (user "
                f"{view.token.user}, created {format_time(view.token.created)}, {lifetime})"
            ),
        )
        return
    if not _declared_admin(view) or view.declared is None:
        return
    # Any generation: an older one in use within its grace is what the grace is for (a job
    # that read its secret before this day's rotation), one past its rotation point is not.
    due = schedule.rotation_due(view.declared, view.token)
    if due is not None and now > due + slack:
        newer = " (a newer one is stored)" if view.generation is Generation.RETIRING else ""
        yield (
            R.ADMIN_STALE,
            view,
            (
                "the admin token this audit authenticates with is "
                f"{humanize(now - view.token.created)} old{newer}: its rotation was due on "
                f"{format_time(due)} (slack {format_duration(slack)})"
            ),
        )
