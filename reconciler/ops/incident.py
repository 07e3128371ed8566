"""The incident record `revoke --record FILE` writes: what was revoked, when, which GUIDs, the
replacement, how the revocation was checked and what consumers must do. Markdown, pure, and
free of token values (it never receives one)."""

from __future__ import annotations

import shlex
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from reconciler.desired.model import Spec
from reconciler.ops.view import Generation, TokenView
from reconciler.plan.labels import format_time
from reconciler.sanitize import for_code_span, for_markdown


class CheckMethod(StrEnum):
    VALUE = "value"  # the revoked value itself was presented and refused
    LISTING = "listing"  # the server lists the GUID as revoked; the value was not available


@dataclass(frozen=True)
class RevocationCheck:
    method: CheckMethod
    confirmed: bool
    waited: float  # seconds until confirmed (or the deadline)
    source: str | None = None  # where the value came from ("store 'local', secret 'x'")

    def describe(self) -> str:
        if self.method is CheckMethod.VALUE:
            how = f"the revoked value (read from {self.source}) presented to the server"
            outcome = "is refused" if self.confirmed else "was still accepted"
        else:
            how = "the server's token listing (ppm-tokens does not hold the revoked value)"
            outcome = "shows it revoked" if self.confirmed else "did not show it revoked"
        return f"{how} {outcome} after {self.waited:.0f}s"


@dataclass(frozen=True)
class Replacement:
    guid: str
    store: str
    secret: str


@dataclass(frozen=True)
class Survivor:
    """A token of the revoked one's name that still works after the command: the record and
    the output name it, and how to revoke it, so nobody takes the incident for closed."""

    guid: str
    why: str  # what it is, and why this command left it
    command: str  # the command that revokes it


def survivors(
    others: Sequence[TokenView],
    still_active: Collection[str],
    specs: Sequence[Spec],
    *,
    failed: Mapping[str, str],
) -> tuple[Survivor, ...]:
    """Which of `others` (the name's other tokens, active before the command) are still
    active, each with what it is, why it was left and the command that revokes it. `failed`:
    the GUIDs whose revoke this command tried, and why it failed."""
    found = []
    for other in others:
        if other.guid not in still_active:
            continue
        spec = f" -f {shlex.quote(other.spec.path)}" if other.spec is not None else ""
        command = f"ppm-tokens revoke {other.guid}{spec} --yes"
        guarding = next((s for s in specs if other.guid in s.policy.protect), None)
        current = other.generation is Generation.CURRENT
        what = f"{'the current token' if current else 'an older generation'} of {other.managed_by}"
        if other.authenticating:
            why = f"{what} and the token this command authenticates with: use another admin token"
        elif guarding is not None:
            why = f"{what}, listed in policy.protect of {guarding.path}: remove it from there first"
        elif other.guid in failed:
            why = f"{what}; its revoke failed: {failed[other.guid]}"
        elif current:
            why = f"{what}, which consumers read from the store"
            command = f"ppm-tokens revoke {other.guid}{spec} --replace --yes"
        else:
            why = f"{what}, which this command was not asked to revoke"
        found.append(Survivor(other.guid, why, command))
    return tuple(found)


@dataclass(frozen=True)
class Incident:
    revoked: TokenView
    at: datetime
    server: str
    check: RevocationCheck
    replacement: Replacement | None = None
    next_apply: str | None = None  # what the next apply will do about it
    spec_path: str | None = None
    # --replace: the older generations of the name revoked once the replacement was stored.
    also_revoked: tuple[str, ...] = ()
    survivors: tuple[Survivor, ...] = ()


def _code(text: str) -> str:
    return f"<code>{for_code_span(text)}</code>"


def _consumers(incident: Incident) -> list[str]:
    view, replacement = incident.revoked, incident.replacement
    if replacement is not None:
        return [
            f"- The new token {_code(replacement.guid)} is in store "
            f"{_code(replacement.store)}, secret {_code(replacement.secret)}: every consumer "
            "that reads it there gets the new value on its next read; restart or reload the "
            "ones that cache it.",
            "- Anything that still uses the old value now fails: find it (PPM's logs, your "
            "consumers' errors) and point it at the store.",
        ]
    if view.declared is not None:
        store = f"store {_code(view.declared.store)}, secret {_code(view.declared.secret)}"
        return [
            f"- Consumers have no working token until a replacement exists: run "
            f"{_code('ppm-tokens apply')} now; it creates one and writes it to {store}.",
            "- Then restart or reload the consumers that cache the value.",
        ]
    return [
        "- Nothing recreates an unmanaged token: create a replacement with the same scope and "
        "resources (or declare it in a spec and run apply), and give it to every consumer.",
    ]


def render_incident(incident: Incident) -> str:
    view = incident.revoked
    token = view.token
    owner = for_markdown(view.managed_by) if view.managed_by else "unmanaged (no ppm-tokens marker)"
    if view.adopted:
        owner += " (adopted)"
    expires = format_time(token.expires) if token.expires else "never"
    resources = ", ".join(token.resources) or "-"
    lines = [
        f"# Incident: token {for_markdown(view.name or token.guid)} revoked",
        "",
        f"- **When:** {format_time(incident.at)}",
        f"- **Server:** {for_markdown(incident.server)}",
        f"- **Revoked:** {_code(token.guid)}",
        f"- **Owner:** {owner}"
        + (f" in {_code(incident.spec_path)}" if incident.spec_path else ""),
        f"- **Description:** {for_markdown(view.description) or '-'}",
        f"- **User:** {for_markdown(token.user) or '-'}",
        f"- **Scope:** {for_markdown(token.scope)}; **resources:** {for_markdown(resources)}",
        f"- **Created:** {format_time(token.created)}; **expires:** {expires}",
    ]
    if incident.replacement is not None:
        lines.append(
            f"- **Replacement:** {_code(incident.replacement.guid)}, created, proven against "
            "the server and stored before the old token was revoked"
        )
    else:
        lines.append("- **Replacement:** none made by this command")
    if incident.also_revoked:
        guids = ", ".join(_code(guid) for guid in incident.also_revoked)
        lines.append(
            f"- **Also revoked:** {guids}, the older generations of the name still active, "
            "once the replacement was stored"
        )
    for survivor in incident.survivors:
        lines.append(
            f"- **Still active:** {_code(survivor.guid)}, {for_markdown(survivor.why)}; "
            f"revoke it with {_code(survivor.command)}"
        )
    verdict = "confirmed" if incident.check.confirmed else "**not confirmed**"
    lines.append(f"- **Revocation check:** {verdict}: {for_markdown(incident.check.describe())}")
    if incident.next_apply:
        lines.append(f"- **Next apply:** {for_markdown(incident.next_apply)}")
    lines += [
        "",
        "## What consumers must do",
        "",
        *_consumers(incident),
        "",
        "## Follow-up",
        "",
        *(
            f"- [ ] Decide about {_code(survivor.guid)}, still active: {_code(survivor.command)}"
            for survivor in incident.survivors
        ),
        "- [ ] Look in PPM's logs for use of the revoked token before and after the revocation.",
        "- [ ] Confirm every consumer works with the replacement.",
        "- [ ] Write down how the value leaked and what prevents it next time.",
    ]
    return "\n".join(lines) + "\n"
