"""Opening vault stores against the test OpenBao server, and closing them after each test."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest

from reconciler.desired.model import StoreConfig
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import VaultStore, open_vault_store
from tests.stores.openbao import OpenBao

OPENED: list[VaultStore] = []


@pytest.fixture(autouse=True)
def close_stores() -> Iterator[None]:
    yield
    while OPENED:
        OPENED.pop().close()


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def make_store(
    server: OpenBao,
    mount: str,
    tmp_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    now: Callable[[], datetime] | None = None,
    sleeps: list[float] | None = None,
    **options: Any,
) -> VaultStore:
    config = StoreConfig(
        "vault",
        "vault",
        MappingProxyType({"address": server.url, "mount": mount, "prefix": "ppm/", **options}),
    )
    context = StoreContext(
        spec_dir=tmp_path,
        env=dict(env) if env is not None else {"VAULT_TOKEN": server.root_token},
        http_transport=transport,
        sleep=(sleeps if sleeps is not None else []).append,
        now=now or Clock(),
    )
    store = open_vault_store(config, context)
    OPENED.append(store)
    return store


def kv_data(server: OpenBao, mount: str, path: str, **kw: Any) -> Any:
    return server.ok("GET", f"{mount}/data/{path}", **kw)["data"]


def kv_metadata(server: OpenBao, mount: str, path: str, **kw: Any) -> Any:
    return server.ok("GET", f"{mount}/metadata/{path}", **kw)["data"]
