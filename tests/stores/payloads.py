"""Payloads for store tests: JWT-shaped values built at run time, with matching metadata."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

from reconciler.secret import Secret
from reconciler.stores.base import SecretMeta, SecretPayload
from tests.jwt_shapes import jwt_shaped

BASE_META = SecretMeta(
    token_guid="",
    name="ds-read",
    namespace="data-platform",
    created=datetime(2027, 3, 1, 12, 0, tzinfo=UTC),
    expires=datetime(2027, 5, 30, 12, 0, tzinfo=UTC),
    scope="repos:read",
    format="raw",
)


def new_payload(name: str = "ds-read", guid: str | None = None) -> SecretPayload:
    guid = guid or str(uuid.uuid4())
    value = Secret(jwt_shaped(guid, signature=uuid.uuid4().hex))
    meta = replace(BASE_META, token_guid=guid, name=name, value_sha256=value.sha256())
    return SecretPayload(value, meta)
