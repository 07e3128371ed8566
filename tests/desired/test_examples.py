"""Folders of example specs: every valid one passes, every invalid one fails for its reason.

Each file under tests/examples/invalid/ starts with `# expect: LINE: FRAGMENT`: the first error
must be on LINE and contain FRAGMENT, and every error must be on that line (one mistake each).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from reconciler.desired import check_file, load_spec
from reconciler.desired.loader import parse
from reconciler.desired.schema import for_schema, tokens_schema
from reconciler.problems import Severity

from .helpers import EXAMPLES, NOW, REPO_ROOT, errors

VALID = sorted((EXAMPLES / "valid").glob("*.yaml"))
INVALID = sorted((EXAMPLES / "invalid").glob("*.yaml"))
EXAMPLE = REPO_ROOT / "examples" / "tokens.yaml"
_EXPECT = re.compile(r"^# expect: (?P<line>[0-9]+): (?P<fragment>.+)$")


def expectation(path: Path) -> tuple[int, str]:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = _EXPECT.match(first)
    assert match, f"{path.name} must start with '# expect: LINE: FRAGMENT'"
    return int(match["line"]), match["fragment"]


@pytest.fixture(autouse=True)
def home_outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`~` in file store paths must not land in a git work tree on whatever machine runs this."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_there_are_enough_examples() -> None:
    assert len(INVALID) >= 30
    assert len(VALID) >= 5


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_example_fails_for_its_reason(path: Path) -> None:
    line, fragment = expectation(path)
    spec, problems = check_file(path, now=NOW)
    found = errors(problems)
    assert spec is None
    assert found, f"{path.name} was accepted"
    assert found[0].line == line, found[0].render()
    assert fragment in found[0].message
    assert {p.line for p in found} == {line}, [p.render() for p in found]
    assert all(p.file == str(path) for p in found)


@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_valid_example_passes(path: Path) -> None:
    spec, problems = check_file(path, now=NOW)
    assert errors(problems) == []
    assert spec is not None
    assert spec.path == str(path)


def test_the_project_example_validates_without_warnings() -> None:
    spec, problems = check_file(EXAMPLE, now=NOW)
    assert problems == []
    assert spec is not None
    assert {t.name for t in spec.tokens} >= {"ds-read", "cicd-admin", "maintainers-upload"}


def test_the_project_example_uses_every_feature() -> None:
    spec = load_spec(EXAMPLE, now=NOW)
    assert {store.type for store in spec.stores.values()} == {
        "vault",
        "aws",
        "github",
        "file",
        "command",
    }
    assert {str(t.format) for t in spec.tokens} >= {"raw", "json", "netrc"}
    assert {str(t.on_delete) for t in spec.tokens} == {"keep", "delete"}
    assert {str(t.state) for t in spec.tokens} == {"present", "absent"}
    assert any(t.expires.on is not None for t in spec.tokens)
    assert any(t.adopt for t in spec.tokens)
    assert spec.policy.max_expires is not None
    assert spec.policy.protect
    cicd = spec.token("cicd-admin")
    assert cicd is not None
    assert (str(cicd.scope), str(cicd.expires), spec.stores[cicd.store].type) == (
        "global:admin",
        "90d",
        "github",
    )


@pytest.mark.parametrize(
    "path", [EXAMPLE, *VALID], ids=["examples/tokens", *[p.stem for p in VALID]]
)
def test_valid_files_satisfy_the_published_schema(path: Path) -> None:
    """The schema file alone (as an editor or check-jsonschema would use it) accepts them."""
    document, problems = parse(path.read_bytes(), str(path))
    assert document is not None and problems == []
    validator = Draft202012Validator(tokens_schema())
    assert list(validator.iter_errors(for_schema(document.data, ()))) == []


def test_the_alias_bomb_stops_in_well_under_a_second() -> None:
    started = time.perf_counter()
    spec, problems = check_file(EXAMPLES / "invalid" / "alias_bomb.yaml", now=NOW)
    elapsed = time.perf_counter() - started
    assert spec is None
    assert "alias bomb" in problems[0].message
    assert elapsed < 1.0


def test_a_six_mib_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_bytes(b"version: 1\n" + b"# padding\n" * (6 * 1024 * 1024 // 10))
    started = time.perf_counter()
    spec, problems = check_file(path, now=NOW)
    assert time.perf_counter() - started < 1.0
    assert spec is None
    assert [p.message for p in problems] == ["file is 6.0 MiB; the limit is 5 MiB"]


def test_latin1_bytes_are_reported_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "tokens.yaml"
    text = "version: 1\ntokens:\n  - name: caf\u00e9\n"
    path.write_bytes(text.encode("latin-1"))
    spec, problems = check_file(path, now=NOW)
    assert spec is None
    assert len(problems) == 1
    assert problems[0].line == 3
    assert problems[0].message.startswith("not UTF-8 at line 3")
    assert "save the file as UTF-8" in problems[0].message


def test_a_missing_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    spec, problems = check_file(tmp_path / "absent.yaml", now=NOW)
    assert spec is None
    assert problems[0].severity is Severity.ERROR
    assert "cannot read the file" in problems[0].message
