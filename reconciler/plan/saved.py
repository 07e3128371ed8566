"""Whether a saved plan is exactly what the spec and the live state give.

A saved plan travels as a file (a CI artifact, an attachment to a review) and can be edited on
the way. `apply PLAN.json` therefore never trusts its actions: it plans again, from the spec and
the live tokens, at the moment the saved plan claims to describe (`generated_at`), and applies
only if every part of the saved plan is what that gives, down to each field of each action. The
reason counts too: it is what a reviewer read and approved, and at the same moment it is
computed exactly, so an edited reason is a tampered plan like any other.

A saved plan may not claim a moment ahead of now (rotations and retirements would fall due early);
a moment in the past can only make less due. What a plan promises is relative to when it runs (a
rotation's grace counts from when apply stores the new value; a new token's expiry from its
creation), so a plan applied days after it was made is neither refused for that nor gives less.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import datetime, timedelta

from reconciler.errors import StalePlanError
from reconciler.plan.labels import format_time
from reconciler.plan.model import Action, Plan
from reconciler.sanitize import PATH_EXCERPT, excerpt, for_terminal, quoted
from reconciler.urls import server_identity

# The machine that planned and the one that applies may disagree on the time by this much.
CLOCK_SKEW = timedelta(minutes=5)
_AGAIN = "run `ppm-tokens plan --out` again and review it"


def check_moment(saved: Plan, now: datetime) -> None:
    if saved.generated_at > now + CLOCK_SKEW:
        raise StalePlanError(
            f"the saved plan says it was made at {format_time(saved.generated_at)}, which is "
            f"later than now ({format_time(now)}): the file was edited or the clocks disagree; "
            f"{_AGAIN}"
        )


def check_saved(saved: Plan, derived: Plan) -> None:
    """Raise StalePlanError naming the first part of `saved` that is not what `derived` (the
    plan made again at the saved plan's moment) says."""
    # Compared as identities: a plan saved by an older version records the URL as it was
    # typed, and `HTTP://PPM.example.com:80/` is the server `http://ppm.example.com` is.
    if server_identity(saved.server) != server_identity(derived.server):
        raise StalePlanError(
            f"the saved plan is for server {excerpt(saved.server, PATH_EXCERPT)}, but this run "
            f"talks to {for_terminal(derived.server)}; {_AGAIN} against that server"
        )
    if saved.namespace != derived.namespace:
        raise StalePlanError(
            f"the saved plan is for namespace {quoted(saved.namespace)}, the spec for "
            f"{derived.namespace}; {_AGAIN}"
        )
    if saved.live_fingerprint != derived.live_fingerprint:
        raise StalePlanError(
            "the live tokens this plan depends on changed since it was made "
            f"({for_terminal(saved.live_fingerprint[:19])} -> {derived.live_fingerprint[:19]}); "
            f"{_AGAIN}"
        )
    if derived.errors and not saved.errors:
        # Said as what it is (time made the spec fail a rule of the date, most likely), not
        # as the first action it changed.
        raise StalePlanError(
            "planning again gives errors the saved plan does not have, the first: "
            f"{for_terminal(derived.errors[0].message)}; fix them and {_AGAIN}"
        )
    _check_actions(saved.actions, derived.actions)
    for part in ("still_active", "warnings", "errors"):
        if getattr(saved, part) != getattr(derived, part):
            raise StalePlanError(
                f"the saved plan's {part.replace('_', ' ')} are not what the spec, the live "
                f"tokens and the stores give now: the stores changed or the file was edited; "
                f"{_AGAIN}"
            )


def _check_actions(saved: tuple[Action, ...], derived: tuple[Action, ...]) -> None:
    for index, (mine, theirs) in enumerate(zip(saved, derived, strict=False), start=1):
        if mine == theirs:
            continue
        changed = [
            f.name for f in fields(Action) if getattr(mine, f.name) != getattr(theirs, f.name)
        ]
        fields_differ = (
            f"{changed[0]} differs"
            if len(changed) == 1
            else f"{', '.join(changed[:-1])} and {changed[-1]} differ"
        )
        raise StalePlanError(
            f"saved action {index} ({_describe(mine)}) is not what the spec, the live tokens "
            f"and the stores give ({_describe(theirs)}): its {fields_differ}; "
            f"the stores changed or the file was edited; {_AGAIN}"
        )
    if len(saved) != len(derived):
        extra = saved[len(derived) :] or derived[len(saved) :]
        which = "has" if len(saved) > len(derived) else "lacks"
        raise StalePlanError(
            f"the saved plan {which} {len(extra)} action(s) the spec, the live tokens and the "
            f"stores give otherwise, from {_describe(extra[0])} on: the file was edited; {_AGAIN}"
        )


def _describe(action: Action) -> str:
    # A saved action's name and GUID are whatever the file holds: excerpts of them.
    parts = [action.kind.value, excerpt(action.name) if action.name else "(unmanaged)"]
    if action.guid:
        parts.append(excerpt(action.guid))
    return " ".join(parts)
