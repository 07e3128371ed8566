"""Retirements and revocations, and the guards every revocation passes first: a token is
revoked only when it is not protected, belongs to the name the plan says, and (when retiring)
no store still hands its value to consumers."""

from __future__ import annotations

from reconciler.apply.context import Context, StepFailed, failed, label
from reconciler.apply.model import ActionResult
from reconciler.desired.model import TokenState, UnmanagedPolicy
from reconciler.errors import ReconcilerError
from reconciler.ownership import parse_owner
from reconciler.plan.model import Action, ActionKind


def revoke_refusal(guid: str, name: str | None, ctx: Context) -> str | None:
    why = ctx.protected.get(guid) or _not_ours(guid, name, ctx)
    return f"refusing to revoke {guid}: {why}" if why else None


def _not_ours(guid: str, name: str | None, ctx: Context) -> str | None:
    """Why the token is not `name`'s (None: an unmanaged token) in this namespace, if it is not:
    the planner never plans such a revocation, so only a stale or edited plan gets here."""
    live = ctx.live.get(guid)
    if live is None:
        return "the server does not list it"
    owner = parse_owner(live.description)
    if owner is None:
        if name is None:
            policy = ctx.spec.policy.unmanaged
            if policy is UnmanagedPolicy.REVOKE:
                return None
            return f"it has no ppm-tokens marker and policy.unmanaged is {policy.value}"
        declared = ctx.declared.get(name)
        if declared is not None and declared.adopt == guid:
            return None
        return f"it has no ppm-tokens marker and {name} does not adopt it"
    if owner.namespace != ctx.spec.namespace:
        return f"it belongs to namespace {owner.namespace}"
    if owner.name != name:
        return f"it is token {owner.name}, not {name or 'an unmanaged token'}"
    return None


def _held_by_store(guid: str, name: str | None, ctx: Context) -> str | None:
    """Why a retiring token must stay: its declared store still hands its value to consumers
    (the store may have changed since the plan was made)."""
    declared = ctx.declared.get(name) if name is not None else None
    if declared is None or declared.state is not TokenState.PRESENT:
        return None
    store = ctx.stores.get(declared.store)
    if store is None:
        return (
            f"refusing to revoke {guid}: store '{declared.store}' is not open, so whether it "
            "still holds the token's value is unknown"
        )
    # What the store hands out, as the planner reads it: the value where readable, and every
    # candidate of a write whose end the store cannot show.
    held = store.read_states([declared.secret])[declared.secret]
    if held.may_hand_out(guid):
        return (
            f"refusing to revoke {guid}: store '{store.name}' still holds its value under "
            f"{declared.secret!r} (consumers use it); run plan again"
        )
    return None


def revoke_action(action: Action, ctx: Context) -> ActionResult:
    guid = action.guid
    if guid is None:
        return failed(action, f"{action.kind} of {label(action)}: the plan gives no GUID")
    refusal = revoke_refusal(guid, action.name, ctx)
    if refusal is None and action.kind is ActionKind.RETIRE:
        refusal = _held_by_store(guid, action.name, ctx)
    if refusal:
        return failed(action, refusal)
    live = ctx.live.get(guid)
    if live is not None and not live.is_active(ctx.now()):
        # Already revoked or expired (a revoke whose secret deletion failed in an earlier run):
        # only the secret is left to delete.
        revoked: tuple[str, ...] = ()
    else:
        ctx.driver.revoke_token(guid)
        revoked = (guid,)
    ref = action.delete_secret
    if ref is None:
        return ActionResult(action, ok=True, revoked=revoked)
    store = ctx.stores.get(ref.store)
    try:
        if store is None:
            raise StepFailed(f"store '{ref.store}' is not open")
        store.delete(ref.key)
    except (ReconcilerError, StepFailed) as exc:
        return failed(
            action,
            f"token {guid} was revoked, but deleting its secret {ref.key!r} from store "
            f"'{ref.store}' failed: {exc}",
            revoked=revoked,
        )
    return ActionResult(action, ok=True, revoked=revoked)
