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
        "pip download with the old token: refused, as it should be",
        "Demo complete.",
    ):
        assert line in out
    assert "eyJ" not in out + result.stderr  # no JWT-shaped text at all
    assert list(tmp_path.iterdir()) == []  # its temporary directory is gone
    assert set(work_tree_files()) == before  # nothing written into the repository
