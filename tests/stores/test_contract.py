"""One contract, every store: the same scenarios against file, command, vault (OpenBao), aws
(moto) and github (the fake). What a store cannot do, it must say through its capabilities."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from tests.fakes.github import RunningGitHub, start_github_fake
from tests.stores import contract_kits
from tests.stores.contract_kits import Kit
from tests.stores.moto_server import moto
from tests.stores.openbao import openbao
from tests.stores.payloads import new_payload

__all__ = ["moto", "openbao"]  # fixtures

KEY = "PPM_DS_READ"  # valid in every store (GitHub wants upper case)
STORES = ["file", "command", "vault", "aws", "github"]


@pytest.fixture(scope="module")
def github_server() -> Iterator[RunningGitHub]:
    running = start_github_fake()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(params=STORES)
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Kit]:
    kind = request.param
    if kind == "file":
        made = contract_kits.file_kit(tmp_path)
    elif kind == "command":
        made = contract_kits.command_kit(tmp_path)
    elif kind == "vault":
        made = contract_kits.vault_kit(tmp_path, request.getfixturevalue("openbao"))
    elif kind == "aws":
        made = contract_kits.aws_kit(tmp_path, request.getfixturevalue("moto"))
    else:
        made = contract_kits.github_kit(tmp_path, request.getfixturevalue("github_server"))
    yield from contract_kits.iterate(made)


def test_put_then_metadata_and_value_hash_read_back(kit: Kit) -> None:
    payload = new_payload()

    kit.store.put(KEY, payload)

    assert kit.store.read_meta(KEY) == payload.meta
    assert kit.store.read_meta_many([KEY]) == {KEY: payload.meta}
    expected_hash = payload.payload.sha256() if kit.store.capabilities.readable_values else None
    assert kit.store.read_value_hash(KEY) == expected_hash


def test_overwrite_with_another_token(kit: Kit) -> None:
    old, new = new_payload(), new_payload()
    kit.store.put(KEY, old)
    kit.store.commit(KEY, old.meta.token_guid)

    kit.store.put(KEY, new)
    kit.store.commit(KEY, new.meta.token_guid)

    assert kit.store.read_meta(KEY) == new.meta
    if kit.store.capabilities.readable_values:
        assert kit.store.read_value_hash(KEY) == new.payload.sha256()


def test_a_retried_put_of_the_same_token_is_idempotent(kit: Kit) -> None:
    payload = new_payload()

    kit.store.put(KEY, payload)
    kit.store.put(KEY, payload)

    assert kit.store.read_meta(KEY) == payload.meta
    if kit.store.capabilities.readable_values:
        assert kit.store.read_value_hash(KEY) == payload.payload.sha256()


def test_delete_and_missing_entries(kit: Kit) -> None:
    kit.store.put(KEY, new_payload())

    kit.store.delete(KEY)
    kit.store.delete(KEY)  # deleting what is not there is not an error

    assert kit.store.read_meta(KEY) is None
    assert kit.store.read_meta("PPM_NEVER_WRITTEN") is None
    assert kit.store.read_meta_many([KEY, "PPM_NEVER_WRITTEN"]) == {
        KEY: None,
        "PPM_NEVER_WRITTEN": None,
    }


def test_permission_denied_is_a_store_error_without_the_value(kit: Kit) -> None:
    payload = new_payload()

    with kit.denied() as denied, pytest.raises(StoreError) as refused:
        denied.put(KEY, payload)

    message = str(refused.value)
    assert kit.store.name in message and KEY in message
    assert payload.payload.reveal() not in message
    assert kit.store.read_meta(KEY) is None


def test_a_transient_failure_is_retried_or_reported_and_the_next_put_succeeds(
    kit: Kit,
) -> None:
    payload = new_payload()
    kit.fail_once()

    try:
        kit.store.put(KEY, payload)  # a remote store retries on its own
    except StoreError as exc:
        assert payload.payload.reveal() not in str(exc)
        kit.store.put(KEY, payload)  # apply retries the put

    assert kit.store.read_meta(KEY) == payload.meta


def test_an_unconfirmed_write_goes_back_or_the_store_says_it_cannot(kit: Kit) -> None:
    old, new = new_payload(), new_payload()
    kit.store.put(KEY, old)
    kit.store.commit(KEY, old.meta.token_guid)
    kit.store.put(KEY, new)
    kit.store.put(KEY, new)  # a retry does not make the old value unrestorable

    restored = kit.store.restore_previous(KEY, new.meta.token_guid)

    assert restored is kit.store.capabilities.restorable
    if restored:
        assert kit.store.read_meta(KEY) == old.meta
        if kit.store.capabilities.readable_values:
            assert kit.store.read_value_hash(KEY) == old.payload.sha256()
    else:
        # Cannot go back: the new value stays, and apply keeps the new token alive.
        assert kit.store.read_meta(KEY) == new.meta


def test_restoring_a_first_write_leaves_nothing(kit: Kit) -> None:
    payload = new_payload()
    kit.store.put(KEY, payload)

    restored = kit.store.restore_previous(KEY, payload.meta.token_guid)

    assert restored is kit.store.capabilities.restorable
    assert (kit.store.read_meta(KEY) is None) is restored


def test_restore_of_a_token_the_store_does_not_hold_changes_nothing(kit: Kit) -> None:
    payload = new_payload()
    kit.store.put(KEY, payload)
    kit.store.commit(KEY, payload.meta.token_guid)

    assert kit.store.restore_previous(KEY, "00000000-0000-4000-8000-000000000000") is True

    assert kit.store.read_meta(KEY) == payload.meta


def test_sweep_removes_what_an_interrupted_write_left(
    kit: Kit, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    payload = new_payload()
    kit.store.put(KEY, payload)
    kit.store.commit(KEY, payload.meta.token_guid)  # a confirmed write leaves nothing to sweep
    leftovers = []
    if request.node.callspec.params["kit"] == "file":
        leftover = tmp_path / "secrets" / f".{KEY}.abc123.tmp"
        leftover.write_text("half a value")
        leftovers.append(leftover)
    elif request.node.callspec.params["kit"] == "command":
        leftover = tmp_path / "state" / f".{KEY}.meta.json.abc123.tmp"
        leftover.write_text("{}")
        leftovers.append(leftover)

    removed = kit.store.sweep([KEY])

    assert isinstance(removed, tuple)
    assert all(not path.exists() for path in leftovers)
    assert len(removed) == len(leftovers)
    assert kit.store.read_meta(KEY) is not None
