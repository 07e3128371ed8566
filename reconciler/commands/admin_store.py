"""The admin token kept in a store (server.auth.token or server.auth.store): which token a store
hands out under a key, read from the stored value itself.

The one place that reads a token value back out of a store. The value is read with the store's
own `read_payload` (file, vault, aws; a command store's read_value_command), taken out of its
payload format and wrapped in a Secret at once; the token it is, is its JWT `jti`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.errors import ReconcilerError, StoreError, UsageError
from reconciler.ops.payload import token_from_payload
from reconciler.ownership import Owner, parse_owner
from reconciler.secret import Secret
from reconciler.server import jwtinfo
from reconciler.server.model import LiveToken
from reconciler.spec.model import Spec, StoredAdminToken
from reconciler.stores.base import PayloadReader, SecretMeta, SecretStore
from reconciler.stores.registry import StoreContext, close_stores, open_store


@dataclass(frozen=True)
class HeldToken:
    """The token a store hands out under one key."""

    value: Secret
    guid: str | None  # the value's `jti`: which token it is (None: not a PPM token)


def read_held(store: SecretStore, key: str) -> HeldToken | None:
    """The token `store` hands out under `key`; None when it holds nothing. Raises StoreError
    when the store cannot read values back or fails. The payload format is the one the
    metadata records (the value alone when there is none)."""
    if not isinstance(store, PayloadReader):
        raise StoreError(f"store '{store.name}' cannot hand its values back")
    payload = store.read_payload(key)
    if payload is None:
        return None
    meta = store.read_meta(key)
    value = token_from_payload(payload, meta.format if meta is not None else None)
    if value is None:
        return None
    return HeldToken(value, jwtinfo.token_guid(value.reveal()))


def as_held(
    spec: Spec,
    stores: Mapping[str, SecretStore],
    stored: Mapping[str, SecretMeta | None],
    live: Sequence[LiveToken],
    now: datetime,
) -> dict[str, SecretMeta | None]:
    """`stored` (what plan reads: each name's metadata), with the spec's own admin token taken
    from what its store hands out, where its value can be read and the metadata says otherwise.

    A run cut between the value and its metadata (kill -9, the store unreachable) leaves the
    store handing out a token its metadata does not name, or no metadata at all; the next run
    authenticates with that value. Planned from the metadata alone, that token would be an
    orphan or a repair, and the one before it would lose its grace. Its value says which token
    it is: an active generation of the admin token's own name is taken as the one stored (no
    grace recorded: the spec's grace from its creation); its next rotation writes metadata
    again."""
    declared = spec.self_token
    store = stores.get(declared.store) if declared is not None else None
    if declared is None or store is None or not isinstance(store, PayloadReader):
        return dict(stored)
    try:
        held = read_held(store, declared.secret)
    except ReconcilerError:
        return dict(stored)  # plan reads what it can; apply's own read of it said more
    meta = stored.get(declared.name)
    if held is None or held.guid is None or (meta is not None and meta.token_guid == held.guid):
        return dict(stored)
    token = next((t for t in live if t.guid == held.guid and t.is_active(now)), None)
    owner = parse_owner(token.description) if token is not None else None
    if token is None or owner != Owner(spec.namespace, declared.name):
        return dict(stored)
    recorded = SecretMeta(
        token_guid=token.guid,
        name=declared.name,
        namespace=spec.namespace,
        created=token.created,
        expires=token.expires,
        scope=token.scope,
        format=declared.format.value,
    )
    return {**stored, declared.name: recorded}


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
