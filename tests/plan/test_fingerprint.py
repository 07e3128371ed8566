from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone

import pytest

from reconciler.plan.fingerprint import live_fingerprint

from .conftest import NOW, RESOURCES, live_token, token_spec

A = live_token(token_spec("a"), "a")
B = live_token(token_spec("b"), "b", revoked=NOW)


def test_format() -> None:
    value = live_fingerprint([A, B], RESOURCES)
    assert value.startswith("sha256:")
    assert len(value) == len("sha256:") + 64


def test_order_and_time_zone_do_not_matter() -> None:
    shifted = replace(A, created=A.created.astimezone(timezone(timedelta(hours=2))))
    assert live_fingerprint([A, B], RESOURCES) == live_fingerprint([B, shifted], RESOURCES[::-1])


@pytest.mark.parametrize(
    "change",
    [
        {"description": "other"},
        {"user": "someone"},
        {"scope": "sources:write"},
        {"resources": ("cran",)},
        {"resource_ids": ("x", "y")},
        {"created": NOW},
        {"expires": None},
        {"revoked": NOW},
        {"guid": "other-guid"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_every_field_counts(change: dict[str, object]) -> None:
    assert live_fingerprint([A], RESOURCES) != live_fingerprint([replace(A, **change)], RESOURCES)


def test_a_recreated_repository_counts() -> None:
    moved = (replace(RESOURCES[0], id="new-id"), *RESOURCES[1:])
    assert live_fingerprint([A], RESOURCES) != live_fingerprint([A], moved)
