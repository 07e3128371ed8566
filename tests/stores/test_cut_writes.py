"""A put cut between its value and its metadata, in each store kind, against the real thing (a
directory, a program, OpenBao, moto) or the GitHub fake: the metadata never names the old
token beside the new value, the intent written before the value says what the write was, the
store says which token its value is where it can read it, and `write_meta` settles the key.

The file store's own case (a failing rename) is in test_file_store.py; a GitHub token that may
write secrets but not variables, whose intent is refused before any secret, in
test_github_store.py."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import httpx
import pytest
from botocore.awsrequest import AWSResponse

from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.stores.aws import open_aws_store
from reconciler.stores.base import KeyState, PendingWrite, SecretPayload, SecretStore
from reconciler.stores.command import open_command_store
from reconciler.stores.github import open_github_store
from reconciler.stores.registry import StoreContext
from reconciler.stores.vault import open_vault_store
from tests.fakes.github import RunningGitHub, start_github_fake
from tests.stores.moto_server import REGION, Moto, moto, unique_prefix
from tests.stores.openbao import OpenBao, new_mount, openbao
from tests.stores.payloads import new_payload
from tests.stores.transport import Fault, RecordingTransport

__all__ = ["moto", "openbao"]  # fixtures

PROMISE = datetime(2027, 3, 4, 12, 0, tzinfo=UTC)


def rotation() -> tuple[SecretPayload, SecretPayload]:
    """The token a key holds, and its successor promising it a grace."""
    old = new_payload()
    new = new_payload()
    return old, replace(new, meta=replace(new.meta, retire_previous_after=PROMISE))


def settles(store: SecretStore, key: str, new: SecretPayload) -> None:
    """What is left to do after the cut: write the metadata alone."""
    store.write_meta(key, new.meta)
    assert store.read_meta(key) == new.meta
    assert store.read_states([key])[key] == KeyState(meta=new.meta)


def carries_metadata(request: httpx.Request) -> bool:
    """A Vault custom_metadata write, or GitHub variable write, of metadata (not an intent)."""
    body = request.content.decode()
    return request.method in ("POST", "PATCH") and "token_guid" in body and "pending_" not in body


def test_vault_unreachable_after_the_value(openbao: OpenBao, tmp_path: Path) -> None:
    mount = new_mount(openbao)
    transport = RecordingTransport()
    config = StoreConfig(
        "vault", "vault", MappingProxyType({"address": openbao.url, "mount": mount})
    )
    context = StoreContext(
        spec_dir=tmp_path,
        env={"VAULT_TOKEN": openbao.root_token},
        http_transport=transport,
        sleep=lambda _seconds: None,
    )
    store = open_vault_store(config, context)
    old, new = rotation()
    store.put("ds-read", old)
    transport.faults.append(
        Fault(lambda r: "/metadata/" in r.url.path and carries_metadata(r), 403, times=1)
    )

    with pytest.raises(StoreError, match="metadata write"):
        store.put("ds-read", new)

    assert store.read_meta("ds-read") is None  # never the old token's beside the new value
    state = store.read_states(["ds-read"])["ds-read"]
    assert state.pending == PendingWrite(
        new.meta.token_guid, (old.meta.token_guid,), PROMISE, "raw"
    )
    assert state.value is not None and state.value.token_guid == new.meta.token_guid
    assert state.value.sha256 == new.meta.value_sha256
    settles(store, "ds-read", new)
    store.close()  # type: ignore[attr-defined]


def test_secrets_manager_takes_the_metadata_before_the_value(moto: Moto, tmp_path: Path) -> None:
    """Tags cannot be swapped in one call, so the new token's metadata goes before the value,
    and counts once its version is current: after PutSecretValue there is nothing left to cut.
    A cut before it leaves the intent beside the old value, which names the old token."""
    from botocore.exceptions import EndpointConnectionError

    config = StoreConfig(
        "aws", "aws", MappingProxyType({"region": REGION, "prefix": unique_prefix()})
    )
    store = open_aws_store(config, StoreContext(spec_dir=tmp_path, env=moto.env()))
    old, new = rotation()
    store.put("ds-read", old)

    def refuse(request: Any, **_: Any) -> AWSResponse:
        body = b'{"__type": "AccessDeniedException", "message": "injected by the test"}'
        return AWSResponse(request.url, 400, {}, _Raw(body))

    store.client.meta.events.register("before-send.*.PutSecretValue", refuse)
    with pytest.raises(StoreError, match="AccessDenied"):
        store.put("ds-read", new)
    store.client.meta.events.unregister("before-send.*.PutSecretValue", refuse)
    state = store.read_states(["ds-read"])["ds-read"]
    assert state.pending == PendingWrite(new.meta.token_guid, (), PROMISE, "raw")
    assert state.value is not None and state.value.token_guid == old.meta.token_guid
    assert store.restore_previous("ds-read", new.meta.token_guid)
    assert store.read_meta("ds-read") == old.meta

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=moto.url)

    store.client.meta.events.register("after-call.*.PutSecretValue", unreachable)
    with pytest.raises(StoreError, match="Could not connect"):
        store.put("ds-read", new)
    store.client.meta.events.unregister("after-call.*.PutSecretValue", unreachable)
    assert store.read_states(["ds-read"])["ds-read"] == KeyState(meta=new.meta)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def test_github_unreachable_after_the_secret(tmp_path: Path) -> None:
    running: RunningGitHub = start_github_fake()
    try:
        running.fake.add_repository("acme/pipelines")
        token = running.fake.new_token({"acme/pipelines": "write"})
        transport = RecordingTransport()
        config = StoreConfig("ci", "github", MappingProxyType({"repository": "acme/pipelines"}))
        context = StoreContext(
            spec_dir=tmp_path,
            env={"GITHUB_TOKEN": token, "GITHUB_API_URL": running.url},
            http_transport=transport,
            sleep=lambda _seconds: None,
        )
        store = open_github_store(config, context)
        old, new = rotation()
        store.put("PPM_TOKEN", old)
        transport.faults.append(
            Fault(lambda r: "/variables" in r.url.path and carries_metadata(r), 403, times=1)
        )

        with pytest.raises(StoreError, match="writing variable"):
            store.put("PPM_TOKEN", new)

        assert running.fake.secret_value("repo:acme/pipelines", "PPM_TOKEN") == (
            new.payload.reveal()
        )
        assert store.read_meta("PPM_TOKEN") is None
        state = store.read_states(["PPM_TOKEN"])["PPM_TOKEN"]
        # Secrets are write-only: the intent is all there is, and either token may be held.
        assert state.value is None
        assert state.unsure == (new.meta.token_guid, old.meta.token_guid)
        assert state.pending is not None and state.pending.retire_previous_after == PROMISE
        assert store.restore_previous("PPM_TOKEN", new.meta.token_guid) is False
        settles(store, "PPM_TOKEN", new)
        store.close()  # type: ignore[attr-defined]
    finally:
        running.stop()


# Stores the value, and with it the metadata the program keeps (as a real backend would);
# then, when told, hangs before it exits: apply cannot know whether it finished.
PROGRAM = """\
import json, os, pathlib, sys, time
root = pathlib.Path(os.environ["STORE_DIR"])
key = os.environ["PPM_TOKENS_SECRET"].replace("/", "_")
if os.environ["PPM_TOKENS_ACTION"] == "read-meta":
    kept = root / (key + ".json")
    print(kept.read_text() if kept.exists() else "")
    sys.exit(0)
root.mkdir(parents=True, exist_ok=True)
(root / key).write_bytes(sys.stdin.buffer.read())
meta = {k.removeprefix("PPM_TOKENS_").lower(): v for k, v in os.environ.items()
        if k.startswith("PPM_TOKENS_") and k not in ("PPM_TOKENS_ACTION", "PPM_TOKENS_SECRET")}
meta["token_guid"] = meta.pop("guid")
(root / (key + ".json")).write_text(json.dumps(meta))
if (root / "hang").exists():
    time.sleep(30)
"""


@pytest.mark.parametrize("reads", [True, False], ids=["read_command", "no-read_command"])
def test_a_command_that_stored_the_value_and_did_not_finish(tmp_path: Path, reads: bool) -> None:
    script = tmp_path / "store.py"
    script.write_text(textwrap.dedent(PROGRAM))
    values = tmp_path / "values"
    argv = [sys.executable, str(script)]
    options: dict[str, Any] = {
        "command": argv,
        "state_dir": str(tmp_path / "state"),
        "timeout": 1,
        "env": ["STORE_DIR"],  # beside the allow-list a program gets
    }
    if reads:
        options["read_command"] = argv
    context = StoreContext(
        spec_dir=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "STORE_DIR": str(values)},
        run_read_commands=True,
    )
    store = open_command_store(StoreConfig("op", "command", MappingProxyType(options)), context)
    old, new = rotation()
    store.put("ds-read", old)
    (values / "hang").write_text("")

    with pytest.raises(StoreError, match="did not finish"):
        store.put("ds-read", new)

    state = store.read_states(["ds-read"])["ds-read"]
    assert state.pending is not None and state.pending.candidates == (
        new.meta.token_guid,
        old.meta.token_guid,
    )
    if reads:
        # The program says which token it holds: that settles it.
        assert store.capabilities.tells_held
        assert state.value is not None and state.value.token_guid == new.meta.token_guid
        assert state.unsure == ()
    else:
        assert not store.capabilities.tells_held
        assert state.value is None and state.unsure == state.pending.candidates
    assert json.loads((values / "ds-read.json").read_text())["token_guid"] == new.meta.token_guid
    store.write_meta("ds-read", new.meta)
    settled = store.read_states(["ds-read"])["ds-read"]
    assert settled.meta is not None and settled.meta.token_guid == new.meta.token_guid
    assert settled.pending is None and settled.unsure == ()
    if reads:
        # A fresh runner's empty state directory has nothing to say: the program's report
        # settles the key, so nothing is recorded on every run.
        (tmp_path / "state" / "ds-read.meta.json").unlink()
        fresh = store.read_states(["ds-read"])["ds-read"]
        assert fresh.meta is not None and fresh.meta.token_guid == new.meta.token_guid
