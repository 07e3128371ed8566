"""`show`: the page's details view, plus what only ppm-tokens knows: the marker, the spec entry,
the store and secret, every generation of the name, and when it rotates and retires. Pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reconciler.durations import format_duration, humanize
from reconciler.ops.view import Generation, TokenView
from reconciler.ownership import marker
from reconciler.plan.labels import format_time
from reconciler.plan.model import Action
from reconciler.sanitize import for_terminal


@dataclass(frozen=True)
class StoreState:
    """Where a declared token's value lives, and what the store says it holds."""

    store: str
    type: str
    secret: str
    read: bool  # False: not read (see note)
    holds: str | None = None  # the GUID it hands out (value or metadata); None: nothing stored
    recorded: bool = True  # its metadata names `holds` (False: a write cut before it)
    unsure: tuple[str, ...] = ()  # an unfinished write: the tokens it may hand out
    note: str | None = None


def when(moment: datetime | None, now: datetime, *, none: str = "-") -> str:
    if moment is None:
        return none
    delta = moment - now
    relative = f"in {humanize(delta)}" if delta.total_seconds() >= 0 else f"{humanize(delta)} ago"
    return f"{format_time(moment)} ({relative})"


def _store_line(view: TokenView, state: StoreState) -> str:
    where = f"{for_terminal(state.store)} ({state.type}), secret {for_terminal(state.secret)!r}"
    if not state.read:
        return f"{where}: not read ({for_terminal(state.note or 'unknown')})"
    if state.unsure:
        return (
            f"{where}: may hold {', '.join(for_terminal(g) for g in state.unsure)} (a write was "
            "cut short; the next apply writes a new token and keeps these through their grace)"
        )
    if state.holds is None:
        return f"{where}: holds no value with metadata"
    if state.holds == view.guid and not state.recorded:
        return (
            f"{where}: holds this token's value without its metadata (a write was cut short; "
            "the next apply writes the metadata)"
        )
    if state.holds == view.guid:
        return f"{where}: holds this token"
    return f"{where}: holds token {for_terminal(state.holds)}, not this one"


def _schedule_lines(view: TokenView, now: datetime) -> list[tuple[str, str]]:
    declared = view.declared
    if declared is None or view.generation not in (Generation.CURRENT, Generation.RETIRING):
        return []
    rotation = declared.rotation
    policy = ", ".join(
        part
        for part in (
            f"after {format_duration(rotation.after)}" if rotation.after else "",
            f"before_expiry {format_duration(rotation.before_expiry)}"
            if rotation.before_expiry
            else "",
            f"grace {format_duration(rotation.grace)}",
        )
        if part
    )
    lines = [("Rotation policy", policy)]
    if view.generation is Generation.CURRENT:
        lines.append(("Rotates", when(view.rotation_due, now, none="never (no rotation policy)")))
    lines.append(("Retires", when(view.retires, now, none="never")))
    return lines


def _generation_line(view: TokenView, selected: str, now: datetime) -> str:
    token = view.token
    mark = "*" if view.guid == selected else " "
    state = view.generation.value if view.active else view.status.value
    detail = f"created {format_time(token.created)}"
    if token.revoked is not None:
        detail += f", revoked {format_time(token.revoked)}"
    elif token.expires is not None:
        verb = "expired" if token.expires <= now else "expires"
        detail += f", {verb} {format_time(token.expires)}"
    else:
        detail += ", never expires"
    if view.retires is not None and view.generation is Generation.RETIRING:
        detail += f", retires {format_time(view.retires)}"
    return f" {mark} {for_terminal(token.guid)}  {state:<9} {detail}"


def render_details(
    view: TokenView,
    generations: Sequence[TokenView],
    *,
    now: datetime,
    store: StoreState | None = None,
    next_action: Action | None = None,
) -> str:
    token = view.token
    title = f"Token {for_terminal(view.name) or '(no description)'}"
    if view.managed_by:
        title += f"  [{for_terminal(view.managed_by)}]"
    if view.owner is None:
        ownership = "none: unmanaged (no ppm-tokens marker)"
    elif view.adopted:
        ownership = f"adopted by {view.managed_by} (no marker until it rotates)"
    else:
        ownership = marker(view.owner.namespace, view.owner.name)
    resources = ", ".join(token.resources) or "-"
    if token.resource_ids:
        resources += f"  (ids {', '.join(token.resource_ids)})"
    fields: list[tuple[str, str]] = [
        ("GUID", for_terminal(token.guid)),
        ("Status", view.status.value + (f" ({view.generation.value})" if view.active else "")),
        ("Description", for_terminal(view.description) or "-"),
        ("Stored as", for_terminal(token.description) or "-"),
        ("Marker", ownership),
        ("User", for_terminal(token.user) or "-"),
        ("Email", for_terminal(token.email or "") or "-"),
        ("Scope", for_terminal(token.scope)),
        ("Resources", for_terminal(resources)),
        ("Created", when(token.created, now)),
        ("Expires", when(token.expires, now, none="never")),
        ("Revoked", when(token.revoked, now)),
    ]
    if view.authenticating:
        fields.append(("Note", "this is the token this command authenticates with"))
    if view.spec is not None and view.declared is not None:
        fields.append(
            (
                "Spec",
                f"{for_terminal(view.spec.path)}:{view.declared.line} "
                f"(namespace {view.spec.namespace}, state {view.declared.state.value})",
            )
        )
    elif view.generation is Generation.UNDECLARED and view.spec is not None:
        fields.append(("Spec", f"{for_terminal(view.spec.path)} no longer declares it"))
    if store is not None:
        fields.append(("Store", _store_line(view, store)))
    fields.extend(_schedule_lines(view, now))
    if next_action is not None:
        reason = for_terminal(next_action.reason)
        fields.append(("Next apply", f"{next_action.kind.value}: {reason}"))
    width = max(len(label) for label, _ in fields)
    lines = [title, *(f"  {label:<{width}}  {text}" for label, text in fields)]
    if len(generations) > 1 or (generations and generations[0].guid != view.guid):
        lines.append("")
        lines.append(f"Generations of {for_terminal(view.managed_by or view.name)} (newest first):")
        lines.extend(_generation_line(g, view.guid, now) for g in generations)
    return "\n".join(lines)
