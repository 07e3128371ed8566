"""The planner: a pure function of (spec, live state, stored metadata, now) -> Plan.

No I/O, no clock, no environment. DESIGN.md "Ownership and identity" and "Plan" are the rules;
`reconciler.plan.model` is the output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from reconciler.desired.model import OnDelete, Spec, TokenSpec, TokenState, UnmanagedPolicy
from reconciler.plan.checks import (
    check_adoptions,
    check_dates,
    check_spec_against_server,
    warn_expiring,
    warn_never_expiring,
    warn_unmanaged,
)
from reconciler.plan.compare import immutable_changes, index_resources, rotation_reasons
from reconciler.plan.context import Context, Draft, add_revoke
from reconciler.plan.fingerprint import NO_FINGERPRINT, live_fingerprint
from reconciler.plan.generations import plan_older, retire_orphans, utc
from reconciler.plan.inventory import take_inventory
from reconciler.plan.labels import format_time, short_guid
from reconciler.plan.model import Action, ActionKind, Plan, SecretRef, WarningCode
from reconciler.plan.standing import Holds, Standing, standing
from reconciler.server.model import LiveToken, Resource
from reconciler.stores.base import KeyState, SecretMeta

_DESCRIPTION_PREVIEW = 60
_HELD = "kept as it is: its expiry or rotation fails a rule of the date (see the errors)"


def plan(
    spec: Spec,
    live: Sequence[LiveToken],
    resources: Sequence[Resource],
    stored_meta: Mapping[str, SecretMeta | KeyState | None],
    now: datetime,
    *,
    server: str,
    self_guid: str | None = None,
    force_rotate: frozenset[str] = frozenset(),
    grace_override: timedelta | None = None,
    fingerprint: bool = True,
) -> Plan:
    """Diff the declared tokens against the live ones. `stored_meta` maps a declared name to
    what its store holds: its metadata, or all the store read (`KeyState`: an unfinished
    write's intent, what the value names); None: nothing stored. `now` is the only clock.
    `fingerprint` False leaves `live_fingerprint` empty, for a plan that is neither saved nor
    shown as JSON or Markdown (hashing the live state is a large part of planning a large
    namespace)."""
    ctx = Context(
        spec=spec,
        inventory=take_inventory(spec, live, now),
        index=index_resources(resources),
        stored_meta=stored_meta,
        now=now,
        self_guid=self_guid,
        force_rotate=force_rotate,
        grace_override=grace_override,
    )
    draft = Draft()
    check_spec_against_server(ctx, draft)
    held = check_dates(ctx, draft)
    check_adoptions(ctx, draft, live)
    for token in spec.tokens:
        if token.state is TokenState.PRESENT:
            _plan_present(ctx, draft, token, held=token.name in held)
        else:
            _plan_absent(ctx, draft, token)
    declared = {t.name for t in spec.tokens}
    for name in sorted(set(ctx.inventory.generations) - declared):
        for old in ctx.inventory.generations[name]:
            add_revoke(
                ctx, draft, Action(ActionKind.REVOKE, name, "no longer declared", guid=old.guid)
            )
    _plan_unmanaged(ctx, draft)
    warn_never_expiring(ctx, draft)
    codes = list(WarningCode)
    return Plan(
        namespace=spec.namespace,
        server=server,
        generated_at=now,
        spec_path=spec.path,
        spec_sha256=spec.sha256,
        live_fingerprint=live_fingerprint(spec, live, resources, self_guid=self_guid)
        if fingerprint
        else NO_FINGERPRINT,
        # Create-like next, so nothing a new token replaces is revoked before it exists; only
        # orphans, whose value nobody holds, go before them.
        actions=(*draft.orphans, *draft.creates, *draft.retires, *draft.revokes, *draft.noops),
        warnings=tuple(sorted(draft.warnings, key=lambda w: codes.index(w.code))),
        errors=tuple(draft.errors),
        still_active=tuple(draft.still_active),
    )


def _successor(ctx: Context, draft: Draft, action: Action) -> Action:
    """A create-like action, with its revoke of the replaced token dropped when protected and
    the grace the replaced token keeps once the new value is stored."""
    assert action.guid is not None and action.token is not None
    revoke = action.revoke_replaced
    why = ctx.protected_because(action.guid)
    if revoke and why is not None:
        draft.warn(
            WarningCode.PROTECTED, f"would revoke {action.guid} but {why}", action.name, action.guid
        )
        revoke = False
    if revoke:
        draft.revoked.add(action.guid)
    # A rotation, or a repair that keeps the replaced token (see _decide), retires it later;
    # anything else promises no grace, and says so in the store, in case this run is killed
    # before it revokes what it replaces.
    keeps = action.kind is ActionKind.ROTATE or not action.revoke_replaced
    grace = ctx.grace(action.token) if keeps and not revoke else timedelta(0)
    return replace(action, revoke_replaced=revoke, grace=grace)


def _first_token(ctx: Context, token: TokenSpec) -> Action:
    history = ctx.inventory.history.get(token.name, ())
    if not history:
        return Action(ActionKind.CREATE, token.name, "new token", token=token, grace=timedelta(0))
    last = history[0]
    if last.revoked is not None:
        # Not "out of band": the run that made it may have revoked it itself (a proof or a
        # store write that failed), which the live state cannot tell from a person's revoke.
        revoked_on = last.revoked.date().isoformat()
        reason = f"its last token {short_guid(last.guid)} was revoked on {revoked_on}"
    else:
        assert last.expires is not None  # inactive and not revoked means expired
        reason = f"expired on {last.expires.date().isoformat()}"
    return Action(
        ActionKind.RECREATE, token.name, reason, token=token, guid=None, grace=timedelta(0)
    )


def _decide(ctx: Context, draft: Draft, token: TokenSpec, stand: Standing) -> Action:
    """Repair, replace, rotate, record or nothing, in that precedence, for the current token."""
    current = stand.current
    adopted = current.guid in ctx.inventory.adopted_guids
    if stand.holds is Holds.UNKNOWN:
        return _successor(ctx, draft, _settle_unknown(ctx, token, stand))
    if stand.holds is Holds.ELSEWHERE and stand.held_guid is None and adopted:
        # An adopted token's value was stored by someone else, without our metadata: trust it
        # until it rotates rather than replacing a working token.
        draft.warn(
            WarningCode.ADOPTED_UNVERIFIED,
            f"token {token.name} adopts {current.guid}, but its store has no metadata for it: "
            "the stored value is unverified until the token rotates",
            token.name,
            current.guid,
        )
    elif stand.holds is Holds.ELSEWHERE:
        held = stand.held_guid
        reason = (
            "store has no value for the current token"
            if held is None
            else f"store holds the value of {held}"
        )
        repair = _create_like(ActionKind.REPAIR, token, current, reason)
        if held is not None and _made_after(ctx, token, held, stand, current):
            # The store names a later token that is gone (a rotation whose new token was stored,
            # then failed verification and was revoked): consumers that read the store before
            # hold the current token, so it keeps the grace a rotation gives, unless the spec
            # changed it in a way that wants it gone at once.
            changes = immutable_changes(
                token, current, ctx.spec.namespace, ctx.index, adopted=adopted
            )
            at_once = bool(changes) or ctx.grace(token) == timedelta(0)
            repair = replace(repair, revoke_replaced=at_once)
        return _successor(ctx, draft, repair)
    changes = immutable_changes(token, current, ctx.spec.namespace, ctx.index, adopted=adopted)
    if changes:
        replacement = _create_like(ActionKind.REPLACE, token, current, "; ".join(changes))
        return _successor(ctx, draft, replacement)
    due = rotation_reasons(token, current, ctx.now, forced=token.name in ctx.force_rotate)
    if stand.format and stand.format != token.format.value:
        due = [
            f"format changed {stand.format} -> {token.format.value} "
            "(a value is shown only once, so a new token is written in the new format)",
            *due,
        ]
    if due:
        rotation = _create_like(ActionKind.ROTATE, token, current, "; ".join(due))
        # With no grace there is nothing to wait for: the old token goes once the new one works.
        at_once = ctx.grace(token) == timedelta(0)
        return _successor(ctx, draft, replace(rotation, revoke_replaced=at_once))
    if stand.holds is Holds.UNRECORDED:
        # A write cut between value and metadata: the value is the current token's, so it stays
        # current and keeps the promise its write recorded; only the metadata is written.
        return Action(
            ActionKind.RECORD,
            token.name,
            "store holds the value of the current token without its metadata (a write cut "
            "short): write the metadata",
            token=token,
            guid=current.guid,
            retire_after=stand.promise,
        )
    reason = "adopted; store unverified" if stand.holds is Holds.ELSEWHERE else "up to date"
    return Action(ActionKind.NOOP, token.name, reason, guid=current.guid)


def _made_after(
    ctx: Context, token: TokenSpec, held: str, stand: Standing, current: LiveToken
) -> bool:
    """Whether the gone token the store names was made after the current one."""
    gone = next((t for t in ctx.inventory.history.get(token.name, ()) if t.guid == held), None)
    if gone is not None:
        return gone.created > current.created
    meta = stand.meta
    return meta is not None and utc(meta.created) > utc(current.created)


def _settle_unknown(ctx: Context, token: TokenSpec, stand: Standing) -> Action:
    """A write that the store cannot tell finished: any candidate may be what consumers hold.
    A new token is written (a write that completes settles the store), and every candidate
    stays active through the grace that write gives them. With no grace (the spec's, or
    `--grace 0` of an emergency) none is owed: like a rotation without grace, the newest
    candidate is revoked once the new token is stored, and the others are retired."""
    guids = ", ".join(c.guid for c in stand.candidates)
    at_once = ctx.grace(token) == timedelta(0)
    kept = (
        "every one of them is revoked once it is stored (no grace)"
        if at_once
        else "every one of them keeps working through its grace"
    )
    reason = (
        f"a store write was cut short and the store cannot show which token it hands out "
        f"({guids}): a new token is written; {kept}"
    )
    repair = _create_like(ActionKind.REPAIR, token, stand.current, reason)
    return replace(repair, revoke_replaced=at_once)


def _create_like(kind: ActionKind, token: TokenSpec, current: LiveToken, reason: str) -> Action:
    return Action(kind, token.name, reason, token=token, guid=current.guid, revoke_replaced=True)


def _plan_present(ctx: Context, draft: Draft, token: TokenSpec, *, held: bool) -> None:
    """`held`: the spec's expiry or rotation for it fails a rule of the date (see the plan's
    errors): nothing is made with them, and its current token stays. Older generations are
    retired as on any run: their grace was promised when they were replaced."""
    generations = ctx.inventory.generations.get(token.name, ())
    if not generations:
        if not held:
            draft.creates.append(_first_token(ctx, token))
        return
    stand = standing(generations, ctx.state(token.name))
    retire_orphans(ctx, draft, token, stand)
    current = stand.current
    if held:
        action = Action(ActionKind.NOOP, token.name, _HELD, guid=current.guid)
    else:
        action = _decide(ctx, draft, token, stand)
    successor = action if action.kind.creates else None
    kept = plan_older(ctx, draft, token, stand, successor=successor)
    dated = [k.retire_after for k in kept if k.retire_after is not None]
    if successor is not None:
        draft.creates.append(successor)
        return
    if action.kind is ActionKind.RECORD:
        draft.creates.append(action)
    elif dated:
        plural = "s" if len(dated) != 1 else ""
        draft.noops.append(
            Action(
                ActionKind.NOOP,
                token.name,
                f"{action.reason}; {len(dated)} older generation{plural} retiring after "
                f"{format_time(max(dated))}",
                guid=current.guid,
            )
        )
    else:
        draft.noops.append(action)
    warn_expiring(ctx, draft, current, token.name)


def _plan_absent(ctx: Context, draft: Draft, token: TokenSpec) -> None:
    delete = SecretRef(token.store, token.secret) if token.on_delete is OnDelete.DELETE else None
    generations = ctx.inventory.generations.get(token.name, ())
    for old in generations:
        # The secret goes with the first revoke actually planned, and only once.
        revoke = Action(
            ActionKind.REVOKE, token.name, "declared absent", guid=old.guid, delete_secret=delete
        )
        if add_revoke(ctx, draft, revoke):
            delete = None
    meta = ctx.state(token.name).meta
    if delete is None or generations or meta is None:
        return
    # Every generation is gone, but the secret outlived it (an earlier apply revoked the token
    # and then failed to delete, or the token was revoked by hand): finish the job. Apply sees
    # the token inactive and only deletes.
    if any(gone.guid == meta.token_guid for gone in ctx.inventory.history.get(token.name, ())):
        reason = "declared absent; the token is gone but its secret is still stored"
        add_revoke(
            ctx,
            draft,
            Action(
                ActionKind.REVOKE, token.name, reason, guid=meta.token_guid, delete_secret=delete
            ),
        )


def _plan_unmanaged(ctx: Context, draft: Draft) -> None:
    policy = ctx.spec.policy.unmanaged
    for token in ctx.inventory.unmanaged:
        if policy is UnmanagedPolicy.REVOKE:
            reason = "unmanaged (policy.unmanaged: revoke)"
            add_revoke(ctx, draft, Action(ActionKind.REVOKE, None, reason, guid=token.guid))
        elif policy is UnmanagedPolicy.REPORT and token.guid != ctx.self_guid:
            # The credential this run uses is known to whoever runs it: reporting it on every
            # run is noise. (Under policy revoke it still gets its PROTECTED warning.)
            description = token.description
            if len(description) > _DESCRIPTION_PREVIEW:
                description = description[: _DESCRIPTION_PREVIEW - 3] + "..."
            # Quoted, not repr'd: the renderers escape what must be escaped, once; a repr
            # would escape it first and show `\\n` where the user next to it shows `\n`.
            draft.warn(
                WarningCode.UNMANAGED,
                f"token {token.guid} ('{description}', user {token.user}, scope {token.scope}) "
                "has no ppm-tokens marker",
                None,
                token.guid,
            )
            warn_unmanaged(ctx, draft, token)
