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


@pytest.mark.parametrize("value", ["yesterday", "2027-13-01", "+3x", "9999-12-31T23:59:59Z"])
def test_bad_now_is_a_usage_error(tmp_path: Path, value: str) -> None:
    run = ppm_tokens("validate", "-f", str(EXAMPLE), "--now", value, cwd=tmp_path)
    assert run.returncode == 1
    assert "--now" in run.stderr
    assert "Traceback" not in run.stderr


def test_missing_spec_file_is_named(tmp_path: Path) -> None:
    run = ppm_tokens("validate", "-f", "absent.yaml", cwd=tmp_path)
    assert run.returncode == 3
    assert "absent.yaml" in run.stdout + run.stderr


def spec_and_token(tmp_path: Path) -> tuple[Path, Path]:
    token = tmp_path / "admin.token"
    token.write_text("not-a-real-token")
    spec = tmp_path / "tokens.yaml"
    spec.write_text(MINIMAL_SPEC)
    return spec, token


def test_rotate_refuses_a_second_spec_file_rather_than_drop_it(tmp_path: Path) -> None:
    """plan, apply and validate take several specs; rotate acts on one."""
    spec, token = spec_and_token(tmp_path)
    other = tmp_path / "other.yaml"
    other.write_text(MINIMAL_SPEC)
    run = ppm_tokens(
        "rotate", "reader", "-f", str(spec), "-f", str(other), "--token-file", str(token),
        "--server", "http://127.0.0.1:9", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1
    assert "one spec file" in run.stderr
    assert "127.0.0.1:9" not in run.stderr  # refused before any request


@pytest.mark.parametrize(
    "url",
    ["127.0.0.1:4242", "ftp://ppm.example.com", "https://", "http://[::1", "http://ppm:port"],
)
def test_a_server_url_without_http_scheme_is_a_clear_usage_error(tmp_path: Path, url: str) -> None:
    spec, token = spec_and_token(tmp_path)
    run = ppm_tokens(
        "plan", "-f", str(spec), "--token-file", str(token), cwd=tmp_path,
        PACKAGEMANAGER_ADDRESS=url,
    )  # fmt: skip
    assert run.returncode == 1
    assert f"server URL {url!r}" in run.stderr
    assert "PACKAGEMANAGER_ADDRESS" in run.stderr and "http" in run.stderr
    assert "UnsupportedProtocol" not in run.stderr
    assert "Traceback" not in run.stderr


def test_a_preview_cannot_be_saved_as_a_plan_to_apply(tmp_path: Path) -> None:
    spec, token = spec_and_token(tmp_path)
    run = ppm_tokens(
        "plan", "-f", str(spec), "--at", "+70d", "--out", str(tmp_path / "p.json"),
        "--token-file", str(token), "--server", "http://127.0.0.1:9", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1
    assert "--at" in run.stderr and "--out" in run.stderr
    assert not (tmp_path / "p.json").exists()


def test_a_plan_that_cannot_be_saved_is_refused_before_the_server_is_read(
    tmp_path: Path,
) -> None:
    spec, token = spec_and_token(tmp_path)
    out = tmp_path / "missing" / "p.json"
    # Port 9 (discard) answers nothing: reaching the server would be a different error.
    run = ppm_tokens(
        "plan", "-f", str(spec), "--out", str(out),
        "--token-file", str(token), "--server", "http://127.0.0.1:9", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 1
    assert f"cannot write --out {out}: its directory {out.parent} does not exist" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(
    ("command", "flag"),
    [
        (["rotate", "reader"], "--grace"),
        (["rotate", "reader"], "--lock-timeout"),
        (["apply"], "--lock-timeout"),
        (["doctor"], "--revoke-wait"),
        (["audit"], "--max-age"),
        (["audit"], "--expiring-within"),
        (["audit"], "--overdue-after"),
    ],
)
def test_a_bad_duration_names_its_flag(tmp_path: Path, command: list[str], flag: str) -> None:
    run = ppm_tokens(*command, flag, "banana", cwd=tmp_path)
    assert run.returncode == 1
    assert f"Invalid value for '{flag}': 'banana' is not a duration" in run.stderr


def test_emulator_on_a_busy_port_says_so_without_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        token_file = tmp_path / "admin.token"
        run = ppm_tokens(
            "emulator", "--port", str(port), "--admin-token-file", str(token_file),
            "--db", str(tmp_path / "db.sqlite3"), cwd=tmp_path,
        )  # fmt: skip
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert f"127.0.0.1:{port}" in run.stderr and "--port" in run.stderr
    # Nothing was minted for a server that never started.
    assert not token_file.exists()


def test_emulator_refuses_to_write_its_admin_token_inside_a_git_work_tree(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    run = ppm_tokens("emulator", "--port", "0", cwd=tmp_path)
    assert run.returncode == 1
    assert "git work tree" in run.stderr and "--admin-token-file" in run.stderr
    assert not (tmp_path / "ppm-emulator-admin.token").exists()


@pytest.mark.parametrize("port", ["70000", "-1"])
def test_emulator_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    run = ppm_tokens("emulator", "--port", port, cwd=tmp_path)
    assert run.returncode == 1
    assert "--port" in run.stderr and "0<=x<=65535" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "ppm-emulator-admin.token").exists()


@pytest.mark.parametrize(
    "content",
    [
        b'{"format_version": 1, "namespace": "e2e", "act',
        b"[]",
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["cut-short", "not-an-object", "not-utf8", "nested-deeply"],
)
def test_a_saved_plan_that_is_not_whole_is_refused_as_edited(
    tmp_path: Path, content: bytes
) -> None:
    """A plan file cut short by a kill during `plan --out`, or one that was never a plan: the
    remedy is to plan again, as for any edited plan (exit 4), before any request."""
    _, token = spec_and_token(tmp_path)
    plan = tmp_path / "plan.json"
    plan.write_bytes(content)
    run = ppm_tokens(
        "apply", str(plan), "--token-file", str(token), "--server", "http://127.0.0.1:9",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 4, run.stderr
    assert "malformed plan file" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(run.stderr.splitlines()) == 1, run.stderr


def test_a_saved_plan_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    _, token = spec_and_token(tmp_path)
    run = ppm_tokens(
        "apply", str(tmp_path / "nowhere.json"), "--token-file", str(token), cwd=tmp_path
    )
    assert run.returncode == 1
    assert "cannot read saved plan" in run.stderr and "No such file" in run.stderr
