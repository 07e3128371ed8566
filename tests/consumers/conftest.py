"""One emulator and one `ppm-tokens apply` per test module, shared by every client test in it.

The spec declares three tokens, one per format, all written by a file store:
- `analysts` (netrc, R and Python repositories): pip, uv, curl, R and pkgcache (pak) read the
  file directly, and curl and renv also when only `~/.curlrc` names it;
- `ci` (raw, Python repository): a CI job maps it to uv's index credential variables;
- `cluster` (json, both repositories): what the External Secrets Operator extracts fields from.

After the module's tests, every CLI output, every client output, every file the tests wrote
(outside the store and the consumers' copies of it) and every file of the repository's work tree
are scanned for the token values the emulator issued.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.pip import pip_download
from reconciler.emulator.server import RunningEmulator, start_emulator
from reconciler.server.endpoints import BASIC_USER
from tests.consumers import clients
from tests.consumers.clients import ClientRun
from tests.e2e.conftest import Cli, Run, scan_for_values, work_tree_files, write_spec

TOKENS = """\
- name: analysts
  user: analysts@example.com
  description: R and Python packages on the analysts' machines
  scope: repos:read
  resources: [cran, pypi]
  secret: analysts.netrc
  format: netrc
- name: ci
  user: ci
  description: Python packages for CI jobs
  scope: repos:read
  resources: [pypi]
  secret: ci-token
  format: raw
- name: cluster
  user: platform@example.com
  description: Workloads on Kubernetes, through the External Secrets Operator
  scope: repos:read
  resources: [cran, pypi]
  secret: cluster.json
  format: json
"""
NAMESPACE = "consumers"
NETRC, RAW, JSON = "analysts.netrc", "ci-token", "cluster.json"
# Which token each way of consuming one reads, by the store key of its secret.
CLIENT_SECRETS = {
    "pip": NETRC,
    "uv": NETRC,
    "curl": NETRC,
    "curlrc": NETRC,
    "R": NETRC,
    "renv": NETRC,
    "pkgcache": NETRC,
    "uv-raw": RAW,
    "uv-json": JSON,
}


def client_params() -> list[object]:
    """Every client, the optional R packages marked so that they are collected only when asked
    for (see clients.R_LIBS_VARIABLE)."""
    return [
        pytest.param(c, marks=pytest.mark.optional_r) if c in clients.OPTIONAL_R_PACKAGES else c
        for c in CLIENT_SECRETS
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Leave out (not skip) the renv and pkgcache tests unless their library is named."""
    if clients.optional_r_packages_enabled():
        return
    left_out = [item for item in items if item.get_closest_marker("optional_r")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("optional_r")]


# Directories whose files hold token values on purpose: the store, and consumers' copies of it.
_HOLDERS = ("secrets", "consumer")


@dataclass
class Deployment:
    """An emulator with the spec applied, and the clients that consume what it stored."""

    emulator: RunningEmulator
    cli: Cli
    control: EmulatorControl
    spec: Path
    client_runs: list[ClientRun] = field(default_factory=list)

    @property
    def store(self) -> Path:
        return self.cli.workdir / "secrets"

    @property
    def runs_dir(self) -> Path:
        return self.cli.workdir / "clients"

    def apply(self) -> Run:
        now = self.control.now().isoformat()
        return self.cli("apply", "-f", str(self.spec), "--auto-approve", "--now", now)

    def guid(self, key: str, holder: Path | None = None) -> str:
        meta = json.loads(((holder or self.store) / f"{key}.meta.json").read_text())
        return str(meta["token_guid"])

    def now(self) -> datetime:
        return self.control.now()

    def copy_for_consumer(self, name: str) -> Path:
        """What a consumer holds after syncing from the store: a copy that does not change
        when the store does."""
        target = self.cli.workdir / "consumer" / name
        shutil.copytree(self.store, target)
        return target

    def consume(self, client: str, holder: Path | None = None) -> ClientRun:
        """`client` fetches packages with the credentials in `holder` (default: the store)."""
        holder = holder or self.store
        url = self.emulator.url
        netrc = holder / NETRC
        workdir = self.runs_dir
        if client == "pip":
            dest = clients.fresh_dir(workdir, "pip")
            env = clients.clean_env(dest / "home")
            ok = pip_download(f"{url}/pypi/latest/simple/", dest, env=env, netrc=netrc)
            run = ClientRun("pip", ok, "")
        elif client == "uv":
            run = clients.uv_install(f"{url}/pypi/latest/simple/", workdir, netrc=netrc)
        elif client == "curl":
            run = clients.curl_fetch(f"{url}/cran/latest/src/contrib/PACKAGES", netrc, workdir)
        elif client == "curlrc":
            run = clients.curl_fetch(
                f"{url}/cran/latest/src/contrib/PACKAGES", netrc, workdir, via_curlrc=True
            )
        elif client == "R":
            run = clients.r_install(f"{url}/cran/latest", netrc, workdir)
        elif client == "renv":
            clients.require_r_package("renv", workdir)
            run = clients.renv_install(f"{url}/cran/latest", netrc, workdir)
        elif client == "pkgcache":
            clients.require_r_package("pkgcache", workdir)
            # pak and pkgcache look a password up only for a user name in the URL.
            user_url = url.replace("://", f"://{BASIC_USER}@", 1)
            run = clients.pkgcache_fetch(f"{user_url}/cran/latest", netrc, workdir)
        elif client == "uv-raw":
            value = (holder / RAW).read_text()
            run = clients.uv_install(f"{url}/pypi/latest/simple/", workdir, index_password=value)
        elif client == "uv-json":
            document = json.loads((holder / JSON).read_text())
            run = clients.uv_install(
                f"{document['server']}/pypi/latest/simple/",
                workdir,
                index_password=document["token"],
            )
        else:  # pragma: no cover - a typo in a test
            raise ValueError(client)
        self.client_runs.append(run)
        return run

    def repository_requests(self) -> list[tuple[int, str | None]]:
        """(status, token GUID) of every repository request since the log was last cleared."""
        return [
            (int(entry["status"]), entry["actor"])
            for entry in self.control.request_log()
            if not str(entry["path"]).startswith("/__")
        ]

    def issued(self) -> list[str]:
        return self.control.issued_values()

    def shown(self, run: ClientRun) -> str:
        """A client's output for an assertion message, with every token value masked."""
        text = run.output
        for value in self.issued():
            text = text.replace(value, "<token>")
        return f"{run.client} said:\n{text[-3000:]}"


def _scan(deployment: Deployment) -> None:
    admin = deployment.emulator.admin_token()
    values: Sequence[str] = deployment.issued()
    texts = {f"stdout of {r.args}": r.stdout for r in deployment.cli.runs}
    texts.update({f"stderr of {r.args}": r.stderr for r in deployment.cli.runs})
    texts.update(
        {f"output of {r.client} #{i}": r.output for i, r in enumerate(deployment.client_runs)}
    )
    workdir = deployment.cli.workdir
    for path in workdir.rglob("*"):
        holder = set(path.relative_to(workdir).parts) & set(_HOLDERS)
        # Symlinks are skipped: a venv's python points at the interpreter, outside the tests.
        if path.is_file() and not path.is_symlink() and not holder:
            texts[str(path)] = path.read_text(errors="replace")
    for path in work_tree_files():
        if path.is_file() and path.stat().st_size < 5_000_000:
            texts[str(path)] = path.read_text(errors="replace")
    leaks = scan_for_values([*values, admin], texts)
    assert not leaks, f"token values leaked into: {sorted(set(leaks))}"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("consumers")
    state = root / "emulator-state"
    emulator = start_emulator(
        db_path=state / "emulator.sqlite3", admin_token_file=state / "admin.token"
    )
    try:
        workdir = root / "work"
        (workdir / "home").mkdir(parents=True)
        cli = Cli(emulator, workdir)
        spec = write_spec(workdir / "tokens.yaml", TOKENS, namespace=NAMESPACE)
        with EmulatorControl(emulator.url, emulator.admin_token()) as control:
            deployed = Deployment(emulator, cli, control, spec)
            first = deployed.apply()
            assert first.code == 0, first.stderr
            _VERSIONS_WANTED.append(True)
            yield deployed
            _scan(deployed)
    finally:
        emulator.stop()


_VERSIONS_WANTED: list[bool] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The client versions these tests ran, for the README's client-by-format table."""
    if not _VERSIONS_WANTED:
        return
    terminalreporter.section("consumer clients tested")
    for name, version in clients.versions().items():
        terminalreporter.write_line(f"{name}: {version}")
