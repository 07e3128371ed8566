"""The file store's side of the store contract: the previous value kept until commit and put
back by restore_previous, idempotent puts, bulk metadata reads, sweep, and no symbolic links."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import SecretPayload
from reconciler.stores.file import FileStore
from tests.jwt_shapes import jwt_shaped

from .conftest import VALUE

NEW_VALUE = jwt_shaped("store-test-new")


def successor(payload: SecretPayload, guid: str = "new-guid") -> SecretPayload:
    value = Secret(NEW_VALUE)
    return SecretPayload(value, replace(payload.meta, token_guid=guid, value_sha256=value.sha256()))


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore("local", tmp_path / "secrets")


@pytest.fixture
def committed(store: FileStore, payload: SecretPayload) -> FileStore:
    """A store whose key 'team/ds-read' holds a confirmed token."""
    store.put("team/ds-read", payload)
    store.commit("team/ds-read", payload.meta.token_guid)
    return store


def test_restore_puts_back_the_value_and_metadata_the_key_held(
    committed: FileStore, payload: SecretPayload
) -> None:
    new = successor(payload)
    committed.put("team/ds-read", new)
    assert committed.read_meta("team/ds-read") == new.meta

    assert committed.restore_previous("team/ds-read", "new-guid") is True

    assert committed.read_meta("team/ds-read") == payload.meta
    assert (committed.root / "team" / "ds-read").read_text() == VALUE
    assert committed.read_value_hash("team/ds-read") == payload.meta.value_sha256
    assert names(committed.root / "team") == ["ds-read", "ds-read.meta.json"]


def test_restore_after_a_put_into_an_empty_key_leaves_it_empty(
    store: FileStore, payload: SecretPayload
) -> None:
    store.put("team/ds-read", payload)

    assert store.restore_previous("team/ds-read", payload.meta.token_guid) is True

    assert store.read_meta("team/ds-read") is None
    assert store.read_value_hash("team/ds-read") is None
    assert names(store.root) == [".ppm-tokens-store"]  # the subdirectory the put made is gone


def test_commit_drops_the_copy_and_then_nothing_can_be_restored(
    committed: FileStore, payload: SecretPayload
) -> None:
    committed.put("team/ds-read", successor(payload))
    assert "ds-read.previous" in names(committed.root / "team")

    committed.commit("team/ds-read", "new-guid")

    assert names(committed.root / "team") == ["ds-read", "ds-read.meta.json"]
    # The key holds the committed token and there is no copy: it cannot go back.
    assert committed.restore_previous("team/ds-read", "new-guid") is False
    meta = committed.read_meta("team/ds-read")
    assert meta is not None and meta.token_guid == "new-guid"


def test_commit_for_another_token_keeps_the_copy(
    committed: FileStore, payload: SecretPayload
) -> None:
    committed.put("team/ds-read", successor(payload))

    committed.commit("team/ds-read", "someone-else")

    assert committed.restore_previous("team/ds-read", "new-guid") is True
    assert committed.read_meta("team/ds-read") == payload.meta


def test_restore_of_a_token_the_key_does_not_hold_is_a_no_op(
    committed: FileStore, payload: SecretPayload
) -> None:
    assert committed.restore_previous("team/ds-read", "never-put") is True
    assert committed.read_meta("team/ds-read") == payload.meta


def test_a_second_put_of_the_same_token_keeps_the_first_copy(
    committed: FileStore, payload: SecretPayload
) -> None:
    """A retry after a lost answer must not copy the half-written new value over the old one."""
    new = successor(payload)
    committed.put("team/ds-read", new)
    committed.put("team/ds-read", new)

    assert committed.read_meta("team/ds-read") == new.meta
    assert committed.restore_previous("team/ds-read", "new-guid") is True
    assert committed.read_meta("team/ds-read") == payload.meta
    assert (committed.root / "team" / "ds-read").read_text() == VALUE


def test_a_put_that_failed_between_value_and_metadata_is_retried_then_restored(
    tmp_path: Path, committed: FileStore, payload: SecretPayload
) -> None:
    calls: list[str] = []

    def fail_the_metadata(source: str, target: str) -> None:
        calls.append(target)
        # The metadata after the value (the intent before it goes through).
        if target.endswith("ds-read.meta.json") and any(c.endswith("ds-read") for c in calls):
            raise OSError(28, "No space left on device")
        os.replace(source, target)

    failing = FileStore("local", committed.root, replace=fail_the_metadata)
    new = successor(payload)
    with pytest.raises(StoreError, match="No space left"):
        failing.put("team/ds-read", new)
    # The new value is in place, its metadata is not: the retry sees a half-written key.
    assert committed.read_value_hash("team/ds-read") == new.meta.value_sha256
    committed.put("team/ds-read", new)

    assert committed.restore_previous("team/ds-read", "new-guid") is True
    assert committed.read_meta("team/ds-read") == payload.meta
    assert committed.read_value_hash("team/ds-read") == payload.meta.value_sha256


def test_a_copy_of_the_very_same_token_cannot_be_restored(
    committed: FileStore, payload: SecretPayload
) -> None:
    """Putting a token the key already holds leaves nothing older to go back to."""
    committed.put("team/ds-read", payload)

    assert committed.restore_previous("team/ds-read", payload.meta.token_guid) is False
    assert committed.read_meta("team/ds-read") == payload.meta


def test_a_lost_copy_is_not_restorable(committed: FileStore, payload: SecretPayload) -> None:
    committed.put("team/ds-read", successor(payload))
    (committed.root / "team" / "ds-read.previous").unlink()

    assert committed.restore_previous("team/ds-read", "new-guid") is False
    meta = committed.read_meta("team/ds-read")
    assert meta is not None and meta.token_guid == "new-guid"


def test_read_meta_many_scans_each_directory_once(
    store: FileStore, payload: SecretPayload, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [f"team/k{i}" for i in range(5)] + ["solo", "other/k0"]
    for key in keys:
        store.put(key, payload)
    (store.root / "team" / "k3").unlink()  # metadata without its value describes nothing
    (store.root / "team" / "k4.meta.json").write_text("{not json")
    scans: list[str] = []
    real_scandir = os.scandir

    def counting(path: str | os.PathLike[str]) -> Iterator[os.DirEntry[str]]:
        scans.append(str(path))
        return real_scandir(path)  # type: ignore[return-value]

    monkeypatch.setattr(os, "scandir", counting)
    wanted = [*keys, "team/missing", "nowhere/k"]

    many = store.read_meta_many(wanted)

    root = store.root
    assert scans == [str(root / "team"), str(root), str(root / "other"), str(root / "nowhere")]
    monkeypatch.setattr(os, "scandir", real_scandir)
    assert many == {key: store.read_meta(key) for key in wanted}
    assert many["team/k0"] == payload.meta
    assert many["team/k3"] is None and many["team/k4"] is None and many["nowhere/k"] is None


def test_sweep_removes_temporary_files_and_stale_copies_only(
    committed: FileStore, payload: SecretPayload
) -> None:
    """What a killed run leaves: a temporary file holding a value, and the copy kept for a
    restore that will not happen. Secrets, metadata and lock records stay."""
    team = committed.root / "team"
    (team / ".ds-read.k2j4x9.tmp").write_text(NEW_VALUE)
    committed.put("team/ds-read", successor(payload))
    locks = committed.root / ".ppm-tokens-locks"
    locks.mkdir()
    (locks / ".record.tmp").write_text("{}")

    removed = committed.sweep(["team/ds-read"])

    assert names(team) == ["ds-read", "ds-read.meta.json"]
    assert (locks / ".record.tmp").exists()
    assert len(removed) == 3
    assert all("left by an interrupted write" in line for line in removed)
    assert any("team/.ds-read.k2j4x9.tmp" in line for line in removed)
    assert not any(NEW_VALUE in line or VALUE in line for line in removed)
    assert committed.sweep(["team/ds-read"]) == ()


def test_sweep_removes_only_names_derived_from_the_declared_keys(
    committed: FileStore, payload: SecretPayload
) -> None:
    """A temporary file or a kept copy is the store's only when its name is one a write of a
    declared key makes, in that key's directory: nothing else is swept, nothing below."""
    team = committed.root / "team"
    (team / "sub").mkdir()
    kept = {
        team / ".notes.k2j4x9.tmp": "an editor's",
        team / "undeclared.previous": "a copy no declared key made",
        team / ".ds-read.meta.json.tmp": "not a temporary name of ours",
        team / "sub" / ".ds-read.k2j4x9.tmp": "another directory",
        committed.root / ".ds-read.k2j4x9.tmp": "another directory",
        committed.root / "ds-read.previous": "another directory",
    }
    for path, text in kept.items():
        path.write_text(text)
    (team / ".ds-read.meta.json.a1b2c3d4.tmp").write_text("{}")
    (team / "ds-read.previous").write_text(VALUE)

    removed = committed.sweep(["team/ds-read"])

    assert sorted(removed) == [
        "store 'local': removed team/.ds-read.meta.json.a1b2c3d4.tmp, left by an interrupted write",
        "store 'local': removed team/ds-read.previous, left by an interrupted write",
    ]
    assert {path: path.read_text() for path in kept} == kept


def test_sweep_of_a_store_never_written_is_empty(tmp_path: Path) -> None:
    assert FileStore("local", tmp_path / "not-yet").sweep(["ds-read", "team/ds-read"]) == ()


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere"
    target.mkdir()
    return target


def test_a_linked_subdirectory_is_never_followed(
    store: FileStore, payload: SecretPayload, elsewhere: Path
) -> None:
    store.root.mkdir()
    (store.root / "team").symlink_to(elsewhere)

    for call in (
        lambda: store.put("team/ds-read", payload),
        lambda: store.read_meta("team/ds-read"),
        lambda: store.read_meta_many(["team/ds-read"]),
        lambda: store.read_value_hash("team/ds-read"),
        lambda: store.delete("team/ds-read"),
    ):
        with pytest.raises(StoreError, match="is a symbolic link; the store never follows"):
            call()
    assert list(elsewhere.iterdir()) == []


@pytest.mark.parametrize("linked", ["ds-read", "ds-read.meta.json"])
def test_a_linked_file_is_never_read_or_written_through(
    committed: FileStore, payload: SecretPayload, elsewhere: Path, linked: str
) -> None:
    team = committed.root / "team"
    target = elsewhere / "target"
    target.write_text("outside")
    (team / linked).unlink()
    (team / linked).symlink_to(target)

    with pytest.raises(StoreError, match="symbolic link"):
        committed.put("team/ds-read", successor(payload))
    with pytest.raises(StoreError, match="symbolic link"):
        committed.read_meta_many(["team/ds-read"])
    assert target.read_text() == "outside"


def test_a_root_others_can_write_to_gets_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = tmp_path / "shared"
    root.mkdir()
    root.chmod(0o777)
    with caplog.at_level(logging.WARNING):
        FileStore("local", root)
        FileStore("private", tmp_path / "secrets")

    (record,) = caplog.records
    assert "store 'local'" in record.getMessage()
    assert "writable by its group or others (mode 777)" in record.getMessage()


class _Killed(BaseException):
    """The process dies here: nothing after it runs, no handler cleans up."""


def _killed_at(step: int) -> tuple[list[str], object]:
    renames: list[str] = []

    def rename(source: str, target: str) -> None:
        renames.append(target)
        if len(renames) == step:
            raise _Killed
        os.replace(source, target)

    return renames, rename


def _vouches_only_for_its_value(root: Path, key: str) -> None:
    store = FileStore("local", root)
    store.sweep([key])  # what the next run does first
    meta = store.read_meta(key)
    assert meta is None or meta.value_sha256 == store.read_value_hash(key), (
        "metadata names a token whose value the key does not hold"
    )


@pytest.mark.parametrize("step", range(1, 5))
def test_a_put_killed_at_any_rename_leaves_no_metadata_beside_another_value(
    committed: FileStore, payload: SecretPayload, step: int
) -> None:
    """The planner trusts metadata to say which token's value the key holds: old metadata
    beside the new value would make the next run retire the token consumers read."""
    renames, rename = _killed_at(step)
    with pytest.raises(_Killed):
        FileStore("local", committed.root, replace=rename).put("team/ds-read", successor(payload))
    assert len(renames) == step  # every step up to the last rename of a put is reached
    _vouches_only_for_its_value(committed.root, "team/ds-read")


@pytest.mark.parametrize("step", range(1, 3))
def test_a_restore_killed_at_any_rename_leaves_no_metadata_beside_another_value(
    committed: FileStore, payload: SecretPayload, step: int
) -> None:
    """A restore killed half-way leaves the new value or the old one, and metadata only of
    the value that is there; the copy is swept, and the next plan repairs a key without
    metadata (the new token, never revoked by the killed run, is still alive meanwhile)."""
    committed.put("team/ds-read", successor(payload))
    renames, rename = _killed_at(step)
    with pytest.raises(_Killed):
        FileStore("local", committed.root, replace=rename).restore_previous(
            "team/ds-read", "new-guid"
        )
    assert len(renames) == step
    _vouches_only_for_its_value(committed.root, "team/ds-read")
