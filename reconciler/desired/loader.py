"""Bytes -> plain data that remembers where every value and key came from.

PyYAML's own constructor forgets positions, keeps the last of two duplicate keys and expands
aliases without bound, so this module takes the node graph (desired/compose.py: libyaml where it
can, PyYAML's composer otherwise, the same nodes either way) and builds the plain data itself.
Every failure becomes a `Problem`; nothing here raises on bad input.
"""

from __future__ import annotations

import gc
import hashlib
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from reconciler.desired.compose import MAX_DEPTH, TooDeep, compose
from reconciler.desired.where import describe
from reconciler.problems import Problem, Severity
from reconciler.sanitize import cut, quoted

MAX_BYTES = 5 * 1024 * 1024
# Nodes that aliases may add on top of those written out: generous for `<<: *defaults`-style
# reuse, small enough that an alias bomb stops in milliseconds.
MAX_ALIAS_EXPANSION = 10_000

JsonPath = tuple[str | int, ...]
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


# (line, col), 1-based, as the Document keeps them: a large spec has a few hundred thousand,
# and plain tuples of numbers are dropped from the cyclic collector's view once it has seen
# them, where objects with attributes are walked by it again and again.
Place = tuple[int, int]


@dataclass(frozen=True)
class Document:
    """A parsed spec file: plain data plus where each part of it was written."""

    file: str
    sha256: str
    data: object
    values: Mapping[JsonPath, Place] = field(default_factory=dict)
    keys: Mapping[JsonPath, Place] = field(default_factory=dict)
    source: Mapping[JsonPath, str] = field(default_factory=dict)  # scalars as written

    def at(self, path: JsonPath) -> Mark:
        """Where the value at `path` starts, or its nearest known ancestor."""
        for end in range(len(path), -1, -1):
            place = self.values.get(path[:end])
            if place is not None:
                return Mark(*place)
        return Mark(1, 1)

    def key_at(self, path: JsonPath) -> Mark:
        """Where the key of the entry at `path` is written (the value's place if no key)."""
        place = self.keys.get(path)
        return Mark(*place) if place is not None else self.at(path)

    def problem(
        self,
        path: JsonPath,
        message: str,
        *,
        severity: Severity = Severity.ERROR,
        on_key: bool = False,
    ) -> Problem:
        mark = self.key_at(path) if on_key else self.at(path)
        return Problem(self.file, mark.line, mark.col, pointer(path), message, severity)


def pointer(path: JsonPath) -> str:
    """`("tokens", 2, "scope")` -> "/tokens/2/scope" (JSON-pointer escaping for ~ and /)."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


class _StopLoading(Exception):
    """Internal: abandon construction with one problem (an alias bomb, too deep nesting)."""

    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def _mark(mark: yaml.Mark | None) -> Mark:
    return Mark(*_place(mark))


def _place(mark: yaml.Mark | None) -> Place:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


def too_large(file: str, size: int) -> Problem:
    return Problem(file, 0, 0, "", f"file is {size / 1024 / 1024:.1f} MiB; the limit is 5 MiB")


def parse(
    raw: bytes, file: str, *, libyaml: bool | None = None
) -> tuple[Document | None, list[Problem]]:
    """Parse a spec file's bytes. Returns the document, or None and the problems that stop it.
    `libyaml` False composes with PyYAML alone (None: libyaml where available); the result is
    the same either way."""

    def whole_file(message: str, line: int = 0, col: int = 0) -> tuple[None, list[Problem]]:
        return None, [Problem(file, line, col, "", message)]

    if len(raw) > MAX_BYTES:
        return None, [too_large(file, len(raw))]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return whole_file(
            f"not UTF-8 at line {line} (byte {exc.start}): save the file as UTF-8", line, 1
        )
    sha256 = hashlib.sha256(raw).hexdigest()
    with collector_paused():
        try:
            root = compose(text, libyaml=libyaml)
        except TooDeep as deep:
            where = _mark(deep.mark)
            message = f"nesting deeper than {MAX_DEPTH} levels: flatten the document"
            return whole_file(message, where.line, where.col)
        except yaml.YAMLError as exc:
            return None, _syntax_problems(exc, text, file)
        except RecursionError:  # pragma: no cover - MAX_DEPTH stops well before this
            return whole_file(f"nesting deeper than {MAX_DEPTH} levels: flatten the document")
        if root is None:
            return whole_file("the file is empty: start with `version: 1`")
        builder = _Builder()
        try:
            data = builder.build(root, ())
        except _StopLoading as stop:
            return whole_file(stop.message, stop.mark.line, stop.mark.col)
    if data is None:  # `---` alone, or `~`
        return whole_file("the file is empty: start with `version: 1`")
    document = Document(file, sha256, data, builder.values, builder.keys, builder.source)
    problems = [
        Problem(file, mark.line, mark.col, pointer(path), _named(data, path, message))
        for path, mark, message in builder.errors
    ]
    if not isinstance(data, dict):
        kind = _kind(data)
        problems.append(
            document.problem(
                (), f"the top level is {kind}; it must be a mapping (`version: 1`, ...)"
            )
        )
    return document, problems


@contextmanager
def collector_paused() -> Iterator[None]:
    """Checking a large spec makes hundreds of thousands of objects that live until it is
    built; the cyclic collector, run every few hundred new objects, would walk the growing heap
    again and again (composing a 10,000-token spec took three times as long). Reference
    counting frees what is dropped meanwhile; the few cycles made (an alias inside itself, a
    schema error's tree) are collected once the collector runs again, and a spec is at most
    MAX_BYTES. Nested pauses leave the collector to the outermost."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _named(data: object, path: JsonPath, message: str) -> str:
    """The message with the field it is about: "token 'ds-read' expires: ..."."""
    # A duplicate key or a bad merge is about the mapping that holds it.
    about_parent = message.startswith("duplicate key") or path[-1:] == ("<<",)
    where = describe(data, path[:-1] if about_parent else path)
    return f"{where}: {message}" if where else message


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "empty"
    # Never quoted: a document that is one value is the whole file, which may be anything a
    # link led to (a credentials file reads as one YAML string).
    return "a single value"


_TAB_INDENT = re.compile(r"^[ ]*\t")


def _syntax_problems(exc: yaml.YAMLError, text: str, file: str) -> list[Problem]:
    if isinstance(exc, yaml.reader.ReaderError):
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        return [
            Problem(file, line, col, "", f"character #x{exc.character:04x} is not allowed in YAML")
        ]
    if not isinstance(exc, yaml.MarkedYAMLError):  # pragma: no cover - PyYAML raises only these
        return [Problem(file, 0, 0, "", f"not valid YAML: {exc}")]
    problem_mark = _mark(exc.problem_mark)
    context = exc.context or ""
    if context.startswith("while scanning an alias"):
        star = _mark(exc.context_mark)
        # `resources: "*"` is accepted as it stands, so quoting is the whole fix.
        message = 'a bare * starts a YAML alias: quote it: "*"'
        return [Problem(file, star.line, star.col, "", message)]
    if "'\\t'" in (exc.problem or ""):
        lines = text.splitlines()
        tabbed = [n for n, line in enumerate(lines, start=1) if _TAB_INDENT.match(line)]
        if problem_mark.line not in tabbed:
            tabbed.append(problem_mark.line)
        return [
            Problem(file, n, 1, "", f"tab used for indentation at line {n}: use spaces")
            for n in sorted(tabbed)
        ]
    where = _mark(exc.problem_mark or exc.context_mark)
    # PyYAML's own wording, which may quote the input (an anchor's name: cut); never its
    # snippet of the line (str(exc)), which would quote whole lines of whatever the file is.
    problem = cut(exc.problem or "not valid YAML")
    prefix = f"{cut(context)}: " if context else ""
    return [Problem(file, where.line, where.col, "", f"YAML syntax: {prefix}{problem}")]


class _Builder:
    """Turns a node graph into dicts, lists and scalars, recording positions by JSON path."""

    def __init__(self) -> None:
        self.values: dict[JsonPath, Place] = {}
        self.keys: dict[JsonPath, Place] = {}
        self.source: dict[JsonPath, str] = {}
        self.errors: list[tuple[JsonPath, Mark, str]] = []
        self._scalars = yaml.SafeLoader("")
        self._seen: set[int] = set()
        self._built = 0
        self._depth = 0

    def build(self, node: Node, path: JsonPath) -> object:
        self._built += 1
        if id(node) in self._seen:
            if self._built - len(self._seen) > MAX_ALIAS_EXPANSION:
                # Deep inside the expansion now: point at the top-level entry that started it.
                where = f" under {quoted(path[0])}" if path else ""
                raise _StopLoading(
                    Mark(*(self.keys.get(path[:1]) or _place(node.start_mark))),
                    f"aliases{where} expand to more than {MAX_ALIAS_EXPANSION:,} extra values: "
                    "an alias bomb, or anchors reused too often",
                )
        else:
            self._seen.add(id(node))
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _StopLoading(
                    _mark(node.start_mark),
                    f"nesting deeper than {MAX_DEPTH} levels (an alias inside itself?)",
                )
            self.values[path] = _place(node.start_mark)
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self._depth -= 1

    def _scalar(self, node: Node, path: JsonPath) -> object:
        assert isinstance(node, ScalarNode)
        self.source[path] = node.value
        if node.tag == _STR_TAG:
            return node.value  # what SafeConstructor makes of it, without the call
        constructor = self._scalars.yaml_constructors.get(node.tag)
        if constructor is None:
            message = f"unknown YAML tag {quoted(node.tag)}"
            self.errors.append((path, _mark(node.start_mark), message))
            return node.value
        try:
            return constructor(self._scalars, node)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            reason = cut(getattr(exc, "problem", None) or str(exc))
            message = f"{quoted(node.value)} cannot be read as {_tag_name(node)}: {reason}"
            self.errors.append((path, _mark(node.start_mark), message))
            return node.value

    def _mapping(self, node: MappingNode, path: JsonPath) -> dict[str, object]:
        result: dict[str, object] = {}
        first_seen: dict[str, int] = {}
        merged: list[MappingNode] = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merged.extend(self._merge_sources(value_node, path))
                continue
            key_place = _place(key_node.start_mark)
            if not isinstance(key_node, ScalarNode):
                self.errors.append(
                    (path, Mark(*key_place), "a key must be plain text, not a list or mapping")
                )
                continue
            key = str(key_node.value)
            if key in first_seen:
                message = f"duplicate key {quoted(key)} (first at line {first_seen[key]})"
                self.errors.append(((*path, key), Mark(*key_place), message))
                continue
            first_seen[key] = key_place[0]
            self.keys[(*path, key)] = key_place
            result[key] = self.build(value_node, (*path, key))
        # Keys written out win over merged ones, and earlier merge sources over later ones.
        for source in merged:
            in_source: set[str] = set()
            for key_node, value_node in source.value:
                key = str(key_node.value)
                if key in in_source:
                    # A merged mapping written inline is never built on its own, so its
                    # duplicate keys are found here or nowhere.
                    message = f"duplicate key {quoted(key)} in a merged mapping"
                    self.errors.append(((*path, key), _mark(key_node.start_mark), message))
                    continue
                in_source.add(key)
                if isinstance(key_node, ScalarNode) and key not in result:
                    self.keys[(*path, key)] = _place(key_node.start_mark)
                    result[key] = self.build(value_node, (*path, key))
        return result

    def _merge_sources(self, value: Node, path: JsonPath) -> list[MappingNode]:
        sources = value.value if isinstance(value, SequenceNode) else [value]
        good = [item for item in sources if isinstance(item, MappingNode)]
        if len(good) != len(sources):
            message = "`<<` merges mappings only: use `<<: *anchor`"
            self.errors.append(((*path, "<<"), _mark(value.start_mark), message))
        return good


def _tag_name(node: Node) -> str:
    return {
        "tag:yaml.org,2002:timestamp": "a date",
        "tag:yaml.org,2002:int": "a number",
        "tag:yaml.org,2002:float": "a number",
        "tag:yaml.org,2002:bool": "true or false",
        "tag:yaml.org,2002:binary": "binary data",
    }.get(node.tag, "a value")
