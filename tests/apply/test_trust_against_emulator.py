"""The apply path's promises proven over real HTTP against the emulator: a new token is proven
before any store sees it, a write that cannot be confirmed is undone (or its token kept alive),
creates without a usable answer are looked for and made again, and no store is ever left
holding a revoked value."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from types import MappingProxyType

import pytest

from reconciler.apply import ActionResult, ApplyOptions, apply_plan
from reconciler.desired.model import StoreConfig, TokenSpec
from reconciler.emulator.control import EmulatorControl
from reconciler.emulator.server import RunningEmulator
from reconciler.jwtinfo import token_guid
from reconciler.ownership import stored_description
from reconciler.plan.model import Action, ActionKind
from reconciler.server.http import HttpDriver
from reconciler.stores.base import SecretMeta, SecretStore
from reconciler.stores.command import open_command_store
from reconciler.stores.file import FileStore
from reconciler.stores.registry import StoreContext

from .fakes import NAMESPACE, make_plan, make_spec, token_spec

FAST = ApplyOptions(verify_backoff=0.001, store_backoff=0.001, create_backoff=0.001)


class Harness:
    def __init__(
        self, emulator: RunningEmulator, control: EmulatorControl, driver: HttpDriver, root: Path
    ) -> None:
        self.emulator, self.control, self.driver, self.root = emulator, control, driver, root
        self.token = token_spec("ds-read")

    def act(self, kind: ActionKind, store: SecretStore, guid: str | None = None) -> ActionResult:
        token: TokenSpec = self.token
        if store.name != "local":
            token = token_spec("ds-read", store=store.name)
        revoke = kind in (ActionKind.REPLACE, ActionKind.REPAIR)
        action = Action(kind, "ds-read", "test", token, guid=guid, revoke_replaced=revoke)
        spec = make_spec((token,), secrets_dir=str(self.root))
        report = apply_plan(
            make_plan(action),
            spec=spec,
            driver=self.driver,
            stores={store.name: store},
            now=self.control.now,
            options=FAST,
            sleep=lambda _seconds: None,
            server_url=self.emulator.url,
        )
        (result,) = report.results
        return result

    def current(self, store: FileStore) -> str:
        """A first token for ds-read, made and stored by apply itself."""
        result = self.act(ActionKind.CREATE, store)
        assert result.ok and result.new_guid, result.error
        return result.new_guid

    def active(self) -> set[str]:
        now = self.control.now()
        mine = stored_description("Read access", NAMESPACE, "ds-read")
        return {
            t.guid for t in self.driver.list_tokens() if t.description == mine and t.is_active(now)
        }

    def assert_every_stored_value_is_active(self, *directories: Path) -> None:
        """No store is left holding a revoked value: every token value found in a store's
        files is a token the server says is active."""
        active = self.active()
        found = 0
        for directory in directories:
            for path in directory.rglob("*"):
                if not path.is_file() or path.name.endswith(".json"):
                    continue
                if path.name == ".ppm-tokens-store":
                    continue  # the store's marker: no value
                guid = token_guid(path.read_text().strip())
                assert guid is not None, path
                assert guid in active, f"{path} holds the value of {guid}, which is not active"
                found += 1
        assert found, "no stored value was checked"


@pytest.fixture
def harness(
    emulator: RunningEmulator,
    emulator_control: EmulatorControl,
    http_driver: HttpDriver,
    tmp_path: Path,
) -> Harness:
    return Harness(emulator, emulator_control, http_driver, tmp_path / "secrets")


def test_an_unproven_token_is_revoked_before_any_store_sees_it(harness: Harness) -> None:
    store = FileStore("local", harness.root)
    old = harness.current(store)
    before = {p.name: p.read_bytes() for p in (harness.root / "ppm").iterdir()}
    # Every repository read fails: the new token cannot be proven.
    harness.control.set_faults(error_rate=1.0, paths="/latest/")

    result = harness.act(ActionKind.REPLACE, store, old)
    harness.control.clear_faults()

    assert not result.ok and result.new_guid is not None
    assert result.revoked == (result.new_guid,)
    assert "proving the new token for ds-read failed" in (result.error or "")
    assert {p.name: p.read_bytes() for p in (harness.root / "ppm").iterdir()} == before
    assert harness.active() == {old}
    harness.assert_every_stored_value_is_active(harness.root)


class ReadBackFails(FileStore):
    """Takes every write, then reads back nothing: a store whose confirmation fails."""

    def read_meta(self, key: str) -> SecretMeta | None:
        return None


def test_a_write_that_cannot_be_confirmed_is_undone_then_the_new_token_revoked(
    harness: Harness,
) -> None:
    old = harness.current(FileStore("local", harness.root))
    old_value = (harness.root / "ppm" / "ds-read").read_text()

    result = harness.act(ActionKind.REPLACE, ReadBackFails("local", harness.root), old)

    assert not result.ok and result.revoked == (result.new_guid,)
    assert "holds what it held before under 'ppm/ds-read'" in (result.error or "")
    assert harness.active() == {old}
    assert (harness.root / "ppm" / "ds-read").read_text() == old_value
    meta = FileStore("local", harness.root).read_meta("ppm/ds-read")
    assert meta is not None and meta.token_guid == old
    assert sorted(p.name for p in (harness.root / "ppm").iterdir()) == [
        "ds-read",
        "ds-read.meta.json",
    ]
    harness.assert_every_stored_value_is_active(harness.root)


def test_a_first_write_that_cannot_be_confirmed_leaves_the_key_empty(harness: Harness) -> None:
    result = harness.act(ActionKind.CREATE, ReadBackFails("local", harness.root))

    assert not result.ok and result.revoked == (result.new_guid,)
    assert harness.active() == set()
    assert not (harness.root / "ppm" / "ds-read").exists()


LYING_STORE = """
import os, sys
target = os.path.join(os.environ["VAULT_DIR"], sys.argv[1].replace("/", "_"))
if os.environ["PPM_TOKENS_ACTION"] == "put":
    with open(target, "w") as handle:
        handle.write(sys.stdin.read())
# read-meta: claims to hold nothing, whatever it holds
"""


def test_a_write_only_store_that_cannot_confirm_keeps_the_new_token_alive(
    harness: Harness, tmp_path: Path
) -> None:
    """The command ran and may have stored the value: revoking it would leave consumers with a
    dead token, so the new token stays and the result says what the next run does."""
    script = tmp_path / "lying.py"
    script.write_text(LYING_STORE)
    vault = tmp_path / "vault"
    vault.mkdir()
    argv = [sys.executable, str(script), "{secret}"]
    options = {
        "command": argv,
        "read_command": argv,
        "state_dir": str(tmp_path / "state"),
        "env": ["VAULT_DIR"],
    }
    context = StoreContext(
        spec_dir=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "VAULT_DIR": str(vault)},
        run_read_commands=True,
    )
    store = open_command_store(StoreConfig("op", "command", MappingProxyType(options)), context)
    old = harness.current(FileStore("local", harness.root))

    result = harness.act(ActionKind.REPLACE, store, old)

    new = result.new_guid
    assert not result.ok and new is not None and result.revoked == ()
    assert harness.active() == {old, new}
    error = result.error or ""
    assert f"store 'op' may hold the new token {new} under 'ppm/ds-read'" in error
    assert f"so {new} stays active, and so does the token it replaces ({old})" in error
    assert "The next run finds out which token the store hands out" in error
    harness.assert_every_stored_value_is_active(vault, harness.root)


@pytest.mark.parametrize("status", [503, 429])
def test_a_create_refused_before_anything_was_made_is_made_again(
    harness: Harness, status: int
) -> None:
    store = FileStore("local", harness.root)
    harness.control.set_faults(refuse_creates=2, create_failure_status=status)
    harness.control.clear_log()

    result = harness.act(ActionKind.CREATE, store)

    assert result.ok and result.revoked == (), result.error
    posts = [e["status"] for e in harness.control.request_log() if e["method"] == "POST"]
    assert posts[:3] == [status, status, 201]
    assert harness.active() == {result.new_guid}
    harness.assert_every_stored_value_is_active(harness.root)


@pytest.mark.parametrize("status", [502, 429])
def test_a_create_made_but_answered_with_an_error_is_revoked_and_made_again(
    harness: Harness, status: int
) -> None:
    store = FileStore("local", harness.root)
    old = harness.current(store)
    harness.control.set_faults(fail_after_create=1, create_failure_status=status)

    result = harness.act(ActionKind.ROTATE, store, old)

    assert result.ok, result.error
    (orphan,) = result.revoked
    assert orphan not in (old, result.new_guid)
    assert harness.active() == {old, result.new_guid}
    meta = FileStore("local", harness.root).read_meta("ppm/ds-read")
    assert meta is not None and meta.token_guid == result.new_guid
    harness.assert_every_stored_value_is_active(harness.root)
