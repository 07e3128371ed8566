"""The command line's own contract: exit codes, where the admin token may come from, help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tokens.yaml"


def ppm_tokens(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PACKAGEMANAGER_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version_and_help(tmp_path: Path) -> None:
    assert ppm_tokens("--version", cwd=tmp_path).stdout.startswith("ppm-tokens, version ")
    help_text = ppm_tokens("--help", cwd=tmp_path).stdout
    for command in ("validate", "plan", "apply", "rotate", "emulator", "demo"):
        assert command in help_text


def test_usage_errors_exit_1_not_2_because_2_means_changes(tmp_path: Path) -> None:
    run = ppm_tokens("plan", "--no-such-flag", cwd=tmp_path)
    assert run.returncode == 1
    assert "No such option" in run.stderr


def test_admin_token_cannot_be_passed_as_a_flag_value(tmp_path: Path) -> None:
    run = ppm_tokens("plan", "--token", "abc", cwd=tmp_path)
    assert run.returncode == 1
    assert "No such option" in run.stderr


def test_missing_admin_token_is_a_clear_runtime_error(tmp_path: Path) -> None:
    run = ppm_tokens(
        "plan", "-f", str(EXAMPLE), cwd=tmp_path, PACKAGEMANAGER_ADDRESS="http://127.0.0.1:9"
    )
    assert run.returncode == 1
    assert "PACKAGEMANAGER_TOKEN" in run.stderr and "--token-file" in run.stderr


def test_missing_token_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.token"
    run = ppm_tokens(
        "plan",
        "-f",
        str(EXAMPLE),
        "--token-file",
        str(missing),
        "--server",
        "http://127.0.0.1:9",
        cwd=tmp_path,
    )
    assert run.returncode == 1
    assert str(missing) in run.stderr


MINIMAL_SPEC = """\
version: 1
stores:
  local: {type: file, path: ./secrets}
defaults: {store: local}
tokens:
  - {name: reader, user: ci, description: Reads, scope: repos:read, resources: [pypi]}
"""


def test_unreachable_server_is_a_runtime_error_not_a_crash(tmp_path: Path) -> None:
    token = tmp_path / "admin.token"
    token.write_text("not-a-real-token")
    spec = tmp_path / "tokens.yaml"
    spec.write_text(MINIMAL_SPEC)
    run = ppm_tokens(
        "plan",
        "-f",
        str(spec),
        "--token-file",
        str(token),
        "--server",
        "http://127.0.0.1:9",
        cwd=tmp_path,
    )
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "127.0.0.1:9" in run.stderr


@pytest.mark.parametrize("value", ["yesterday", "2027-13-01", "+3x"])
def test_bad_now_is_a_usage_error(tmp_path: Path, value: str) -> None:
    run = ppm_tokens("validate", "-f", str(EXAMPLE), "--now", value, cwd=tmp_path)
    assert run.returncode == 1
    assert "--now" in run.stderr


def test_missing_spec_file_is_named(tmp_path: Path) -> None:
    run = ppm_tokens("validate", "-f", "absent.yaml", cwd=tmp_path)
    assert run.returncode == 3
    assert "absent.yaml" in run.stdout + run.stderr
