"""The pre-commit hook this repository offers (.pre-commit-hooks.yaml): pre-commit's own
`try-repo` installs it from this repository, as a team's `.pre-commit-config.yaml` would, and it
passes a valid spec and stops an invalid one with the validator's FILE:LINE:COL message.

pre-commit builds the hook's environment from this repository's committed HEAD (plus its staged
and tracked changes) and installs the package's dependencies from PyPI, as it does for every
team; its cache lives in a temporary directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
(HOOK,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())

VALID = """\
version: 1
namespace: hooks
stores:
  local: {type: file, path: ~/.local/share/ppm-tokens}
tokens:
  - name: ds-read
    user: analyst@example.com
    description: Read access for data science repositories
    scope: repos:read
    resources: [cran]
    store: local
"""


def git(*args: str, cwd: Path, env: dict[str, str]) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


@pytest.mark.parametrize(
    ("path", "matches"),
    [
        ("tokens.yaml", True),
        ("tokens.yml", True),
        ("deploy/tokens.yaml", True),
        ("tokens/platform.yaml", True),
        ("tokens/eu/platform.yml", True),
        ("examples/other.yaml", False),
        ("tokens.yaml.orig", False),
        ("mytokens.yaml", False),
        ("tokens/README.md", False),
    ],
)
def test_the_hook_runs_for_spec_files_only(path: str, matches: bool) -> None:
    assert bool(re.search(HOOK["files"], path)) is matches


def test_the_hook_runs_the_installed_command_on_every_spec_at_once() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    program, *args = HOOK["entry"].split()
    assert program in scripts and args == ["validate"]
    assert HOOK["language"] == "python"
    # Rules across specs (one namespace, one secret) need every spec, not the changed files.
    assert HOOK["pass_filenames"] is False


def test_try_repo_passes_a_valid_spec_and_stops_an_invalid_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PRE_COMMIT_HOME=str(tmp_path / "cache"), HOME=str(tmp_path / "home"))
    team = tmp_path / "team"
    team.mkdir()
    git("init", "--quiet", cwd=team, env=env)
    spec = team / "tokens.yaml"

    def try_repo() -> subprocess.CompletedProcess[str]:
        git("add", "tokens.yaml", cwd=team, env=env)
        return subprocess.run(
            [BIN / "pre-commit", "try-repo", ROOT, HOOK["id"], "--all-files", "--color", "never"],
            cwd=team,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    spec.write_text(VALID)
    passed = try_repo()
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert re.search(r"ppm-tokens validate\.+Passed", passed.stdout), passed.stdout

    spec.write_text(VALID.replace("repos:read", "repos:write"))
    failed = try_repo()
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert re.search(r"ppm-tokens validate\.+Failed", failed.stdout), failed.stdout
    assert "tokens.yaml:9:" in failed.stdout  # the validator's own FILE:LINE:COL message
