"""The admin token kept in a store (server.auth.token or server.auth.store), read back to
authenticate with.

The one place that takes a token value back out of a store: with the store's own
`read_payload` (file, vault, aws; a command store's read_value_command), out of its payload
format (stores.formats, which also tells the stores' read_states which token a value is),
wrapped in a Secret at once. Which generation is current is the planner's to say, from
read_states (plan.standing), as for every token.
"""

from __future__ import annotations

from dataclasses import dataclass

from reconciler.desired.model import Spec, StoredAdminToken
from reconciler.errors import StoreError, UsageError
from reconciler.secret import Secret
from reconciler.stores.base import PayloadReader, SecretStore
from reconciler.stores.formats import inspect_payload, token_from_payload
from reconciler.stores.registry import StoreContext, close_stores, open_store


@dataclass(frozen=True)
class HeldToken:
    """The token a store hands out under one key."""

    value: Secret
    guid: str | None  # the value's `jti`: which token it is (None: not a PPM token)


def read_held(store: SecretStore, key: str) -> HeldToken | None:
    """The token `store` hands out under `key`; None when it holds nothing. Raises StoreError
    when the store cannot read values back or fails. The payload's format is told by its shape
    (stores.formats.inspect_payload): a value whose metadata was never written reads too."""
    if not isinstance(store, PayloadReader):
        raise StoreError(f"store '{store.name}' cannot hand its values back")
    payload = store.read_payload(key)
    if payload is None:
        return None
    shape = inspect_payload(payload)
    value = token_from_payload(payload, shape.format)
    return HeldToken(value, shape.token_guid) if value is not None else None


def describe(spec: Spec, where: StoredAdminToken) -> str:
    """Where the admin token is kept, as people name it (in "check ..." messages)."""
    kind = spec.stores[where.store].type if where.store in spec.stores else "?"
    return f"the admin token in store '{where.store}' ({kind}) under '{where.secret}'"


def refusal(spec: Spec, where: StoredAdminToken, *, may_run_programs: bool) -> str | None:
    """Why the admin token cannot be read from its store by this command, before anything is
    sent anywhere; None when it can be tried."""
    config = spec.stores.get(where.store)
    if config is None:
        return f"{spec.path}: store '{where.store}' of the admin token is not declared"
    if config.type == "github":
        return (
            f"{spec.path}: the admin token is kept in GitHub secret {where.secret} (store "
            f"'{where.store}'), which cannot be read back: pass it to the job as "
            f"PACKAGEMANAGER_TOKEN (`PACKAGEMANAGER_TOKEN: ${{{{ secrets.{where.secret} }}}}`), "
            "or name the variable with server.token_env"
        )
    if config.type == "command" and not may_run_programs:
        return (
            f"{spec.path}: the admin token is read by store '{where.store}''s "
            "read_value_command, a program the spec names, and this command runs none (it runs "
            "on pull requests): set PACKAGEMANAGER_TOKEN or pass --token-file"
        )
    return None


def read_admin_token(spec: Spec, where: StoredAdminToken, context: StoreContext) -> Secret:
    """The admin token the store holds, or UsageError saying how to get one there."""
    store = open_store(spec.stores[where.store], context)
    try:
        held = read_held(store, where.secret)
    finally:
        close_stores({where.store: store})
    if held is None:
        raise UsageError(
            f"{spec.path}: store '{where.store}' holds no admin token under '{where.secret}': "
            "make its first value with `ppm-tokens bootstrap-admin -f "
            f"{spec.path}`, given a global:admin token made by hand (PACKAGEMANAGER_TOKEN or "
            "--token-file), which it then revokes"
        )
    return held.value
