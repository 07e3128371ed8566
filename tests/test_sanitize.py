"""The one sanitiser: what it escapes, and that its output cannot be mistaken for its input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.sanitize import (
    EXCERPT,
    cut,
    excerpt,
    for_code_span,
    for_markdown,
    for_terminal,
    has_unsafe_characters,
    quoted,
    unsafe_character,
)
from tests.hostile import render_as_github


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[8mhidden", "\\x1b[8mhidden"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("a\rb\nc\td", "a\\rb\\nc\\td"),
        ("\x9b31m", "\\x9b31m"),
        ("\u202eevil\u202c", "\\u202eevil\\u202c"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("\u3164", "\\u3164"),
        ("\U000e0041", "\\U000e0041"),  # a tag character
        ("back\\slash", "back\\\\slash"),
        ("already \\x1b escaped", "already \\\\x1b escaped"),
        ("caf\u00e9 \u65e5\u672c \U0001f600", "caf\u00e9 \u65e5\u672c \U0001f600"),
    ],
)
def test_for_terminal(text: str, shown: str) -> None:
    assert for_terminal(text) == shown


@given(st.text())
def test_terminal_output_is_one_safe_line_and_tells_inputs_apart(text: str) -> None:
    shown = for_terminal(text)
    assert not has_unsafe_characters(shown)
    assert "\n" not in shown and "\r" not in shown
    # Distinct inputs stay distinct: an attacker cannot make text that shows as another's.
    assert for_terminal(text + "\x1b") != for_terminal(text + "\\x1b")


# Arbitrary text rarely spells markup; these fragments do.
_MARKUP = st.sampled_from(
    [*"<>&;#[]()!*_`~|:/.@-+=\\ \"'{}$\n\x1b", "&#60;", "&lt;", "www.", "http://", "a@b.co", "~~"]
)
TEXT = st.one_of(st.text(), st.lists(_MARKUP | st.text(max_size=2), max_size=15).map("".join))


@given(TEXT)
def test_markdown_output_renders_back_to_the_terminal_text(text: str) -> None:
    """Whatever the input, the rendered Markdown is one paragraph of exactly the text a
    terminal would show: no markup, link or HTML survives."""
    tags, visible = render_as_github("x " + for_markdown(text) + " y\n")
    assert tags == ["p"]
    assert visible == "x " + for_terminal(text) + " y\n"


def test_markdown_entities_are_not_shown_as_text() -> None:
    # A backslash before an entity would make it show literally ("&gt;").
    assert for_markdown("a > b & c < d") == "a &gt; b &amp; c &lt; d"
    _, visible = render_as_github("| x |\n|---|\n| " + for_markdown("a >= b | c") + " |\n")
    assert "a >= b | c" in visible


def test_code_span_escapes_html_only() -> None:
    assert for_code_span("<b>&\x1b") == "&lt;b&gt;&amp;\\x1b"


def test_unsafe_character_classes() -> None:
    assert all(unsafe_character(c) for c in "\x00\x07\x1b\x7f\x85\x9b\u061c\u200e\u202e\u2068")
    assert not any(unsafe_character(c) for c in "a Z0-_.@ \u00e9\u00a0\u65e5")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("ds-read", "'ds-read'"),
        ("it's", '"it\'s"'),
        ("a\nb\x1b[8m", "'a\\nb\\x1b[8m'"),
        ("\u202eevil\u3164", "'\\u202eevil\\u3164'"),
        (7, "7"),
        ("x" * EXCERPT, repr("x" * EXCERPT)),
        ("x" * 5000, repr("x" * EXCERPT) + "... (5,000 characters)"),
        (["s" * 30] * 3, repr(repr(["s" * 30] * 3)[:EXCERPT]) + "... (102 characters)"),
    ],
)
def test_quoted_is_repr_cut_to_an_excerpt(value: object, shown: str) -> None:
    assert quoted(value) == shown


@given(st.text())
def test_an_excerpt_is_short_and_safe(text: str) -> None:
    for shown in (quoted(text), excerpt(text)):
        assert not has_unsafe_characters(shown)
        # At most EXCERPT characters of the text, each escaped in at most 10, and the length.
        assert len(shown) <= EXCERPT * 10 + 40
    assert len(cut(text)) <= 83


def test_excerpt_escapes_and_cuts() -> None:
    assert excerpt("a\nb") == "a\\nb"
    assert excerpt("y" * 41) == "y" * 40 + "... (41 characters)"
