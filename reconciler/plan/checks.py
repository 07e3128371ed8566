"""Checks that add errors and warnings to a plan without deciding any action: the spec against
the server, `adopt` fields that cannot take effect, and tokens that expire soon or never."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from reconciler.desired.model import ALL_RESOURCES, ProofMethod, TokenSpec, TokenState
from reconciler.durations import date_deadline, humanize
from reconciler.ownership import parse_owner
from reconciler.plan.compare import KIND_LABELS, ResourceIndex, deprecated_scope
from reconciler.plan.context import Context, Draft
from reconciler.plan.labels import format_time, short_guid
from reconciler.plan.model import PlanError, WarningCode
from reconciler.server.model import LiveToken

EXPIRING_SOON = timedelta(days=30)


def check_spec_against_server(ctx: Context, draft: Draft) -> None:
    present = set()
    for token in ctx.spec.tokens:
        if token.state is not TokenState.PRESENT:
            continue
        present.add(token.name)
        draft.errors.extend(_resource_errors(token, ctx.index))
        if deprecated_scope(token.scope):
            draft.warn(
                WarningCode.DEPRECATED_SCOPE,
                f"token {token.name} uses {token.scope.value}, which PPM deprecates: "
                "use repos:read",
                token.name,
            )
        if ctx.spec.server.proof_method(token.scope) is ProofMethod.LISTED:
            draft.warn(
                WarningCode.WEAKER_PROOF,
                f"token {token.name}: a new {token.scope.value} token is proven by the token "
                "list only (server.proof), not by a request its value makes",
                token.name,
            )
    for name in sorted(ctx.force_rotate - present):
        draft.errors.append(
            PlanError(
                f"cannot rotate {name}: the spec declares no present token of that name", name
            )
        )


def check_dates(ctx: Context, draft: Draft) -> frozenset[str]:
    """The spec's errors that the date makes (Spec.time_problems), and date expiries the plan's
    time has passed, as errors of their token alone; the names of the tokens to keep as they
    are. Time passing must not stop every other token's scheduled rotation."""
    held: set[str] = set()
    for found in ctx.spec.time_problems:
        problem = found.problem
        where = f"{problem.file}:{max(problem.line, 1)}:{max(problem.col, 1)}"
        if found.token is None:
            outcome = "no token takes this value, so none is held; validate refuses it"
        else:
            held.add(found.token)
            outcome = (
                f"until it is fixed, token {found.token} is left as it is: nothing is created, "
                "rotated or repaired for it"
            )
        message = f"{where}: {problem.message} ({outcome})"
        draft.errors.append(PlanError(message, found.token, token_only=True))
    for token in ctx.spec.tokens:
        if token.state is not TokenState.PRESENT or token.name in held:
            continue
        if token.expires.on is not None and date_deadline(token.expires.on) <= ctx.now:
            # A Spec not checked at the plan's time (built in code, or loaded at another).
            held.add(token.name)
            draft.errors.append(
                PlanError(
                    f"token {token.name} expires on {token.expires.on.isoformat()}, "
                    "which has passed: choose a later date or a duration (until then it is "
                    "left as it is: nothing is created, rotated or repaired for it)",
                    token.name,
                    token_only=True,
                )
            )
    return frozenset(held)


def _resource_errors(token: TokenSpec, index: ResourceIndex) -> list[PlanError]:
    kind = token.scope.resource_kind
    if kind is None:
        return []
    errors = []
    for name in token.resources:
        if name == ALL_RESOURCES or (kind, name) in index:
            continue
        other = "source" if kind == "repo" else "repo"
        message = (
            f"'{name}' in token {token.name} is a {KIND_LABELS[other]}, but scope "
            f"{token.scope.value} takes {KIND_LABELS[kind]} names"
            if (other, name) in index
            else f"unknown {KIND_LABELS[kind]} '{name}' in token {token.name}"
        )
        errors.append(PlanError(message, token.name))
    return errors


def check_adoptions(ctx: Context, draft: Draft, live: Sequence[LiveToken]) -> None:
    """An `adopt` that cannot take effect is said out loud, not turned silently into a create."""
    by_guid = {t.guid: t for t in live}
    for token in ctx.spec.tokens:
        if not token.adopt or token.state is not TokenState.PRESENT:
            continue
        found = by_guid.get(token.adopt)
        if found is None:
            problem = "the server does not list it"
        elif (owner := parse_owner(found.description)) is not None:
            problem = f"it already belongs to {owner.namespace}/{owner.name}"
        elif not found.is_active(ctx.now):
            problem = f"it is {found.status(ctx.now).value}"
        else:
            continue
        draft.warn(
            WarningCode.ADOPT_IGNORED,
            f"token {token.name} adopts {token.adopt}, but {problem}: adopt is ignored. "
            "Check the GUID, or remove `adopt` once a managed token exists",
            token.name,
            token.adopt,
        )


def warn_expiring(ctx: Context, draft: Draft, token: LiveToken, name: str | None) -> None:
    if token.expires is None or token.expires - ctx.now > EXPIRING_SOON:
        return
    who = f"token {name} ({short_guid(token.guid)})" if name else f"unmanaged token {token.guid}"
    draft.warn(
        WarningCode.EXPIRING_SOON,
        f"{who} expires in {humanize(token.expires - ctx.now)}, on {format_time(token.expires)}",
        name,
        token.guid,
    )


def warn_unmanaged(ctx: Context, draft: Draft, token: LiveToken) -> None:
    """What plan says about each managed token's expiry it says about a reported unmanaged one:
    a token that never expires is the first thing PPM's audit advice looks for."""
    if token.expires is None:
        draft.warn(
            WarningCode.NEVER_EXPIRES,
            f"unmanaged token {token.guid} never expires; PPM recommends 90 days or less",
            None,
            token.guid,
        )
    warn_expiring(ctx, draft, token, None)


def warn_never_expiring(ctx: Context, draft: Draft) -> None:
    covered: set[str] = set()
    for token in ctx.spec.tokens:
        if token.state is TokenState.PRESENT and token.expires.never:
            generations = ctx.inventory.generations.get(token.name, ())
            guid = generations[0].guid if generations else None
            covered.update(g.guid for g in generations[:1])
            draft.warn(
                WarningCode.NEVER_EXPIRES,
                f"token {token.name} is declared with expires: never; "
                "PPM recommends 90 days or less",
                token.name,
                guid,
            )
    covered |= draft.revoked  # going away: no need to warn
    for name in sorted(ctx.inventory.generations):
        for live in ctx.inventory.generations[name]:
            if live.expires is None and live.guid not in covered:
                draft.warn(
                    WarningCode.NEVER_EXPIRES,
                    f"token {name} ({short_guid(live.guid)}) never expires",
                    name,
                    live.guid,
                )
