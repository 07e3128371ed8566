"""Tokens with hostile users and descriptions cannot forge, hide or break a rendered plan."""

from __future__ import annotations

import pytest

from reconciler.desired.model import UnmanagedPolicy
from reconciler.plan.model import Plan
from reconciler.plan.render_markdown import render_markdown
from reconciler.plan.render_text import render_text
from tests.hostile import (
    HOSTILE_DESCRIPTION,
    HOSTILE_USER,
    RAW_MARKDOWN,
    RAW_TERMINAL,
    action_lines,
    render_as_github,
    unsafe_left,
)

from .conftest import live_token, make_spec, meta_for, run_plan, token_spec


def hostile_plan(unmanaged: UnmanagedPolicy) -> Plan:
    declared = token_spec("ds-read")
    # The current token's user was changed out of band: the reason quotes the live user.
    current = live_token(declared, "current", user=HOSTILE_USER)
    stranger = live_token(
        token_spec("stranger", user=HOSTILE_USER, description=HOSTILE_DESCRIPTION),
        "stranger",
        namespace=None,
    )
    # A server may send any text as a GUID.
    odd_guid = live_token(token_spec("odd"), "odd", namespace=None, guid="g\x1b[2J\nuid")
    spec = make_spec(declared, unmanaged=unmanaged)
    return run_plan(spec, [current, stranger, odd_guid], {"ds-read": meta_for(current, "ds-read")})


@pytest.mark.parametrize("policy", [UnmanagedPolicy.REPORT, UnmanagedPolicy.REVOKE])
@pytest.mark.parametrize("color", [False, True], ids=["plain", "tty"])
def test_text_shows_hostile_text_escaped_and_forges_no_line(
    policy: UnmanagedPolicy, color: bool
) -> None:
    plan = hostile_plan(policy)
    text = render_text(plan, color=color)
    assert unsafe_left(text, color=color) == []
    assert [raw for raw in RAW_TERMINAL if raw in text] == []
    assert len(action_lines(text)) == len(plan.changes)
    assert "\\x1b[8m" in text  # shown, not interpreted
    # Every line is one the renderer meant: a forged "+ create" stays inside its line.
    assert not any(line.lstrip().startswith("+ create   forged") for line in text.splitlines())


@pytest.mark.parametrize("policy", [UnmanagedPolicy.REPORT, UnmanagedPolicy.REVOKE])
def test_markdown_keeps_hostile_text_inside_its_cell_and_block(policy: UnmanagedPolicy) -> None:
    plan = hostile_plan(policy)
    [part] = render_markdown(plan)
    assert unsafe_left(part) == []
    assert [raw for raw in RAW_MARKDOWN if raw in part] == []
    tags, visible = render_as_github(part)
    changes = len(plan.changes)
    assert tags.count("details") == changes
    assert tags.count("summary") == changes
    assert tags.count("tr") == 1 + changes + 1 + len(list(_kinds()))  # two tables and headers
    assert "script" not in tags
    assert "a" not in tags  # no link, autolink or mail link was planted
    assert "img" not in tags
    assert tags.count("li") >= len(plan.warnings)
    # The hostile text is there for a reviewer to read, escaped.
    assert "\\x1b[8mhidden" in visible
    if policy is UnmanagedPolicy.REPORT:
        assert "a | b </details></summary>" in visible


def _kinds() -> list[str]:
    from reconciler.plan.model import ActionKind

    return [kind.value for kind in ActionKind]


def test_the_golden_markdown_reads_as_before_once_rendered() -> None:
    """Escaping changes the Markdown source, not what a reviewer reads."""
    from .scenario import scenario

    [part] = render_markdown(scenario()[1])
    _, visible = render_as_github(part)
    assert "age 61 days >= rotation.after 60d" in visible
    assert "resources changed [cran, pypi] -> [bioc, cran, pypi]" in visible
    assert "ppm-tokens plan: data-platform on https://ppm.example.com" in visible
    assert "token mirror is declared with expires: never" in visible


def test_an_unmanaged_tokens_description_is_escaped_once_like_its_user() -> None:
    """The warning quotes description and user; both are escaped by the renderer alone, so a
    line break shows as `\\n` in each, not `\\\\n` in one of them."""
    stranger = live_token(
        token_spec("stranger", user="u\nv", description="d\ne\x1b[8m"), "stranger", namespace=None
    )
    plan = run_plan(make_spec(token_spec("ds-read")), [stranger], {})
    [warning] = [
        line for line in render_text(plan, color=False).splitlines() if "unmanaged:" in line
    ]
    assert "('d\\ne\\x1b[8m', user u\\nv," in warning
