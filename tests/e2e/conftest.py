"""End-to-end fixtures: the real `ppm-tokens` CLI, in a subprocess, against the emulator.

Every CLI run made through `cli` is recorded; after each test its stdout, stderr, every file in the
test's directory and every file of the repository work tree are scanned for the token values the
emulator issued (invariant I2).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str


@dataclass
class Cli:
    emulator: RunningEmulator
    workdir: Path
    runs: list[Run] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("PACKAGEMANAGER_")}
        base.update(
            PACKAGEMANAGER_ADDRESS=self.emulator.url,
            PACKAGEMANAGER_TOKEN=self.emulator.admin_token(),
            HOME=str(self.workdir / "home"),
        )
        base.update(extra)
        return base

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 120, **env: str
    ) -> Run:
        result = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=self.workdir,
            env=self.env(**env),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        run = Run(tuple(args), result.returncode, result.stdout, result.stderr)
        self.runs.append(run)
        return run

    def popen(self, *args: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "reconciler", *args],
            cwd=self.workdir,
            env=self.env(**env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


def write_spec(path: Path, tokens: str, *, header: str = "", namespace: str = "e2e") -> Path:
    """A spec with a file store under the test's directory (outside any git work tree)."""
    store_dir = path.parent / "secrets"
    text = textwrap.dedent(
        f"""\
        version: 1
        namespace: {namespace}
        defaults:
          expires: 90d
          rotation: {{after: 60d, before_expiry: 14d, grace: 3d}}
          store: local
        stores:
          local: {{type: file, path: {store_dir}}}
        """
    )
    text += textwrap.dedent(header)
    text += "tokens:\n" + textwrap.indent(textwrap.dedent(tokens), "  ")
    path.write_text(text, encoding="utf-8")
    return path


def token_entries(count: int, *, prefix: str = "t", scope: str = "repos:read") -> str:
    lines = []
    for index in range(count):
        lines.append(
            textwrap.dedent(
                f"""\
                - name: {prefix}{index:03d}
                  user: user{index}@example.com
                  description: token number {index}
                  scope: {scope}
                  resources: [pypi]
                """
            )
        )
    return "".join(lines)


def scan_for_values(values: Sequence[str], texts: dict[str, str]) -> list[str]:
    return [where for where, text in texts.items() for value in values if value in text]


def work_tree_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO_ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [REPO_ROOT / name for name in listed.split("\0") if name]


@pytest.fixture
def cli(emulator: RunningEmulator, tmp_path: Path) -> Iterator[Cli]:
    workdir = tmp_path / "work"
    (workdir / "home").mkdir(parents=True)
    runner = Cli(emulator, workdir)
    yield runner
    # I2: no issued value in any output, in the test's work directory (plan files, logs) outside
    # the secret store, or anywhere in the repository's work tree.
    values = EmulatorControl(emulator.url, emulator.admin_token()).issued_values()
    admin = emulator.admin_token()
    minted = [v for v in values if v != admin]
    texts = {f"stdout of {r.args}": r.stdout for r in runner.runs}
    texts.update({f"stderr of {r.args}": r.stderr for r in runner.runs})
    for path in workdir.rglob("*"):
        if path.is_file() and "secrets" not in path.relative_to(workdir).parts:
            texts[str(path)] = path.read_text(errors="replace")
    for path in work_tree_files():
        if path.is_file() and path.stat().st_size < 5_000_000:
            texts[str(path)] = path.read_text(errors="replace")
    leaks = scan_for_values([*minted, admin], texts)
    assert not leaks, f"token values leaked into: {sorted(set(leaks))}"
