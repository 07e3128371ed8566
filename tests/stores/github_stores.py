"""Opening github stores on the fake GitHub, each closed after its test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from reconciler.desired.model import StoreConfig
from reconciler.stores.github import GitHubStore, open_github_store
from reconciler.stores.registry import StoreContext
from tests.fakes.github import Grant, RunningGitHub

REPO = "acme/pipelines"
OPENED: list[GitHubStore] = []


@pytest.fixture(autouse=True)
def close_stores() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


def make_store(
    github: RunningGitHub,
    tmp_path: Path,
    *,
    grants: dict[str, Grant] | None = None,
    token: str | None = None,
    sleeps: list[float] | None = None,
    transport: httpx.BaseTransport | None = None,
    **options: Any,
) -> GitHubStore:
    github.fake.add_repository(REPO, "production")
    github.fake.add_repository("acme/web")
    github.fake.add_organization("acme")
    token = token or github.fake.new_token(
        grants or {REPO: "write", "acme/web": "read", "org:acme": "write"}
    )
    config = StoreConfig("ci", "github", MappingProxyType(options or {"repository": REPO}))
    context = StoreContext(
        spec_dir=tmp_path,
        env={"GITHUB_TOKEN": token, "GITHUB_API_URL": github.url},
        http_transport=transport,
        sleep=(sleeps if sleeps is not None else []).append,
    )
    store = open_github_store(config, context)
    OPENED.append(store)
    return store
