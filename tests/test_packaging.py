"""The package a team installs: `python -m build` makes an sdist and a wheel that twine accepts,
the wheel carries every file of the package (schemas, report assets), and installed into a clean
virtualenv it runs on its own, from a directory outside the checkout: --version, validate and
the demo.

Nothing here touches the network. The build runs without isolation in this virtualenv; the wheel
is installed with --no-index and --no-deps; its dependencies are made importable by a plain path
line in a .pth file naming this virtualenv's site-packages. Python does not process the .pth
files of a directory added that way, so this checkout's editable install stays out of reach:
the code that runs is the wheel's."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

import reconciler

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGE = ROOT / "reconciler"

VALID = """\
version: 1
namespace: packaging
stores:
  local: {type: file, path: ~/.local/share/ppm-tokens}
tokens:
  - name: ds-read
    user: analyst@example.com
    description: Read access for data science repositories
    scope: repos:read
    resources: [cran]
    store: local
"""


def run(args: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT], cwd=ROOT)
    return out


def wheel_of(dist: Path) -> Path:
    (wheel,) = dist.glob("*.whl")
    return wheel


def package_files() -> set[str]:
    """Every file of the package in the checkout, as the wheel names it."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


@pytest.fixture(scope="module")
def clean_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("clean") / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    python = venv / "bin" / "python"
    pip_env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet"]
    run([*pip, "--no-deps", "--no-index", wheel_of(dist)], cwd=venv.parent, env=pip_env)
    site_packages = run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=venv
    ).strip()
    dependencies = sysconfig.get_paths()["purelib"]
    (Path(site_packages) / "dev_dependencies.pth").write_text(dependencies + "\n")
    return venv


@pytest.fixture
def outside(tmp_path: Path) -> dict[str, str]:
    """An environment for the installed command, in a directory outside the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PACKAGEMANAGER_", "PYTHON"))}
    env["HOME"] = str(tmp_path / "home")
    return env


def test_twine_accepts_the_sdist_and_the_wheel(dist: Path) -> None:
    names = sorted(p.name for p in dist.iterdir())
    version = reconciler.__version__
    assert names == [
        f"ppm_token_reconciler-{version}-py3-none-any.whl",
        f"ppm_token_reconciler-{version}.tar.gz",
    ]
    output = run([BIN / "twine", "check", "--strict", *sorted(dist.iterdir())], cwd=dist)
    assert output.count("PASSED") == 2


def test_the_wheel_and_the_sdist_hold_every_file_of_the_package(dist: Path) -> None:
    expected = package_files()
    assert {
        "reconciler/schemas/tokens.schema.json",
        "reconciler/schemas/plan.schema.json",
        "reconciler/ops/report_assets.py",
        "reconciler/py.typed",
    } <= expected
    with zipfile.ZipFile(wheel_of(dist)) as wheel:
        in_wheel = {n for n in wheel.namelist() if n.startswith("reconciler/")}
    assert in_wheel == expected
    (sdist,) = dist.glob("*.tar.gz")
    with tarfile.open(sdist) as archive:
        top = f"ppm_token_reconciler-{reconciler.__version__}/"
        in_sdist = {m.name.removeprefix(top) for m in archive.getmembers() if m.isfile()}
    assert expected <= in_sdist
    assert not [name for name in in_sdist if name.startswith("tests/")]  # they need the repo


def test_the_installed_wheel_runs_from_the_clean_venv(
    clean_venv: Path, tmp_path: Path, outside: dict[str, str]
) -> None:
    python, command = clean_venv / "bin" / "python", clean_venv / "bin" / "ppm-tokens"
    where = run(
        [
            python,
            "-c",
            "import reconciler, importlib.resources as r; print(reconciler.__file__);"
            " print(r.files('reconciler') / 'schemas' / 'tokens.schema.json')",
        ],
        cwd=tmp_path,
        env=outside,
    ).split()
    assert all(Path(p).is_relative_to(clean_venv) for p in where), where
    assert not any(Path(p).is_relative_to(ROOT) for p in where), where

    version = run([command, "--version"], cwd=tmp_path, env=outside)
    assert version.strip() == f"ppm-tokens, version {reconciler.__version__}"

    (tmp_path / "tokens.yaml").write_text(VALID)
    assert "1 file valid" in run([command, "validate"], cwd=tmp_path, env=outside)
    (tmp_path / "bad.yaml").write_text(VALID.replace("repos:read", "repos:write"))
    invalid = subprocess.run(
        [command, "validate", "-f", "bad.yaml"],
        cwd=tmp_path,
        env=outside,
        capture_output=True,
        text=True,
        check=False,
    )
    assert invalid.returncode == 3
    assert "bad.yaml:9:" in invalid.stdout + invalid.stderr  # the schema in the wheel said so


def test_the_installed_wheel_runs_the_demo(
    clean_venv: Path, tmp_path: Path, outside: dict[str, str]
) -> None:
    output = run([clean_venv / "bin" / "ppm-tokens", "demo"], cwd=tmp_path, env=outside)
    assert "Demo complete." in output
    assert "FAILED" not in output
