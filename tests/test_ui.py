"""When output is coloured: on a terminal, unless NO_COLOR (https://no-color.org) or TERM=dumb."""

from __future__ import annotations

import pytest

from reconciler.ui import color_wanted, terminal_is_dumb


@pytest.mark.parametrize(
    ("is_terminal", "env", "expected"),
    [
        pytest.param(True, {"TERM": "xterm-256color"}, True, id="terminal"),
        pytest.param(False, {"TERM": "xterm-256color"}, False, id="pipe"),
        pytest.param(True, {"TERM": "xterm", "NO_COLOR": "1"}, False, id="no-color-1"),
        pytest.param(True, {"TERM": "xterm", "NO_COLOR": "0"}, False, id="no-color-any-value"),
        pytest.param(True, {"TERM": "xterm", "NO_COLOR": "false"}, False, id="no-color-false"),
        pytest.param(True, {"TERM": "xterm", "NO_COLOR": ""}, True, id="no-color-empty"),
        pytest.param(True, {"TERM": "dumb"}, False, id="dumb"),
        pytest.param(True, {}, True, id="no-term"),
    ],
)
def test_color_wanted(is_terminal: bool, env: dict[str, str], expected: bool) -> None:
    assert color_wanted(is_terminal, env) is expected


def test_a_dumb_terminal_gets_no_progress_bar_redraws() -> None:
    assert terminal_is_dumb({"TERM": "dumb"})
    assert not terminal_is_dumb({"TERM": "xterm"})
