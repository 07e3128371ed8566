"""Rules about time: expiries against the policy and `now`, rotation against the expiry.

A token reports only mistakes that involve a value it sets itself; values it inherits from
`defaults:` are checked once, at `defaults:`.

Every expiry must be at least a day (PPM's own choices start at days; a shorter token is dead
before anyone uses it), and rotation must leave more than RUN_INTERVAL between a token's
creation and its rotation: the scheduled rotation workflow runs daily, so a token whose
rotation is due within a day of its creation would be replaced at every run.

Against a date expiry these rules read the date: a token's time left shrinks every day, so a
spec that passed can break them without anyone changing it. Those errors are marked
(Problem.clock); `held` says which tokens each one concerns, so plan and apply can keep those
tokens as they are and go on with the others. Against a duration nothing changes with time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from reconciler.desired import effective
from reconciler.desired.effective import Sourced, mapping
from reconciler.desired.loader import JsonPath
from reconciler.durations import (
    DurationError,
    Expiry,
    format_duration,
    parse_duration,
    parse_expiry,
)
from reconciler.problems import Problem

if TYPE_CHECKING:
    from reconciler.desired.rules import Context

MIN_EXPIRY = timedelta(days=1)
# How often the scheduled rotation run (.github/workflows/tokens-rotate.yml) comes round.
RUN_INTERVAL = timedelta(days=1)


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


def duration_bounds(ctx: Context) -> Iterator[Problem]:
    """Durations the schema's pattern accepts but no date can hold (see MAX_DURATION)."""
    data = ctx.data
    paths: list[JsonPath] = [("policy", "max_expires"), ("lock", "lease")]
    rotations: list[JsonPath] = [("defaults", "rotation")]
    rotations += [("tokens", index, "rotation") for index, _ in effective.entries(data)]
    for rotation in rotations:
        paths += [(*rotation, key) for key in ("after", "before_expiry", "grace")]
    for path in paths:
        value = _at(data, path)
        if isinstance(value, str) and value != "none":
            try:
                parse_duration(value)
            except DurationError as exc:
                if "100 years" in str(exc):
                    yield ctx.error(path, f"{ctx.name(path)}: {exc}")


def _at(data: Mapping[str, object], path: JsonPath) -> object:
    node: object = data
    for key in path:
        if isinstance(key, int):
            node = node[key] if isinstance(node, list) and key < len(node) else None
        else:
            node = mapping(node).get(key)
    return node


def policy_problems(ctx: Context) -> Iterator[Problem]:
    path = ("policy", "max_expires")
    limit = policy_max(ctx)
    if limit is not None and limit < MIN_EXPIRY:
        yield ctx.error(
            path,
            f"policy.max_expires {format_duration(limit)} is shorter than a day: no token "
            "could meet it; use 1d or more",
        )


def expiry_problems(ctx: Context, expires: Sourced) -> Iterator[Problem]:
    policy = mapping(ctx.data.get("policy"))
    path = expires.path or ("policy", "max_expires")
    what = "the built-in expiry" if expires.path is None else ctx.name(expires.path)
    try:
        expiry = parse_expiry(expires.value)
    except DurationError as exc:
        # Text the schema's pattern let through (`999999w`) or a YAML date out of range.
        if isinstance(expires.value, str | date) and expires.path is not None:
            yield ctx.error(expires.path, f"{what}: {exc}")
        return
    if expiry.never:
        if policy.get("allow_never_expires") is not True:
            yield ctx.error(path, f"{what}: never needs `policy.allow_never_expires: true`")
        return
    if expiry.on is not None and expiry.on < ctx.now.date():
        yield ctx.clock_error(
            path,
            f"{what} {expiry.on.isoformat()} is in the past: choose a later date, or a duration "
            "such as 90d",
        )
        return
    lifetime = expiry.longest_from(ctx.now)
    if lifetime is not None and lifetime < MIN_EXPIRY:
        if expiry.on is not None:
            yield ctx.clock_error(
                path,
                f"{what}: {expiry} ends in less than a day (a token is valid through that day, "
                "UTC): choose a later date",
            )
        else:
            written = expires.value if isinstance(expires.value, str) else expiry
            yield ctx.error(
                path,
                f"{what}: {written} is shorter than a day: a token would be dead before it is "
                "used; use 1d or more (PPM recommends 90d or less)",
            )
        return
    limit = policy_max(ctx)
    if limit is not None and lifetime is not None and lifetime > limit:
        message = f"{what} {expiry} is longer than policy.max_expires {format_duration(limit)}"
        if expiry.on is not None:  # a date comes within the limit as time passes
            yield ctx.clock_error(
                path, f"{message}: choose an earlier date, or raise policy.max_expires"
            )
        else:
            yield ctx.error(path, f"{message}: shorten it, or raise policy.max_expires")


def rotation_problems(
    ctx: Context, index: int | None, expires: Sourced, *, report_defaults: bool
) -> Iterator[Problem]:
    """Rotation keys against the expiry and each other. A token reports only mistakes that
    involve a value it sets itself; the `defaults:` check reports the rest once."""
    expiry = _parse_expiry(expires.value)
    lifetime = expiry.longest_from(ctx.now) if expiry is not None else None
    dated = expiry is not None and expiry.on is not None  # its lifetime depends on the date
    after = effective.rotation_setting(ctx.data, index, "after")
    before = effective.rotation_setting(ctx.data, index, "before_expiry")
    grace = effective.rotation_setting(ctx.data, index, "grace")

    head = "defaults" if index is None else ctx.name(("tokens", index))

    def where(*sources: Sourced) -> JsonPath | None:
        """The token's own value first; a value from `defaults:` only with report_defaults."""
        own = next((source.path for source in sources if source.from_token), None)
        if own is not None or not report_defaults:
            return own
        return next((source.path for source in sources if source.path is not None), None)

    def shown(source: Sourced) -> str:
        if source.from_token or index is None:
            return str(source.value)
        return f"{source.value} ({'from defaults' if source.path else 'built in'})"

    def not_shorter(
        key: str, source: Sourced, *, limit: timedelta | None, than: Sourced, text: str, why: str
    ) -> Iterator[Problem]:
        """rotation.`key` must be shorter than `limit`; reported where one of the two is set."""
        value = _duration(source.value)
        if value is None or limit is None or value < limit:
            return
        path = where(source, than)
        if path is None:
            return
        message = f"{head}: rotation.{key} {shown(source)} is not shorter than {text}: {why}"
        if key != "grace" and dated:
            # The time left before the date shrinks every day: say what ends it for good.
            yield ctx.clock_error(
                path,
                f"{message}; shorten rotation.{key}, or give expires a later date or a duration",
            )
        else:
            yield ctx.error(path, message)

    if lifetime is not None and lifetime > timedelta(0):
        span = f"the expiry {expiry}" if expiry is not None and expiry.on else f"expires {expiry}"
        checks = (
            ("before_expiry", before, "the token would be rotated as soon as it is created"),
            ("after", after, "the token would expire before it is rotated"),
        )
        for key, source, why in checks:
            found = list(not_shorter(key, source, limit=lifetime, than=expires, text=span, why=why))
            yield from found
            if found or lifetime <= RUN_INTERVAL:
                continue
            yield from not_shorter(
                key,
                source,
                limit=lifetime - RUN_INTERVAL,
                than=expires,
                text=f"{span} less a day (the rotation run is daily)",
                why="the token would be rotated at the first run after it is created"
                if key == "before_expiry"
                else "the token could expire before the next run rotates it",
            )
    yield from not_shorter(
        "grace",
        grace,
        limit=_duration(after.value),
        than=after,
        text=f"rotation.after {shown(after)}",
        why="replaced tokens would pile up",
    )


def held(ctx: Context, reported: Sequence[Problem]) -> Iterator[tuple[str | None, Problem]]:
    """Each date error (Problem.clock) with the present token it concerns. Each token is
    checked with what it inherits, so an error `validate` reports once at `defaults:` comes
    once for every token that takes the value; one that concerns no token (a date in
    `defaults.expires` that every token overrides) comes as in `reported`, with None."""
    covered: set[str] = set()
    for index, token in effective.entries(ctx.data):
        name = token.get("name")
        if token.get("state") == "absent" or not isinstance(name, str):
            continue
        expires = effective.setting(ctx.data, index, "expires")
        found = (
            *expiry_problems(ctx, expires),
            *rotation_problems(ctx, index, expires, report_defaults=True),
        )
        for problem in found:
            if problem.clock:
                covered.add(problem.path)
                yield name, problem
    for problem in reported:
        if problem.clock and problem.path not in covered:
            yield None, problem
