"""`ppm-tokens demo` (what `make demo` runs) tells the whole story and succeeds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import work_tree_files


def test_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKAGEMANAGER_")}
    env["TMPDIR"] = str(tmp_path)
    before = set(work_tree_files())
    result = subprocess.run(
        [sys.executable, "-m", "reconciler", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for line in (
        "Plan: 3 to create",
        "No changes. The live tokens match the spec.",
        "3 to rotate",
        "pip download ppmdemo with the new token: OK",
        "the old token during the 3-day grace period: still works",
        "pip download with the old token: refused (401), as it should be",
        "Demo complete.",
    ):
        assert line in out
    assert "eyJ" not in out + result.stderr  # no JWT-shaped text at all
    assert list(tmp_path.iterdir()) == []  # its temporary directory is gone
    assert set(work_tree_files()) == before  # nothing written into the repository


HIDING = """
import importlib.util, sys
real = importlib.util.find_spec
hidden = set(sys.argv[1].split(","))
importlib.util.find_spec = lambda name, *a: None if name in hidden else real(name, *a)
from reconciler.cli import main
sys.argv = ["ppm-tokens", *sys.argv[2:]]
main()
"""


def run_hiding(modules: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in an environment where `modules` cannot be found (an install without an extra,
    a `uv tool` environment without pip)."""
    return subprocess.run(
        [sys.executable, "-c", HIDING, modules, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_without_pip_says_how_to_get_it_and_starts_nothing(tmp_path: Path) -> None:
    """Without pip the demo cannot tell a refused token from pip missing: it stops first, rather
    than report the old token refused."""
    result = run_hiding("pip", "demo", cwd=tmp_path)
    assert result.returncode == 1
    assert "proves each token with pip, which this environment lacks" in result.stderr
    assert "uv tool install --with pip" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_demo_and_emulator_without_the_extra_name_it(tmp_path: Path) -> None:
    for command in ("demo", "emulator"):
        result = run_hiding("uvicorn,starlette", command, cwd=tmp_path)
        assert result.returncode == 1, command
        assert "needs starlette, uvicorn: install the emulator extra" in result.stderr, command
        assert "ppm-token-reconciler[emulator]" in result.stderr
        assert "Traceback" not in result.stderr
