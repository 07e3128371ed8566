"""The active generations of a declared name besides the one the plan decides on.

A run can be killed between any two steps of an action. What it meant to do must survive: the
live tokens and the store's metadata are all the next run has, so every rule here reads only
those.

- Orphans: when the store holds an older generation, every newer one was created by a run that
  never stored it. Nobody holds its value, so it is retired first, and the plan decides on the
  store's token as the current one (a rotation or replace it was in the middle of is simply due
  again).
- Older generations: a create-like action records, beside the new token's value, from when the
  generations it supersedes may be retired (`SecretMeta.retire_previous_after`): the time apply
  stored the new value plus the grace for a rotation, the new token's creation for a replace, a
  repair or a rotation without grace. An older generation is kept only while that promise runs
  and while it still matches the spec (a token with the old, wider scope keeps no grace);
  anything else is retired by the next run, so a replace killed before it revoked what it
  replaced is finished, not forgotten. A store that records no promise (metadata written by
  other tools) falls back to the spec's grace from the current token's creation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.durations import format_duration
from reconciler.plan.compare import immutable_changes
from reconciler.plan.context import Context, Draft, add_revoke
from reconciler.plan.labels import format_time, short_guid
from reconciler.plan.model import Action, ActionKind, ActiveGeneration
from reconciler.server.model import LiveToken
from reconciler.spec.model import TokenSpec


def utc(moment: datetime) -> datetime:
    """Store metadata written by other tools may carry a naive time: read it as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def retire_orphans(
    ctx: Context, draft: Draft, token: TokenSpec, generations: tuple[LiveToken, ...]
) -> tuple[LiveToken, ...]:
    """Retire the generations newer than the one the store holds; return the store's token
    and what is older than it."""
    meta = ctx.stored_meta.get(token.name)
    if meta is None:
        return generations
    held = next((i for i, g in enumerate(generations) if g.guid == meta.token_guid), 0)
    if held == 0:
        return generations
    store_token = generations[held]
    for orphan in generations[:held]:
        reason = (
            f"created on {orphan.created.date().isoformat()} by a run that never stored it "
            f"(the store holds {short_guid(store_token.guid)}): nobody holds its value"
        )
        action = Action(ActionKind.RETIRE, token.name, reason, guid=orphan.guid)
        if not add_revoke(ctx, draft, action, orphan=True):
            _keep(ctx, draft, token, orphan, current=store_token, retire_at=None)
    return generations[held:]


def plan_older(
    ctx: Context,
    draft: Draft,
    token: TokenSpec,
    current: LiveToken,
    older: tuple[LiveToken, ...],
    *,
    successor: Action | None,
) -> list[ActiveGeneration]:
    """Retire each older generation that nothing promised a grace, or whose grace passed;
    return the ones kept. `successor` is the create-like action this plan takes for the name:
    once it runs, its own promise is the one that counts."""
    retire_at, why = _promise(ctx, token, current)
    follows: timedelta | None = None
    if successor is not None and successor.grace is not None:
        if not successor.grace:
            retire_at, why = ctx.now, f"this run's {successor.kind} gives no grace"
        elif retire_at > ctx.now:
            # Its metadata, promise included, replaces what the store holds now: the grace then
            # counts from when apply stores the new value, shown as if that were now.
            follows = successor.grace
            retire_at = ctx.now + follows
    superseded = f"superseded by {short_guid(current.guid)} on {current.created.date().isoformat()}"
    kept = []
    for old in older:
        adopted = old.guid in ctx.inventory.adopted_guids
        changes = immutable_changes(token, old, ctx.spec.namespace, ctx.index, adopted=adopted)
        if ctx.now >= retire_at:
            reason = f"{superseded}; {why}"
        elif changes:
            reason = f"{superseded}; {'; '.join(changes)}: a token unlike the spec keeps no grace"
        else:
            kept.append(
                _keep(ctx, draft, token, old, current=current, retire_at=retire_at, grace=follows)
            )
            continue
        if not add_revoke(ctx, draft, Action(ActionKind.RETIRE, token.name, reason, guid=old.guid)):
            kept.append(_keep(ctx, draft, token, old, current=current, retire_at=None))
    return kept


def _promise(ctx: Context, token: TokenSpec, current: LiveToken) -> tuple[datetime, str]:
    """From when the older generations may be retired, and why, as the store records it."""
    meta = ctx.stored_meta.get(token.name)
    if meta is None or meta.token_guid != current.guid:
        # The store does not hold the current token (a repair is planned): whatever promise
        # there was went with the metadata that named it.
        return ctx.now, "the store does not hold the current token, so no grace is owed"
    if meta.retire_previous_after is None:
        grace = ctx.grace(token)
        return current.created + grace, f"grace {format_duration(grace)} passed"
    promise = utc(meta.retire_previous_after)
    if promise <= current.created:
        return promise, (
            "no grace was promised to it (a replace, a repair or a rotation without grace "
            "that did not get to revoke it)"
        )
    return promise, f"grace until {format_time(promise)} passed"


def _keep(
    ctx: Context,
    draft: Draft,
    token: TokenSpec,
    old: LiveToken,
    *,
    current: LiveToken,
    retire_at: datetime | None,
    grace: timedelta | None = None,
) -> ActiveGeneration:
    if retire_at is None:
        note = f"not retired: {ctx.protected_because(old.guid)}"
    elif grace is not None:
        note = (
            f"in its grace period, until {format_duration(grace)} after the new value is "
            f"stored ({format_time(retire_at)} if applied now)"
        )
    else:
        note = f"in its grace period, until {format_time(retire_at)}"
    generation = ActiveGeneration(token.name, old.guid, current.guid, retire_at, note, grace)
    draft.still_active.append(generation)
    return generation
