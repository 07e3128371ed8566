"""The YAML loader: positions, duplicate keys, bounds, and YAML's own surprises."""

from __future__ import annotations

import time
from datetime import date

import pytest

from reconciler.desired.loader import MAX_BYTES, MAX_DEPTH, Mark, parse, pointer


def test_positions_of_values_and_keys_are_one_based() -> None:
    document, problems = parse(b"version: 1\ntokens:\n  - name: a\n    scope: repos:read\n", "f")
    assert problems == []
    assert document is not None
    assert document.at(("tokens", 0, "scope")) == Mark(4, 12)
    assert document.key_at(("tokens", 0, "scope")) == Mark(4, 5)
    assert document.at(("tokens", 0)) == Mark(3, 5)
    # Unknown paths fall back to the nearest ancestor that exists.
    assert document.at(("tokens", 0, "user")) == Mark(3, 5)
    assert document.source[("tokens", 0, "scope")] == "repos:read"


def test_duplicate_keys_name_both_lines_and_report_all() -> None:
    text = b"a: 1\nb:\n  c: 1\n  c: 2\na: 3\n"
    document, problems = parse(text, "f")
    assert document is not None
    assert [(p.line, p.col, p.message) for p in problems] == [
        (4, 3, "b: duplicate key 'c' (first at line 3)"),
        (5, 1, "duplicate key 'a' (first at line 1)"),
    ]
    assert problems[0].path == "/b/c"


def test_yaml_dates_arrive_as_dates_and_quoted_ones_as_text() -> None:
    document, _ = parse(b"a: 2027-01-31\nb: '2027-01-31'\n", "f")
    assert document is not None
    assert document.data == {"a": date(2027, 1, 31), "b": "2027-01-31"}


def test_yaml_1_1_readings_are_kept_for_the_schema_to_judge() -> None:
    document, _ = parse(b"on: yes\nmode: 0700\nflag: off\n", "f")
    assert document is not None
    # Keys stay text (as written) so `on:` is an unknown key, not `True`.
    assert document.data == {"on": True, "mode": 448, "flag": False}
    assert document.source[("mode",)] == "0700"


def test_merge_keys_merge_and_explicit_keys_win() -> None:
    text = b"base: &b {x: 1, y: 2}\nitem:\n  <<: *b\n  y: 3\n"
    document, problems = parse(text, "f")
    assert problems == []
    assert document is not None
    assert document.data == {"base": {"x": 1, "y": 2}, "item": {"y": 3, "x": 1}}


def test_merging_a_scalar_is_an_error() -> None:
    _, problems = parse(b"a: &s text\nb:\n  <<: *s\n", "f")
    assert [p.message for p in problems] == ["b: `<<` merges mappings only: use `<<: *anchor`"]


def test_duplicate_keys_inside_an_inline_merge_are_an_error() -> None:
    # The merged mapping is never built on its own, so nothing else would notice.
    _, problems = parse(b"b:\n  <<: {user: a, user: b}\n  name: x\n", "f")
    assert [(p.line, p.message) for p in problems] == [
        (2, "b: duplicate key 'user' in a merged mapping")
    ]


# Each: the file, the line of its one problem, and a fragment of the message.
BAD_YAML: list[tuple[bytes, int, str]] = [
    (b"", 0, "the file is empty"),
    (b"# a comment\n\n", 0, "the file is empty"),
    (b"---\n", 0, "the file is empty"),
    (b"just text\n", 1, "the top level is a single value; it must be a mapping"),
    (b"- a\n", 1, "the top level is a list"),
    (b"a: [1, 2\n", 2, "YAML syntax"),
    (b"a: 1\n---\nb: 2\n", 2, "YAML syntax"),
    (b"a: *nothing\n", 1, "found undefined alias 'nothing'"),
    (b"a: !custom x\n", 1, "unknown YAML tag '!custom'"),
    (b"a: !!binary AAAA\nb: !!int nope\n", 2, "'nope' cannot be read as a number"),
    (b"a: \x07\n", 1, "character #x0007 is not allowed in YAML"),
    (b"? [1]\n: 2\n", 1, "a key must be plain text"),
    (b"a:\n  - *\n", 2, 'quote it: "*"'),
    (b"a: {b: *}\n", 1, 'quote it: "*"'),
    (b"tokens:\n  - resources: *\n", 2, 'a bare * starts a YAML alias: quote it: "*"'),
]


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    BAD_YAML,
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_bad_yaml_becomes_one_problem(text: bytes, line: int, fragment: str) -> None:
    _, problems = parse(text, "f")
    assert len(problems) == 1, problems
    assert problems[0].line == line
    assert fragment in problems[0].message


def test_every_tab_indented_line_is_reported() -> None:
    text = b"a:\n\tb: 1\n\tc: 2\nd: 'tab\tinside is fine'\n"
    document, problems = parse(text, "f")
    assert document is None
    assert [(p.line, p.message) for p in problems] == [
        (2, "tab used for indentation at line 2: use spaces"),
        (3, "tab used for indentation at line 3: use spaces"),
    ]


def test_a_tab_inside_a_value_is_fine() -> None:
    document, problems = parse(b"a: 'x\ty'\n", "f")
    assert problems == []
    assert document is not None and document.data == {"a": "x\ty"}


def test_a_byte_order_mark_is_accepted() -> None:
    document, problems = parse("\ufeffversion: 1\n".encode(), "f")
    assert problems == []
    assert document is not None and document.data == {"version": 1}


def test_non_utf8_names_line_and_byte() -> None:
    _, problems = parse(b"a: 1\nb: 2\nc: \xff\n", "f")
    assert [(p.line, p.message) for p in problems] == [
        (3, "not UTF-8 at line 3 (byte 13): save the file as UTF-8")
    ]


def test_size_is_checked_before_anything_else() -> None:
    _, problems = parse(b"\xff" * (MAX_BYTES + 1), "f")
    assert [p.message for p in problems] == ["file is 5.0 MiB; the limit is 5 MiB"]
    document, problems = parse(b"a: 1\n" + b"#" * (MAX_BYTES - 6) + b"\n", "f")
    assert document is not None and problems == []


def test_deep_nesting_is_refused_without_hanging() -> None:
    # A generous bound: this guards against a hang or a recursion blow-up, not for speed.
    started = time.perf_counter()
    _, problems = parse(b"[" * 100_000, "f")
    assert time.perf_counter() - started < 10.0
    assert [p.message for p in problems] == [
        f"nesting deeper than {MAX_DEPTH} levels: flatten the document"
    ]
    _, problems = parse(b"a:\n" + b"".join(b"  " * i + b"- \n" for i in range(1, 80)), "f")
    assert "nesting deeper than" in problems[0].message


def test_a_self_referencing_alias_is_refused() -> None:
    _, problems = parse(b"a: &a [1, *a]\n", "f")
    assert len(problems) == 1
    assert "nesting deeper than" in problems[0].message


def test_reasonable_anchor_reuse_is_allowed() -> None:
    lines = [b"base: &b {user: ops, scope: repos:read, resources: [cran, pypi]}"]
    lines += [b"t%d: *b" % i for i in range(1000)]
    document, problems = parse(b"\n".join(lines) + b"\n", "f")
    assert problems == []
    assert document is not None and len(document.data) == 1001  # type: ignore[arg-type]


def test_sha256_is_of_the_bytes() -> None:
    import hashlib

    raw = b"version: 1\ntokens: []\n"
    document, _ = parse(raw, "f")
    assert document is not None
    assert document.sha256 == hashlib.sha256(raw).hexdigest()


def test_pointer_escapes_like_json_pointer() -> None:
    assert pointer(()) == ""
    assert pointer(("tokens", 2, "scope")) == "/tokens/2/scope"
    assert pointer(("a/b", "c~d")) == "/a~1b/c~0d"


def test_the_collector_is_paused_while_a_spec_is_checked_and_then_resumed() -> None:
    import gc
    from pathlib import Path

    from reconciler.desired import check_bytes

    from .helpers import NOW, no_git

    entries = "".join(
        f"  - {{name: t{i}, user: u{i}@example.com, description: d, scope: repos:read, "
        f"resources: [pypi], store: local}}\n"
        for i in range(3000)
    )
    raw = f"version: 1\nstores:\n  local: {{type: file, path: /srv/t}}\ntokens:\n{entries}"
    collections: list[str] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(phase)

    gc.collect()  # so that no collection is due on the way into check_bytes
    gc.callbacks.append(count)
    try:
        spec, problems = check_bytes(
            raw.encode(), file="t.yaml", base_dir=Path("/srv"), now=NOW, git_root_of=no_git
        )
        # Tens of thousands of objects made, and no collection but the one due on resuming.
        assert len(collections) <= 1
    finally:
        gc.callbacks.remove(count)
    assert spec is not None and len(spec.tokens) == 3000 and problems == []
    assert gc.isenabled()
    gc.disable()
    try:
        parse(b"a: 1\n", "f")
        assert not gc.isenabled()  # a caller's own pause is left alone
    finally:
        gc.enable()
