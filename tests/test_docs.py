"""The documentation site: `mkdocs build --strict` passes (offline), every page is in the nav,
and the generated references hold every command with every option (from click, through
`reconciler.cli:main`'s group) and every key of the spec's schema with its description."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from tests.docs_pages import DOCS, ROOT, page

BIN = Path(sys.executable).parent
SCHEMA = ROOT / "schemas" / "tokens.schema.json"


def build(site: Path, config: Path = ROOT / "mkdocs.yml") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(
        [BIN / "mkdocs", "build", "--strict", "--config-file", config, "--site-dir", site],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    run = build(out)
    assert run.returncode == 0, run.stderr
    return out


def text_of(site: Path, page_path: str) -> str:
    """A built page's visible text: tags dropped, entities decoded, white space collapsed."""
    raw = (site / f"{page_path}.html").read_text(encoding="utf-8")
    body = raw.split('<article class="md-content__inner md-typeset">', 1)[1]
    body = body.split("</article>", 1)[0]
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def root_group() -> click.Group:
    """The group `ppm-tokens` runs, found the way a reader would: what `main` dispatches to."""
    from reconciler import cli

    groups = [v for v in vars(cli).values() if isinstance(v, click.Group)]
    nested = {id(c) for g in groups for c in g.commands.values()}
    (root,) = [g for g in groups if id(g) not in nested]
    return root


def commands() -> Iterator[tuple[str, click.Command]]:
    group = root_group()
    yield "ppm-tokens", group
    for name, command in sorted(group.commands.items()):
        if not command.hidden:
            yield f"ppm-tokens {name}", command


# The build -----------------------------------------------------------------------------------


def test_the_site_builds_strictly_with_every_page(site: Path) -> None:
    for path in DOCS.rglob("*.md"):
        built = site / path.relative_to(DOCS).with_suffix(".html")
        assert built.is_file(), path
    home = text_of(site, "index")
    assert "make demo" in home and "A short tour" in home  # the README is the home page
    assert not list(site.rglob("*.py")), "the hooks are not published"


def test_the_validation_settings_make_a_broken_anchor_fail_the_build(tmp_path: Path) -> None:
    """mkdocs.yml's `validation:` under --strict: an anchor that lands nowhere fails the build
    instead of being a note in the log (MkDocs' default)."""
    ours = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text("# Home\n\n[x](other.md#no-such-anchor)\n")
    (tmp_path / "docs" / "other.md").write_text("# Other\n")
    config = {"site_name": "t", "strict": True, "validation": ours["validation"]}
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config))
    run = build(tmp_path / "site", tmp_path / "mkdocs.yml")
    assert run.returncode != 0
    assert "no-such-anchor" in run.stderr


def test_every_page_is_in_the_nav() -> None:
    def listed(entries: Any) -> Iterator[str]:
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from listed(value) if isinstance(value, list) else [value]

    nav = set(listed(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")} | {"index.md"}
    assert nav == pages


# The command reference -----------------------------------------------------------------------


def test_every_command_and_option_is_in_the_command_reference(site: Path) -> None:
    text = text_of(site, "reference/commands")
    found = list(commands())
    assert len(found) > 10
    sections = text.split("Usage: ")
    for path, command in found:
        (section,) = [s for s in sections if s.startswith(f"{path} [OPTIONS]")]
        assert command.help, path
        first_paragraph = re.sub(r"\s+", " ", command.help.split("\n\n")[0]).strip()
        assert first_paragraph in section, path
        for param in command.params:
            if getattr(param, "hidden", False):
                continue
            if isinstance(param, click.Argument):
                assert param.human_readable_name in section, (path, param.name)
            for flag in (
                [*param.opts, *param.secondary_opts] if param.param_type_name == "option" else []
            ):
                assert f" {flag}" in section, (path, flag)


def synopsis() -> dict[str, str]:
    """The hand-written overview at the top of the command reference: command -> its line(s)."""
    overview = page("reference/commands.md").split("```", 2)[1]
    entries: dict[str, str] = {}
    name = ""
    for line in overview.strip().splitlines():
        if line.startswith("ppm-tokens "):
            name = line.split()[1]
            entries[name] = line.split(None, 2)[2] if len(line.split()) > 2 else ""
        else:
            entries[name] += " " + line.strip()
    return entries


def test_the_synopsis_names_every_command_and_only_real_options() -> None:
    """The overview is written by hand, so it is checked against click: it cannot drift either."""
    group = root_group()
    entries = synopsis()
    assert set(entries) == {name for name, c in group.commands.items() if not c.hidden}
    for name, usage in entries.items():
        command = group.commands[name]
        real = {f for p in [*command.params, *group.params] for f in [*p.opts, *p.secondary_opts]}
        for flag in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", usage):
            assert flag in real, (name, flag)


def test_the_synopsis_check_fails_on_an_option_that_does_not_exist() -> None:
    usage = synopsis()["plan"] + " [--no-such-flag]"
    flags = re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", usage)
    real = {f for p in root_group().commands["plan"].params for f in p.opts}
    assert "--no-such-flag" in flags and "--no-such-flag" not in real


# The spec reference --------------------------------------------------------------------------


def schema_properties(node: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (key, schema) under any `properties` of the schema, wherever it is nested, but for
    the conditions of `if` and `not`, which test keys rather than define them."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("if", "not"):
                continue
            if key == "properties" and isinstance(value, dict):
                yield from value.items()
            yield from schema_properties(value)
    elif isinstance(node, list):
        for value in node:
            yield from schema_properties(value)


def plain(fragment: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", "", fragment))).strip()


def reference_rows(site: Path) -> list[list[str]]:
    """The spec reference's table rows as plain text: key, type, default, allowed, description."""
    raw = (site / "reference" / "spec.html").read_text(encoding="utf-8")
    rows = [
        re.findall(r"<td>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", raw, re.S)
    ]
    return [[plain(cell) for cell in row] for row in rows if row]


def row_describes(row: list[str], key: str, node: dict[str, Any]) -> bool:
    """Whether a reference row shows this key with its description, default and values."""
    key_cell, kind, default, allowed, text = row
    description = re.sub(r"\s+", " ", node["description"].replace("`", "")).strip()
    built_in = re.search(r"Built-in default: (.+?)\.(?=\s|$)", description)
    return (
        key_cell.split(" (")[0] == key
        and text == description
        and bool(kind)
        and default == (built_in[1] if built_in else "")
        and all(value in allowed.split(", ") for value in node.get("enum", []))
        and ("const" not in node or allowed == str(node["const"]))
    )


def test_every_schema_key_is_in_the_spec_reference(site: Path) -> None:
    """Read from the schema itself, not through the generator: every key under any
    `properties` (an if/then branch's too), with its description, default and allowed values."""
    schema = json.loads(SCHEMA.read_text())
    rows = reference_rows(site)
    found = list(schema_properties(schema))
    assert len(found) > 100
    for key, node in found:
        shared = schema["$defs"][node["$ref"].rsplit("/", 1)[1]] if "$ref" in node else {}
        full = {**shared, **node}  # a shared definition, with this key's own description
        assert any(row_describes(row, key, full) for row in rows), key
