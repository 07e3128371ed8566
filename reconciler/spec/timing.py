"""Rules about time: expiries against the policy and `now`, rotation against the expiry.

A token reports only mistakes that involve a value it sets itself; values it inherits from
`defaults:` are checked once, at `defaults:`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING

from reconciler.durations import (
    DurationError,
    Expiry,
    format_duration,
    parse_duration,
    parse_expiry,
)
from reconciler.problems import Problem
from reconciler.spec import effective
from reconciler.spec.effective import Sourced, mapping
from reconciler.spec.loader import JsonPath

if TYPE_CHECKING:
    from reconciler.spec.rules import Context


def policy_max(ctx: Context) -> timedelta | None:
    return _duration(mapping(ctx.data.get("policy")).get("max_expires"))


def _duration(value: object) -> timedelta | None:
    """A valid duration, or None for `none` and for anything the schema already rejects."""
    if not isinstance(value, str) or value == "none":
        return None
    try:
        return parse_duration(value)
    except DurationError:
        return None


def _parse_expiry(value: object) -> Expiry | None:
    try:
        return parse_expiry(value)
    except DurationError:
        return None


def expiry_problems(ctx: Context, expires: Sourced) -> Iterator[Problem]:
    policy = mapping(ctx.data.get("policy"))
    path = expires.path or ("policy", "max_expires")
    try:
        expiry = parse_expiry(expires.value)
    except DurationError as exc:
        if isinstance(expires.value, str) and expires.path is not None:
            yield ctx.error(expires.path, str(exc))
        return
    if expiry.never:
        if policy.get("allow_never_expires") is not True:
            yield ctx.error(path, "expires: never needs `policy.allow_never_expires: true`")
        return
    if expiry.on is not None and expiry.on < ctx.now.date():
        yield ctx.error(path, f"expires {expiry.on.isoformat()} is in the past")
        return
    lifetime = expiry.longest_from(ctx.now)
    limit = policy_max(ctx)
    if limit is not None and lifetime is not None and lifetime > limit:
        what = "the built-in expiry" if expires.path is None else "expires"
        yield ctx.error(
            path,
            f"{what} {expiry} is longer than policy.max_expires {format_duration(limit)}",
        )


def rotation_problems(
    ctx: Context, index: int | None, expires: Sourced, *, report_defaults: bool
) -> Iterator[Problem]:
    """Rotation keys against the expiry and each other. A token reports only mistakes that
    involve a value it sets itself; the `defaults:` check reports the rest once."""
    expiry = _parse_expiry(expires.value)
    lifetime = expiry.longest_from(ctx.now) if expiry is not None else None
    after = effective.rotation_setting(ctx.data, index, "after")
    before = effective.rotation_setting(ctx.data, index, "before_expiry")
    grace = effective.rotation_setting(ctx.data, index, "grace")

    def where(*sources: Sourced) -> JsonPath | None:
        for source in sources:
            if source.path is None:
                continue
            if source.from_token or report_defaults:
                return source.path
        return None

    def shown(source: Sourced) -> str:
        return f"{source.value}{'' if source.from_token or index is None else ' (from defaults)'}"

    def not_shorter(
        key: str, source: Sourced, *, limit: timedelta | None, than: Sourced, text: str, why: str
    ) -> Iterator[Problem]:
        """rotation.`key` must be shorter than `limit`; reported where one of the two is set."""
        value = _duration(source.value)
        if value is None or limit is None or value < limit:
            return
        path = where(source, than)
        if path is not None:
            message = f"rotation.{key} {shown(source)} is not shorter than {text}: {why}"
            yield ctx.error(path, message)

    if lifetime is not None and lifetime > timedelta(0):
        span = f"the expiry {expiry}" if expiry is not None and expiry.on else f"expires {expiry}"
        yield from not_shorter(
            "before_expiry",
            before,
            limit=lifetime,
            than=expires,
            text=span,
            why="the token would be rotated as soon as it is created",
        )
        yield from not_shorter(
            "after",
            after,
            limit=lifetime,
            than=expires,
            text=span,
            why="the token would expire before it is rotated",
        )
    yield from not_shorter(
        "grace",
        grace,
        limit=_duration(after.value),
        than=after,
        text=f"rotation.after {shown(after)}",
        why="replaced tokens would pile up",
    )
