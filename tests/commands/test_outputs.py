"""Files a command writes (`plan --out`, `audit --out`, `report --html`, `revoke --record`): a
checkout may carry a symbolic link where a README command writes (`plan --out plan.json`), so
the file is never written through a link to a file, which would replace whatever it points at
(`~/.bashrc`, with a plan whose descriptions the pull request chose). A link to a terminal or a
pipe (`--out /dev/stdout`) is written to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.commands.outputs import check_writable, write_output
from reconciler.errors import UsageError


@pytest.mark.parametrize("target", ["existing", "missing"])
def test_a_link_to_a_file_is_never_written_through(tmp_path: Path, target: str) -> None:
    victim = tmp_path / "home" / ".bashrc"
    victim.parent.mkdir()
    if target == "existing":
        victim.write_text("export PATH\n")
    out = tmp_path / "checkout" / "plan.json"
    out.parent.mkdir()
    out.symlink_to(victim)

    for check in (
        lambda: check_writable(out, "--out"),
        lambda: write_output(out, '{"plan": "$(touch pwned)"}\n', "--out"),
    ):
        with pytest.raises(UsageError, match="is a symbolic link"):
            check()
    assert victim.read_text() == "export PATH\n" if target == "existing" else not victim.exists()


def test_a_link_to_a_pipe_is_written_to(tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    try:
        out = tmp_path / "stdout"
        out.symlink_to(f"/proc/self/fd/{write_end}")  # as /dev/stdout is, on a pipe
        check_writable(out, "--out")
        write_output(out, "report\n", "--out")
        assert os.read(read_end, 100) == b"report\n"
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_plain_file_is_replaced(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text("old and longer\n")
    write_output(out, "new\n", "--out")
    assert out.read_text() == "new\n"
