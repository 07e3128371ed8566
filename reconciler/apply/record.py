"""`record`: write the metadata of the token a store already hands out, after a write that was
cut between its value and its metadata. It creates and revokes nothing: the value is there,
only what says which token it is is missing.

The store is read again first (the plan may be stale): the metadata is written only while the
value still names the planned token, and is read back afterwards.
"""

from __future__ import annotations

from reconciler.apply.context import Context, failed, label
from reconciler.apply.model import ActionResult
from reconciler.plan.model import Action
from reconciler.stores.base import SecretMeta


def record_action(action: Action, ctx: Context) -> ActionResult:
    token, guid = action.token, action.guid
    what = f"{action.kind} of {label(action)}"
    if token is None or guid is None:
        return failed(action, f"{what}: the plan gives no token or GUID")
    store = ctx.stores.get(token.store)
    if store is None:
        return failed(action, f"{what}: store '{token.store}' is not open")
    live = ctx.live.get(guid)
    if live is None or not live.is_active(ctx.now()):
        return failed(action, f"{what}: token {guid} is not active on the server; plan again")
    held = store.read_states([token.secret])[token.secret]
    value = held.value
    if value is None or value.token_guid != guid:
        return failed(
            action,
            f"{what}: store '{store.name}' no longer shows the value of {guid} under "
            f"{token.secret!r}; nothing was written: plan again",
        )
    meta = SecretMeta(
        token_guid=guid,
        name=token.name,
        namespace=ctx.spec.namespace,
        created=live.created,
        expires=live.expires,
        scope=live.scope,
        value_sha256=value.sha256,
        format=value.format or token.format.value,
        retire_previous_after=action.retire_after,
    )
    store.write_meta(token.secret, meta)
    written = store.read_meta(token.secret)
    if written is None or written.token_guid != guid:
        return failed(
            action,
            f"{what}: store '{store.name}' does not read back the metadata of {guid} under "
            f"{token.secret!r}; run apply again",
        )
    return ActionResult(action, ok=True)
