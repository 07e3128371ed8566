"""The layering written in reconciler/__init__.py holds: no module imports from a layer above its
own, nor from a sibling package of its layer, and only the command line imports click or prints.
Every import counts: at module level, inside a function, or under TYPE_CHECKING."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

import reconciler

PACKAGE = Path(reconciler.__file__).parent
# A layer's first line in the docstring ("    name: a, b | c") and the lines that continue its
# list of units, indented under it; its description lines are indented further still.
LAYER = re.compile(r"^    ([a-z][a-z ]*): (.+)$")
MORE_UNITS = re.compile(r"^ {10}(\S.*)$")
COMMAND_LINE = "command line"
ROOT = "reconciler"  # the package's own __init__: the lowest layer (it holds __version__)


@dataclass(frozen=True)
class Layer:
    name: str
    rank: int  # 0 for the lowest
    groups: tuple[frozenset[str], ...]  # units joined by "|" import nothing of each other

    def group_of(self, unit: str) -> frozenset[str]:
        return next(group for group in self.groups if unit in group)


def parse_layers(docstring: str) -> dict[str, Layer]:
    """Unit (a package or a module at the package root) -> its layer."""
    found: list[tuple[str, str]] = []
    in_table = False
    for line in docstring.splitlines():
        if line.startswith("Layers"):
            in_table = True
        elif in_table and (match := LAYER.match(line)):
            found.append((match[1], match[2]))
        elif in_table and found and (more := MORE_UNITS.match(line)):
            found[-1] = (found[-1][0], f"{found[-1][1]} {more[1]}")
    units: dict[str, Layer] = {}
    for index, (name, text) in enumerate(found):
        groups = tuple(
            frozenset(unit.strip() for unit in group.split(",") if unit.strip())
            for group in text.split("|")
        )
        layer = Layer(name, len(found) - 1 - index, groups)
        for group in groups:
            for unit in group:
                assert unit not in units, f"{unit} is in two layers"
                units[unit] = layer
    units.setdefault(ROOT, next(layer for layer in units.values() if layer.rank == 0))
    return units


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def imported(tree: ast.Module, module: str, is_package: bool, known: set[str]) -> Iterator[str]:
    """Every module of ours that `tree` imports, wherever the import statement is."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            yield source
            # `from reconciler import jwtinfo` imports a module, not a name of the package.
            yield from (f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in known)


def prints(tree: ast.Module) -> bool:
    """Calls print(), or writes to sys.stdout or sys.stderr."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "print"
        ):
            return True
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("stdout", "stderr")
            and isinstance(node.value, ast.Name)
            and node.value.id == "sys"
        ):
            return True
    return False


def violations(sources: Mapping[str, tuple[str, bool]], layers: Mapping[str, Layer]) -> list[str]:
    """What breaks the layering in `sources` (module name -> (source text, is a package))."""
    problems: list[str] = []
    for module, (text, is_package) in sorted(sources.items()):
        unit = unit_of(module)
        layer = layers.get(unit)
        if layer is None:
            problems.append(f"{module}: {unit} is in no layer of reconciler/__init__.py")
            continue
        tree = ast.parse(text)
        for target in sorted(set(imported(tree, module, is_package, set(sources)))):
            top = target.split(".")[0]
            if top == "click" and layer.name != COMMAND_LINE:
                problems.append(f"{module} ({layer.name}) imports click")
            if top != ROOT:
                continue
            other = unit_of(target)
            their = layers.get(other)
            if their is None or other == unit:
                continue
            if their.rank > layer.rank:
                problems.append(f"{module} ({layer.name}) imports {target} ({their.name})")
            elif their is layer and layer.group_of(unit) != layer.group_of(other):
                problems.append(f"{module} imports {target}, a sibling in {layer.name}")
        if layer.name != COMMAND_LINE and prints(tree):
            problems.append(f"{module} ({layer.name}) prints")
    return problems


def package_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path): (path.read_text(encoding="utf-8"), path.name == "__init__.py")
        for path in sorted(PACKAGE.rglob("*.py"))
    }


LAYERS = parse_layers(reconciler.__doc__ or "")


def test_the_table_places_every_package_and_root_module() -> None:
    units = {unit_of(module) for module in package_sources()}
    assert units - set(LAYERS) == set(), "give these a layer in reconciler/__init__.py"
    assert set(LAYERS) - units == set(), "the table names what does not exist"
    assert LAYERS["cli"].name == COMMAND_LINE
    assert LAYERS["desired"].rank < LAYERS["stores"].rank < LAYERS["apply"].rank


def test_no_module_imports_upward_or_sideways_and_only_the_command_line_prints() -> None:
    assert violations(package_sources(), LAYERS) == []


MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    """Past a few hundred lines a module asks to be split; past 500 it must be."""
    sizes = {module: text.count("\n") for module, (text, _) in package_sources().items()}
    assert {module: n for module, n in sizes.items() if n > MAX_LINES} == {}


SYNTHETIC = parse_layers(
    """Layers
    command line: cli
    middle: stores | locks
    low: errors
"""
)


@pytest.mark.parametrize(
    ("module", "source", "problem"),
    [
        ("reconciler.errors", "def f():\n    from reconciler.stores import x\n", "imports"),
        ("reconciler.stores.a", "from reconciler.locks.b import c\n", "sibling"),
        (
            "reconciler.stores.a",
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import reconciler.cli\n",
            "imports reconciler.cli",
        ),
        ("reconciler.stores.a", "import click\n", "imports click"),
        ("reconciler.locks.a", "print('held')\n", "prints"),
        ("reconciler.locks.a", "import sys\nsys.stderr.write('held')\n", "prints"),
        ("reconciler.server.a", "", "in no layer"),
    ],
    ids=["lazy-upward", "sibling", "type-checking", "click", "print", "stderr", "unplaced"],
)
def test_the_check_finds_each_kind_of_breach(module: str, source: str, problem: str) -> None:
    found = violations({module: (source, False)}, SYNTHETIC)
    assert len(found) == 1 and problem in found[0], found


def test_the_check_allows_what_the_layering_allows() -> None:
    sources = {
        "reconciler.cli": ("import click\nfrom reconciler.stores import a\nprint('ok')\n", False),
        "reconciler.stores.a": ("from . import b\nfrom reconciler.errors import E\n", False),
        "reconciler.stores.b": ("", False),
    }
    assert violations(sources, SYNTHETIC) == []
