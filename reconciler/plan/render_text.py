"""The plan for a terminal: one line per change, its reason below, then warnings, errors and
the verdict.

Every line that holds text from the spec or the server (names, GUIDs, users, reasons and
warnings that quote live tokens) passes through `for_terminal` before any colour is added, so
such text can neither forge a line nor hide, recolour or retitle anything."""

from __future__ import annotations

from reconciler.durations import format_duration
from reconciler.plan.labels import (
    SYMBOLS,
    consequence,
    format_resources,
    format_time,
    summary_line,
    target_label,
)
from reconciler.plan.many import PlanSet, SpecPlan, summary_line_many
from reconciler.plan.model import Action, ActionKind, ActiveGeneration, Plan
from reconciler.sanitize import for_terminal

_RESET = "\x1b[0m"
_BOLD = "\x1b[1m"
_RED = "\x1b[31m"
_GREEN = "\x1b[32m"
_YELLOW = "\x1b[33m"
_CYAN = "\x1b[36m"
_SYMBOL_COLORS = {"+": _GREEN, "~": _YELLOW, "-": _RED, "!": _CYAN, "*": _CYAN}
_SYMBOL_WIDTH = 3
_KIND_WIDTH = max(len(kind.value) for kind in ActionKind)


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color else text


def _symbol(kind: ActionKind, color: bool) -> str:
    symbol = SYMBOLS[kind]
    padding = " " * (_SYMBOL_WIDTH - len(symbol))
    if kind is ActionKind.REPLACE:
        # Terraform's reading: the old one goes (red), the new one comes (green).
        painted = _paint("-", _RED, color) + "/" + _paint("+", _GREEN, color)
    else:
        painted = _paint(symbol, _SYMBOL_COLORS[symbol], color)
    return painted + padding


def _desired(action: Action) -> str | None:
    token = action.token
    if token is None:
        return None
    resources = f" on {format_resources(token.resources)}" if token.resources else ""
    return (
        f"user {token.user}, scope {token.scope.value}{resources}, expires {token.expires}, "
        f"secret {token.store}:{token.secret}"
    )


def _change(action: Action, color: bool) -> list[str]:
    kind = action.kind.value.ljust(_KIND_WIDTH)
    target = target_label(action)
    if action.name is not None and action.guid is not None and not action.kind.creates:
        target += f" ({action.guid})"
    target = for_terminal(target)
    lines = [f"  {_symbol(action.kind, color)} {kind}  {_paint(target, _BOLD, color)}"]
    indent = " " * (2 + _SYMBOL_WIDTH + 1)
    lines.append(f"{indent}{for_terminal(action.reason)}")
    lines.extend(
        f"{indent}{for_terminal(extra)}"
        for extra in (_desired(action), consequence(action))
        if extra
    )
    return lines


def render_text(plan: Plan, *, color: bool) -> str:
    title = for_terminal(f"ppm-tokens plan for namespace {plan.namespace} on {plan.server}")
    lines = [
        _paint(title, _BOLD, color),
        for_terminal(
            f"spec {plan.spec_path} (sha256 {plan.spec_sha256[:12]}), "
            f"as of {format_time(plan.generated_at)}"
        ),
        "",
    ]
    for action in plan.changes:
        lines.extend(_change(action, color))
        lines.extend(_still_active(plan, action))
    kept = _noops_with_older_generations(plan)
    for action in kept:
        lines.extend(_noop(action, color))
        lines.extend(_still_active(plan, action))
    unchanged = len(plan.actions) - len(plan.changes) - len(kept)
    if unchanged:
        lines.append(f"  {unchanged} unchanged")
    if plan.actions:
        lines.append("")
    if plan.warnings:
        lines.append(_paint("Warnings:", _YELLOW, color))
        lines.extend(f"  - {w.code.value}: {for_terminal(w.message)}" for w in plan.warnings)
        lines.append("")
    if plan.errors:
        lines.append(_paint("Errors:", _RED, color))
        lines.extend(f"  - {for_terminal(e.message)}" for e in plan.errors)
        lines.append("")
    lines.append(_paint(summary_line(plan), _BOLD, color))
    return "\n".join(lines) + "\n"


def _noops_with_older_generations(plan: Plan) -> list[Action]:
    """Unchanged names that still have an older token active: shown, not counted away, so a
    reviewer sees every token that works."""
    names = {g.name for g in plan.still_active}
    return [a for a in plan.actions if a.kind is ActionKind.NOOP and a.name in names]


def _noop(action: Action, color: bool) -> list[str]:
    target = for_terminal(target_label(action))
    if action.guid is not None:
        target += f" ({for_terminal(action.guid)})"
    symbol = SYMBOLS[action.kind].ljust(_SYMBOL_WIDTH)
    kind = action.kind.value.ljust(_KIND_WIDTH)
    indent = " " * (2 + _SYMBOL_WIDTH + 1)
    return [
        f"  {symbol} {kind}  {_paint(target, _BOLD, color)}",
        f"{indent}{for_terminal(action.reason)}",
    ]


def _still_active(plan: Plan, action: Action) -> list[str]:
    """Every older generation of the action's name that stays active, under the name's first
    line in the plan (later lines of the same name do not repeat them)."""
    first = next((a for a in plan.actions if a.name == action.name), None)
    if action.name is None or first is not action:
        return []
    indent = " " * (2 + _SYMBOL_WIDTH + 1)
    return [
        f"{indent}also active: {for_terminal(g.guid)} ({_fate(g)})"
        for g in plan.still_active
        if g.name == action.name
    ]


def _fate(generation: ActiveGeneration) -> str:
    if generation.retire_after is None:
        return for_terminal(generation.note)
    if generation.grace is not None:
        return (
            f"retires {format_duration(generation.grace)} after the new value is stored: "
            f"after {format_time(generation.retire_after)} if applied now"
        )
    return f"retires after {format_time(generation.retire_after)}"


def render_text_many(plans: PlanSet, *, color: bool) -> str:
    """Several specs: one block per spec, headed by its file (each plan names its namespace
    and server), then one line per spec and the verdict for the whole run, last."""
    total = len(plans.parts)
    blocks = []
    for index, part in enumerate(plans.parts, 1):
        header = _paint(for_terminal(f"[{index}/{total}] {part.spec_path}"), _BOLD, color)
        body = render_text(part.plan, color=color) if part.plan else _not_planned(part, color)
        blocks.append(f"{header}\n{body}")
    servers = len(plans.servers)
    where = f"{total} specs on {servers} server{'' if servers == 1 else 's'}:"
    lines = [_paint(where, _BOLD, color)]
    lines.extend(
        "  "
        + for_terminal(
            f"{part.spec_path} (namespace {part.namespace} on {part.server}): {part.verdict()}"
        )
        for part in plans.parts
    )
    lines.append(_paint(summary_line_many(plans), _BOLD, color))
    return "\n".join([*blocks, *lines]) + "\n"


def _not_planned(part: SpecPlan, color: bool) -> str:
    title = for_terminal(f"ppm-tokens plan for namespace {part.namespace} on {part.server}")
    error = for_terminal(f"Could not plan: {part.error}")
    return f"{_paint(title, _BOLD, color)}\n{_paint(error, _RED, color)}\n"
