"""Durations and expiries: "90d", "12h", "30m", "45s", "never", dates -> typed values.

Pure: no clock. An `Expiry` becomes an absolute deadline only when given a creation time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

_DURATION = re.compile(r"^(?P<n>[0-9]{1,6})(?P<unit>[smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
# Bounds that keep every date computed from a spec or a flag (a creation time plus an expiry,
# a rotation point, a preview's clock) well inside what datetime can hold (year 9999), so
# `expires: 999999w` or `--now 9999-12-31` is an error with a message, never an OverflowError.
MAX_DURATION = timedelta(days=36500)  # 100 years: longer is `never`
LATEST_DATE = date(3000, 1, 1)  # dates in a spec and --now/--at times fall before it
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)


class DurationError(ValueError):
    """Text that is not a duration, expiry or date. The message says what is accepted."""


def parse_duration(text: str) -> timedelta:
    """Parse `90d`, `12h`, `30m`, `45s` (and `2w`) into a timedelta."""
    if not isinstance(text, str):
        raise _not_a_duration(text)
    return _duration_of(text)  # a large spec repeats a few texts thousands of times


@lru_cache(maxsize=256)
def _duration_of(text: str) -> timedelta:
    match = _DURATION.match(text.strip())
    if match is None:
        raise _not_a_duration(text)
    delta = timedelta(seconds=int(match["n"]) * _UNITS[match["unit"]])
    if delta > MAX_DURATION:
        raise DurationError(
            f"{text.strip()!r} is longer than 100 years (36500d), the longest duration taken"
        )
    return delta


def _not_a_duration(text: object) -> DurationError:
    return DurationError(
        f"{text!r} is not a duration: use a whole number and a unit, like 90d, 12h, 30m or 45s"
    )


def format_duration(delta: timedelta) -> str:
    """The shortest exact spelling: 90d, 36h, 90m, 45s."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def humanize(delta: timedelta) -> str:
    """A rounded duration for people: "5 days", "3 hours", "12 minutes". Rounded to the nearest
    unit, not down: a 90d token made seconds ago expires "in 90 days", not "in 89 days"."""
    seconds = abs(int(delta.total_seconds()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = (seconds + size // 2) // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC. A naive time (store metadata written by other tools) is read as UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def date_deadline(day: date) -> datetime:
    """A token "expiring on" a date is valid through that whole day (UTC)."""
    return datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=UTC)


@dataclass(frozen=True)
class Expiry:
    """When a token expires: a lifetime after creation, the end of a date (UTC), or never."""

    lifetime: timedelta | None = None
    on: date | None = None

    @property
    def never(self) -> bool:
        return self.lifetime is None and self.on is None

    def deadline(self, created: datetime) -> datetime | None:
        if self.lifetime is not None:
            return created + self.lifetime
        if self.on is not None:
            return date_deadline(self.on)
        return None

    def longest_from(self, now: datetime) -> timedelta | None:
        """How long a token created at `now` lives; None when it never expires."""
        deadline = self.deadline(now)
        return None if deadline is None else deadline - now

    def __str__(self) -> str:
        if self.lifetime is not None:
            return format_duration(self.lifetime)
        if self.on is not None:
            return self.on.isoformat()
        return "never"


NEVER = Expiry()


def parse_expiry(value: object) -> Expiry:
    """Accept `90d`-style durations, `never`, `YYYY-MM-DD` text, or a YAML date."""
    if isinstance(value, datetime):
        return Expiry(on=_within_bounds(value.date()))
    if isinstance(value, date):
        return Expiry(on=_within_bounds(value))
    if not isinstance(value, str):
        raise DurationError(f"{value!r} is not an expiry: use 90d, never, or a date YYYY-MM-DD")
    text = value.strip()
    if text == "never":
        return NEVER
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise DurationError(f"{text!r} is not a real date: {exc}") from None
        return Expiry(on=_within_bounds(day))
    try:
        return Expiry(lifetime=parse_duration(text))
    except DurationError as exc:
        if "100 years" in str(exc):
            raise DurationError(f"{exc}: for a token that must not expire, write never") from None
        raise DurationError(
            f"{text!r} is not an expiry: use a duration like 90d, the word never, "
            "or a date YYYY-MM-DD"
        ) from None


def parse_when(text: str, now: datetime) -> datetime:
    """`--at`/`--now` values: an ISO 8601 time or date, or `+30d` relative to `now`."""
    text = text.strip()
    if text.startswith("+"):
        return now + parse_duration(text[1:])
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise DurationError(
            f"{text!r} is not a time: use ISO 8601 (2027-03-01 or 2027-03-01T12:00:00Z) or +30d"
        ) from None
    moment = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not EARLIEST_TIME <= moment < datetime.combine(LATEST_DATE, time(0, 0), tzinfo=UTC):
        raise DurationError(
            f"{text!r} is out of range: give a time from 1970 to before {LATEST_DATE.year}"
        )
    return moment


def _within_bounds(day: date) -> date:
    if day >= LATEST_DATE:
        raise DurationError(
            f"{day.isoformat()!r} is too far ahead: use a date before {LATEST_DATE.isoformat()}, "
            "or never for a token that must not expire"
        )
    return day
