"""Tokens created out of band with hostile users and descriptions, on the emulator: the plan as
text (on a pipe and on a terminal, with and without colour), as Markdown and in `-v` logs
shows them escaped and lets them forge, hide or break nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.server.http import HttpDriver
from reconciler.server.model import TokenRequest
from tests.e2e.conftest import Cli, write_spec
from tests.e2e.test_terminal import run_on_terminal
from tests.hostile import (
    HOSTILE_DESCRIPTION,
    HOSTILE_USER,
    RAW_MARKDOWN,
    RAW_TERMINAL,
    action_lines,
    render_as_github,
    unsafe_left,
)


def create_out_of_band(driver: HttpDriver, description: str, user: str) -> str:
    request = TokenRequest(
        description=description,
        user=user,
        scope="repos:read",
        resources=("pypi",),
        expires=datetime.now(UTC) + timedelta(days=60),
    )
    return driver.create_token(request).token.guid


@pytest.fixture
def hostile_spec(cli: Cli, http_driver: HttpDriver) -> Path:
    """A declared token that adopts a hostile one (so a reason quotes its user), and an
    unmanaged hostile token (so a warning quotes its description and user)."""
    adopted = create_out_of_band(http_driver, "Read access", HOSTILE_USER)
    create_out_of_band(http_driver, HOSTILE_DESCRIPTION, HOSTILE_USER)
    return write_spec(
        cli.workdir / "tokens.yaml",
        f"""\
        - name: ds-read
          user: analyst@example.com
          description: Read access
          scope: repos:read
          resources: [pypi]
          adopt: {adopted}
        """,
    )


def changes_in(cli: Cli, spec: Path) -> int:
    """The plan's changes, from its JSON: which carries the hostile text as data, exact, in
    JSON escapes that a terminal showing the JSON does not interpret."""
    run = cli("plan", "-f", str(spec), "--format", "json")
    assert run.code == 0, run.stderr
    assert unsafe_left(run.stdout) == []
    plan = json.loads(run.stdout)
    assert any(HOSTILE_USER in action["reason"] for action in plan["actions"])
    assert any(HOSTILE_USER in warning["message"] for warning in plan["warnings"])
    return sum(1 for action in plan["actions"] if action["kind"] != "noop")


def test_text_on_a_pipe_and_verbose_logs(cli: Cli, hostile_spec: Path) -> None:
    changes = changes_in(cli, hostile_spec)
    assert changes == 1  # the adopted token is replaced: its user is not the declared one
    run = cli("plan", "-f", str(hostile_spec), "-v")
    assert run.code == 0, run.stderr
    for output in (run.stdout, run.stderr):
        assert unsafe_left(output) == []
        assert [raw for raw in RAW_TERMINAL if raw in output] == []
    assert len(action_lines(run.stdout)) == changes
    assert "user changed \\x1b[8mhidden\\x1b]0;pwned\\x07ok\\r" in run.stdout
    assert "DEBUG" in run.stderr  # the logs were on


@pytest.mark.parametrize(
    ("env", "coloured"),
    [
        pytest.param({}, True, id="tty"),
        pytest.param({"NO_COLOR": "1"}, False, id="tty-NO_COLOR"),
        pytest.param({"TERM": "dumb"}, False, id="tty-TERM-dumb"),
    ],
)
def test_text_on_a_terminal(
    cli: Cli, hostile_spec: Path, env: dict[str, str], coloured: bool
) -> None:
    changes = changes_in(cli, hostile_spec)
    code, screen = run_on_terminal(cli, ["plan", "-f", str(hostile_spec)], None, **env)
    assert code == 0, screen
    assert ("\x1b[" in screen) is coloured
    screen = screen.replace("\r\n", "\n")  # the terminal's own line endings
    assert unsafe_left(screen, color=True) == []
    assert [raw for raw in RAW_TERMINAL if raw in screen] == []
    assert len(action_lines(screen)) == changes


def test_markdown_for_a_pull_request_comment(cli: Cli, hostile_spec: Path) -> None:
    changes = changes_in(cli, hostile_spec)
    run = cli("plan", "-f", str(hostile_spec), "--format", "markdown")
    assert run.code == 0, run.stderr
    assert unsafe_left(run.stdout) == []
    assert [raw for raw in RAW_MARKDOWN if raw in run.stdout] == []
    tags, visible = render_as_github(run.stdout)
    assert tags.count("details") == changes
    assert not {"script", "a", "img"} & set(tags)
    assert "\\x1b[8mhidden" in visible
    assert "a | b </details></summary>" in visible
