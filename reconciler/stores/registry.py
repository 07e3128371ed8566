"""Store types by name, and opening the stores a spec uses.

A store type is a function `(StoreConfig, StoreContext) -> SecretStore`. The context carries
every I/O edge a store may need, so tests hand in their own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reconciler.errors import UsageError
from reconciler.spec.model import Spec, StoreConfig
from reconciler.stores.base import SecretStore
from reconciler.stores.command import open_command_store
from reconciler.stores.file import open_file_store


@dataclass(frozen=True)
class StoreContext:
    spec_dir: Path  # relative store paths resolve against the spec file's directory
    env: Mapping[str, str]  # HOME for ~, XDG_STATE_HOME, and the environment of store commands
    run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run


StoreFactory = Callable[[StoreConfig, StoreContext], SecretStore]

STORE_TYPES: dict[str, StoreFactory] = {
    "file": open_file_store,
    "command": open_command_store,
}


def open_store(config: StoreConfig, context: StoreContext) -> SecretStore:
    factory = STORE_TYPES.get(config.type)
    if factory is None:
        available = ", ".join(sorted(STORE_TYPES))
        raise UsageError(
            f"store type '{config.type}' (store '{config.name}') is not available in this "
            f"version; available types: {available}"
        )
    return factory(config, context)


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
