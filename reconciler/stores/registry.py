"""Store types by name, and opening the stores a spec uses.

A store type is a function `(StoreConfig, StoreContext) -> SecretStore`. The context carries
every I/O edge a store may need, so tests hand in their own.
"""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from reconciler.bounded_run import run_capped
from reconciler.desired.command_rules import ADMIN_TOKEN_VARIABLE
from reconciler.desired.model import Spec, StoreConfig
from reconciler.errors import UsageError
from reconciler.stores.base import SecretStore

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class StoreContext:
    spec_dir: Path  # relative store paths resolve against the spec file's directory
    env: Mapping[str, str]  # HOME for ~, XDG_STATE_HOME, and the environment of store commands
    # A command store's programs: subprocess.run's signature, each stream read to a bound.
    run: Callable[..., subprocess.CompletedProcess[bytes]] = run_capped
    # Remote stores (vault, github): tests hand in a recording or failing transport, and a
    # sleep and clock of their own so backoff, rate limits and lease renewal run without waiting.
    http_transport: httpx.BaseTransport | None = None
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    # Whether reading may run a program named in the spec (a command store's read_command).
    # Only apply (and audit when asked) turns it on: `plan` runs on pull requests, where the spec
    # is whatever the pull request says and the admin token is in the environment.
    run_read_commands: bool = False
    # The variables this run takes a global:admin token from: never given to a store's program,
    # not even when a spec asks for them by name.
    withheld: frozenset[str] = frozenset({ADMIN_TOKEN_VARIABLE})


StoreFactory = Callable[[StoreConfig, StoreContext], SecretStore]

# Type -> "module:function" of its factory, imported on first use: a backend's optional
# dependencies (boto3, PyNaCl) are needed only by specs that use it.
STORE_TYPES: dict[str, str] = {
    "file": "reconciler.stores.file:open_file_store",
    "command": "reconciler.stores.command:open_command_store",
    "vault": "reconciler.stores.vault:open_vault_store",
    "aws": "reconciler.stores.aws:open_aws_store",
    "github": "reconciler.stores.github:open_github_store",
}


def store_factory(type_name: str) -> StoreFactory | None:
    """The factory for a store type; None when this version has no such type."""
    target = STORE_TYPES.get(type_name)
    if target is None:
        return None
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None  # the backend is not built yet
        raise UsageError(
            f"store type '{type_name}' needs the Python package '{exc.name}': install "
            f"ppm-token-reconciler[{type_name}]"
        ) from None
    factory: StoreFactory = getattr(module, attribute)
    return factory


def open_store(config: StoreConfig, context: StoreContext) -> SecretStore:
    factory = store_factory(config.type)
    if factory is None:
        available = ", ".join(sorted(t for t in STORE_TYPES if _available(t)))
        raise UsageError(
            f"store type '{config.type}' (store '{config.name}') is not available in this "
            f"version; available types: {available}"
        )
    return factory(config, context)


def _available(type_name: str) -> bool:
    module_name = STORE_TYPES[type_name].partition(":")[0]
    return importlib.util.find_spec(module_name) is not None


def open_stores(spec: Spec, context: StoreContext) -> dict[str, SecretStore]:
    """The stores that tokens refer to, in the order of first use; declared but unused stores
    are not opened (an unused store needs no credentials)."""
    stores: dict[str, SecretStore] = {}
    for token in spec.tokens:
        if token.store in stores:
            continue
        config = spec.stores.get(token.store)
        if config is None:
            raise UsageError(
                f"token '{token.name}' uses store '{token.store}', which is not declared "
                "under stores:"
            )
        stores[token.store] = open_store(config, context)
    return stores


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


def close_stores(stores: Mapping[str, SecretStore]) -> None:
    """Release what the stores hold open (a remote store's connections). A process that runs
    commands one after the other (a scheduler, the tests) would otherwise keep them all."""
    for store in stores.values():
        if isinstance(store, _Closable):
            store.close()
