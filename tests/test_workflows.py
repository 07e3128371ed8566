"""The GitOps workflows parse, and every ppm-tokens command they run exists with those flags."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / ".github" / "workflows").glob("*.yml"))


def run_steps(path: Path) -> list[str]:
    document = yaml.safe_load(path.read_text())
    return [
        step["run"]
        for job in document["jobs"].values()
        for step in job["steps"]
        if isinstance(step, dict) and "run" in step
    ]


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_commands_exist(path: Path) -> None:
    commands = [
        line.strip()
        for script in run_steps(path)
        for line in script.splitlines()
        if line.strip().startswith("ppm-tokens ")
    ]
    if path.name != "ci.yml":
        assert commands, f"{path.name} runs no ppm-tokens command"
    for command in commands:
        words = shlex.split(command.split(">")[0])
        subcommand = words[1]
        help_text = subprocess.run(
            [sys.executable, "-m", "reconciler", subcommand, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for flag in (w for w in words[2:] if w.startswith("-")):
            assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", help_text), (path.name, flag)


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
