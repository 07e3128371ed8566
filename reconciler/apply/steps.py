"""One action at a time: create -> store -> verify -> revoke what it replaces, and revocations.

Every function here returns an ActionResult; nothing raises out of `run_action`. Messages name
stores, keys and GUIDs, never a value.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from reconciler.apply.context import Context, StepFailed, failed, label, unexpected
from reconciler.apply.model import ActionResult
from reconciler.apply.revoke import revoke_action, revoke_refusal
from reconciler.errors import CreateOutcomeUnknown, ReconcilerError
from reconciler.ownership import stored_description
from reconciler.plan.model import Action, ActionKind
from reconciler.secret import Secret
from reconciler.server.model import CreatedToken, TokenRequest
from reconciler.spec.model import TokenSpec
from reconciler.stores.base import SecretMeta, SecretPayload, SecretStore
from reconciler.stores.formats import render_payload
from reconciler.stores.retry import with_retries


def run_action(action: Action, ctx: Context) -> ActionResult:
    try:
        if action.kind.creates:
            return _create_like(action, ctx)
        if action.kind in (ActionKind.RETIRE, ActionKind.REVOKE):
            return revoke_action(action, ctx)
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
        expires=token.expires.deadline(ctx.now()),
    )
    try:
        created = ctx.driver.create_token(request)
    except CreateOutcomeUnknown:
        return _recover_lost_create(action, token, description, ctx)

    result = _handle_created(action, token, ctx, store=store, created=created, replaced=replaced)
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
    """Store, verify, then revoke what it replaces. Messages may quote what a store or driver
    said; the caller scrubs the value out of them."""
    guid = created.token.guid
    ctx.known_guids.add(guid)
    try:
        payload = _store(token, store, created, ctx, action.retire_after)
        _verify(token, store, created, payload, ctx)
    except Exception as exc:
        reason = str(exc) if isinstance(exc, StepFailed | ReconcilerError) else unexpected(exc)
        return _rollback(action, token, created, reason, ctx)

    if replaced is None:
        return ActionResult(action, ok=True, new_guid=guid)
    try:
        ctx.driver.revoke_token(replaced)
    except ReconcilerError as exc:
        return failed(
            action,
            f"the new token {guid} for {token.name} is stored and verified, but revoking the "
            f"token it replaces ({replaced}) failed: {exc}; run apply again to retire it",
            new_guid=guid,
        )
    return ActionResult(action, ok=True, new_guid=guid, revoked=(replaced,))


def _store(
    token: TokenSpec,
    store: SecretStore,
    created: CreatedToken,
    ctx: Context,
    retire_previous_after: datetime | None,
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
        retire_previous_after=retire_previous_after,
    )
    payload = render_payload(created.value, token.format, server_url=ctx.server_url, meta=meta)
    written = SecretPayload(payload, replace(meta, value_sha256=payload.sha256()))
    try:
        with_retries(
            lambda: store.put(token.secret, written),
            attempts=ctx.options.store_attempts,
            backoff=ctx.options.store_backoff,
            sleep=ctx.sleep,
        )
    except ReconcilerError as exc:
        raise StepFailed(f"store '{store.name}' failed for {token.name}: {exc}") from None
    return payload


def _verify(
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
        if not ctx.driver.check_token(created.value, created.token):
            raise StepFailed(f"the new token {guid} does not authenticate against the server")

    try:
        with_retries(
            attempt,
            attempts=ctx.options.verify_attempts,
            backoff=ctx.options.verify_backoff,
            sleep=ctx.sleep,
            retry_on=(StepFailed, ReconcilerError),
        )
    except (StepFailed, ReconcilerError) as exc:
        raise StepFailed(f"verification failed for {token.name}: {exc}") from None


def _rollback(
    action: Action, token: TokenSpec, created: CreatedToken, reason: str, ctx: Context
) -> ActionResult:
    """The new token's value is lost or unproven: revoke it, leave the current one alone."""
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


def _recover_lost_create(
    action: Action, token: TokenSpec, description: str, ctx: Context
) -> ActionResult:
    """The server may have created the token, but its value is gone: find it by its stored
    description among the tokens that were not there before, and revoke it. No second create:
    the next run starts clean."""
    lost = f"the server's response to creating {token.name} was lost"
    try:
        now = ctx.now()
        orphans = [
            live.guid
            for live in ctx.driver.list_tokens()
            if live.description == description
            and live.guid not in ctx.known_guids
            and live.guid not in ctx.protected
            and live.is_active(now)
        ]
    except ReconcilerError as exc:
        return failed(
            action,
            f"{lost}, and listing tokens to find what it made failed ({exc}); run apply again",
        )
    revoked: list[str] = []
    problems: list[str] = []
    for guid in orphans:
        try:
            ctx.driver.revoke_token(guid)
            revoked.append(guid)
        except ReconcilerError as exc:
            problems.append(f"revoking {guid} failed ({exc})")
    if revoked:
        found = f"revoked the token it made ({', '.join(revoked)}), whose value is unknown"
    elif not problems:
        found = "no token was made"
    else:
        found = "a token was made"
    message = f"{lost}; {found}"
    if problems:
        message += f"; {'; '.join(problems)}: revoke by hand or run apply again"
    else:
        message += "; nothing else changed: run apply again"
    return failed(action, message, revoked=tuple(revoked))


def _scrub(text: str, value: Secret) -> str:
    """A last guard: messages come from stores and drivers that should never quote a value."""
    return text.replace(value.reveal(), "(sensitive value)") if value.reveal() else text
