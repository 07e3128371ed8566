"""One action at a time. For every create-like action, in this order and never otherwise:

    create   the token on the server (a lost answer: look for what it made, then again)
    prove    the new value authenticates, with a request only its scope may make; if not, the
             new token is revoked and the store is never touched
    put      its value and metadata into the store (with retries)
    confirm  the store reads back the new GUID (and the value's hash, where readable)
    commit   the store drops the copy of what it held before
    revoke   what the new token replaces (replace, repair), only now

If put or confirm fails, the store is asked to go back to what it held before. When it does,
the new token is revoked; when it cannot (a write-only store, or one that is unreachable), the
new token stays alive, since the store may hand its value to consumers, and the result says
what the next run will do: the put recorded its intent before the value, so the next run finds
out which token the store hands out (or, where it cannot, keeps every candidate). No store is
left holding a revoked value.

Every function here returns an ActionResult; nothing raises out of `run_action`. Messages name
stores, keys and GUIDs, never a value.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from reconciler.apply.context import Context, StepFailed, failed, label, unexpected
from reconciler.apply.create import create_token
from reconciler.apply.model import ActionResult
from reconciler.apply.record import record_action
from reconciler.apply.revoke import revoke_action, revoke_refusal
from reconciler.apply.self_token import switch_to_successor
from reconciler.desired.model import TokenSpec
from reconciler.errors import ProofInconclusive, ReconcilerError
from reconciler.ownership import stored_description
from reconciler.plan.model import Action, ActionKind
from reconciler.secret import Secret
from reconciler.server.model import CreatedToken, TokenRequest
from reconciler.stores.base import SecretMeta, SecretPayload, SecretStore
from reconciler.stores.formats import render_payload
from reconciler.stores.retry import with_retries


class _Unprovable(Exception):
    """The proof cannot tell (not retried)."""


def run_action(action: Action, ctx: Context) -> ActionResult:
    try:
        if action.kind.creates:
            return _create_like(action, ctx)
        if action.kind in (ActionKind.RETIRE, ActionKind.REVOKE):
            return revoke_action(action, ctx)
        if action.kind is ActionKind.RECORD:
            return record_action(action, ctx)
        return ActionResult(action, ok=True)
    except ReconcilerError as exc:
        return failed(action, f"{action.kind} of {label(action)}: {exc}")
    except Exception as exc:
        return failed(action, f"{action.kind} of {label(action)}: {unexpected(exc)}")


def _create_like(action: Action, ctx: Context) -> ActionResult:
    token = action.token
    if token is None:
        return failed(action, f"{action.kind} of {label(action)}: the plan gives no token")
    store = ctx.stores.get(token.store)
    if store is None:
        return failed(action, f"{action.kind} of {token.name}: store '{token.store}' is not open")
    replaced = action.guid if action.revoke_replaced else None
    if replaced is not None and (refusal := revoke_refusal(replaced, token.name, ctx)):
        return failed(action, f"{action.kind} of {token.name}: {refusal}")

    description = stored_description(token.description, ctx.spec.namespace, token.name)
    request = TokenRequest(
        description=description,
        user=token.user,
        scope=token.scope.value,
        resources=token.resources,
        # From the moment of the create, on the clock the server judges tokens by (ctx.now),
        # never from the plan's time: a `90d` token lives 90 days however late the plan runs.
        expires=token.expires.deadline(ctx.now()),
        lifetime=token.expires.lifetime,
    )
    outcome = create_token(token.name, request, ctx)
    if outcome.created is None:
        return failed(action, outcome.error or "no token was made", revoked=outcome.revoked)
    created = outcome.created
    result = _handle_created(action, token, ctx, store=store, created=created, replaced=replaced)
    result = replace(result, revoked=(*outcome.revoked, *result.revoked))
    if result.error is None:
        return result
    return replace(result, error=_scrub(result.error, created.value))


def _handle_created(
    action: Action,
    token: TokenSpec,
    ctx: Context,
    *,
    store: SecretStore,
    created: CreatedToken,
    replaced: str | None,
) -> ActionResult:
    """Prove, store, confirm, commit, then revoke what it replaces. Messages may quote what a
    store or driver said; the caller scrubs the value out of them."""
    guid = created.token.guid
    ctx.known_guids.add(guid)
    try:
        _prove(token, created, ctx)
    except Exception as exc:
        return _revoke_new(action, created, _reason(exc), ctx)
    try:
        payload = _put(token, store, created, ctx, action.grace or timedelta(0))
        _confirm(token, store, created, payload, ctx)
    except Exception as exc:
        return _undo_write(action, token, ctx, store=store, created=created, reason=_reason(exc))
    # The new value is confirmed; if dropping the copy fails, the next run's sweep removes it.
    with contextlib.suppress(ReconcilerError):
        store.commit(token.secret, guid)
    switch_to_successor(ctx.driver, ctx.spec, token, created.value, guid)

    if replaced is None:
        return ActionResult(action, ok=True, new_guid=guid)
    try:
        ctx.driver.revoke_token(replaced)
    except ReconcilerError as exc:
        return failed(
            action,
            f"the new token {guid} for {token.name} is proven, stored and confirmed, but "
            f"revoking the token it replaces ({replaced}) failed: {exc}; run apply again to "
            "retire it",
            new_guid=guid,
        )
    return ActionResult(action, ok=True, new_guid=guid, revoked=(replaced,))


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, StepFailed | ReconcilerError) else unexpected(exc)


def _prove(token: TokenSpec, created: CreatedToken, ctx: Context) -> None:
    guid = created.token.guid

    def attempt() -> None:
        try:
            works = ctx.driver.check_token(created.value, created.token)
        except ProofInconclusive as exc:
            raise _Unprovable(str(exc)) from None
        if not works:
            raise StepFailed(f"the new token {guid} does not authenticate against the server")

    _check(attempt, ctx, message=f"proving the new token for {token.name} failed")


def _check(attempt: Callable[[], None], ctx: Context, *, message: str) -> None:
    """Run a check that may see a server or store catch up (the proof, the store's read-back)
    with the verify budget; its last failure, or an inconclusive proof at once, becomes a
    StepFailed that starts with `message`."""
    try:
        with_retries(
            attempt,
            attempts=ctx.options.verify_attempts,
            backoff=ctx.options.verify_backoff,
            sleep=ctx.sleep,
            retry_on=(StepFailed, ReconcilerError),
        )
    except (StepFailed, ReconcilerError, _Unprovable) as exc:
        raise StepFailed(f"{message}: {exc}") from None


def _put(
    token: TokenSpec,
    store: SecretStore,
    created: CreatedToken,
    ctx: Context,
    grace: timedelta,
) -> Secret:
    live = created.token
    meta = SecretMeta(
        token_guid=live.guid,
        name=token.name,
        namespace=ctx.spec.namespace,
        created=live.created,
        expires=live.expires,
        scope=live.scope,
        format=token.format.value,
    )
    payload = render_payload(created.value, token.format, server_url=ctx.server_url, meta=meta)
    written = SecretPayload(payload, replace(meta, value_sha256=payload.sha256()))
    try:
        with_retries(
            lambda: store.put(token.secret, _promising(written, grace, ctx)),
            attempts=ctx.options.store_attempts,
            backoff=ctx.options.store_backoff,
            sleep=ctx.sleep,
        )
    except ReconcilerError as exc:
        raise StepFailed(f"store '{store.name}' failed for {token.name}: {exc}") from None
    return payload


def _promising(written: SecretPayload, grace: timedelta, ctx: Context) -> SecretPayload:
    """`written` with the time from which the generations the new token supersedes may be
    retired. A grace is for consumers, who can read the new value once this write is done: it
    counts from the write (each attempt's own start, on the clock of ctx.now, the server's),
    not from the plan, which may have been reviewed for days. No grace: from the new token's
    creation."""
    meta = written.meta
    after = ctx.now() + grace if grace else meta.created
    return replace(written, meta=replace(meta, retire_previous_after=after))


def _confirm(
    token: TokenSpec, store: SecretStore, created: CreatedToken, payload: Secret, ctx: Context
) -> None:
    guid = created.token.guid

    def attempt() -> None:
        meta = store.read_meta(token.secret)
        if meta is None:
            raise StepFailed(f"store '{store.name}' holds no metadata for {token.secret!r}")
        if meta.token_guid != guid:
            raise StepFailed(
                f"store '{store.name}' holds metadata of token {meta.token_guid} for "
                f"{token.secret!r}, not of {guid}"
            )
        stored_hash = store.read_value_hash(token.secret)
        if stored_hash is not None and stored_hash != payload.sha256():
            raise StepFailed(
                f"the value in store '{store.name}' under {token.secret!r} is not the one written"
            )

    _check(attempt, ctx, message=f"confirming the store failed for {token.name}")


def _undo_write(
    action: Action,
    token: TokenSpec,
    ctx: Context,
    *,
    store: SecretStore,
    created: CreatedToken,
    reason: str,
) -> ActionResult:
    """The write of the new token could not be confirmed. Revoke it only once the store holds
    what it held before; a store that cannot go back may hand the new value out, so the new
    token then stays alive."""
    guid = created.token.guid
    why_not = ""
    try:
        restored = store.restore_previous(token.secret, guid)
    except ReconcilerError as exc:
        restored, why_not = False, f" (restoring failed: {exc})"
    if restored:
        return _revoke_new(
            action,
            created,
            f"{reason}; store '{store.name}' holds what it held before under {token.secret!r}",
            ctx,
        )
    replaced = f", and so does the token it replaces ({action.guid})" if action.guid else ""
    return failed(
        action,
        f"{reason}; store '{store.name}' may hold the new token {guid} under {token.secret!r} "
        f"and cannot go back{why_not}, so {guid} stays active{replaced}. "
        + _next_run(store, token.name, guid, action.guid),
        new_guid=guid,
    )


def _next_run(store: SecretStore, name: str, guid: str, replaced: str | None) -> str:
    """What the next run does with a write it cannot tell finished: its intent was recorded
    before the value, so this is what the planner (plan.standing) will find."""
    if store.capabilities.tells_held:
        found = "The next run finds out which token the store hands out"
        if replaced is None:
            return (
                f"{found}: if it is {guid}, {guid} stays current and its metadata is written; "
                f"if not, {guid} is retired (nobody holds it) and {name} is created again"
            )
        return (
            f"{found}: if it is {guid}, {guid} stays current, its metadata is written and "
            f"{replaced} keeps the grace this run promised it; if it is {replaced}, {guid} is "
            "retired (nobody holds it)"
        )
    kept = f"{guid} and {replaced}" if replaced else guid
    return (
        f"This store cannot show which value it holds: where it shows this write's intent, the "
        f"next run keeps {kept} active, writes a new token for {name} and retires {kept} once "
        f"the grace that write gives them has passed; where it does not (the write never "
        f"began), {guid} is retired"
    )


def _revoke_new(action: Action, created: CreatedToken, reason: str, ctx: Context) -> ActionResult:
    """The new token is unproven or no store holds it: revoke it, leave the current one alone."""
    guid = created.token.guid
    untouched = "the current token is untouched" if action.guid else "nothing else changed"
    try:
        ctx.driver.revoke_token(guid)
    except ReconcilerError as exc:
        return failed(
            action,
            f"{reason}; revoking the new token {guid} failed too ({exc}): revoke it by hand "
            f"or run apply again; {untouched}",
            new_guid=guid,
        )
    return failed(
        action,
        f"{reason}; the new token {guid} was revoked, {untouched}",
        new_guid=guid,
        revoked=(guid,),
    )


def _scrub(text: str, value: Secret) -> str:
    """A last guard: messages come from stores and drivers that should never quote a value."""
    return text.replace(value.reveal(), "(sensitive value)") if value.reveal() else text
