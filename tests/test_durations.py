"""Durations, expiries and `--at`/`--now` times."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from reconciler.durations import (
    NEVER,
    DurationError,
    Expiry,
    as_utc,
    date_deadline,
    format_duration,
    humanize,
    parse_duration,
    parse_expiry,
    parse_when,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        ("30m", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(days=14)),
        ("0s", timedelta(0)),
        (" 7d ", timedelta(days=7)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "d", "90", "90 d", "1.5d", "-1d", "90D", "1y", "1234567d"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(DurationError, match="not a duration"):
        parse_duration(text)


def test_parse_duration_refuses_non_text() -> None:
    with pytest.raises(DurationError):
        parse_duration(90)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(days=90), "90d"),
        (timedelta(hours=36), "36h"),
        (timedelta(minutes=90), "90m"),
        (timedelta(seconds=45), "45s"),
        (timedelta(0), "0s"),
        (timedelta(days=14), "14d"),
    ],
)
def test_format_duration_is_the_shortest_exact_spelling(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text
    assert parse_duration(text) == delta


def test_humanize() -> None:
    assert humanize(timedelta(days=5, hours=3)) == "5 days"
    assert humanize(timedelta(hours=1)) == "1 hour"
    assert humanize(timedelta(minutes=-12)) == "12 minutes"
    assert humanize(timedelta(seconds=1)) == "1 second"


def test_humanize_rounds_to_the_nearest_unit() -> None:
    """A 90d token made seconds ago expires in 90 days, not 89."""
    assert humanize(timedelta(days=90, seconds=-5)) == "90 days"
    assert humanize(timedelta(days=5, hours=11)) == "5 days"
    assert humanize(timedelta(days=5, hours=12)) == "6 days"
    assert humanize(timedelta(hours=2, minutes=-1)) == "2 hours"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("90d", Expiry(lifetime=timedelta(days=90))),
        ("never", NEVER),
        ("2027-01-31", Expiry(on=date(2027, 1, 31))),
        (date(2027, 1, 31), Expiry(on=date(2027, 1, 31))),
        (datetime(2027, 1, 31, 15, 0, tzinfo=UTC), Expiry(on=date(2027, 1, 31))),
    ],
    ids=["duration", "never", "text-date", "yaml-date", "datetime"],
)
def test_parse_expiry(value: object, expected: Expiry) -> None:
    assert parse_expiry(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("2027-02-30", "not a real date"),
        ("soon", "not an expiry"),
        (90, "not an expiry"),
        (None, "not an expiry"),
    ],
)
def test_parse_expiry_refuses(value: object, fragment: str) -> None:
    with pytest.raises(DurationError, match=fragment):
        parse_expiry(value)


def test_expiry_deadlines() -> None:
    created = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    assert Expiry(lifetime=timedelta(days=1)).deadline(created) == created + timedelta(days=1)
    # A date is valid through that whole day, UTC.
    assert Expiry(on=date(2026, 12, 31)).deadline(created) == datetime(2027, 1, 1, tzinfo=UTC)
    assert date_deadline(date(2026, 12, 31)) == datetime(2027, 1, 1, tzinfo=UTC)
    assert NEVER.deadline(created) is None and NEVER.never
    assert NEVER.longest_from(created) is None
    assert Expiry(on=date(2026, 12, 2)).longest_from(created) == timedelta(hours=40)
    assert [
        str(e) for e in (Expiry(lifetime=timedelta(days=90)), Expiry(on=date(2027, 1, 2)), NEVER)
    ] == [
        "90d",
        "2027-01-02",
        "never",
    ]


def test_parse_when_relative_and_absolute() -> None:
    assert parse_when("+30d", NOW) == NOW + timedelta(days=30)
    assert parse_when("+12h", NOW) == NOW + timedelta(hours=12)
    assert parse_when("2027-03-01", NOW) == datetime(2027, 3, 1, tzinfo=UTC)
    assert parse_when("2027-03-01T12:00:00Z", NOW) == datetime(2027, 3, 1, 12, tzinfo=UTC)
    plus_two = parse_when("2027-03-01T12:00:00+02:00", NOW)
    assert plus_two.utcoffset() == timezone(timedelta(hours=2)).utcoffset(None)
    assert plus_two == datetime(2027, 3, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2027-13-01", "+3x", "+"])
def test_parse_when_refuses(text: str) -> None:
    with pytest.raises(DurationError):
        parse_when(text, NOW)


def test_durations_dates_and_times_stay_inside_the_calendar() -> None:
    """Beyond these bounds a creation time plus an expiry would not fit in a datetime: an
    error with a message, never an OverflowError in validate or plan."""
    assert parse_duration("36500d") == timedelta(days=36500)
    with pytest.raises(DurationError, match="longer than 100 years"):
        parse_duration("999999w")
    with pytest.raises(DurationError, match=r"100 years.*write never"):
        parse_expiry("36501d")
    assert parse_expiry("2999-12-31") == Expiry(on=date(2999, 12, 31))
    for far in ("9999-12-31", date(9999, 12, 31), datetime(3000, 1, 1, tzinfo=UTC)):
        with pytest.raises(DurationError, match="too far ahead"):
            parse_expiry(far)
    for moment in ("9999-12-31T23:59:59Z", "3000-01-01", "0001-01-01", "1969-12-31"):
        with pytest.raises(DurationError, match="out of range"):
            parse_when(moment, NOW)


def test_as_utc_reads_a_naive_time_as_utc_and_converts_an_aware_one() -> None:
    naive = datetime(2026, 3, 1, 12, 0)
    assert as_utc(naive) == datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    assert as_utc(naive).tzinfo is UTC
    paris = datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1)))
    converted = as_utc(paris)
    assert converted.tzinfo is UTC and converted.hour == 12
