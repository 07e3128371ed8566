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


FLAG = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def cli_help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    """What `ppm-tokens [COMMAND] --help` prints, through the entry point itself."""
    from reconciler.cli import main

    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def command_names(capsys: pytest.CaptureFixture[str]) -> list[str]:
    listing = cli_help(capsys).split("\nCommands:\n", 1)[1]
    return re.findall(r"^  ([a-z][\w-]*)", listing, re.M)


def flags(help_text: str) -> set[str]:
    """The options a help text lists: the first column of its Options section."""
    options = help_text.split("\nOptions:\n", 1)[1].split("\nCommands:\n", 1)[0]
    found = set()
    for line in options.splitlines():
        column = re.match(r"^  (-\S.*?)(?: {2,}|$)", line)
        if column:
            found |= {part.split()[0] for part in re.split(r", | / ", column[1])}
    return found


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


def test_every_command_and_option_is_in_the_command_reference(
    site: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read from `ppm-tokens --help`, not through the generator: every command, its description
    and every option it takes are in the reference."""
    text = text_of(site, "reference/commands")
    sections = text.split("Usage: ")
    names = command_names(capsys)
    assert len(names) > 10
    for command in [(), *[(name,) for name in names]]:
        path = " ".join(["ppm-tokens", *command])
        (section,) = [s for s in sections if s.startswith(f"{path} [OPTIONS]")]
        shown = cli_help(capsys, *command)
        description = shown.split("\n\n", 1)[1].split("\nOptions:\n", 1)[0]
        assert re.sub(r"\s+", " ", description).strip() in section, path
        for flag in flags(shown):
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


def test_the_synopsis_names_every_command_and_only_real_options(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The overview is written by hand, so it is checked against the command line: it cannot
    drift either."""
    entries = synopsis()
    assert sorted(entries) == sorted(command_names(capsys))
    shared = flags(cli_help(capsys))
    for name, usage in entries.items():
        real = flags(cli_help(capsys, name)) | shared
        for flag in FLAG.findall(usage):
            assert flag in real, (name, flag)


def test_the_synopsis_check_fails_on_an_option_that_does_not_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    usage = synopsis()["plan"] + " [--no-such-flag]"
    assert "--no-such-flag" in FLAG.findall(usage)
    assert "--no-such-flag" not in flags(cli_help(capsys, "plan"))


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
