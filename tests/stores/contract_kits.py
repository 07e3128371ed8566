"""One kit per store type for the contract suite: the store, the same store refused by its
backend, and a way to make the backend fail once. Each kit uses the real thing where one runs
here (files, a program, OpenBao, moto) and the GitHub fake otherwise."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from reconciler.desired.model import StoreConfig
from reconciler.stores.aws import open_aws_store
from reconciler.stores.base import SecretStore
from reconciler.stores.command import open_command_store
from reconciler.stores.file import FileStore
from reconciler.stores.github import open_github_store
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import open_vault_store
from tests.fakes.github import RunningGitHub
from tests.stores.aws_faults import fail_next
from tests.stores.moto_server import REGION, Moto, unique_prefix
from tests.stores.openbao import OpenBao, new_mount, prefix_policy, token_with_policy
from tests.stores.transport import Fault, RecordingTransport


@dataclass
class Kit:
    store: SecretStore
    denied: Callable[[], AbstractContextManager[SecretStore]]  # refused by its backend
    fail_once: Callable[[], None]  # the next write meets one transient failure
    cleanup: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for step in self.cleanup:
            step()


def _closer(store: Any) -> Callable[[], None]:
    return lambda: store.close() if hasattr(store, "close") else None


def file_kit(tmp_path: Path) -> Kit:
    failures = [0]

    def flaky_replace(source: str, target: str) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OSError(5, "Input/output error")
        os.replace(source, target)

    store = FileStore("local", tmp_path / "secrets", replace=flaky_replace)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    def fail_once() -> None:
        failures[0] = 1

    return Kit(store, lambda: nullcontext(FileStore("local", blocker / "secrets")), fail_once)


COMMAND_SCRIPT = """\
import os, pathlib, sys
root = pathlib.Path(os.environ["STORE_DIR"])
flag = pathlib.Path(os.environ["FAIL_FLAG"])
if os.environ.get("DENY"):
    sys.exit("permission denied for " + os.environ["PPM_TOKENS_SECRET"])
if flag.exists():
    flag.unlink()
    sys.exit("backend unavailable, try again")
target = root / os.environ["PPM_TOKENS_SECRET"]
if os.environ["PPM_TOKENS_ACTION"] == "delete":
    target.unlink(missing_ok=True)
else:
    root.mkdir(parents=True, exist_ok=True)
    target.write_bytes(sys.stdin.buffer.read())
"""


def command_kit(tmp_path: Path) -> Kit:
    script = tmp_path / "store.py"
    script.write_text(textwrap.dedent(COMMAND_SCRIPT))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    flag = tmp_path / "fail-once"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "STORE_DIR": str(tmp_path / "values"),
        "FAIL_FLAG": str(flag),
    }
    options = {
        "command": [sys.executable, str(script), "{secret}"],
        "delete_command": [sys.executable, str(script), "{secret}"],
        "state_dir": str(tmp_path / "state"),
        "env": ["STORE_DIR", "FAIL_FLAG", "DENY"],
    }

    def open_with(extra: dict[str, str]) -> SecretStore:
        config = StoreConfig("op", "command", MappingProxyType(options))
        return open_command_store(config, StoreContext(spec_dir=tmp_path, env={**env, **extra}))

    return Kit(
        open_with({}), lambda: nullcontext(open_with({"DENY": "1"})), lambda: flag.write_text("")
    )


def vault_kit(tmp_path: Path, server: OpenBao) -> Kit:
    mount = new_mount(server)
    transport = RecordingTransport()
    token = token_with_policy(server, f"contract-{mount}", prefix_policy(mount, "ppm/"))

    def open_with(prefix: str, with_transport: RecordingTransport | None) -> SecretStore:
        config = StoreConfig(
            "vault",
            "vault",
            MappingProxyType({"address": server.url, "mount": mount, "prefix": prefix}),
        )
        context = StoreContext(
            spec_dir=tmp_path,
            env={"VAULT_TOKEN": token},
            http_transport=with_transport,
            sleep=lambda _: None,
        )
        return open_vault_store(config, context)

    store = open_with("ppm/", transport)
    kit = Kit(
        store,
        lambda: nullcontext(_track(kit, open_with("outside/", None))),
        lambda: transport.faults.append(
            Fault(lambda r: r.method == "POST" and "/data/" in r.url.path, 503)
        ),
    )
    kit.cleanup.append(_closer(store))
    return kit


def _track(kit: Kit, store: SecretStore) -> SecretStore:
    kit.cleanup.append(_closer(store))
    return store


def aws_kit(tmp_path: Path, moto: Moto) -> Kit:
    prefix = unique_prefix()

    def open_with(env: dict[str, str]) -> SecretStore:
        config = StoreConfig("aws", "aws", MappingProxyType({"region": REGION, "prefix": prefix}))
        return open_aws_store(config, StoreContext(spec_dir=tmp_path, env=env))

    store = open_with(moto.env())
    read_only = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["secretsmanager:Describe*", "secretsmanager:List*"],
                "Resource": "*",
            }
        ],
    }

    @contextmanager
    def denied() -> Iterator[SecretStore]:
        keys = moto.user_with_policy(read_only)
        env = moto.env(AWS_ACCESS_KEY_ID=keys["id"], AWS_SECRET_ACCESS_KEY=keys["secret"])
        with moto.iam_enforced():
            yield open_with(env)

    def fail_once() -> None:
        client = store.client  # type: ignore[attr-defined]
        for operation in ("CreateSecret", "PutSecretValue"):
            fail_next(client, operation, status=500)

    return Kit(store, denied, fail_once)


def github_kit(tmp_path: Path, github: RunningGitHub) -> Kit:
    github.fake.add_repository("acme/pipelines")

    def open_with(grant: str) -> SecretStore:
        token = github.fake.new_token({"acme/pipelines": grant})
        config = StoreConfig("ci", "github", MappingProxyType({"repository": "acme/pipelines"}))
        context = StoreContext(
            spec_dir=tmp_path,
            env={"GITHUB_TOKEN": token, "GITHUB_API_URL": github.url},
            sleep=lambda _: None,
        )
        return open_github_store(config, context)

    store = open_with("write")
    kit = Kit(
        store,
        lambda: nullcontext(_track(kit, open_with("read"))),
        lambda: github.fake.inject(502),
    )
    kit.cleanup.append(_closer(store))
    return kit


def iterate(kit: Kit) -> Iterator[Kit]:
    try:
        yield kit
    finally:
        kit.close()
