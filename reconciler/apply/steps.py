"""One action at a time: create -> store -> verify -> revoke what it replaces, and revocations.

Every function here returns an ActionResult; nothing raises out of `run_action`. Messages name
stores, keys and GUIDs, never a value.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime

from reconciler.apply.model import ActionResult, ApplyOptions
from reconciler.errors import CreateOutcomeUnknown, ReconcilerError
from reconciler.ownership import parse_owner, stored_description
from reconciler.plan.model import Action, ActionKind
from reconciler.secret import Secret
from reconciler.server.driver import Driver
from reconciler.server.model import CreatedToken, LiveToken, TokenRequest
from reconciler.spec.model import Spec, TokenSpec, TokenState, UnmanagedPolicy
from reconciler.stores.base import SecretMeta, SecretPayload, SecretStore
from reconciler.stores.formats import render_payload
from reconciler.stores.retry import with_retries


@dataclass(frozen=True)
class Context:
    spec: Spec
    driver: Driver
    stores: Mapping[str, SecretStore]
    now: Callable[[], datetime]
    options: ApplyOptions
    sleep: Callable[[float], None]
    server_url: str
    # policy.protect plus the token the driver authenticates with: never revoked here.
    protected: Mapping[str, str]  # GUID -> why
    # Every GUID that existed when apply started or that this run created and received: after
    # a lost create response, a token with the marker outside this set is the lost one. One
    # listing per run, not per create, keeps large servers cheap.
    known_guids: KnownGuids
    # The same listing by GUID: whose each token is, checked before every revocation, since a
    # plan file may be stale or edited.
    live: Mapping[str, LiveToken] = field(default_factory=dict)
    declared: Mapping[str, TokenSpec] = field(default_factory=dict)  # spec.tokens by name


class KnownGuids:
    """A thread-safe set of GUIDs (workers add to it concurrently)."""

    def __init__(self, guids: Iterable[str] = ()) -> None:
        self._guids = set(guids)
        self._lock = threading.Lock()

    def add(self, guid: str) -> None:
        with self._lock:
            self._guids.add(guid)

    def __contains__(self, guid: object) -> bool:
        with self._lock:
            return guid in self._guids


class _StepFailed(Exception):
    """A step of a create-like action failed for good; the message is value-free."""


def run_action(action: Action, ctx: Context) -> ActionResult:
    try:
        if action.kind.creates:
            return _create_like(action, ctx)
        if action.kind in (ActionKind.RETIRE, ActionKind.REVOKE):
            return _revoke(action, ctx)
        return ActionResult(action, ok=True)
    except ReconcilerError as exc:
        return _failed(action, f"{action.kind} of {_label(action)}: {exc}")
    except Exception as exc:
        return _failed(action, f"{action.kind} of {_label(action)}: {_unexpected(exc)}")


def _label(action: Action) -> str:
    return action.name or action.guid or "an unnamed token"


def _failed(
    action: Action, error: str, *, new_guid: str | None = None, revoked: tuple[str, ...] = ()
) -> ActionResult:
    return ActionResult(action, ok=False, new_guid=new_guid, revoked=revoked, error=error)


def _unexpected(exc: BaseException) -> str:
    """The type and where it happened; the message is left out as it might quote a value."""
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = f" at {frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else ""
    return f"unexpected {type(exc).__name__}{where}"


def _refusal(guid: str, name: str | None, ctx: Context) -> str | None:
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
    meta = store.read_meta(declared.secret)
    if meta is not None and meta.token_guid == guid:
        return (
            f"refusing to revoke {guid}: store '{store.name}' still holds its value under "
            f"{declared.secret!r} (consumers use it); run plan again"
        )
    return None


def _revoke(action: Action, ctx: Context) -> ActionResult:
    guid = action.guid
    if guid is None:
        return _failed(action, f"{action.kind} of {_label(action)}: the plan gives no GUID")
    refusal = _refusal(guid, action.name, ctx)
    if refusal is None and action.kind is ActionKind.RETIRE:
        refusal = _held_by_store(guid, action.name, ctx)
    if refusal:
        return _failed(action, refusal)
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
            raise _StepFailed(f"store '{ref.store}' is not open")
        store.delete(ref.key)
    except (ReconcilerError, _StepFailed) as exc:
        return _failed(
            action,
            f"token {guid} was revoked, but deleting its secret {ref.key!r} from store "
            f"'{ref.store}' failed: {exc}",
            revoked=revoked,
        )
    return ActionResult(action, ok=True, revoked=revoked)


def _create_like(action: Action, ctx: Context) -> ActionResult:
    token = action.token
    if token is None:
        return _failed(action, f"{action.kind} of {_label(action)}: the plan gives no token")
    store = ctx.stores.get(token.store)
    if store is None:
        return _failed(action, f"{action.kind} of {token.name}: store '{token.store}' is not open")
    replaced = action.guid if action.revoke_replaced else None
    if replaced is not None and (refusal := _refusal(replaced, token.name, ctx)):
        return _failed(action, f"{action.kind} of {token.name}: {refusal}")

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
        reason = str(exc) if isinstance(exc, _StepFailed | ReconcilerError) else _unexpected(exc)
        return _rollback(action, token, created, reason, ctx)

    if replaced is None:
        return ActionResult(action, ok=True, new_guid=guid)
    try:
        ctx.driver.revoke_token(replaced)
    except ReconcilerError as exc:
        return _failed(
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
        raise _StepFailed(f"store '{store.name}' failed for {token.name}: {exc}") from None
    return payload


def _verify(
    token: TokenSpec, store: SecretStore, created: CreatedToken, payload: Secret, ctx: Context
) -> None:
    guid = created.token.guid

    def attempt() -> None:
        meta = store.read_meta(token.secret)
        if meta is None:
            raise _StepFailed(f"store '{store.name}' holds no metadata for {token.secret!r}")
        if meta.token_guid != guid:
            raise _StepFailed(
                f"store '{store.name}' holds metadata of token {meta.token_guid} for "
                f"{token.secret!r}, not of {guid}"
            )
        stored_hash = store.read_value_hash(token.secret)
        if stored_hash is not None and stored_hash != payload.sha256():
            raise _StepFailed(
                f"the value in store '{store.name}' under {token.secret!r} is not the one written"
            )
        if not ctx.driver.check_token(created.value, created.token):
            raise _StepFailed(f"the new token {guid} does not authenticate against the server")

    try:
        with_retries(
            attempt,
            attempts=ctx.options.verify_attempts,
            backoff=ctx.options.verify_backoff,
            sleep=ctx.sleep,
            retry_on=(_StepFailed, ReconcilerError),
        )
    except (_StepFailed, ReconcilerError) as exc:
        raise _StepFailed(f"verification failed for {token.name}: {exc}") from None


def _rollback(
    action: Action, token: TokenSpec, created: CreatedToken, reason: str, ctx: Context
) -> ActionResult:
    """The new token's value is lost or unproven: revoke it, leave the current one alone."""
    guid = created.token.guid
    untouched = "the current token is untouched" if action.guid else "nothing else changed"
    try:
        ctx.driver.revoke_token(guid)
    except ReconcilerError as exc:
        return _failed(
            action,
            f"{reason}; revoking the new token {guid} failed too ({exc}): revoke it by hand "
            f"or run apply again; {untouched}",
            new_guid=guid,
        )
    return _failed(
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
        return _failed(
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
    return _failed(action, message, revoked=tuple(revoked))


def _scrub(text: str, value: Secret) -> str:
    """A last guard: messages come from stores and drivers that should never quote a value."""
    return text.replace(value.reveal(), "(sensitive value)") if value.reveal() else text
