"""SecretMeta's flat string form, used by every store for its metadata, round-trips."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.stores.base import SecretMeta

CREATED = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
FULL = SecretMeta(
    token_guid="0b1c2d3e-0000-4000-8000-000000000001",
    name="ds-read",
    namespace="data-platform",
    created=CREATED,
    expires=CREATED + timedelta(days=90),
    scope="repos:read",
    value_sha256="ab" * 32,
    format="netrc",
    retire_previous_after=CREATED + timedelta(days=3),
)
MINIMAL = SecretMeta(
    token_guid="0b1c2d3e-0000-4000-8000-000000000002",
    name="ci",
    namespace="default",
    created=CREATED,
    expires=None,
    scope="global:admin",
)


@pytest.mark.parametrize("meta", [FULL, MINIMAL], ids=["all-fields", "required-only"])
def test_round_trip(meta: SecretMeta) -> None:
    flat = meta.to_strings()
    assert all(isinstance(v, str) for v in flat.values())
    assert SecretMeta.from_strings(flat) == meta


def test_optional_fields_are_left_out_rather_than_written_empty() -> None:
    assert set(MINIMAL.to_strings()) == {
        "token_guid",
        "name",
        "namespace",
        "created",
        "expires",
        "scope",
    }
    assert MINIMAL.to_strings()["expires"] == "never"
