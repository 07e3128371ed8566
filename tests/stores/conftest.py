from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.secret import Secret
from reconciler.stores.base import SecretMeta, SecretPayload
from tests.jwt_shapes import jwt_shaped

from .command_harness import Harness

VALUE = jwt_shaped("store-test")


@pytest.fixture
def meta() -> SecretMeta:
    return SecretMeta(
        token_guid="6f1c0a52-1111-4222-8333-944455556666",
        name="ds-read",
        namespace="data-platform",
        created=datetime(2027, 3, 1, 12, 0, tzinfo=UTC),
        expires=datetime(2027, 5, 30, 12, 0, tzinfo=UTC),
        scope="repos:read",
    )


@pytest.fixture
def payload(meta: SecretMeta) -> SecretPayload:
    value = Secret(VALUE)
    return SecretPayload(value, SecretMeta(**{**vars(meta), "value_sha256": value.sha256()}))


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)
