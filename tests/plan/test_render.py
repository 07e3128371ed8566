"""Text and Markdown renderers: golden files for a plan with every kind of change, and the
Markdown split. UPDATE_GOLDEN=1 rewrites the golden files."""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.plan.model import Action, ActionKind, Plan
from reconciler.plan.render_markdown import render_markdown
from reconciler.plan.render_text import render_text
from reconciler.sanitize import for_markdown

from .conftest import DAY, NOW, guid, live_token, make_spec, meta_for, run_plan, token_spec
from .scenario import scenario

GOLDEN = Path(__file__).parent / "golden"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def check_golden(name: str, actual: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{name} differs; UPDATE_GOLDEN=1 rewrites"


@pytest.fixture(scope="module")
def full_plan() -> Plan:
    return scenario()[1]


def test_scenario_has_every_kind(full_plan: Plan) -> None:
    assert {a.kind for a in full_plan.actions} == set(ActionKind)


def test_text_golden(full_plan: Plan) -> None:
    check_golden("plan.txt", render_text(full_plan, color=False))


def test_text_color_golden(full_plan: Plan) -> None:
    check_golden("plan.color.txt", render_text(full_plan, color=True))


def test_markdown_golden(full_plan: Plan) -> None:
    [part] = render_markdown(full_plan)
    check_golden("plan.md", part)


def test_text_without_color_has_no_escape_codes(full_plan: Plan) -> None:
    assert "\x1b" not in render_text(full_plan, color=False)


def test_color_only_adds_escape_codes(full_plan: Plan) -> None:
    colored = render_text(full_plan, color=True)
    assert "\x1b[32m+\x1b[0m" in colored  # green create
    assert "\x1b[33m~\x1b[0m" in colored  # yellow rotate
    assert "\x1b[36m!\x1b[0m" in colored  # cyan repair
    assert "\x1b[31m-\x1b[0m" in colored  # red revoke
    assert ANSI.sub("", colored) == render_text(full_plan, color=False)


def test_text_summary_line(full_plan: Plan) -> None:
    last = render_text(full_plan, color=False).rstrip("\n").splitlines()[-1]
    assert last == (
        "Plan: 2 to create, 1 to rotate, 1 to replace, 1 to repair, 3 to revoke, "
        "1 metadata to record."
    )


def test_text_no_changes() -> None:
    t = token_spec("ds-read")
    current = live_token(t, "current")
    result = run_plan(make_spec(t), [current], {"ds-read": meta_for(current, "ds-read")})
    text = render_text(result, color=False)
    assert text.splitlines()[0] == (
        "ppm-tokens plan for namespace data-platform on https://ppm.example.com"
    )
    assert "  1 unchanged" in text.splitlines()
    assert text.endswith("No changes. The live tokens match the spec.\n")


def test_errors_are_shown() -> None:
    result = run_plan(make_spec(token_spec("ds-read", resources=("nope",))), [], {})
    text = render_text(result, color=False)
    assert "Errors:\n  - unknown repository 'nope' in token ds-read\n" in text
    assert for_markdown("unknown repository 'nope' in token ds-read") in render_markdown(result)[0]


def test_markdown_escapes_user_text() -> None:
    t = token_spec("ds-read", description="a | b <script>")
    [part] = render_markdown(run_plan(make_spec(t), [], {}))
    assert "<script>" not in part
    assert "a | b &lt;script&gt;" in part


def _huge_plan(count: int) -> Plan:
    base = run_plan(make_spec(token_spec("seed")), [], {})
    actions = []
    for i in range(count):
        name = f"token-{i:05d}"
        if i % 2:
            actions.append(Action(ActionKind.CREATE, name, "new token", token=token_spec(name)))
        else:
            reason = f"superseded by {guid(name)[:8]} on 2026-02-01; grace 3d passed"
            actions.append(Action(ActionKind.RETIRE, name, reason, guid=guid(name)))
    return replace(base, actions=tuple(actions), generated_at=NOW)


def test_markdown_splits_a_large_plan_into_self_contained_parts() -> None:
    plan = _huge_plan(2_000)
    parts = render_markdown(plan)
    assert len(parts) > 2
    assert all(len(part) < 65_000 for part in parts)
    for i, part in enumerate(parts, 1):
        assert part.startswith(
            f"## ppm-tokens plan: <code>{for_markdown('data-platform')}</code> on "
            f"{for_markdown('https://ppm.example.com')} (part {i} of {len(parts)})\n"
        )
    text = "".join(parts)
    # Every change shows up exactly once as a row and once as a details block.
    for action in plan.actions:
        assert text.count(f"| {for_markdown(str(action.name))} | {action.kind.value} |") == 1
        assert text.count(f"<b>{action.name}</b>") == 1
    # A part never ends in the middle of a row or a details block.
    for part in parts:
        lines = part.rstrip("\n").splitlines()
        table = [line for line in lines if line.startswith("|")]
        assert all(line.endswith("|") for line in table)
        assert part.count("<details>") == part.count("</details>")
    # A table that continues in the next part repeats its header.
    continued = [p for p in parts if "### Changes (continued)" in p]
    assert continued
    assert all("|---|---|---|---|" in p for p in continued)


@pytest.mark.parametrize("limit", [1_000, 5_000, 20_000])
def test_markdown_parts_respect_any_limit(limit: int) -> None:
    parts = render_markdown(_huge_plan(100), limit=limit)
    assert all(len(part) < limit for part in parts)
    assert "".join(parts).count("<details>") == 100


def test_markdown_single_part_when_it_fits(full_plan: Plan) -> None:
    parts = render_markdown(full_plan)
    assert len(parts) == 1
    assert "(part" not in parts[0]


def test_markdown_refuses_a_useless_limit(full_plan: Plan) -> None:
    with pytest.raises(ValueError, match="too small"):
        render_markdown(full_plan, limit=100)


def test_text_lists_every_older_generation_still_active_next_to_its_current_token() -> None:
    t = token_spec("ds-read")
    current = live_token(t, "current", age=DAY)
    older = live_token(t, "older", age=61 * DAY)
    # Unlike the spec, so it would go at once, but protected.
    guarded = live_token(t, "guarded", age=80 * DAY, user="someone@example.com")
    meta = replace(meta_for(current, "ds-read"), retire_previous_after=NOW + 2 * DAY)
    spec = make_spec(t, protect=frozenset({guarded.guid}))

    text = render_text(run_plan(spec, [current, older, guarded], {"ds-read": meta}), color=False)

    lines = text.splitlines()
    start = lines.index(f"  =   noop      ds-read ({current.guid})")
    assert lines[start + 1 : start + 4] == [
        "      up to date; 1 older generation retiring after 2026-03-03 12:00 UTC",
        f"      also active: {older.guid} (retires after 2026-03-03 12:00 UTC)",
        f"      also active: {guarded.guid} (not retired: policy.protect lists it)",
    ]
    assert "unchanged" not in text


def test_still_active_generations_follow_the_first_line_of_their_name_only() -> None:
    t = token_spec("ds-read")
    current = live_token(t, "current", age=DAY)
    older = live_token(t, "older", age=2 * DAY)
    meta = replace(meta_for(current, "ds-read"), retire_previous_after=NOW + 2 * DAY)

    result = run_plan(
        make_spec(t), [current, older], {"ds-read": meta}, force_rotate=frozenset({"ds-read"})
    )
    text = render_text(result, color=True)

    # The forced rotation's grace decides: it counts from when its new value is stored.
    fate = "retires 3d after the new value is stored: after 2026-03-04 12:00 UTC if applied now"
    assert text.count(f"also active: {older.guid} ({fate})") == 1
    assert ANSI.sub("", text) == render_text(result, color=False)


def test_a_hostile_guid_in_a_still_active_line_is_shown_escaped() -> None:
    t = token_spec("ds-read")
    current = live_token(t, "current", age=DAY)
    hostile = replace(live_token(t, "older", age=2 * DAY), guid="x\x1b[8m\r- revoke forged")
    meta = replace(meta_for(current, "ds-read"), retire_previous_after=NOW + 2 * DAY)

    text = render_text(run_plan(make_spec(t), [current, hostile], {"ds-read": meta}), color=False)

    assert "\x1b" not in text and "\r" not in text
    assert "also active: x\\x1b[8m\\r- revoke forged (retires after" in text
