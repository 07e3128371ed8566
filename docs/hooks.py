"""MkDocs hooks: the pages that are generated at build time, so that they cannot drift.

- The home page is README.md itself, its links into docs/ made relative to the site.
- `<!-- generated: commands -->` becomes every command's `--help`, rendered by click from the
  group that `reconciler.cli:main` runs.
- `<!-- generated: spec -->` becomes every property of schemas/tokens.schema.json with its
  type, default, allowed values and description.

A page that names a marker this module does not know, or a generated page that loses its marker,
fails the build: a reference silently missing is the drift this module exists to prevent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SCHEMA = ROOT / "schemas" / "tokens.schema.json"
MARKER = re.compile(r"<!-- generated: (\w+) -->")
# Wide enough for the longest option help on one line; fixed so a build does not depend on the
# terminal it runs in.
HELP_WIDTH = 100
BUILT_IN_DEFAULT = re.compile(r"Built-in default: (.+?)\.(?=\s|$)")


# MkDocs entry points ------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    files.append(File.generated(config, "index.md", content=home_page(README.read_text())))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    del config, files
    generators = {"commands": command_reference, "spec": spec_reference}

    def generate(match: re.Match[str]) -> str:
        name = match[1]
        if name not in generators:
            raise ValueError(f"{page.file.src_uri}: no generator for marker {name!r}")
        return generators[name]()

    return MARKER.sub(generate, markdown)


def home_page(readme: str) -> str:
    """The README as the site's home page: its links into docs/ point at the pages themselves."""
    return re.sub(r"\]\(docs/", "](", readme)


# The command reference ----------------------------------------------------------------------


def root_group() -> click.Group:
    """The click group that `reconciler.cli:main` runs: the group its body names, else the one
    group of its module that is no other group's command."""
    from reconciler.cli import main

    scope = main.__globals__
    named = [scope[n] for n in main.__code__.co_names if isinstance(scope.get(n), click.Group)]
    if len(named) == 1:
        return named[0]
    groups = [value for value in scope.values() if isinstance(value, click.Group)]
    nested = {id(command) for group in groups for command in group.commands.values()}
    roots = [group for group in groups if id(group) not in nested]
    if len(roots) != 1:
        raise RuntimeError(
            f"expected one click group behind reconciler.cli:main, found {len(roots)}"
        )
    return roots[0]


@dataclass(frozen=True)
class CommandHelp:
    path: str  # "ppm-tokens plan"
    short: str
    text: str


def command_helps() -> list[CommandHelp]:
    """The group and every visible command under it, depth first, as `--help` prints them."""
    group = root_group()
    root = group.make_context("ppm-tokens", [], resilient_parsing=True, terminal_width=HELP_WIDTH)
    found = [CommandHelp("ppm-tokens", group.get_short_help_str(HELP_WIDTH), group.get_help(root))]
    found += _subcommand_helps(group, root)
    return found


def _subcommand_helps(group: click.Group, parent: click.Context) -> list[CommandHelp]:
    found: list[CommandHelp] = []
    for name in group.list_commands(parent):
        command = group.get_command(parent, name)
        if command is None or command.hidden:
            continue
        context = command.make_context(
            name, [], parent=parent, resilient_parsing=True, terminal_width=HELP_WIDTH
        )
        path = context.command_path
        found.append(
            CommandHelp(path, command.get_short_help_str(HELP_WIDTH), command.get_help(context))
        )
        if isinstance(command, click.Group):
            found += _subcommand_helps(command, context)
    return found


def command_reference() -> str:
    helps = command_helps()
    table = ["| command | what it does |", "|---|---|"]
    table += [f"| [`{h.path}`](#{_slug(h.path)}) | {_cell(h.short)} |" for h in helps[1:]]
    sections = [
        f"### `{h.path}` {{#{_slug(h.path)}}}\n\n```text\n{h.text.rstrip()}\n```\n" for h in helps
    ]
    return "\n".join(table) + "\n\n" + "\n".join(sections)


# The spec reference -------------------------------------------------------------------------


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    default: str
    allowed: str
    description: str
    required: bool


@dataclass(frozen=True)
class Section:
    path: str  # "server.auth", "tokens[]", "stores.NAME (type: vault)"
    description: str
    properties: tuple[Property, ...]


def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return schema


def spec_sections(schema: dict[str, Any]) -> list[Section]:
    return _object_sections(schema, "", schema)


def spec_reference() -> str:
    schema = load_schema()
    parts = []
    for section in spec_sections(schema):
        title = f"`{section.path}`" if section.path else "The top level"
        lines = [f"## {title} {{#{_slug(section.path or 'top-level')}}}", ""]
        if section.description:
            lines += [_text(section.description), ""]
        lines += [
            "| key | type | default | allowed values | description |",
            "|---|---|---|---|---|",
        ]
        for p in section.properties:
            name = f"`{p.name}`" + (" (required)" if p.required else "")
            lines.append(
                f"| {name} | {_cell(p.type)} | {_cell(p.default)} | {_cell(p.allowed)} "
                f"| {_cell(_text(p.description))} |"
            )
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """A node with its `$ref` followed; the node's own keywords (a description) win."""
    while "$ref" in node:
        target: Any = root
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _object_sections(node: dict[str, Any], path: str, root: dict[str, Any]) -> list[Section]:
    node = _resolve(node, root)
    sections: list[Section] = []
    properties = node.get("properties", {})
    required = set(node.get("required", []))
    if properties:
        described = tuple(
            _property(name, _resolve(value, root), name in required, path, root)
            for name, value in properties.items()
        )
        sections.append(Section(path, node.get("description", ""), described))
    for name, value in properties.items():
        sections += _child_sections(value, _join(path, name), root)
    for branch in node.get("allOf", []):
        if "then" in branch:
            condition = branch.get("if", {}).get("properties", {})
            label = ", ".join(f"{k}: {v['const']}" for k, v in condition.items() if "const" in v)
            sections += _object_sections(branch["then"], f"{path} ({label})", root)
    return sections


def _child_sections(node: dict[str, Any], path: str, root: dict[str, Any]) -> list[Section]:
    node = _resolve(node, root)
    if "properties" in node or "allOf" in node:
        return _object_sections(node, path, root)
    if isinstance(node.get("items"), dict):
        return _child_sections(node["items"], path + "[]", root)
    if isinstance(node.get("additionalProperties"), dict):
        return _child_sections(node["additionalProperties"], path + ".NAME", root)
    return []


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _property(
    name: str, node: dict[str, Any], required: bool, parent: str, root: dict[str, Any]
) -> Property:
    description = node.get("description", "")
    if "default" in node:
        default = f"`{json.dumps(node['default'])}`"
    else:
        found = BUILT_IN_DEFAULT.search(description)
        default = _text(found[1]) if found else ""
    child = _child_path(node, _join(parent, name), root)
    kind = _type(node, root)
    if child:
        kind = f"[{kind}](#{_slug(child)})"
    return Property(name, kind, default, _allowed(node, root), description, required)


def _child_path(node: dict[str, Any], path: str, root: dict[str, Any]) -> str:
    """The section a property's own keys are listed in, if it has one."""
    if "properties" in node:
        return path
    if "allOf" in node:
        return ""  # the per-type sections follow, each with its own anchor
    if isinstance(node.get("items"), dict):
        return _child_path(_resolve(node["items"], root), path + "[]", root)
    if isinstance(node.get("additionalProperties"), dict):
        return _child_path(_resolve(node["additionalProperties"], root), path + ".NAME", root)
    return ""


def _type(node: dict[str, Any], root: dict[str, Any]) -> str:
    node = _resolve(node, root)
    if "const" in node:
        return _json_type(node["const"])
    if "enum" in node:
        return " or ".join(dict.fromkeys(_json_type(v) for v in node["enum"]))
    if "oneOf" in node:
        return " or ".join(dict.fromkeys(_type(option, root) for option in node["oneOf"]))
    kinds = node.get("type", "object" if "properties" in node else "any")
    names = kinds if isinstance(kinds, list) else [kinds]
    shown = []
    for kind in names:
        if kind == "array" and isinstance(node.get("items"), dict):
            shown.append(f"list of {_type(node['items'], root)}")
        elif kind == "object" and isinstance(node.get("additionalProperties"), dict):
            shown.append("map of name to " + _type(node["additionalProperties"], root))
        else:
            shown.append(kind)
    return " or ".join(shown)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def _allowed(node: dict[str, Any], root: dict[str, Any]) -> str:
    node = _resolve(node, root)
    if "const" in node:
        return f"`{_scalar(node['const'])}`"
    if "enum" in node:
        return ", ".join(f"`{_scalar(v)}`" for v in node["enum"])
    rules = []
    if "pattern" in node:
        rules.append(f"matches `{node['pattern']}`")
    bounds = {
        "minimum": "at least",
        "exclusiveMinimum": "more than",
        "maximum": "at most",
        "minLength": "at least {} characters",
        "maxLength": "at most {} characters",
        "minItems": "at least {} items",
        "maxItems": "at most {} items",
        "maxProperties": "at most {} keys",
        "minProperties": "at least {} keys",
    }
    if node.get("minLength") == 1:
        rules.append("not empty")
    if node.get("minItems") == 1:
        rules.append("at least one")
    for keyword, words in bounds.items():
        if keyword in node and not (keyword in ("minLength", "minItems") and node[keyword] == 1):
            rules.append(
                words.format(node[keyword]) if "{}" in words else f"{words} {node[keyword]}"
            )
    if node.get("uniqueItems"):
        rules.append("no repeats")
    if "oneOf" in node:
        rules += [
            f"{_type(o, root)}: {_allowed(o, root)}" for o in node["oneOf"] if _allowed(o, root)
        ]
    items = node.get("items")
    if isinstance(items, dict) and _allowed(items, root):
        rules.append("each " + _allowed(items, root))
    return "; ".join(rules)


def _scalar(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


# Markdown -----------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _text(text: str) -> str:
    """Prose from the schema as Markdown: code spans kept, everything else shown as written
    (`<namespace>` is not an HTML tag, `"*"` not emphasis)."""
    pieces = re.split(r"(`[^`]*`)", text)
    return "".join(piece if piece.startswith("`") else _escape(piece) for piece in pieces)


def _escape(prose: str) -> str:
    prose = prose.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"([\\*_\[\]])", r"\\\1", prose)


def _cell(text: str) -> str:
    """One table cell: no line break, no column separator (a `|` in a code span is not one)."""
    pieces = re.split(r"(`[^`]*`)", text.replace("\n", " "))
    return "".join(p if p.startswith("`") else p.replace("|", "\\|") for p in pieces)
