"""The clients PPM's users run, each isolated from the machine's own settings and caches and
pointed only at the emulator: uv, R, renv, pkgcache (pak's repository code) and curl (pip is
`reconciler.emulator.pip.pip_download`).

Each run gets a fresh directory for caches and installed packages, so that a second run cannot
succeed from what the first one downloaded. Output is captured and returned for diagnosis; it is
scanned for token values with everything else the tests produce."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from reconciler.emulator.packages import PROJECT
from reconciler.emulator.rpackages import GREETING

R_MISSING = (
    "R is not installed, so the R client tests cannot run: `make test` installs Debian's R "
    "(`make system-tools`, or `apt-get install r-base-core curl` by hand), then run them again"
)
# renv and pak are not packaged for Debian 12 and CRAN is out of reach of CI, so their tests
# are collected only when this variable names an R library that holds them: a test that is
# always skipped in CI would prove nothing while looking like coverage.
R_LIBS_VARIABLE = "PPM_TOKENS_R_LIBS"
OPTIONAL_R_PACKAGES = ("renv", "pkgcache")
_R_PACKAGE_MISSING = (
    "{R_LIBS_VARIABLE} is set, but R cannot load the package {package} from it: install it "
    'there from CRAN with `install.packages("{package}", lib = Sys.getenv("{R_LIBS_VARIABLE}"))`'
)
# Variables that would point a client at another index, cache, config or credentials.
_FOREIGN_PREFIXES = ("UV_", "PIP_", "R_", "CURL_", "VIRTUAL_ENV", "CONDA_")
_FOREIGN_NAMES = frozenset({"NETRC", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"})


@dataclass(frozen=True)
class ClientRun:
    client: str
    ok: bool
    output: str


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The caller's environment without any client's settings, with its own empty HOME (no
    ~/.netrc, ~/.curlrc, ~/.config/uv or ~/.Rprofile of the person running the tests)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_FOREIGN_PREFIXES) and k not in _FOREIGN_NAMES
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), **extra)
    return env


def _run(client: str, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> ClientRun:
    result = subprocess.run(
        list(args),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    return ClientRun(client, result.returncode == 0, result.stdout + result.stderr)


def fresh_dir(parent: Path, name: str) -> Path:
    parent.mkdir(parents=True, exist_ok=True)
    index = sum(1 for _ in parent.glob(f"{name}-*"))
    path = parent / f"{name}-{index}"
    path.mkdir()
    return path


def uv_bin() -> str:
    try:
        import uv
    except ImportError:
        pytest.skip("uv is not installed: run `.venv/bin/pip install -e '.[dev]'`")
    return str(uv.find_uv_bin())


def uv_install(
    index_url: str,
    workdir: Path,
    *,
    netrc: Path | None = None,
    index_password: str | None = None,
) -> ClientRun:
    """`uv pip install` the demo wheel into a new venv, asking only `index_url`.

    Credentials come from `netrc` (the `NETRC` variable, as a user would set it) or, for a raw
    value, from `UV_INDEX_PPM_USERNAME`/`UV_INDEX_PPM_PASSWORD` (as a CI job maps a secret to
    environment variables)."""
    run_dir = fresh_dir(workdir, "uv")
    extra = {
        "UV_NO_CONFIG": "1",
        "UV_CACHE_DIR": str(run_dir / "cache"),
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_KEYRING_PROVIDER": "disabled",
    }
    if netrc is not None:
        extra["NETRC"] = str(netrc)
    index = ["--index-url", index_url]
    if index_password is not None:
        extra.update(UV_INDEX_PPM_USERNAME="__token__", UV_INDEX_PPM_PASSWORD=index_password)
        index = ["--default-index", f"ppm={index_url}"]
    env = clean_env(run_dir / "home", **extra)
    uv = uv_bin()
    venv = run_dir / "venv"
    made = _run("uv", [uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env, run_dir)
    if not made.ok:
        return made
    python = venv / "bin" / "python"
    installed = _run(
        "uv", [uv, "pip", "install", "--python", str(python), *index, PROJECT], env, run_dir
    )
    if not installed.ok:
        return installed
    # The package must import from the venv: proof the wheel arrived whole.
    check = _run(
        "uv", [str(python), "-c", f"import {PROJECT}; print({PROJECT}.__version__)"], env, run_dir
    )
    return ClientRun(
        "uv", check.ok and check.output.strip() == "1.0.0", installed.output + check.output
    )


def rscript() -> str:
    """R is one of the tools `make test` installs: without it the R tests fail, never skip,
    so no run can pass with them silently left out."""
    found = shutil.which("Rscript")
    if found is None:
        pytest.fail(R_MISSING)
    return found


def optional_r_packages_enabled() -> bool:
    """Whether the renv and pkgcache tests are collected (see R_LIBS_VARIABLE)."""
    return bool(os.environ.get(R_LIBS_VARIABLE))


def _r_libs() -> dict[str, str]:
    extra = os.environ.get(R_LIBS_VARIABLE, "")
    return {"R_LIBS": extra} if extra else {}


def require_r_package(package: str, workdir: Path) -> None:
    """Fail the calling test, saying how to mend it, unless R can load `package` (renv or
    pkgcache), which the tests run only when R_LIBS_VARIABLE asks for them."""
    run_dir = fresh_dir(workdir, f"has-{package}")
    env = clean_env(run_dir / "home", R_ENVIRON_USER=os.devnull, **_r_libs())
    code = f"quit(status = if (requireNamespace({package!r}, quietly = TRUE)) 0 else 1)"
    if not _run(package, [rscript(), "-e", code], env, run_dir).ok:
        pytest.fail(_R_PACKAGE_MISSING.format(package=package, R_LIBS_VARIABLE=R_LIBS_VARIABLE))


def r_repos_line(repo_url: str, netrc: Path, *, method: str = "curl") -> str:
    """The one line of R configuration the README gives for a netrc written by ppm-tokens."""
    if method != "curl":
        return f'options(repos = c(PPM = "{repo_url}"), download.file.method = "{method}")\n'
    return (
        f'options(repos = c(PPM = "{repo_url}"), download.file.method = "curl", '
        f'download.file.extra = paste("--fail --location --netrc-file", shQuote("{netrc}")))\n'
    )


def _r_installed(run: ClientRun, library: Path) -> ClientRun:
    """Installed means: R said so, the package greeted, and both packages are in `library`."""
    installed = {p.name for p in library.iterdir()}
    ok = run.ok and GREETING in run.output and {"ppmdemo", "ppmhello"} <= installed
    return ClientRun(run.client, ok, run.output)


# Exit 3 says "R ran, but the package is not there": install.packages() only warns when a
# repository refuses, so the script checks for itself.
_R_INSTALL = """
install.packages("ppmdemo", quiet = TRUE)
if (!requireNamespace("ppmdemo", quietly = TRUE)) quit(status = 3)
cat(ppmdemo::greet(), "\\n")
"""


def r_install(repo_url: str, netrc: Path, workdir: Path, *, method: str = "curl") -> ClientRun:
    """R's `install.packages("ppmdemo")` (which pulls in `ppmhello`) into a new library, with
    nothing configured but the README's one line in the user profile."""
    run_dir = fresh_dir(workdir, "r")
    library = run_dir / "library"
    library.mkdir()
    profile = run_dir / "Rprofile"
    profile.write_text(r_repos_line(repo_url, netrc, method=method), encoding="utf-8")
    env = clean_env(
        run_dir / "home",
        R_PROFILE_USER=str(profile),
        R_ENVIRON_USER=os.devnull,
        R_LIBS_USER=str(library),
        TMPDIR=str(run_dir),
    )
    return _r_installed(_run("R", [rscript(), "-e", _R_INSTALL], env, run_dir), library)


_RENV_INSTALL = """
library <- Sys.getenv("PPM_TEST_LIBRARY")
renv::install("ppmdemo", library = library, prompt = FALSE)
library(ppmdemo, lib.loc = library)
cat(greet(), "\\n")
"""


def renv_install(repo_url: str, netrc: Path, workdir: Path) -> ClientRun:
    """`renv::install("ppmdemo")` (and `ppmhello`) into a new library, with the repository in
    the user profile and the netrc named only in `~/.curlrc`, as the README says."""
    run_dir = fresh_dir(workdir, "renv")
    library = run_dir / "library"
    library.mkdir()
    home = run_dir / "home"
    home.mkdir()
    (home / ".curlrc").write_text(f'netrc-file = "{netrc}"\n', encoding="utf-8")
    profile = run_dir / "Rprofile"
    profile.write_text(f'options(repos = c(PPM = "{repo_url}"))\n', encoding="utf-8")
    env = clean_env(
        home,
        R_PROFILE_USER=str(profile),
        R_ENVIRON_USER=os.devnull,
        PPM_TEST_LIBRARY=str(library),
        RENV_PATHS_ROOT=str(run_dir / "renv"),
        TMPDIR=str(run_dir),
        **_r_libs(),
    )
    return _r_installed(_run("renv", [rscript(), "-e", _RENV_INSTALL], env, run_dir), library)


# pak resolves and downloads through pkgcache, which adds the credentials; pak itself bundles
# pkgcache, so this is the code pak runs. Exit 3: the index or the tarball did not arrive.
_PKGCACHE_FETCH = """
options(pkg.platforms = "source", pkg.use_bioconductor = FALSE)
index <- pkgcache::meta_cache_list(c("ppmdemo", "ppmhello"))
if (nrow(index) != 2) quit(status = 3)
url <- paste0(getOption("repos")[[1]], "/", index$target[index$package == "ppmdemo"])
pkgcache:::synchronise(pkgcache:::download_file(url, "ppmdemo.tar.gz"))
if (!"ppmdemo/DESCRIPTION" %in% untar("ppmdemo.tar.gz", list = TRUE)) quit(status = 3)
"""


def pkgcache_fetch(repo_url: str, netrc: Path, workdir: Path) -> ClientRun:
    """pkgcache reads the repository's index and downloads a tarball, with the user name in the
    repository URL and `NETRC` naming the file, as pak's documentation says."""
    run_dir = fresh_dir(workdir, "pkgcache")
    profile = run_dir / "Rprofile"
    profile.write_text(f'options(repos = c(PPM = "{repo_url}"))\n', encoding="utf-8")
    env = clean_env(
        run_dir / "home",
        R_PROFILE_USER=str(profile),
        R_ENVIRON_USER=os.devnull,
        R_USER_CACHE_DIR=str(run_dir / "cache"),
        NETRC=str(netrc),
        TMPDIR=str(run_dir),
        **_r_libs(),
    )
    run = _run("pkgcache", [rscript(), "-e", _PKGCACHE_FETCH], env, run_dir)
    return ClientRun("pkgcache", run.ok, run.output)


def curl_fetch(url: str, netrc: Path, workdir: Path, *, via_curlrc: bool = False) -> ClientRun:
    """curl downloads the R index with the netrc named on its command line, or, with
    `via_curlrc`, named only in `~/.curlrc` while the request comes from a `--config` file: how
    renv runs curl, so that is how renv finds the netrc."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed: `apt-get install curl`")
    run_dir = fresh_dir(workdir, "curl")
    home = run_dir / "home"
    env = clean_env(home)
    out = run_dir / "PACKAGES"
    if via_curlrc:
        (home / ".curlrc").write_text(f'netrc-file = "{netrc}"\n', encoding="utf-8")
        request = run_dir / "request.config"
        request.write_text(
            f'url = "{url}"\noutput = "{out}"\nlocation\nfail\nsilent\nshow-error\n',
            encoding="utf-8",
        )
        args = [curl, "--config", str(request)]
    else:
        args = [curl, "--silent", "--show-error", "--fail", "--netrc-file", str(netrc)]
        args += ["-o", str(out), url]
    run = _run("curl", args, env, run_dir)
    ok = run.ok and out.is_file() and out.read_text().startswith("Package: ppmdemo")
    return ClientRun("curl", ok, run.output)


def versions() -> dict[str, str]:
    """The exact versions of the clients on this machine, for the README's table."""
    found: dict[str, str] = {}
    commands = {
        "pip": [sys.executable, "-m", "pip", "--version"],
        "curl": ["curl", "--version"],
        "R": ["R", "--version"],
    }
    try:
        import uv

        commands["uv"] = [str(uv.find_uv_bin()), "--version"]
    except ImportError:
        pass
    for name, command in commands.items():
        if shutil.which(command[0]) is None:
            found[name] = "not installed"
            continue
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = result.stdout.strip().splitlines()
        found[name] = lines[0] if lines else "unknown"
    if shutil.which("Rscript") is not None:
        for package in ("renv", "pkgcache"):
            code = f"cat(tryCatch(format(packageVersion({package!r})), error = function(e) ''))"
            env = {**os.environ, **_r_libs()}
            result = subprocess.run(
                ["Rscript", "-e", code], env=env, capture_output=True, text=True, check=False
            )
            found[package] = result.stdout.strip() or "not installed"
    return found
