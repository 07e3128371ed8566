"""Shared by the spec tests: a fixed clock and a way to check YAML text without a file."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

from reconciler.desired import check_bytes
from reconciler.desired.model import Spec
from reconciler.problems import Problem, Severity

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "tests" / "examples"

STORES = """\
stores:
  vault: {type: vault, address: https://vault.example.com, mount: secret, prefix: ppm/}
  ci: {type: github, repository: acme/pipelines}
"""
TOKEN: dict[str, str] = {
    "name": "ds-read",
    "user": "analyst@example.com",
    "description": "Read access for data science",
    "scope": "repos:read",
    "resources": "[cran, pypi]",
    "store": "vault",
}


def no_git(path: Path) -> Path | None:
    """Tests that are not about git work trees must not depend on where they run."""
    del path
    return None


def check(
    text: str, *, base_dir: Path = Path("/nonexistent"), now: datetime = NOW
) -> tuple[Spec | None, list[Problem]]:
    raw = textwrap.dedent(text).encode()
    return check_bytes(raw, file="tokens.yaml", base_dir=base_dir, now=now, git_root_of=no_git)


def spec_with(top: str = "", stores: str = STORES, **fields: str | None) -> str:
    """A small valid spec with one token; `fields` replace (None: remove) or add token keys,
    `top` adds top-level lines."""
    token = {**TOKEN, **fields}
    lines = [f"{key}: {value}" for key, value in token.items() if value is not None]
    return f"version: 1\n{top}{stores}tokens:\n  - " + "\n    ".join(lines) + "\n"


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.severity is Severity.ERROR]


def messages(problems: list[Problem]) -> list[str]:
    return [p.message for p in problems]
