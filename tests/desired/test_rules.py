"""Semantic rules that the example folders do not already pin down."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.desired import check_bytes
from reconciler.desired.rules import find_git_root, resolve_store_path
from reconciler.problems import Severity

from .helpers import NOW, check, errors, messages, spec_with


@pytest.mark.parametrize(
    ("fields", "top", "expected"),
    [
        pytest.param(
            {"expires": "30d"},
            "defaults:\n  rotation: {after: 45d}\n",
            "rotation.after 45d (from defaults) is not shorter than expires 30d",
            id="inherited-rotation-against-own-expiry",
        ),
        pytest.param(
            {},
            "defaults:\n  expires: 30d\n  rotation: {after: 30d}\n",
            "rotation.after 30d is not shorter than expires 30d",
            id="defaults-alone-are-checked-once",
        ),
        pytest.param(
            {},
            "policy: {max_expires: 30d}\n",
            "the built-in expiry 90d is longer than policy.max_expires 30d",
            id="built-in-expiry-over-policy",
        ),
        pytest.param(
            {"expires": "2028-12-31"},
            "policy: {max_expires: 365d}\n",
            "expires 2028-12-31 is longer than policy.max_expires 365d",
            id="date-over-policy",
        ),
        pytest.param(
            {"expires": "2026-11-30"},
            "",
            "expires 2026-11-30 is in the past",
            id="yesterday",
        ),
        pytest.param(
            {"expires": "'2027-02-29'"},
            "",
            "'2027-02-29' is not a real date",
            id="quoted-impossible-date",
        ),
        pytest.param(
            {},
            "defaults: {expires: never}\n",
            "expires: never needs `policy.allow_never_expires: true`",
            id="never-in-defaults",
        ),
        pytest.param(
            {"store": None},
            "defaults: {store: valt}\n",
            "unknown store 'valt': did you mean 'vault'?",
            id="unknown-default-store",
        ),
        pytest.param(
            {"store": "ci", "secret": "1PPM"},
            "",
            "GitHub secret names cannot start with a digit: try _1PPM",
            id="github-digit",
        ),
        pytest.param(
            {"store": "ci"},
            "",
            "GitHub secret names use A-Z, 0-9 and _ only: try DS_READ "
            "(the secret name defaults to the token name: set `secret:`)",
            id="github-name-default",
        ),
        pytest.param(
            {"user": "analyst@example"},
            "",
            "'analyst@example' is not a valid email address",
            id="email-without-tld",
        ),
        pytest.param(
            {"scope": "blocklist:read", "resources": "[cran]"},
            "",
            "blocklist:read takes no resources: remove `resources`",
            id="blocklist-with-resources",
        ),
        pytest.param(
            {"resources": "['*', '*']"},
            "",
            "lists the same entry twice",
            id="star-twice",
        ),
    ],
)
def test_semantic_errors(fields: dict[str, str | None], top: str, expected: str) -> None:
    spec, problems = check(spec_with(top=top, **fields))
    assert spec is None
    assert any(expected in message for message in messages(errors(problems))), problems


@pytest.mark.parametrize(
    ("fields", "top"),
    [
        pytest.param({"user": "ci-system"}, "", id="user-label"),
        pytest.param({"user": "first.last+ppm@sub.example.co.uk"}, "", id="email-plus-subdomain"),
        pytest.param({"expires": "2026-12-02"}, "", id="expires-tomorrow-lives-36h"),
        pytest.param({"expires": "1d"}, "", id="one-day"),
        pytest.param({"expires": "never"}, "policy: {allow_never_expires: true}\n", id="never-ok"),
        pytest.param({"expires": "365d"}, "policy: {max_expires: 365d}\n", id="exactly-max"),
        # The built-in 90d expiry less the daily rotation run leaves just under 89d.
        pytest.param({"rotation": "{after: 88d, before_expiry: 88d, grace: 87d}"}, "", id="edges"),
        pytest.param({"rotation": "{after: none, grace: 30d}"}, "", id="grace-without-after"),
        pytest.param({"store": "ci", "secret": "PPM_DS_READ"}, "", id="github-secret"),
        pytest.param({"scope": "global:admin", "resources": None}, "", id="admin"),
        pytest.param({"resources": '["*"]'}, "", id="all-repos"),
        pytest.param({"store": None}, "defaults: {store: vault}\n", id="store-from-defaults"),
    ],
)
def test_accepted_edges(fields: dict[str, str | None], top: str) -> None:
    spec, problems = check(spec_with(top=top, **fields))
    assert problems == []
    assert spec is not None


def test_description_limit_counts_the_marker() -> None:
    marker = " [ppm-tokens:default/ds-read]"
    fits = "d" * (500 - len(marker))
    _, problems = check(spec_with(description=fits))
    assert problems == []
    _, problems = check(spec_with(description=fits + "dd"))
    assert messages(problems) == [
        "token 'ds-read' description is 2 characters too long: PPM stores at most 500, counting "
        "the ownership marker ' [ppm-tokens:default/ds-read]' (29 characters)"
    ]
    # The namespace is part of the marker, so a longer namespace leaves less room.
    _, problems = check(spec_with(description=fits, top="namespace: data-platform\n"))
    assert "description is 6 characters too long" in messages(problems)[0]


@pytest.mark.parametrize("scope", ["metadata:read", "metadata:admin"])
def test_deprecated_scopes_warn_but_pass(scope: str) -> None:
    spec, problems = check(spec_with(scope=scope, resources=None))
    assert spec is not None
    assert [(p.severity, p.message) for p in problems] == [
        (Severity.WARNING, f"token 'ds-read' scope {scope} is deprecated by PPM: use repos:read")
    ]
    assert problems[0].render().startswith("tokens.yaml:9:12: warning: ")


def test_an_absent_token_needs_only_name_and_store() -> None:
    text = "version: 1\nstores:\n  v: {type: file, path: /srv/x}\ntokens:\n"
    spec, problems = check(text + "  - {name: gone, state: absent, store: v}\n")
    assert problems == [] and spec is not None
    _, problems = check(text + "  - {name: gone, state: absent}\n")
    assert messages(problems) == [
        "token 'gone' has no store: set `store:` on it or `defaults.store`"
    ]
    # Its expiry is not judged: it will never be created again.
    spec, problems = check(
        text + "  - {name: gone, state: absent, store: v, expires: 2001-01-01}\n"
    )
    assert problems == [] and spec is not None


def test_every_problem_is_reported_in_one_run_sorted_by_position() -> None:
    text = spec_with(
        user="a@@b",
        scope="global:admin",
        store="nowhere",
        expires="never",
        rotation="{after: 10d, grace: 10d}",
        format="yaml",
    )
    _, problems = check(text)
    assert len(errors(problems)) == 6
    positions = [(p.line, p.col) for p in problems]
    assert positions == sorted(positions)


def test_file_store_inside_a_git_work_tree(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    text = b"version: 1\nstores:\n  f: {type: file, path: ./secrets}\ntokens: []\n"
    _, problems = check_bytes(text, file="t.yaml", base_dir=repo / "specs", now=NOW)
    assert [(p.line, p.col, p.path) for p in problems] == [(3, 25, "/stores/f/path")]
    assert f"is inside the git work tree {repo}" in problems[0].message
    # The same relative path from a spec outside the repository is fine.
    spec, problems = check_bytes(text, file="t.yaml", base_dir=tmp_path / "elsewhere", now=NOW)
    assert problems == [] and spec is not None
    # A worktree or submodule has a `.git` file, not a directory.
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text("gitdir: /somewhere\n")
    assert find_git_root(tmp_path / "wt" / "a" / "b") == tmp_path / "wt"
    assert find_git_root(tmp_path / "elsewhere") is None


def test_store_paths_resolve_like_the_store_does(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/ppm")
    base = Path("/srv/specs")
    assert resolve_store_path("~/.local/share/x", base) == Path("/home/ppm/.local/share/x")
    assert resolve_store_path("~", base) == Path("/home/ppm")
    assert resolve_store_path("./secrets", base) == Path("/srv/specs/secrets")
    assert resolve_store_path("/var/lib/x", base) == Path("/var/lib/x")


def test_now_decides_what_is_past() -> None:
    text = spec_with(expires="2027-01-31")
    assert check(text)[0] is not None
    spec, problems = check(text, now=NOW + timedelta(days=70))
    assert spec is None
    assert messages(problems) == [
        "token 'ds-read' expires 2027-01-31 is in the past: choose a later date, or a duration "
        "such as 90d"
    ]


def test_odd_file_store_paths_are_refused_not_a_crash(tmp_path: Path) -> None:
    text = b'version: 1\nstores:\n  f: {type: file, path: "/tmp/a\\0b"}\ntokens: []\n'
    spec, problems = check_bytes(text, file="t.yaml", base_dir=tmp_path, now=NOW)
    assert spec is None
    assert [(p.line, p.path) for p in problems] == [(3, "/stores/f/path")]
    assert "contains \\x00 (NUL) at character 7" in problems[0].message
    assert find_git_root(Path("/tmp/a\0b")) is None


def test_file_store_path_leaving_the_repository_with_dotdot_is_fine(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    text = b"version: 1\nstores:\n  f: {type: file, path: ../outside}\ntokens: []\n"
    spec, problems = check_bytes(text, file="t.yaml", base_dir=repo, now=NOW)
    assert problems == [] and spec is not None


def test_file_store_path_through_a_symlink_into_a_repository_is_refused(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (tmp_path / "link").symlink_to(repo)
    text = f"version: 1\nstores:\n  f: {{type: file, path: {tmp_path}/link/s}}\ntokens: []\n"
    _, problems = check_bytes(text.encode(), file="t.yaml", base_dir=tmp_path, now=NOW)
    assert len(problems) == 1
    assert f"is inside the git work tree {repo}" in problems[0].message


def test_problems_about_different_fields_at_one_place_are_all_kept() -> None:
    """A token missing its user and its store: both start where the entry starts, and neither
    may hide the other."""
    text = "version: 1\ntokens:\n  - {name: a, description: d, scope: global:admin}\n"
    _, problems = check(text)
    assert sorted(messages(errors(problems))) == [
        "token 'a' has no store: set `store:` on it or `defaults.store`",
        "token 'a' is missing required key 'user'",
    ]
