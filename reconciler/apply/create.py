"""Creating a token when the server's answer may be lost.

A create answered with a 5xx or a 429, or whose answer never arrived, may or may not have made a
token. Never create blindly again: list the tokens and look for this create's description (the
ownership marker) among tokens that did not exist before; revoke what it made (its value is
lost), then create again with the same backoff as reads, up to the attempts limit. A create
that ran out of its deadline is not sent again: the server (or the CLI) that let it is looked at
once more, for what it may have made, and the action fails.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from reconciler.apply.context import Context
from reconciler.errors import CreateOutcomeUnknown, ReconcilerError, TimedOut
from reconciler.server.model import CreatedToken, TokenRequest
from reconciler.server.retry import MAX_RETRY_AFTER, backoff_delay


@dataclass(frozen=True)
class CreateOutcome:
    created: CreatedToken | None
    revoked: tuple[str, ...]  # tokens earlier attempts made whose values were lost
    error: str | None = None  # why there is no token; None when `created` is set


def create_token(name: str, request: TokenRequest, ctx: Context) -> CreateOutcome:
    attempts = max(1, ctx.options.create_attempts)
    rng = random.Random()
    revoked: list[str] = []
    for attempt in range(1, attempts + 1):
        try:
            return CreateOutcome(ctx.driver.create_token(request), tuple(revoked))
        except CreateOutcomeUnknown as exc:
            lost, wait, timed_out = str(exc), exc.retry_after, isinstance(exc, TimedOut)
        try:
            orphans = _made_by_this_create(request.description, ctx)
        except ReconcilerError as exc:
            return CreateOutcome(
                None,
                tuple(revoked),
                f"creating {name} got no usable answer ({lost}), and listing tokens to find "
                f"what it made failed ({exc}); run apply again",
            )
        for guid in orphans:
            ctx.known_guids.add(guid)
            try:
                ctx.driver.revoke_token(guid)
            except ReconcilerError as exc:
                return CreateOutcome(
                    None,
                    tuple(revoked),
                    f"creating {name} made token {guid} but its value was lost, and revoking "
                    f"it failed ({exc}): revoke it by hand or run apply again",
                )
            revoked.append(guid)
        if timed_out:
            break
        if attempt < attempts:
            delay = wait if wait is not None else _backoff(rng, attempt, ctx)
            ctx.sleep(min(delay, MAX_RETRY_AFTER))
    made = (
        f"; revoked what it made ({', '.join(revoked)}), whose values were lost"
        if revoked
        else "; no token was made"
    )
    tries = f"{attempt} attempt{'s' if attempt != 1 else ''}"
    return CreateOutcome(
        None,
        tuple(revoked),
        f"creating {name} got no usable answer in {tries} (last: {lost}){made}; "
        "nothing else changed: run apply again",
    )


def _made_by_this_create(description: str, ctx: Context) -> list[str]:
    now = ctx.now()
    return [
        live.guid
        for live in ctx.driver.list_tokens()
        if live.description == description
        and live.guid not in ctx.known_guids
        and live.guid not in ctx.protected
        and live.is_active(now)
    ]


def _backoff(rng: random.Random, attempt: int, ctx: Context) -> float:
    return backoff_delay(rng, attempt, ctx.options.create_backoff, ctx.options.create_backoff_cap)
