"""The README and the pages of docs/, as the tests that check their promises read them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def pages() -> list[Path]:
    """Every Markdown page of the documentation site, README.md (its home page) first."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def page(name: str) -> str:
    """The text of docs/NAME."""
    return (DOCS / name).read_text(encoding="utf-8")


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.S | re.M)


def section(text: str, heading: str) -> str:
    """The text under `heading` (a whole heading line, `## Command stores`), up to the next
    heading of the same or a higher level."""
    level = len(heading) - len(heading.lstrip("#"))
    after = text.split(f"\n{heading}\n", 1)[1]
    return re.split(rf"^#{{1,{level}}} ", after, maxsplit=1, flags=re.M)[0]


def anchors(text: str) -> set[str]:
    """The anchors of a page's headings, as MkDocs and GitHub make them (lower case, punctuation
    dropped, spaces to dashes), plus explicit `{#id}`s. Headings in code blocks do not count."""
    from markdown.extensions.toc import slugify

    outside_code = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    found = set()
    for heading in re.findall(r"^#+ (.+)$", outside_code, re.M):
        explicit = re.search(r"\{#([\w-]+)\}\s*$", heading)
        found.add(explicit[1] if explicit else slugify(heading, "-"))
    return found


def docs_section(name: str, heading: str) -> str:
    """The text under `heading` in docs/NAME: where a test finds the words it holds the code to."""
    return section(page(name), heading)
