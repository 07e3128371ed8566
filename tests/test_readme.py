"""The README's and the guides' checkable promises: the first screen is the two commands, the
README is a short front page whose links land on a page and a heading of docs/, the security
model is there, and every spec example in the README and the guides validates."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.desired import check_bytes
from tests.docs_pages import DOCS, README, ROOT, anchors, code_blocks, page, pages

TEXT = README.read_text(encoding="utf-8")
BLOCKS = [
    (path.relative_to(ROOT).as_posix(), lang, body)
    for path in pages()
    for lang, body in code_blocks(path.read_text(encoding="utf-8"))
]


def test_the_first_screen_is_make_demo_and_make_test() -> None:
    before_first_block = TEXT.split("```", 1)[0]
    assert before_first_block.strip() == "# ppm-tokens"
    commands = [line.split("#")[0].strip() for line in code_blocks(TEXT)[0][1].splitlines()]
    assert commands == ["make demo", "make test"]
    assert "need only Python 3.11+ and make" in TEXT.split("##", 1)[0]


def test_the_readme_is_a_short_front_page() -> None:
    assert len(TEXT.splitlines()) <= 250
    sections = re.findall(r"^## (.+)$", TEXT, re.M)
    assert sections == ["Install", "A short tour", "Documentation"]


def test_the_readme_links_every_page_of_the_docs() -> None:
    linked = {m.split("#")[0] for m in re.findall(r"\]\(docs/([^)]+)\)", TEXT)}
    every_page = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert every_page <= linked, sorted(every_page - linked)


def test_the_readme_s_links_land_on_a_page_and_a_heading() -> None:
    links = re.findall(r"\]\(((?:docs/|#)[^)]*)\)", TEXT)
    assert links, "the README links the guides"
    for link in links:
        target, _, anchor = link.partition("#")
        path = ROOT / target if target else README
        assert path.is_file(), link
        if anchor:
            assert anchor in anchors(path.read_text(encoding="utf-8")), link


def test_the_readme_s_links_fail_when_a_heading_moves(tmp_path: Path) -> None:
    """The anchors the link check compares with are the headings' own: renaming one breaks it."""
    text = page("github-actions.md")
    assert "when-a-run-fails" in anchors(text)
    renamed = text.replace("## When a run fails", "## If a run fails")
    assert "when-a-run-fails" not in anchors(renamed)


def test_there_is_one_security_model_page() -> None:
    text = page("security.md")
    assert re.findall(r"^# .+$", text, re.M) == ["# Security model"]
    for topic in ("What it can touch", "Where values go", "pull request", "The lock", "TLS"):
        assert topic in text
    assert "](docs/security.md)" in TEXT


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(body, id=f"{name}-{i}")
        for i, (name, lang, body) in enumerate(BLOCKS)
        if lang == "yaml" and body.startswith("version: 1")
    ],
)
def test_spec_examples_validate(body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    _, problems = check_bytes(body.encode(), file="README.md", base_dir=tmp_path, now=now)
    assert [p.render() for p in problems] == []


@pytest.mark.parametrize(
    "stores",
    [
        pytest.param(body, id=f"{name}-{i}")
        for i, (name, lang, body) in enumerate(BLOCKS)
        if lang == "yaml" and body.startswith("stores:")
    ],
)
def test_store_examples_validate(
    stores: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each store snippet, under a spec with one token per store, is a valid spec."""
    monkeypatch.setenv("HOME", str(tmp_path))
    names = re.findall(r"^  ([\w-]+):", stores, re.M)
    assert names
    tokens = "".join(
        f"  - {{name: t{i}, user: ci, description: d, scope: global:admin, store: {name},"
        f" secret: T{i}}}\n"
        for i, name in enumerate(names)
    )
    body = f"version: 1\nnamespace: readme\n{stores}tokens:\n{tokens}"
    now = datetime(2026, 12, 1, tzinfo=UTC)
    _, problems = check_bytes(body.encode(), file="README.md", base_dir=tmp_path, now=now)
    assert [p.render() for p in problems] == []


def test_every_example_the_readme_had_is_still_checked() -> None:
    """The guides moved out of the README with their examples: the spec and store examples are
    still found and checked, wherever they now live."""
    specs = [b for _, lang, b in BLOCKS if lang == "yaml" and b.startswith("version: 1")]
    stores = [b for _, lang, b in BLOCKS if lang == "yaml" and b.startswith("stores:")]
    assert len(specs) >= 4 and len(stores) >= 5
