"""Text -> PyYAML's node graph, with libyaml's composer where it can be trusted.

Both composers give the same nodes: the same tags (PyYAML's resolver runs in both), values and
line and column marks. libyaml's is C and composes a large spec several times faster; PyYAML's
own is the reference. libyaml is used only for documents it composes completely within every
bound, and only where it bounds nesting itself (libyaml 0.2.5 and later stop at 1000 levels;
an older one composes recursively in C, where a deep enough document would exhaust the stack).
Any other document (one libyaml refuses, one nested deeper than MAX_DEPTH, one holding a tab,
which PyYAML refuses in places libyaml accepts) is composed again by PyYAML, so what such a
document is told is PyYAML's own words, whichever composer ran first.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_DEPTH = 50
_LIBYAML_OWN_BOUND = 1000  # nesting levels libyaml 0.2.5+ refuses past


class TooDeep(Exception):
    """The document nests deeper than MAX_DEPTH; `mark` is where the first level too deep
    starts."""

    def __init__(self, mark: yaml.Mark | None) -> None:
        super().__init__(f"nesting deeper than {MAX_DEPTH} levels")
        self.mark = mark


class _BoundedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses documents nested deeper than MAX_DEPTH.

    PyYAML composes recursively, so `[[[[...` a few thousand levels deep would otherwise end
    in a RecursionError."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise TooDeep(self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


@cache
def libyaml_available() -> bool:
    """Whether PyYAML has libyaml, and a libyaml that bounds nesting itself."""
    loader_class = getattr(yaml, "CSafeLoader", None)
    if loader_class is None:
        return False
    deep = "[" * (_LIBYAML_OWN_BOUND + 1) + "]" * (_LIBYAML_OWN_BOUND + 1)
    try:
        _compose_with(loader_class, deep)
    except yaml.YAMLError:
        return True
    return False


def compose(text: str, *, libyaml: bool | None = None) -> Node | None:
    """The node graph of the single document in `text` (None when it holds none). Raises
    TooDeep, or yaml.YAMLError as PyYAML words it. `libyaml` None: use it when available."""
    use_libyaml = libyaml_available() if libyaml is None else libyaml and libyaml_available()
    if use_libyaml and "\t" not in text:
        try:
            root = _compose_with(yaml.CSafeLoader, text)
        except yaml.YAMLError:
            pass  # composed again below, for PyYAML's message
        else:
            if root is None or (_is_collection(root) and not _composed_differently(root)):
                return root
    return _compose_with(_BoundedLoader, text)


def _is_collection(node: Node) -> bool:
    return isinstance(node, MappingNode | SequenceNode)


def _compose_with(loader_class: Any, text: str) -> Node | None:
    loader = loader_class(text)
    try:
        return loader.get_single_node()  # type: ignore[no-any-return]
    finally:
        loader.dispose()


def _composed_differently(root: Node) -> bool:
    """Whether PyYAML's composer could give this document differently: by stopping at
    MAX_DEPTH, or by placing an empty value (`user:` with nothing after it) elsewhere, which
    libyaml marks at the next token and PyYAML, sometimes, right after the colon (a plain
    scalar has no style: None in PyYAML, "" in libyaml).

    PyYAML counts a level for every node it composes, an alias included. The graph is walked in
    document order, as it composes: the first time a collection is met is where its anchor is
    written, and any later time is an alias, which ends there. A scalar is too deep exactly when
    the collection holding it is at MAX_DEPTH."""
    seen: set[int] = set()
    stack: list[tuple[Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.value and depth == MAX_DEPTH:
            return True
        children: list[Node] = []
        if isinstance(node, MappingNode):
            for key, value in node.value:
                children.append(key)
                children.append(value)
        else:
            children = node.value
        for child in children:
            if isinstance(child, ScalarNode) and not child.value and not child.style:
                return True
        # Pushed last-first, so that they come off the stack in the order they are written.
        stack.extend(
            (child, depth + 1)
            for child in reversed(children)
            if isinstance(child, MappingNode | SequenceNode)
        )
    return False
