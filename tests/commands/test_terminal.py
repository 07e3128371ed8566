"""What reaches stderr cannot drive the terminal, whoever wrote the text it quotes."""

from __future__ import annotations

import pytest

from reconciler.commands.terminal import finish, shown
from reconciler.errors import ServerError
from reconciler.problems import Problem
from tests.hostile import HIDE, RETITLE, unsafe_left


def test_an_error_quoting_raw_server_text_is_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    def run() -> int:
        raise ServerError(f"token {RETITLE}guid: the server sent a bad time")

    assert finish(run) == 1
    err = capsys.readouterr().err
    assert err == "Error: token \\x1b]0;pwned\\x07guid: the server sent a bad time\n"


def test_text_escaped_at_its_source_is_not_escaped_twice() -> None:
    assert shown("store said: \\x1b[8m") == "store said: \\x1b[8m"


def test_a_message_is_one_line() -> None:
    """A line break in a message came from what it quotes (a file name, a server's text):
    shown, it would start a line of its own, such as "3 files valid" under a failing run."""
    assert shown("tokens/x\n3 files valid\n.yaml: 1 error") == (
        "tokens/x\\n3 files valid\\n.yaml: 1 error"
    )
    assert shown(f"ok\n{HIDE}") == "ok\\n\\x1b[8mhidden"


def test_a_file_name_in_a_problem_is_escaped() -> None:
    problem = Problem(f"specs/{HIDE}.yaml", 3, 5, "/tokens", "a message")
    rendered = problem.render()
    assert unsafe_left(rendered) == []
    assert rendered == "specs/\\x1b[8mhidden.yaml:3:5: a message"


def test_a_message_quoting_a_spec_value_unescaped_is_escaped_where_it_is_shown() -> None:
    raw = Problem("tokens.yaml", 2, 1, "/lock", f"lock type {HIDE} takes no store")
    assert raw.render() == "tokens.yaml:2:1: lock type \\x1b[8mhidden takes no store"
    # File and message are escaped each on its own: a message escaped at its source is kept.
    escaped = Problem(f"{HIDE}.yaml", 2, 1, "/lock", "lock.type 'lo\\x1b[8mcal' is not valid")
    assert escaped.render() == "\\x1b[8mhidden.yaml:2:1: lock.type 'lo\\x1b[8mcal' is not valid"
