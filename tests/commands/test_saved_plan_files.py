"""A saved plan file is read with a bound before it is parsed: whatever the path leads to (a
device, a FIFO, a file of no plan's size, JSON nested past the parser's depth) it is refused
as a plan `plan --out` did not write (exit 4), at once and in one line."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from reconciler.commands.apply import MAX_PLAN_BYTES, is_saved_plan, read_saved_plan
from reconciler.errors import MalformedPlanError, UsageError


def _refused(path: Path) -> str:
    started = time.perf_counter()
    with pytest.raises(MalformedPlanError) as raised:
        read_saved_plan(path)
    assert time.perf_counter() - started < 2.0
    assert raised.value.exit_code == 4
    message = str(raised.value)
    assert "\n" not in message and "nothing was applied" in message
    return message


def test_a_link_to_dev_zero_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "plan.json").symlink_to("/dev/zero")
    assert "it is a character device, not a regular file" in _refused(tmp_path / "plan.json")


def test_a_fifo_is_neither_waited_on_nor_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "plan")
    assert not is_saved_plan(tmp_path / "plan")  # peeking does not wait for a writer
    os.mkfifo(tmp_path / "plan.json")
    assert "it is a named pipe" in _refused(tmp_path / "plan.json")


def test_a_file_over_the_limit_is_refused_by_its_size(tmp_path: Path) -> None:
    with (tmp_path / "plan.json").open("wb") as handle:
        handle.truncate(MAX_PLAN_BYTES + 1)  # sparse
    assert "the limit is 64 MiB" in _refused(tmp_path / "plan.json")


@pytest.mark.parametrize(
    "text",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000],
    ids=["lists", "objects"],
)
def test_json_nested_past_the_parser_is_refused_in_one_line(tmp_path: Path, text: str) -> None:
    (tmp_path / "plan.json").write_text(text)
    assert "is not whole JSON (nested too deeply)" in _refused(tmp_path / "plan.json")


def test_a_missing_plan_stays_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="No such file"):
        read_saved_plan(tmp_path / "nowhere.json")


@pytest.mark.parametrize(
    "text",
    [
        '{"format_version": 2, "format_version": 2}',
        '{"actions": [{"kind": "noop", "kind": "revoke"}]}',
    ],
    ids=["top", "nested"],
)
def test_a_key_written_twice_is_an_edit(tmp_path: Path, text: str) -> None:
    """JSON keeps the last of two equal keys, a reader of the file may see the first: plan
    never writes one twice, so such a file was edited."""
    (tmp_path / "plan.json").write_text(text)
    assert "holds the key" in _refused(tmp_path / "plan.json")
