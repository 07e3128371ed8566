"""Hostile text that a token created out of band may carry, and checks that rendered output
neither shows it raw nor lets it forge, hide or break anything. Shared by the renderer unit
tests and the end-to-end test against the emulator."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from markdown_it import MarkdownIt

from reconciler.sanitize import unsafe_character

# Each one tries something different: hide the rest of a line, retitle the terminal, overwrite
# a line from its start, forge a whole plan line, reverse the reading order, break out of a
# Markdown table cell or <details> block, run a script, or plant a link.
HIDE = "\x1b[8mhidden"
RETITLE = "\x1b]0;pwned\x07"
OVERWRITE = "ok\r  + create   admin-everything"
FORGE = "x\n  + create   forged-token\n"
REVERSE = "\u202eetirw\u202c"
MARKDOWN = "a | b </details></summary> <script>alert(1)</script> `tick` [click](https://evil.test)"
AUTOLINK = "see www.evil.test or admin@evil.test"

HOSTILE_USER = HIDE + RETITLE + OVERWRITE + REVERSE
HOSTILE_DESCRIPTION = FORGE + MARKDOWN + AUTOLINK + HIDE
# What must never reach a terminal as itself, and what must never reach Markdown as itself.
RAW_TERMINAL = ("\x1b[8m", "\x1b]0;", "\x07", "\r", "\u202e", "\n  + create")
RAW_MARKDOWN = (*RAW_TERMINAL, "<script", "</details></summary>", "](https")

# The only escape sequences the text renderer itself writes (bold, colours, reset).
_OWN_SGR = re.compile(r"\x1b\[(?:0|1|31|32|33|36)m")
_SGR = r"(?:\x1b\[[0-9;]*m)?"
_ACTION_LINE = re.compile(
    rf"^ *{_SGR}(?:\+|~|-|!){_SGR}(?:/{_SGR}\+{_SGR})? +"
    r"(?:create|recreate|rotate|replace|repair|retire|revoke)\b"
)


def unsafe_left(text: str, *, color: bool = False) -> list[str]:
    """Characters in `text` that a terminal or browser would interpret, other than line breaks
    and (with colour) the renderer's own colour codes."""
    visible = _OWN_SGR.sub("", text) if color else text
    return sorted({repr(c) for c in visible if c != "\n" and unsafe_character(c)})


def action_lines(text: str) -> list[str]:
    """Lines of a text plan that read as an action (`  + create ...`, `  - revoke ...`)."""
    return [line for line in text.splitlines() if _ACTION_LINE.match(line)]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def render_as_github(markdown: str) -> tuple[list[str], str]:
    """The start tags and the visible text of `markdown` rendered like a GitHub comment
    (CommonMark with raw HTML, GFM tables, strikethrough and autolinks)."""
    html = MarkdownIt("gfm-like", {"linkify": True}).render(markdown)
    parser = _Tags()
    parser.feed(html)
    return parser.tags, "".join(parser.text)
