"""The GitOps workflows parse, and every ppm-tokens command they run exists with those flags."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.workflow_runner import SELF_ACTION

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / ".github" / "workflows").glob("*.yml"))


ACTION = WORKFLOWS[0].parents[2] / "action.yml"


def run_steps(path: Path) -> list[str]:
    document = yaml.safe_load(path.read_text())
    jobs = document["jobs"].values() if "jobs" in document else [document["runs"]]
    return [
        step["run"]
        for job in jobs
        for step in job["steps"]
        if isinstance(step, dict) and "run" in step
    ]


def action_uses(path: Path) -> list[dict[str, str]]:
    """The `with:` of every step that runs this repository's action."""
    document = yaml.safe_load(path.read_text())
    return [
        step.get("with", {})
        for job in document.get("jobs", {}).values()
        for step in job["steps"]
        if step.get("uses") == SELF_ACTION
    ]


def command_lines(path: Path) -> list[list[str]]:
    """Every ppm-tokens command a workflow runs: in its own steps, or through the action
    (which runs `ppm-tokens COMMAND -f FILE ... ARGS`)."""
    commands = [
        shlex.split(line.strip().split(">")[0].replace("ppm_tokens ", "ppm-tokens ", 1))
        for script in run_steps(path)
        for line in script.replace("\\\n", " ").splitlines()
        if line.strip().startswith(("ppm-tokens ", "ppm_tokens "))
    ]
    for inputs in action_uses(path):
        commands.append(["ppm-tokens", inputs["command"], *shlex.split(inputs.get("args", ""))])
    return commands


def help_text(subcommand: str) -> str:
    return subprocess.run(
        [sys.executable, "-m", "reconciler", subcommand, "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.parametrize("path", [*WORKFLOWS, ACTION], ids=[p.name for p in [*WORKFLOWS, ACTION]])
def test_workflow_commands_exist(path: Path) -> None:
    commands = command_lines(path)
    if path.name != "ci.yml":
        assert commands, f"{path.name} runs no ppm-tokens command"
    for words in commands:
        subcommand = words[1]
        text = help_text(subcommand)
        for flag in (w for w in words[2:] if w.startswith("-") and not w.startswith("-$")):
            assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", text), (path.name, flag)


def test_ci_runs_the_readme_test_command() -> None:
    assert any("bash .ci/run" in s for s in run_steps(WORKFLOWS[0].parent / "ci.yml"))
    assert "make test" in (WORKFLOWS[0].parents[2] / ".ci" / "run").read_text()


def test_plan_workflow_splits_markdown_where_plan_joins_it() -> None:
    from reconciler.commands.plan import MARKDOWN_PART_SEPARATOR

    script = "\n".join(
        step["with"]["script"]
        for job in yaml.safe_load((WORKFLOWS[0].parent / "tokens-plan.yml").read_text())[
            "jobs"
        ].values()
        for step in job["steps"]
        if "github-script" in step.get("uses", "")
    )
    escaped = MARKDOWN_PART_SEPARATOR.replace("\n", "\\n")
    assert f"body.split('{escaped}')" in script
