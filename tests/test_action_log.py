"""The action's log: nothing ppm-tokens prints, which quotes the pull request, is read by the
runner as a workflow command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "ppm-tokens"  # the one installed beside this interpreter


def _run_step() -> str:
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    return str(next(step["run"] for step in steps if step.get("id") == "run"))


def _outside_stopped_commands(log: str) -> list[str]:
    """The lines a runner would take as workflow commands: `::name::...` lines, except those
    between `::stop-commands::TOKEN` and `::TOKEN::`."""
    commands: list[str] = []
    resume = None
    for line in log.splitlines():
        stripped = line.strip()
        if resume is not None:
            if stripped == f"::{resume}::":
                resume = None
            continue
        if stripped.startswith("::stop-commands::"):
            resume = stripped.removeprefix("::stop-commands::")
        elif stripped.startswith("::"):
            commands.append(stripped)
    return commands


def test_a_file_name_cannot_issue_a_workflow_command(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "::error title=Approved::All 3 specs valid.yaml").write_text("version: 1\n[\n")
    temp = tmp_path / "runner-temp"
    (temp / "ppm-tokens-venv" / "bin").mkdir(parents=True)
    (temp / "ppm-tokens-venv" / "bin" / "ppm-tokens").symlink_to(CLI)
    output, summary = tmp_path / "output", tmp_path / "summary"
    env = {
        "PATH": os.environ["PATH"],
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        "INPUT_COMMAND": "validate",
        "INPUT_FILES": ".",
        "INPUT_FORMAT": "markdown",
        "INPUT_ARGS": "",
    }
    run = subprocess.run(
        ["bash", "-c", _run_step()],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert "\n::error title=Approved::All 3 specs valid.yaml: 1 error\n" in run.stdout  # shown
    assert _outside_stopped_commands(run.stdout + run.stderr) == []  # not obeyed
    assert "exitcode=3" in output.read_text()
