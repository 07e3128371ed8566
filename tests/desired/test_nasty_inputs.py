"""What a new user (or an attacker) might feed `validate`: each file gets exit 3 and
FILE:LINE:COL with a clear message, never a traceback; every message names its field."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.desired import check_file
from reconciler.desired.loader import parse
from reconciler.desired.where import describe
from tests.hostile import unsafe_left

from .helpers import EXAMPLES, NOW, spec_with

_PROBLEM = re.compile(r"^(?P<file>.+?):(?P<line>[0-9]+):(?P<col>[0-9]+): (?P<message>.+)$")
DESCRIPTION_ROOM = 500 - len(" [ppm-tokens:default/ds-read]")

# name -> (file bytes, line, fragment of the first error there)
NASTY: dict[str, tuple[bytes, int, str]] = {
    "duplicate-key": (
        spec_with().replace("    store: vault\n", "    store: vault\n    user: b@x.org\n").encode(),
        12,
        "token 'ds-read': duplicate key 'user' (first at line 7)",
    ),
    "unquoted-star": (spec_with(resources="*").encode(), 10, 'quote it: "*"'),
    "yaml-date-as-user": (
        spec_with(user="2027-01-31").encode(),
        7,
        "token 'ds-read' user must be text, not a date "
        '(YAML reads `2027-01-31` as a date: quote it: "2027-01-31")',
    ),
    "description-501-with-marker": (
        spec_with(description="d" * (DESCRIPTION_ROOM + 1)).encode(),
        8,
        "token 'ds-read' description is 1 character too long",
    ),
    "description-501": (
        spec_with(description="d" * 501).encode(),
        8,
        "token 'ds-read' description is 30 characters too long: PPM stores at most 500, "
        "counting the ownership marker ' [ppm-tokens:default/ds-read]' (29 characters)",
    ),
    "alias-bomb": ((EXAMPLES / "invalid" / "alias_bomb.yaml").read_bytes(), 8, "alias bomb"),
    "empty-file": (b"", 1, "the file is empty"),
    "only-a-comment": (b"# nothing yet\n", 1, "the file is empty"),
    "list-for-a-mapping": (
        b"version: 1\nstores:\n  - vault\ntokens: []\n",
        3,
        "stores must be a mapping",
    ),
    "token-as-a-list": (b"version: 1\ntokens:\n  - [a, b]\n", 3, "tokens[0] must be a mapping"),
    "number-as-name": (
        spec_with(name="123").encode(),
        6,
        'tokens[0] name must be text, not a number (YAML reads `123` as a number: quote it: "123")',
    ),
    "user-null": (spec_with(user="null").encode(), 7, "token 'ds-read' user has no value"),
    "user-empty": (spec_with(user="").encode(), 7, "token 'ds-read' user has no value"),
    "tokens-a-mapping": (b"version: 1\ntokens: {}\n", 2, "tokens must be a list, not a mapping"),
    "bom-and-crlf": (
        b"\xef\xbb\xbf" + spec_with(user="a@@b").replace("\n", "\r\n").encode(),
        7,
        "token 'ds-read' user: 'a@@b' is not a valid email address",
    ),
    "nul-in-a-value": (spec_with(secret='"ds\\0read"').encode(), 12, "contains \\x00 (NUL)"),
    "raw-escape-byte": (spec_with().replace("Read", "Re\x1bad").encode(), 8, "#x001b"),
    "not-utf8": (spec_with(description="caf\xe9").encode("latin-1"), 8, "not UTF-8 at line 8"),
    "deep-nesting": (b"version: 1\ntokens: " + b"[" * 200 + b"]" * 200 + b"\n", 2, "nesting"),
}


def test_every_nasty_file_is_exit_3_with_a_position_and_no_traceback(tmp_path: Path) -> None:
    paths = {}
    for name, (raw, _, _) in NASTY.items():
        paths[name] = tmp_path / f"{name}.yaml"
        paths[name].write_bytes(raw)
    env = {**os.environ, "HOME": str(tmp_path)}
    args = [arg for path in paths.values() for arg in ("-f", str(path))]
    run = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert run.returncode == 3, run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    first: dict[str, tuple[int, str]] = {}
    for line in run.stdout.splitlines():
        match = _PROBLEM.match(line)
        assert match, f"not FILE:LINE:COL: {line!r}"
        first.setdefault(Path(match["file"]).stem, (int(match["line"]), match["message"]))
    for name, (_, line, fragment) in NASTY.items():
        assert name in first, f"{name} was accepted"
        assert first[name][0] == line, (name, first[name])
        assert fragment in first[name][1], (name, first[name])


def test_a_valid_file_with_bom_and_crlf_validates(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + spec_with().replace("\n", "\r\n").encode())
    spec, problems = check_file(path, now=NOW)
    assert problems == [] and spec is not None
    assert spec.tokens[0].description == "Read access for data science"


INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_every_message_about_a_field_names_it(path: Path) -> None:
    """`token 'ds-read' expires: '90x' ...`, not only the value."""
    document, _ = parse(path.read_bytes(), str(path))
    _, problems = check_file(path, now=NOW)
    for problem in problems:
        if not problem.path or document is None:
            continue  # whole-file problems (syntax, empty, alias bombs) have no field
        parts = tuple(
            int(part) if part.isdigit() else part.replace("~1", "/").replace("~0", "~")
            for part in problem.path.split("/")[1:]
        )
        names = {describe(document.data, parts[:end]) for end in range(1, len(parts) + 1)}
        assert any(name and name in problem.message for name in names), problem.render()


def test_values_quoted_by_rules_reach_no_terminal_raw(tmp_path: Path) -> None:
    """Rules quote some values as they stand (a lock type, the stores of a type); whatever a
    message quotes is escaped where it is shown, and nothing is lost to click's stripping of
    escape sequences on a pipe (`lo\\x1b[8mcal` must not read `local`)."""
    spec = tmp_path / "tokens.yaml"
    spec.write_text(
        "version: 1\n"
        'lock: {type: "lo\\e[8mcal", store: v}\n'
        "stores:\n"
        '  "f\\u202e": {type: file, path: /tmp/x}\n'
        '  v: {type: vault, address: "https://vault.example.com"}\n'
        "tokens: []\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", "-f", str(spec)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 3
    assert unsafe_left(run.stdout + run.stderr) == []
    assert ": lock type lo\\x1b[8mcal takes no `store`" in run.stdout
