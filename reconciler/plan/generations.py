"""The active generations of a declared name besides the one the plan decides on.

A run can be killed between any two steps of an action. What it meant to do must survive: the
live tokens and the store's metadata are all the next run has, so every rule here reads only
those.

- Which generation is current, and which are orphans, is `reconciler.plan.standing`'s to say.
- Orphans: every generation newer than the one the store hands out was created by a run that
  never stored it. Nobody holds its value, so it is retired first, and the plan decides on the
  store's token as the current one (a rotation or replace it was in the middle of is simply due
  again).
- Older generations: a create-like action records, with the new token's write, from when the
  generations it supersedes may be retired (`SecretMeta.retire_previous_after`, and the same in
  the intent written before the value, so a write cut between value and metadata keeps it):
  the time apply stored the new value plus the grace for a rotation, the new token's creation
  for a replace, a repair or a rotation without grace. An older generation is kept only while
  that promise runs and while it still matches the spec (a token with the old, wider scope
  keeps no grace); anything else is retired by the next run, so a replace killed before it
  revoked what it replaced is finished, not forgotten. A store that records no promise
  (metadata written by other tools, a value found without metadata or intent) falls back to the
  spec's grace from the current token's creation. While an unfinished write leaves the store's
  token unknown, every candidate is kept, until the grace of the write that settles it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler.desired.model import TokenSpec
from reconciler.durations import format_duration
from reconciler.plan.compare import immutable_changes
from reconciler.plan.context import Context, Draft, add_revoke
from reconciler.plan.labels import format_time, short_guid
from reconciler.plan.model import Action, ActionKind, ActiveGeneration
from reconciler.plan.standing import Holds, Standing
from reconciler.server.model import LiveToken


def utc(moment: datetime) -> datetime:
    """Store metadata written by other tools may carry a naive time: read it as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def retire_orphans(ctx: Context, draft: Draft, token: TokenSpec, stand: Standing) -> None:
    """Retire the generations newer than the one the store hands out."""
    for orphan in stand.orphans:
        reason = (
            f"created on {orphan.created.date().isoformat()} by a run that never stored it "
            f"(the store holds {short_guid(stand.current.guid)}): nobody holds its value"
        )
        action = Action(ActionKind.RETIRE, token.name, reason, guid=orphan.guid)
        if not add_revoke(ctx, draft, action, orphan=True):
            _keep(ctx, draft, token, orphan, current=stand.current, retire_at=None)


def plan_older(
    ctx: Context,
    draft: Draft,
    token: TokenSpec,
    stand: Standing,
    *,
    successor: Action | None,
) -> list[ActiveGeneration]:
    """Retire each older generation that nothing promised a grace, or whose grace passed;
    return the ones kept. `successor` is the create-like action this plan takes for the name:
    once it runs, its own promise is the one that counts."""
    current, older = stand.current, stand.older
    retire_at, why = _promise(ctx, token, stand)
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


def _promise(ctx: Context, token: TokenSpec, stand: Standing) -> tuple[datetime, str]:
    """From when the older generations may be retired, and why, as the store records it."""
    current = stand.current
    if stand.holds is Holds.UNKNOWN:
        # Any candidate may be what consumers hold: kept until the write that settles the
        # store has given them its grace (the successor's promise, see plan_older).
        return ctx.now + ctx.grace(token), "the grace of the write that settled the store passed"
    if stand.holds is not Holds.RECORDED and stand.holds is not Holds.UNRECORDED:
        # The store does not hold the current token (a repair is planned): whatever promise
        # there was went with the metadata that named it.
        return ctx.now, "the store does not hold the current token, so no grace is owed"
    if stand.promise is None:
        grace = ctx.grace(token)
        return current.created + grace, f"grace {format_duration(grace)} passed"
    promise = utc(stand.promise)
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
