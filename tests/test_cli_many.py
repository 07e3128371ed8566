"""The command line with several specs: usage errors said before any request, with their exit
codes. The server is a closed port: a run that tried to reach it would say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.plan.render_json import FORMAT_VERSION
from tests.jwt_shapes import jwt_shaped
from tests.test_cli import ppm_tokens

DEAD = "http://127.0.0.1:9"
EMPTY_PLAN_SET = json.dumps({"format_version": FORMAT_VERSION, "plans": []})


def spec(path: Path, namespace: str, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"version: 1\nnamespace: {namespace}\n{extra}"
        f"stores:\n  local: {{type: file, path: ./secrets-{namespace}}}\n"
        "defaults: {store: local}\n"
        "tokens:\n"
        "  - {name: reader, user: ci, description: Reads, scope: repos:read, resources: [pypi]}\n"
    )
    return path


def repository(tmp_path: Path) -> Path:
    tokens = tmp_path / "tokens"
    spec(tokens / "a.yaml", "a")
    spec(tokens / "team" / "b.yml", "b")
    return tokens


def run(tmp_path: Path, *args: str, **env: str) -> tuple[int, str]:
    done = ppm_tokens(
        *args, cwd=tmp_path, PACKAGEMANAGER_ADDRESS=DEAD, PACKAGEMANAGER_TOKEN="t", **env
    )
    assert "Traceback" not in done.stderr
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_a_directory_without_specs_is_a_usage_error(tmp_path: Path, command: str) -> None:
    (tmp_path / "tokens").mkdir()
    code, output = run(tmp_path, command, "-f", "tokens")
    assert code == 1
    assert "tokens holds no spec (no *.yaml or *.yml file under it)" in output
    assert "127.0.0.1:9" not in output


def test_validate_a_directory_says_what_it_found(tmp_path: Path) -> None:
    repository(tmp_path)
    code, output = run(tmp_path, "validate", "-f", "tokens")
    assert code == 0
    assert "tokens: 2 spec files: tokens/a.yaml, tokens/team/b.yml" in output
    assert "2 files valid" in output
    done = ppm_tokens("validate", "-f", "tokens", "--format", "json", cwd=tmp_path)
    assert done.returncode == 0
    document = json.loads(done.stdout)  # what the directory held goes to stderr
    assert [f["file"] for f in document["files"]] == ["tokens/a.yaml", "tokens/team/b.yml"]


def test_validate_finds_two_specs_of_one_namespace(tmp_path: Path) -> None:
    tokens = repository(tmp_path)
    spec(tokens / "copy.yaml", "a")
    code, output = run(tmp_path, "validate", "-f", "tokens")
    assert code == 3
    assert "tokens/copy.yaml:2:1: namespace 'a' on the same server" in output
    assert "is also managed by tokens/a.yaml" in output


def test_a_token_pasted_as_token_env_is_refused_without_being_shown(tmp_path: Path) -> None:
    pasted = jwt_shaped("6f1c0000-0000-4000-8000-000000000001")
    spec(tmp_path / "tokens.yaml", "a", extra=f"server:\n  token_env: {pasted}\n")
    code, output = run(tmp_path, "validate")
    assert code == 3
    assert "server.token_env must be the name of an environment variable" in output
    assert pasted not in output
    assert pasted.split(".")[1] not in output


def test_apply_of_several_specs_off_a_terminal_needs_auto_approve_before_any_request(
    tmp_path: Path,
) -> None:
    repository(tmp_path)
    code, output = run(tmp_path, "apply", "-f", "tokens")
    assert code == 1
    assert "refusing to apply 2 specs without confirmation" in output
    assert "127.0.0.1:9" not in output


def test_rotate_names_a_token_some_spec_declares(tmp_path: Path) -> None:
    repository(tmp_path)
    code, output = run(tmp_path, "apply", "-f", "tokens", "--auto-approve", "--rotate", "raeder")
    assert code == 1
    assert "none of the 2 specs declares a present token of that name" in output
    assert "did you mean 'reader'?" in output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("apply", "plan.json", "-f", "tokens/a.yaml", "-f", "tokens/team/b.yml"), "one spec"),
        (("apply", "-f", "tokens", "-f", "plan.json"), "plan.json is a saved plan"),
        (("plan", "-f", "tokens", "--at", "+30d", "--out", "x.json"), "cannot be saved"),
    ],
)
def test_mixed_up_arguments_are_usage_errors(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    repository(tmp_path)
    (tmp_path / "plan.json").write_text(EMPTY_PLAN_SET)
    code, output = run(tmp_path, *args)
    assert code == 1
    assert message in output
    assert "127.0.0.1:9" not in output


def test_a_saved_plan_of_several_specs_takes_no_spec_override(tmp_path: Path) -> None:
    repository(tmp_path)
    (tmp_path / "plan.json").write_text(EMPTY_PLAN_SET)
    code, output = run(tmp_path, "apply", "plan.json", "-f", "tokens/a.yaml")
    assert code == 1
    assert "plan of several specs and records each spec's path" in output
    code, output = run(tmp_path, "apply", "plan.json")
    assert code == 4  # not a plan this version wrote: refused as an edited one is
    assert "malformed plan file: plans is empty" in output
