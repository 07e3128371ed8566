"""The README's checkable promises: the first screen is the two commands, internal links land
on a heading, the security model is there, and its spec examples validate."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.desired import check_bytes

README = Path(__file__).resolve().parents[1] / "README.md"
TEXT = README.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w*)\n(.*?)```", TEXT, re.S)


def anchor(heading: str) -> str:
    """GitHub's heading anchor: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_first_screen_is_make_demo_and_make_test() -> None:
    before_first_block = TEXT.split("```", 1)[0]
    assert before_first_block.strip() == "# ppm-tokens"
    commands = [line.split("#")[0].strip() for line in BLOCKS[0][1].splitlines()]
    assert commands == ["make demo", "make test"]


def test_internal_links_land_on_a_heading() -> None:
    headings = {anchor(h) for h in re.findall(r"^#+ (.+)$", TEXT, re.M)}
    links = set(re.findall(r"\]\(#([^)]+)\)", TEXT))
    assert links, "the README links its own sections"
    assert links <= headings, sorted(links - headings)


def test_there_is_one_security_model_section() -> None:
    assert re.findall(r"^## Security model$", TEXT, re.M) == ["## Security model"]
    section = TEXT.split("## Security model", 1)[1].split("\n## ", 1)[0]
    for topic in ("What it can touch", "Where values go", "pull request", "The lock", "TLS"):
        assert topic in section


@pytest.mark.parametrize(
    "body",
    [body for lang, body in BLOCKS if lang == "yaml" and body.startswith("version: 1")],
)
def test_spec_examples_validate(body: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    now = datetime(2026, 12, 1, tzinfo=UTC)
    _, problems = check_bytes(body.encode(), file="README.md", base_dir=tmp_path, now=now)
    assert [p.render() for p in problems] == []


@pytest.mark.parametrize(
    "stores", [body for lang, body in BLOCKS if lang == "yaml" and body.startswith("stores:")]
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
