"""Words and symbols shared by the plan renderers, so text, Markdown and JSON agree.

What these return may quote the spec or the server (names, GUIDs, store keys) and is raw: the
JSON plan keeps it as data, and the text and Markdown renderers pass it through
reconciler.sanitize before it is shown."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from reconciler.durations import as_utc, format_duration
from reconciler.plan.model import Action, ActionKind, Plan

SYMBOLS: dict[ActionKind, str] = {
    ActionKind.CREATE: "+",
    ActionKind.RECREATE: "+",
    ActionKind.ROTATE: "~",
    ActionKind.REPLACE: "-/+",
    ActionKind.REPAIR: "!",
    ActionKind.RECORD: "*",
    ActionKind.RETIRE: "-",
    ActionKind.REVOKE: "-",
    ActionKind.NOOP: "=",
}

NO_CHANGES = "No changes. The live tokens match the spec."


def summary_line(plan: Plan) -> str:
    """The one-line verdict."""
    if not plan.has_changes:
        return NO_CHANGES
    return f"Plan: {change_counts(plan.summary())}."


def change_counts(counts: Mapping[str, int]) -> str:
    """The counts of a verdict, "1 to create, 0 to rotate, ...", from counts per kind
    (Plan.summary): create counts recreate too, revoke counts retire too; metadata to record
    is named only when there is some (it changes no token)."""
    create = counts[ActionKind.CREATE] + counts[ActionKind.RECREATE]
    revoke = counts[ActionKind.RETIRE] + counts[ActionKind.REVOKE]
    record = counts.get(ActionKind.RECORD, 0)
    return (
        f"{create} to create, {counts[ActionKind.ROTATE]} to rotate, "
        f"{counts[ActionKind.REPLACE]} to replace, {counts[ActionKind.REPAIR]} to repair, "
        f"{revoke} to revoke" + (f", {record} metadata to record" if record else "")
    )


def short_guid(guid: str) -> str:
    return guid[:8]


def format_resources(resources: tuple[str, ...]) -> str:
    return "[" + ", ".join(resources) + "]"


def format_time(moment: datetime) -> str:
    """Minutes are precise enough for people; always UTC so reviewers agree on the time."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC")


def target_label(action: Action) -> str:
    """What the action is about: the declared name, or the GUID of an unmanaged token."""
    if action.name is not None:
        return action.name
    return f"(unmanaged {action.guid})" if action.guid else "(unmanaged)"


def consequence(action: Action) -> str | None:
    """What happens to the token an action replaces or revokes, in one sentence."""
    if action.kind.creates and action.guid is not None:
        if action.revoke_replaced:
            return f"revokes {action.guid} once the new token is stored and verified"
        if action.grace:
            return (
                f"{action.guid} keeps working for {format_duration(action.grace)} once the new "
                "token is stored"
            )
        return f"{action.guid} stays active"
    if action.delete_secret is not None:
        ref = action.delete_secret
        return f"deletes secret {ref.key} from store {ref.store}"
    return None
