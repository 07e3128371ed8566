"""Builders for specs, live tokens and store metadata, straight from the model dataclasses."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from reconciler.desired.model import (
    ALL_RESOURCES,
    Policy,
    Rotation,
    Scope,
    ServerConfig,
    Spec,
    StoreConfig,
    TokenSpec,
)
from reconciler.durations import Expiry
from reconciler.ownership import stored_description
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.server.model import LiveToken, Resource
from reconciler.stores.base import KeyState, SecretMeta

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NS = "data-platform"
SERVER = "https://ppm.example.com"
DAY = timedelta(days=1)
RESOURCES = (
    Resource("0c1d0000-0000-4000-8000-00000000c7a1", "cran", "repo", "r"),
    Resource("0c1d0000-0000-4000-8000-00000000b1b1", "pypi", "repo", "python"),
    Resource("0c1d0000-0000-4000-8000-00000000b10c", "bioc", "repo", "bioconductor"),
    Resource("0c1d0000-0000-4000-8000-0000000005c1", "internal", "source", "local"),
)
STORES = MappingProxyType(
    {
        "vault": StoreConfig("vault", "vault", MappingProxyType({"address": "https://vault"})),
        "local": StoreConfig("local", "file", MappingProxyType({"path": "/srv/ppm-tokens"})),
    }
)


def guid(label: str) -> str:
    """A stable GUID per label, so expectations can name tokens by what they are."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"ppm-tokens-test/{label}"))


def resource_ids(names: Sequence[str]) -> tuple[str, ...]:
    ids = {r.name: r.id for r in RESOURCES}
    return () if tuple(names) == (ALL_RESOURCES,) else tuple(ids[n] for n in names)


def token_spec(name: str = "ds-read", **changes: Any) -> TokenSpec:
    base = TokenSpec(
        name=name,
        user="analyst@example.com",
        description=f"Access for {name}",
        scope=Scope.REPOS_READ,
        resources=("cran", "pypi"),
        expires=Expiry(lifetime=90 * DAY),
        rotation=Rotation(after=60 * DAY, before_expiry=14 * DAY, grace=3 * DAY),
        store="vault",
        secret=name,
    )
    return replace(base, **changes)


def make_spec(*tokens: TokenSpec, namespace: str = NS, **policy: Any) -> Spec:
    return Spec(
        path="tokens.yaml",
        sha256="5" * 64,
        version=1,
        namespace=namespace,
        server=ServerConfig(url=SERVER),
        stores=STORES,
        policy=Policy(**policy),
        tokens=tuple(tokens),
    )


def live_token(
    spec_token: TokenSpec,
    label: str,
    *,
    age: timedelta = 10 * DAY,
    namespace: str | None = NS,
    now: datetime = NOW,
    **changes: Any,
) -> LiveToken:
    """A live token as a faithful create of `spec_token` would leave it, `age` ago.
    namespace=None leaves the marker out (an unmanaged token)."""
    created = now - age
    description = (
        spec_token.description
        if namespace is None
        else stored_description(spec_token.description, namespace, spec_token.name)
    )
    token = LiveToken(
        guid=guid(label),
        description=description,
        user=spec_token.user,
        scope=spec_token.scope.value,
        resources=spec_token.resources,
        resource_ids=resource_ids(spec_token.resources),
        created=created,
        expires=spec_token.expires.deadline(created),
    )
    return replace(token, **changes)


def created_token(spec_token: TokenSpec, namespace: str, new_guid: str) -> LiveToken:
    """The live token a create of `spec_token` leaves at NOW, under GUID `new_guid`."""
    return live_token(spec_token, new_guid, age=timedelta(0), namespace=namespace, guid=new_guid)


def meta_for(token: LiveToken, name: str, namespace: str = NS) -> SecretMeta:
    return SecretMeta(
        token_guid=token.guid,
        name=name,
        namespace=namespace,
        created=token.created,
        expires=token.expires,
        scope=token.scope,
    )


def run_plan(
    spec: Spec,
    live: Sequence[LiveToken],
    meta: Mapping[str, SecretMeta | KeyState | None] | None = None,
    **options: Any,
) -> Plan:
    return plan(spec, live, RESOURCES, meta or {}, NOW, server=SERVER, **options)
