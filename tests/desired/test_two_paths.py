"""The fast paths give exactly what the reference paths give.

YAML is composed with libyaml where it is present, with PyYAML's own composer otherwise (or
for documents libyaml does not finish): every example, every hostile input and every generated
document must come out the same, data, positions and problems. A document the compiled schema
checks call valid is one jsonschema finds nothing wrong with, and one they do not is one it
does: problems always come from jsonschema.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.desired import check_bytes, compose, schema
from reconciler.desired.loader import MAX_DEPTH, parse
from reconciler.desired.schema import certainly_valid, for_schema, schema_problems, tokens_schema
from reconciler.desired.schema_fast import Unsure, compile_schema
from reconciler.problems import Problem

from .helpers import EXAMPLES, NOW, REPO_ROOT, no_git, spec_with
from .test_loader import BAD_YAML
from .test_nasty_inputs import NASTY
from .test_properties import _FRAGMENTS

# Inputs on which libyaml and PyYAML's composer part ways (tabs, error wording) or which test
# a bound (nesting, aliases, size), beside the example folders.
EDGES: dict[str, bytes] = {
    "tab-after-a-value": b"version: 1\nnamespace: a\t\ntokens: []\n",
    "tab-after-a-colon": b"version:\t1\ntokens: []\n",
    "tab-indented": b"version: 1\ntokens:\n\t- name: x\n",
    "tab-in-quotes": b"version: 1\nnamespace: 'a\tb'\ntokens: []\n",
    "nesting-at-the-bound": b"a: " + b"[" * (MAX_DEPTH - 2) + b"1" + b"]" * (MAX_DEPTH - 2),
    "nesting-one-past": b"a: " + b"[" * (MAX_DEPTH - 1) + b"1" + b"]" * (MAX_DEPTH - 1),
    "nesting-past-libyaml": b"a: " + b"[" * 1500 + b"]" * 1500,
    "block-nesting": b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 60)),
    "deep-alias": b"x: &x " + b"[" * 40 + b"1" + b"]" * 40 + b"\ny: " + b"[" * 15 + b"*x]",
    "anchor-defined-deep": b"x: " + b"[" * 48 + b"&a [1]" + b"]" * 48 + b"\ny: *a\n",
    "alias-at-the-bound": b"x: &a 1\ny: " + b"[" * 48 + b"*a" + b"]" * 48 + b"\n",
    "recursive-alias": b"a: &a [1, *a]\n",
    "merge": b"base: &b {user: u, scope: repos:read}\nt:\n  <<: *b\n  user: v\n",
    "inline-merge-duplicate": b"b:\n  <<: {user: a, user: b}\n",
    "block-scalar-indicator-0": b"a: |0\n x\n",
    "undefined-tag-handle": b"a: !e!b c\n",
    "bad-anchor": b"a: & x\n",
    "long-key": b"k" * 1030 + b": v\n",
    "unicode-before-a-colon": "a: \u00e9\u00e9: x\n".encode(),
    "line-separator": "a: x\u2028b: y\n".encode(),
    "next-line": "a: x\x85b: y\n".encode(),
    "crlf-and-bom": b"\xef\xbb\xbf" + spec_with().replace("\n", "\r\n").encode(),
    "bom-mid-value": "a: \ufeffb\n".encode(),
    "two-documents": b"a: 1\n---\nb: 2\n",
    "directive": b"%YAML 1.1\n---\na: 1\n",
    "control-character": b"a: \x1b[31m\n",
    "not-utf8": b"a: caf\xe9\n",
    "empty": b"",
    "valid-spec": spec_with().encode(),
}


def corpus() -> Iterator[tuple[str, bytes]]:
    for folder in ("invalid", "valid"):
        for path in sorted((EXAMPLES / folder).glob("*.yaml")):
            yield f"{folder}/{path.stem}", path.read_bytes()
    yield "examples/tokens.yaml", (REPO_ROOT / "examples" / "tokens.yaml").read_bytes()
    for name, (raw, _, _) in NASTY.items():
        yield f"nasty/{name}", raw
    for index, (raw, _, _) in enumerate(BAD_YAML):
        yield f"bad-yaml/{index}", raw
    yield from EDGES.items()


CORPUS = dict(corpus())


def check(raw: bytes) -> list[Problem]:
    _, problems = check_bytes(
        raw, file="tokens.yaml", base_dir=Path("/nonexistent"), now=NOW, git_root_of=no_git
    )
    return problems


def test_libyaml_is_here_so_both_paths_are_compared() -> None:
    assert compose.libyaml_available()


@pytest.mark.parametrize("name", list(CORPUS))
def test_libyaml_and_pyyaml_parse_alike(name: str) -> None:
    raw = CORPUS[name]
    assert parse(raw, "f", libyaml=True) == parse(raw, "f", libyaml=False)


def test_every_problem_in_the_corpus_is_the_same_on_the_reference_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fast = {name: check(raw) for name, raw in CORPUS.items()}
    monkeypatch.setattr(compose, "libyaml_available", lambda: False)
    monkeypatch.setattr(schema, "certainly_valid", lambda data: False)
    without = {name: check(raw) for name, raw in CORPUS.items()}
    assert without == fast
    # The corpus is worth comparing: most of it is refused, on many lines.
    refused = [name for name, problems in without.items() if problems]
    assert len(refused) > 100
    assert len({(p.line, p.col) for problems in without.values() for p in problems}) > 30


_SYNTAX = [
    "\t",
    " ",
    "  ",
    "\n",
    ": ",
    "- ",
    "? ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "&a ",
    "*a",
    "<<: *a\n",
    "'q'",
    '"\\x41"',
    "|\n  block\n",
    ">-\n  folded\n",
    "# c\n",
    "!!str ",
    "\u00e9",
    "\u2028",
    "\r\n",
    "---\n",
    "...\n",
    "%",
    "@",
    "x",
    "2027-01-31",
    "0o17",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(_FRAGMENTS + _SYNTAX), max_size=25))
def test_generated_documents_parse_alike(parts: list[str]) -> None:
    raw = "".join(parts).encode()
    assert parse(raw, "f", libyaml=True) == parse(raw, "f", libyaml=False)


def test_without_libyaml_in_pyyaml_the_pure_path_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(yaml, "CSafeLoader")
    compose.libyaml_available.cache_clear()
    try:
        assert not compose.libyaml_available()
        document, problems = parse(spec_with().encode(), "f")
        assert problems == [] and document is not None
        _, problems = parse(b"a: " + b"[" * 100_000, "f")
        assert [p.message for p in problems] == [
            f"nesting deeper than {MAX_DEPTH} levels: flatten the document"
        ]
    finally:
        monkeypatch.undo()
        compose.libyaml_available.cache_clear()
    assert compose.libyaml_available()


class _UnboundedComposer:
    """A composer that never refuses, like a libyaml older than its nesting bound."""

    def __init__(self, text: str) -> None:
        self.text = text

    def get_single_node(self) -> None:
        return None

    def dispose(self) -> None:
        return None


def test_a_libyaml_that_does_not_bound_nesting_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(yaml, "CSafeLoader", _UnboundedComposer)
    compose.libyaml_available.cache_clear()
    try:
        assert not compose.libyaml_available()
        document, problems = parse(b"version: 1\n", "f")
        assert problems == [] and document is not None and document.data == {"version": 1}
    finally:
        monkeypatch.undo()
        compose.libyaml_available.cache_clear()


# The compiled schema checks -------------------------------------------------------------------

# jsonschema as the product asks it: Draft 2020-12, with YAML's .nan not a number.
JSONSCHEMA = schema._validator()


def jsonschema_valid(data: object) -> bool:
    return not any(True for _ in JSONSCHEMA.iter_errors(data))


def fast_answer(data: object) -> bool | None:
    """The compiled checks' verdict; None when they leave it to jsonschema."""
    check = compile_schema(tokens_schema())
    assert check is not None
    try:
        return check(data)
    except Unsure:
        return None


def test_the_whole_schema_compiles() -> None:
    assert compile_schema(tokens_schema()) is not None


@pytest.mark.parametrize("name", list(CORPUS))
def test_the_compiled_checks_agree_with_jsonschema_on_the_corpus(name: str) -> None:
    document, _ = parse(CORPUS[name], "f")
    if document is None:
        return
    data = for_schema(document.data, ())
    verdict = fast_answer(data)
    assert verdict is None or verdict == jsonschema_valid(data)
    assert schema_problems(document) == schema_problems(document, fast=False)


def test_a_valid_spec_is_passed_without_jsonschema(monkeypatch: pytest.MonkeyPatch) -> None:
    document, _ = parse((REPO_ROOT / "examples" / "tokens.yaml").read_bytes(), "f")
    assert document is not None
    assert certainly_valid(for_schema(document.data, ()))
    monkeypatch.setattr(schema, "_validator", lambda: pytest.fail("jsonschema was asked"))
    assert schema_problems(document) == []


def test_a_yaml_date_where_text_belongs_is_left_to_jsonschema() -> None:
    document, _ = parse(spec_with(user="2027-01-31").encode(), "f")
    assert document is not None
    assert fast_answer(for_schema(document.data, ())) is None
    assert [p.line for p in schema_problems(document)] == [7]


def _example() -> dict[str, Any]:
    document, _ = parse((REPO_ROOT / "examples" / "tokens.yaml").read_bytes(), "f")
    assert document is not None
    data = for_schema(document.data, ())
    assert isinstance(data, dict)
    return data


EXAMPLE = _example()
_KEYS = sorted(
    {"name", "user", "type", "scope", "resources", "expires", "rotation", "after", "grace"}
    | {"store", "secret", "state", "format", "on_delete", "adopt", "path", "command", "region"}
    | {"prefix", "repository", "organization", "environment", "visibility", "auth_method"}
    | {"role", "tags", "timeout", "recovery_window_days", "max_revokes", "protect", "lock"}
    | {"table", "lease", "version", "namespace", "unknown", "driver", "rspm", "url"}
)
_VALUES: list[object] = [
    *("", "x", "*", "ds-read", "Bad Name", "repos:read", "global:admin", "sources:write"),
    *("90d", "never", "2027-01-31", "none", "3d", "0x", "vault", "ci", "local", "absent"),
    *("present", "raw", "netrc", "delete", "keep", "file", "command", "aws", "github", "jwt"),
    *("https://x.example", "acme/pipelines", "acme", "a/../b", "GITHUB_X", "~user", "aws:x"),
    "6f1c2a4e-0b7d-4c8e-9a3f-1d2e3f4a5b6c",
    *(0, 1, 7, 31, -1, 1.5, 1.0, 30.0, float("nan"), float("inf"), True, False, None),
    *([], ["cran"], ["*"], ["a", "a"], [1], [1, True], [1, 1.0], ["x", None]),
    *({}, {"type": "file", "path": "./x"}, {"after": "60d"}, {"type": "local"}),
    {"type": "github", "organization": "acme", "visibility": "all"},
    date(2027, 1, 31),
]


def _containers(value: object, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict | list):
        yield path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            yield from _containers(item, (*path, key))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_compiled_checks_agree_with_jsonschema_on_mutated_specs(data: st.DataObject) -> None:
    document = copy.deepcopy(EXAMPLE)
    for _ in range(data.draw(st.integers(1, 4))):
        path = data.draw(st.sampled_from(list(_containers(document))))
        target: Any = document
        for part in path:
            target = target[part]
        value = copy.deepcopy(data.draw(st.sampled_from(_VALUES)))
        if isinstance(target, dict):
            key = data.draw(st.sampled_from(_KEYS + sorted(target)))
            if data.draw(st.booleans()) and key in target:
                del target[key]
            else:
                target[key] = value
        elif target and data.draw(st.booleans()):
            target[data.draw(st.integers(0, len(target) - 1))] = value
        else:
            target.append(value)
    verdict = fast_answer(document)
    assert verdict is None or verdict == jsonschema_valid(document)


def test_jsonschema_is_not_even_loaded_for_a_valid_spec(tmp_path: Path) -> None:
    script = (
        "import sys; from pathlib import Path; from datetime import datetime, UTC\n"
        "from reconciler.desired import check_bytes\n"
        "_, problems = check_bytes(sys.stdin.buffer.read(), file='t.yaml', "
        "base_dir=Path('/nonexistent'), now=datetime.now(UTC), git_root_of=lambda p: None)\n"
        "print(len(problems), 'jsonschema' in sys.modules)\n"
    )

    def run(raw: bytes) -> str:
        done = subprocess.run(
            [sys.executable, "-c", script], input=raw, capture_output=True, check=True, timeout=60
        )
        return done.stdout.decode().strip()

    assert run(spec_with().encode()) == "0 False"
    assert run(spec_with(scope="repos:write").encode()) == "1 True"
