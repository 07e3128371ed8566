"""Wall time of a 200-token apply per store type. Prints one line per figure.

    .venv/bin/python bench/store_apply.py [--tokens 200] [--stores file,command,vault,aws,github]

Each run: a fresh emulator on loopback, a spec of N repos:read tokens in one store, the plan
(list tokens, read store metadata), `apply_plan` with the default concurrency of 4 (create,
store, read back, verify), then the re-plan when nothing changed. The backends are the test
suite's: vault on a real OpenBao dev server, aws on moto's server, github on the GitHub fake;
`command` runs a small Python program per write.

Takes about 20 s at the default size (starting the servers included); `--tokens 20` about 5 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' servers and fakes

from scenario import apply_and_replan, emulator_in

from reconciler.desired import load_spec
from reconciler.stores.registry import StoreContext, open_stores

Backend = tuple[str, dict[str, str]]  # the store entry (YAML flow mapping), its environment

COMMAND = """\
import os, pathlib, sys
target = pathlib.Path(os.environ["BENCH_DIR"]) / os.environ["PPM_TOKENS_SECRET"]
target.write_bytes(sys.stdin.buffer.read())
"""


@contextmanager
def file_backend(workdir: Path) -> Iterator[Backend]:
    yield f"{{type: file, path: {workdir / 'secrets'}}}", {}


@contextmanager
def command_backend(workdir: Path) -> Iterator[Backend]:
    script = workdir / "store.py"
    script.write_text(COMMAND)
    (workdir / "values").mkdir()
    entry = (
        f'{{type: command, command: ["{sys.executable}", "{script}", "{{secret}}"], '
        f"state_dir: {workdir / 'state'}, env: [BENCH_DIR]}}"
    )
    yield entry, {"BENCH_DIR": str(workdir / "values"), "PATH": os.environ.get("PATH", "")}


@contextmanager
def vault_backend(workdir: Path) -> Iterator[Backend]:
    from tests.stores.openbao import new_mount, start_openbao

    server = start_openbao(workdir / "openbao")
    try:
        mount = new_mount(server)
        entry = f"{{type: vault, address: {server.url}, mount: {mount}, prefix: ppm/}}"
        yield entry, {"VAULT_TOKEN": server.root_token}
    finally:
        server.stop()


@contextmanager
def aws_backend(workdir: Path) -> Iterator[Backend]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        env = {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        }
        yield "{type: aws, region: eu-west-1, prefix: ppm/}", env
    finally:
        server.stop()


@contextmanager
def github_backend(workdir: Path) -> Iterator[Backend]:
    from tests.fakes.github import start_github_fake

    running = start_github_fake()
    try:
        running.fake.add_repository("acme/pipelines")
        token = running.fake.new_token({"acme/pipelines": "write"})
        env = {"GITHUB_TOKEN": token, "GITHUB_API_URL": running.url}
        yield "{type: github, repository: acme/pipelines}", env
    finally:
        running.stop()


BACKENDS: dict[str, Callable[[Path], AbstractContextManager[Backend]]] = {
    "file": file_backend,
    "command": command_backend,
    "vault": vault_backend,
    "aws": aws_backend,
    "github": github_backend,
}


def write_spec(path: Path, count: int, entry: str) -> Path:
    lines = [
        "version: 1",
        "namespace: bench",
        "defaults:",
        "  expires: 90d",
        "  store: remote",
        "stores:",
        f"  remote: {entry}",
        "tokens:",
    ]
    for index in range(count):
        lines += [
            f"  - name: t{index:04d}",
            f"    user: user{index}@example.com",
            f"    description: bench token {index}",
            "    scope: repos:read",
            "    resources: [pypi]",
            f"    secret: T{index:04d}",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


def bench_store(kind: str, count: int, workdir: Path) -> None:
    with emulator_in(workdir) as running, BACKENDS[kind](workdir) as (entry, env):
        spec_path = write_spec(workdir / "tokens.yaml", count, entry)
        spec = load_spec(spec_path, now=datetime.now(UTC))
        stores = open_stores(spec, StoreContext(spec_dir=workdir, env=env))
        try:
            applied = apply_and_replan(spec, stores, running)
        finally:
            for store in stores.values():
                close = getattr(store, "close", None)
                if close is not None:
                    close()
    if applied.report.failed or applied.changes_left:
        raise SystemExit(
            f"{kind}: {applied.report.failed} failed, {applied.changes_left} changes left"
        )
    elapsed = applied.apply_seconds
    print(f"{kind:<8} apply of {count} new tokens: {elapsed:7.2f} s ({count / elapsed:6.1f}/s)")
    print(f"{kind:<8} re-plan with nothing to do:  {applied.replan_seconds:7.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--stores", default=",".join(BACKENDS))
    args = parser.parse_args()
    for kind in args.stores.split(","):
        with tempfile.TemporaryDirectory(prefix=f"ppm-tokens-bench-{kind}-") as tmp:
            bench_store(kind, args.tokens, Path(tmp))


if __name__ == "__main__":
    main()
