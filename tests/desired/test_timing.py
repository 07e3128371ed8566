"""Expiries too short to be useful, and rotation that would come round at every run, are refused
offline rather than by the server at apply time."""

from __future__ import annotations

import pytest

from .helpers import check, errors, messages, spec_with


@pytest.mark.parametrize("expires", ["0d", "0s", "1s", "59m", "23h", "1439m"])
def test_an_expiry_under_a_day_is_refused(expires: str) -> None:
    spec, problems = check(spec_with(expires=expires))
    assert spec is None
    assert [(p.path, p.message.split(":")[0]) for p in errors(problems)] == [
        ("/tokens/0/expires", "token 'ds-read' expires")
    ]
    assert f"expires: {expires} is shorter than a day" in problems[0].message


@pytest.mark.parametrize("expires", ["1d", "24h", "1440m", "86400s"])
def test_a_day_is_enough(expires: str) -> None:
    spec, problems = check(spec_with(expires=expires))
    assert problems == [] and spec is not None


def test_a_date_today_leaves_less_than_a_day() -> None:
    # helpers.NOW is 2026-12-01 12:00 UTC: a token "valid through" today lives 12 hours.
    _, problems = check(spec_with(expires="2026-12-01"))
    assert messages(errors(problems)) == [
        "token 'ds-read' expires: 2026-12-01 ends in less than a day (a token is valid through "
        "that day, UTC): choose a later date"
    ]


def test_a_short_default_is_reported_once_at_defaults() -> None:
    text = spec_with(top="defaults: {expires: 12h}\n")
    _, problems = check(text)
    assert [(p.path, p.line) for p in errors(problems)] == [("/defaults/expires", 2)]


def test_a_policy_no_token_could_meet_is_refused() -> None:
    _, problems = check(spec_with(top="policy: {max_expires: 12h}\n", expires="1d"))
    found = errors(problems)
    assert found[0].path == "/policy/max_expires"
    assert "policy.max_expires 12h is shorter than a day" in found[0].message


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        pytest.param(
            {"expires": "15d", "rotation": "{before_expiry: 14d}"},
            "rotation.before_expiry 14d is not shorter than expires 15d less a day "
            "(the rotation run is daily): the token would be rotated at the first run",
            id="before-expiry-at-the-first-run",
        ),
        pytest.param(
            {"expires": "90d", "rotation": "{after: 89d, grace: 1d}"},
            "rotation.after 89d is not shorter than expires 90d less a day "
            "(the rotation run is daily): the token could expire before the next run",
            id="after-within-a-run-of-expiry",
        ),
        pytest.param(
            {"expires": "30d", "rotation": "{before_expiry: 30d}"},
            "rotation.before_expiry 30d is not shorter than expires 30d: the token would be "
            "rotated as soon as it is created",
            id="before-expiry-not-shorter-at-all",
        ),
    ],
)
def test_rotation_must_leave_a_run_between_creation_and_rotation(
    fields: dict[str, str], fragment: str
) -> None:
    spec, problems = check(spec_with(**fields))
    assert spec is None
    assert len(errors(problems)) == 1, problems
    assert problems[0].message.startswith("token 'ds-read': ")
    assert fragment in problems[0].message


def test_a_rotation_more_than_a_run_before_expiry_is_fine() -> None:
    spec, problems = check(spec_with(expires="16d", rotation="{before_expiry: 14d}"))
    assert problems == [] and spec is not None


def test_a_default_rotation_too_close_to_a_token_expiry_is_reported_at_the_token() -> None:
    text = spec_with(top="defaults: {rotation: {before_expiry: 14d}}\n", expires="15d")
    _, problems = check(text)
    assert [p.path for p in errors(problems)] == ["/tokens/0/expires"]
    assert "rotation.before_expiry 14d (from defaults)" in problems[0].message
