"""`reconciler.commands.validate.run`: output, exit codes, and no network."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.commands import validate
from reconciler.errors import UsageError

from .helpers import EXAMPLES, NOW, REPO_ROOT, spec_with

EXAMPLE = REPO_ROOT / "examples" / "tokens.yaml"


class RecordingUI:
    interactive = False
    color = False
    progress_prints_lines = True

    def __init__(self) -> None:
        self.stdout: list[str] = []
        self.stderr: list[str] = []

    def out(self, text: str) -> None:
        self.stdout.append(text)

    def err(self, text: str) -> None:
        self.stderr.append(text)

    def confirm(self, question: str) -> bool:
        del question
        return False

    @contextmanager
    def progress(self, total: int, label: str) -> Iterator[Callable[[str], None]]:
        del total, label
        yield lambda status: None


@pytest.fixture(autouse=True)
def home_outside_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_valid_files_print_nothing_but_the_summary(tmp_path: Path) -> None:
    ui = RecordingUI()
    other = write(tmp_path, "other.yaml", spec_with())
    assert validate.run([EXAMPLE, other], now=NOW, output_format="text", ui=ui) == 0
    assert ui.stdout == []
    assert ui.stderr == ["2 files valid"]


def test_invalid_file_lists_problems_and_exits_3(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "tokens.yaml",
        spec_with(
            user="a@@b", format="yaml", store="nowhere", scope="metadata:read", resources=None
        ),
    )
    ui = RecordingUI()
    assert validate.run([bad], now=NOW, output_format="text", ui=ui) == 3
    assert ui.stdout == [
        f"{bad}:7:11: token 'ds-read' user: 'a@@b' is not a valid email address",
        f"{bad}:9:12: warning: token 'ds-read' scope metadata:read is deprecated by PPM: "
        "use repos:read",
        f"{bad}:10:12: token 'ds-read' store: unknown store 'nowhere': declared: ci, vault",
        f"{bad}:11:13: token 'ds-read' format: 'yaml' is not one of: raw, json, netrc",
    ]
    assert ui.stderr == [f"{bad}: 3 errors, 1 warning"]


def test_warnings_alone_keep_the_file_valid(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", spec_with(scope="metadata:admin", resources=None))
    ui = RecordingUI()
    assert validate.run([path], now=NOW, output_format="text", ui=ui) == 0
    assert len(ui.stdout) == 1 and ": warning: " in ui.stdout[0]
    assert ui.stderr == ["1 file valid (1 warning)"]


def test_one_bad_file_among_good_ones_fails_the_run(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", spec_with())
    bad = EXAMPLES / "invalid" / "duplicate_key.yaml"
    ui = RecordingUI()
    assert validate.run([good, bad], now=NOW, output_format="text", ui=ui) == 3
    assert ui.stderr == [f"{bad}: 1 error"]


def test_json_output(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", spec_with())
    bad = write(tmp_path, "bad.yaml", spec_with(format="yaml"))
    ui = RecordingUI()
    assert validate.run([good, bad], now=NOW, output_format="json", ui=ui) == 3
    assert ui.stderr == []
    document = json.loads("".join(ui.stdout))
    assert document == {
        "valid": False,
        "files": [
            {"file": str(good), "valid": True, "problems": []},
            {
                "file": str(bad),
                "valid": False,
                "problems": [
                    {
                        "file": str(bad),
                        "line": 12,
                        "col": 13,
                        "path": "/tokens/0/format",
                        "message": "token 'ds-read' format: 'yaml' is not one of: raw, json, netrc",
                        "severity": "error",
                    }
                ],
            },
        ],
    }


def test_usage_errors() -> None:
    with pytest.raises(UsageError):
        validate.run([EXAMPLE], now=NOW, output_format="yaml", ui=RecordingUI())
    with pytest.raises(UsageError):
        validate.run([], now=NOW, output_format="text", ui=RecordingUI())


def test_validate_never_touches_the_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("validate tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    ui = RecordingUI()
    assert validate.run([EXAMPLE], now=NOW, output_format="text", ui=ui) == 0
    assert ui.stderr == ["1 file valid"]
    assert attempts == []
