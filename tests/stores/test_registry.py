from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

import pytest

from reconciler.desired.model import (
    Policy,
    Rotation,
    Scope,
    ServerConfig,
    Spec,
    StoreConfig,
    TokenSpec,
)
from reconciler.durations import Expiry
from reconciler.errors import StoreError, UsageError
from reconciler.stores.command import CommandStore
from reconciler.stores.file import FileStore
from reconciler.stores.registry import STORE_TYPES, StoreContext, open_store, open_stores


def token_spec(name: str, store: str) -> TokenSpec:
    return TokenSpec(
        name=name,
        user="analyst@example.com",
        description="Read access",
        scope=Scope.REPOS_READ,
        resources=("cran",),
        expires=Expiry(lifetime=timedelta(days=90)),
        rotation=Rotation(),
        store=store,
        secret=name,
    )


def spec_with(stores: dict[str, StoreConfig], *token_stores: str) -> Spec:
    return Spec(
        path="tokens.yaml",
        sha256="0" * 64,
        version=1,
        namespace="data-platform",
        server=ServerConfig(url="https://ppm.example.com"),
        stores=MappingProxyType(stores),
        policy=Policy(),
        tokens=tuple(token_spec(f"t{i}", s) for i, s in enumerate(token_stores)),
    )


def test_every_schema_store_type_has_a_registry_entry() -> None:
    assert sorted(STORE_TYPES) == ["aws", "command", "file", "github", "vault"]


def test_an_unknown_type_is_a_usage_error(tmp_path: Path) -> None:
    config = StoreConfig("keys", "keyring", MappingProxyType({}))
    with pytest.raises(UsageError) as caught:
        open_store(config, StoreContext(spec_dir=tmp_path, env={}))
    assert str(caught.value) == (
        "store type 'keyring' (store 'keys') is not available in this version; "
        "available types: aws, command, file, github, vault"
    )


def test_open_stores_opens_only_the_stores_tokens_use(tmp_path: Path) -> None:
    stores = {
        "local": StoreConfig("local", "file", MappingProxyType({"path": str(tmp_path / "s")})),
        "op": StoreConfig("op", "command", MappingProxyType({"command": ["op", "{secret}"]})),
        "vault": StoreConfig("vault", "vault"),  # declared, unused: never opened
    }
    spec = spec_with(stores, "local", "op", "local")
    context = StoreContext(spec_dir=tmp_path, env={"HOME": str(tmp_path)})

    opened = open_stores(spec, context)

    assert list(opened) == ["local", "op"]
    assert isinstance(opened["local"], FileStore) and isinstance(opened["op"], CommandStore)


def test_the_injected_runner_is_used(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, b"", b"")

    options = {"command": ["op", "{secret}"], "read_command": ["op", "read", "{secret}"]}
    config = StoreConfig("op", "command", MappingProxyType(options))
    context = StoreContext(
        spec_dir=tmp_path, env={"HOME": str(tmp_path)}, run=run, run_read_commands=True
    )
    store = open_store(config, context)

    assert store.read_meta("ds-read") is None
    assert calls == [["op", "read", "ds-read"]]


def test_opening_a_file_store_in_a_work_tree_fails(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, capture_output=True)
    stores = {"local": StoreConfig("local", "file", MappingProxyType({"path": "secrets"}))}

    with pytest.raises(StoreError, match="inside the git work tree"):
        open_stores(spec_with(stores, "local"), StoreContext(spec_dir=tmp_path, env={}))


@pytest.mark.parametrize(
    ("store", "module", "extra"),
    [
        (
            StoreConfig("aws", "aws", MappingProxyType({"region": "eu-west-1", "prefix": "p/"})),
            "boto3",
            "aws",
        ),
        (
            StoreConfig("ci", "github", MappingProxyType({"repository": "acme/pipelines"})),
            "nacl.public",
            "github",
        ),
    ],
)
def test_a_missing_optional_sdk_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: StoreConfig, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # as if the extra were not installed
    context = StoreContext(spec_dir=tmp_path, env={"GITHUB_TOKEN": "t"})

    with pytest.raises(StoreError, match=rf"install ppm-token-reconciler\[{extra}\]"):
        open_store(store, context)
