"""The plan as a pull-request comment: a summary table, a table of changes, details per change
in <details> blocks, warnings and errors. Long plans split into parts under a size limit (GitHub
refuses comments over 65,536 characters); each part stands alone and no table row is cut.

Text from the spec or the server is escaped for where it lands. Table cells, list items, the
title and the footer are Markdown: `for_markdown` keeps the text inside its cell and stops links,
autolinks and HTML. The `<details>` blocks are HTML blocks, where Markdown is not interpreted
(a backslash would show): there `for_code_span` escapes HTML alone. Neither lets a line break
through, so nothing can end a block early.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from reconciler.plan.labels import (
    SYMBOLS,
    consequence,
    format_resources,
    format_time,
    summary_line,
    target_label,
)
from reconciler.plan.many import PlanSet, SpecPlan, summary_line_many
from reconciler.plan.model import Action, ActionKind, Plan
from reconciler.sanitize import for_code_span, for_markdown

_ELLIPSIS = "…\n"


@dataclass(frozen=True)
class _Section:
    heading: str  # repeated, marked "(continued)", when the section spans parts
    items: tuple[str, ...]  # the units that are never split


def _cell(text: str) -> str:
    """Markdown inline text (a table cell, a list item): no pipe, newline or markup escapes it."""
    return for_markdown(text)


def _inline_code(text: str) -> str:
    """Code-styled text in a Markdown paragraph or heading, where Markdown is still read (a
    backtick span could not hold every string: its backslashes are literal)."""
    return f"<code>{for_markdown(text)}</code>"


def _html(text: str) -> str:
    """Text inside the `<details>` HTML blocks."""
    return for_code_span(text)


def _code(text: str) -> str:
    """Code-styled text inside the `<details>` HTML blocks."""
    return f"<code>{for_code_span(text)}</code>"


def _row(action: Action) -> str:
    return (
        f"| `{SYMBOLS[action.kind]}` | {_cell(target_label(action))} | {action.kind.value} "
        f"| {_cell(action.reason)} |\n"
    )


def _details(action: Action) -> str:
    facts = [f"reason: {_html(action.reason)}"]
    token = action.token
    if token is not None:
        facts += [
            f"user: {_code(token.user)}",
            f"description: {_code(token.description)}",
            f"scope: {_code(token.scope.value)}",
            f"resources: {_code(format_resources(token.resources))}",
            f"expires: {_code(str(token.expires))}",
            f"secret: {_code(token.secret)} in store {_code(token.store)}",
        ]
    elif action.guid is not None:
        facts.append(f"token: {_code(action.guid)}")
    if action.kind.creates and action.guid is not None:
        facts.append(f"replaces: {_code(action.guid)}")
    outcome = consequence(action)
    if outcome is not None:
        facts.append(_html(outcome))
    summary = (
        f"<code>{_html(SYMBOLS[action.kind])}</code> "
        f"<b>{_html(target_label(action))}</b>: {action.kind.value}"
    )
    body = "".join(f"<li>{fact}</li>" for fact in facts)
    return f"<details><summary>{summary}</summary>\n<ul>{body}</ul>\n</details>\n\n"


def _sections(
    plan: Plan, *, level: str = "###", about: str = "", counts: bool = True
) -> list[_Section]:
    """The plan's sections. Within a comment about several specs, headings go a level deeper
    and say which spec they are `about`, since a section may continue in another part."""

    def heading(title: str) -> str:
        return f"\n{level} {title}{about}\n\n"

    verdict = summary_line(plan)
    overview = f"**{verdict}**\n\n" if plan.has_changes else f"{verdict}\n\n"
    if counts:
        per_kind = plan.summary()
        overview += "| kind | count |\n|---|---:|\n"
        overview += "".join(f"| {kind.value} | {per_kind[kind.value]} |\n" for kind in ActionKind)
    changes = plan.changes
    unchanged = len(plan.actions) - len(changes)
    sections = [_Section("", (overview,))]
    if changes:
        sections.append(
            _Section(
                heading("Changes") + "|   | token | action | reason |\n|---|---|---|---|\n",
                tuple(_row(a) for a in changes),
            )
        )
        sections.append(
            _Section(heading("Details"), tuple(_details(a) for a in changes)),
        )
    if unchanged:
        sections.append(_Section("", (f"\n{unchanged} token(s) unchanged.\n",)))
    if plan.warnings:
        items = tuple(f"- **{w.code.value}**: {_cell(w.message)}\n" for w in plan.warnings)
        sections.append(_Section(heading("Warnings"), items))
    if plan.errors:
        items = tuple(f"- {_cell(e.message)}\n" for e in plan.errors)
        sections.append(_Section(heading("Errors"), items))
    footer = (
        f"\n<sub>spec {_inline_code(plan.spec_path)} sha256 "
        f"{_inline_code(plan.spec_sha256[:12])}, live state "
        f"{_inline_code(plan.live_fingerprint[:19])}, as of "
        f"{_cell(format_time(plan.generated_at))}</sub>\n"
    )
    sections.append(_Section("", (footer,)))
    return sections


def _title(plan: Plan, part: int, parts: int) -> str:
    suffix = f" (part {part} of {parts})" if parts > 1 else ""
    return f"## ppm-tokens plan: {_inline_code(plan.namespace)} on {_cell(plan.server)}{suffix}\n\n"


def _continued(heading: str) -> str:
    return heading.replace("\n\n", " (continued)\n\n", 1) if heading.strip() else heading


def _fit(item: str, room: int) -> str:
    """Cut an item that alone would not fit a part; only a pathological one ever is."""
    return item if len(item) <= room else item[: max(room - len(_ELLIPSIS), 0)] + _ELLIPSIS


def _pack(sections: list[_Section], budget: int) -> list[list[str]]:
    """Fill parts in order; a section that moves on to a new part repeats its heading."""
    parts: list[list[str]] = [[]]
    size = 0
    for section in sections:
        started = False  # the heading was written in some part
        opened = False  # the heading was written in the current part
        for raw in section.items:
            item = _fit(raw, budget - len(_continued(section.heading)))
            heading = _continued(section.heading) if started else section.heading
            need = len(item) + (0 if opened else len(heading))
            if parts[-1] and size + need > budget:
                parts.append([])
                size, opened = 0, False
                need = len(item) + len(heading)
            if not opened:
                parts[-1].append(heading)
                started = opened = True
            parts[-1].append(item)
            size += need
    return parts


def _parts(sections: list[_Section], title: Callable[[int, int], str], limit: int) -> list[str]:
    """`sections` packed into parts shorter than `limit` characters, each under its `title`
    (part, parts), which is given room for any part number."""
    budget = limit - 1 - len(title(10**6, 10**6))
    if budget < 200:
        raise ValueError(f"a Markdown part limit of {limit} characters is too small")
    packed = _pack(sections, budget)
    return [title(i, len(packed)) + "".join(body) for i, body in enumerate(packed, 1)]


def render_markdown(plan: Plan, *, limit: int = 65_000) -> list[str]:
    """The comment body, as parts each shorter than `limit` characters (one when it fits)."""
    return _parts(_sections(plan), partial(_title, plan), limit)


def render_markdown_many(plans: PlanSet, *, limit: int = 65_000) -> list[str]:
    """Several specs in one comment: the verdict and a table of the specs at the top, then one
    section per spec; split into parts under `limit` characters like a single plan."""
    verdict = summary_line_many(plans)
    overview = f"**{verdict}**\n" if plans.has_changes else f"{verdict}\n"
    sections = [
        _Section("", (overview,)),
        _Section(
            "\n### Specs\n\n| spec | namespace | server | plan |\n|---|---|---|---|\n",
            tuple(_spec_row(part) for part in plans.parts),
        ),
    ]
    for part in plans.parts:
        sections.extend(_spec_sections(part))
    return _parts(sections, partial(_many_title, plans), limit)


def _many_title(plans: PlanSet, part: int, parts: int) -> str:
    suffix = f" (part {part} of {parts})" if parts > 1 else ""
    servers = len(plans.servers)
    where = f"{servers} server{'' if servers == 1 else 's'}"
    return f"## ppm-tokens plan: {len(plans.parts)} specs on {where}{suffix}\n\n"


def _spec_row(part: SpecPlan) -> str:
    return (
        f"| {_inline_code(part.spec_path)} | {_inline_code(part.namespace)} "
        f"| {_cell(part.server)} | {_cell(part.verdict())} |\n"
    )


def _spec_sections(part: SpecPlan) -> list[_Section]:
    heading = (
        f"\n### {_inline_code(part.spec_path)}: {_inline_code(part.namespace)} "
        f"on {_cell(part.server)}\n\n"
    )
    if part.plan is None:
        return [_Section(heading, (f"**Could not plan**: {_cell(part.error or '')}\n",))]
    about = f" in {_inline_code(part.spec_path)}"
    body = _sections(part.plan, level="####", about=about, counts=False)
    return [_Section(heading, body[0].items), *body[1:]]
