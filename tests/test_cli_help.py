"""Every command's --help, held in golden files: moving a command's options never changes what
a user reads. UPDATE_GOLDEN=1 rewrites the golden files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from reconciler.cli import COMMANDS, app

GOLDEN = Path(__file__).parent / "cli_help"
WIDTH = 100


def command_paths(group: click.Group, ctx: click.Context) -> list[tuple[str, ...]]:
    """Every command and subcommand below `group`, as the words that name it."""
    paths: list[tuple[str, ...]] = []
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        paths.append((name,))
        if isinstance(command, click.Group):
            sub = click.Context(command, info_name=name, parent=ctx)
            paths.extend((name, *rest) for rest in command_paths(command, sub))
    return paths


def help_text(words: tuple[str, ...]) -> str:
    result = CliRunner().invoke(
        app, [*words, "--help"], prog_name="ppm-tokens", terminal_width=WIDTH, color=False
    )
    assert result.exit_code == 0, result.output
    return result.output


def golden_name(words: tuple[str, ...]) -> str:
    return "-".join(("ppm-tokens", *words)) + ".txt"


ROOT = click.Context(app, info_name="ppm-tokens")
PATHS = [(), *command_paths(app, ROOT)]


@pytest.mark.parametrize("words", PATHS, ids=lambda words: " ".join(words) or "ppm-tokens")
def test_help_is_unchanged(words: tuple[str, ...]) -> None:
    path = GOLDEN / golden_name(words)
    actual = help_text(words)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(actual, encoding="utf-8")
    assert actual == path.read_text(encoding="utf-8"), f"{path.name} differs"


def test_every_golden_file_names_a_command() -> None:
    """A command removed or renamed leaves its golden file behind: that is a change of the
    command line too, to be made on purpose."""
    expected = {golden_name(words) for words in PATHS}
    assert {path.name for path in GOLDEN.glob("*.txt")} == expected


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_registered_command_is_named_as_registered(name: str) -> None:
    command = app.get_command(ROOT, name)
    assert command is not None and command.name == name


# Optional extras: the emulator's server, the aws and github stores' SDKs.
EXTRAS = ("uvicorn", "starlette", "cryptography", "boto3", "botocore", "nacl")


def test_help_loads_no_optional_extra() -> None:
    """Listing the commands imports each command's module: none may need an extra, or a plain
    install could not even show --help."""
    code = (
        "import sys; from reconciler.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print(sorted(m for m in {EXTRAS!r} if m in sys.modules), file=sys.stderr)"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "validate" in run.stdout
    assert run.stderr.strip() == "[]"
