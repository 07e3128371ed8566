"""Lock kinds by `type`, and opening the one a spec chooses (`lock: {type: ...}`, default
`local`), as reconciler.stores.registry opens stores:

    local      fcntl lock on a file in the user's state directory, keyed by server and namespace;
               one machine only (reconciler.locks.local)
    file       a lock file beside the secrets of a `file` store (`lock.store` names it), so every
               machine that mounts that directory shares it (reconciler.locks.file)
    vault      a KV v2 entry written with cas=0 through a `vault` store's connection
               (reconciler.locks.vault)
    dynamodb   a conditional PutItem on a DynamoDB table (reconciler.locks.dynamodb)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from reconciler.desired.model import LockConfig
from reconciler.errors import UsageError
from reconciler.locks.base import ApplyLock, LockContext

LockFactory = Callable[[LockConfig, LockContext], ApplyLock]

# Type -> "module:function", imported on first use (a kind's dependencies, e.g. boto3, are
# needed only by specs that choose it).
LOCK_TYPES: dict[str, str] = {
    "local": "reconciler.locks.local:open_local_lock",
    "file": "reconciler.locks.file:open_file_lock",
    "vault": "reconciler.locks.vault:open_vault_lock",
    "dynamodb": "reconciler.locks.dynamodb:open_dynamodb_lock",
}


def open_lock(config: LockConfig, context: LockContext) -> ApplyLock:
    target = LOCK_TYPES.get(config.type)
    if target is None:
        raise UsageError(
            f"lock type {config.type!r} is unknown; use one of {', '.join(LOCK_TYPES)}"
        )
    module_name, _, attribute = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise UsageError(
                f"lock type {config.type!r} is not available in this version"
            ) from None
        raise UsageError(
            f"lock type {config.type!r} needs the Python package '{exc.name}': install the "
            "extra of the backend it uses (ppm-token-reconciler[aws] for dynamodb)"
        ) from None
    factory: LockFactory = getattr(module, attribute)
    return factory(config, context)
