from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import pytest

from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.secret import Secret
from reconciler.stores.base import PendingWrite, SecretPayload, StoredValue
from reconciler.stores.file import FileStore, open_file_store
from reconciler.stores.registry import StoreContext
from tests.jwt_shapes import jwt_shaped

from .conftest import VALUE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def other_payload(payload: SecretPayload) -> SecretPayload:
    value = Secret("eyJuZXcifQ.eyJuZXcifQ.bmV3LXNpZ25hdHVyZQ")
    meta = replace(payload.meta, token_guid="new-guid", value_sha256=value.sha256())
    return SecretPayload(value, meta)


def test_put_writes_private_files_in_private_directories(
    tmp_path: Path, payload: SecretPayload
) -> None:
    root = tmp_path / "secrets"
    store = FileStore("local", root)

    store.put("team/ds-read", payload)

    assert mode(root) == 0o700 and mode(root / "team") == 0o700
    assert mode(root / "team" / "ds-read") == 0o600
    assert mode(root / "team" / "ds-read.meta.json") == 0o600
    assert mode(root / "team" / "ds-read.previous.meta.json") == 0o600
    assert (root / "team" / "ds-read").read_text() == VALUE
    store.commit("team/ds-read", payload.meta.token_guid)
    assert sorted(p.name for p in (root / "team").iterdir()) == ["ds-read", "ds-read.meta.json"]


def test_metadata_round_trips(tmp_path: Path, payload: SecretPayload) -> None:
    store = FileStore("local", tmp_path / "secrets")
    assert store.read_meta("ds-read") is None

    store.put("ds-read", payload)

    assert store.read_meta("ds-read") == payload.meta
    assert VALUE not in (tmp_path / "secrets" / "ds-read.meta.json").read_text()


def test_read_value_hash_is_the_sha256_of_the_stored_payload(
    tmp_path: Path, payload: SecretPayload
) -> None:
    store = FileStore("local", tmp_path)
    assert store.read_value_hash("ds-read") is None

    store.put("ds-read", payload)

    assert store.read_value_hash("ds-read") == hashlib.sha256(VALUE.encode()).hexdigest()
    assert store.read_value_hash("ds-read") == payload.meta.value_sha256


def test_overwrite_is_atomic_and_leaves_no_temporary_files(
    tmp_path: Path, payload: SecretPayload
) -> None:
    store = FileStore("local", tmp_path)
    store.put("ds-read", payload)
    store.commit("ds-read", payload.meta.token_guid)
    store.put("ds-read", other_payload(payload))
    store.commit("ds-read", "new-guid")

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".ppm-tokens-store",
        "ds-read",
        "ds-read.meta.json",
    ]
    meta = store.read_meta("ds-read")
    assert meta is not None and meta.token_guid == "new-guid"


def test_crash_before_the_rename_leaves_the_old_value_intact(
    tmp_path: Path, payload: SecretPayload
) -> None:
    FileStore("local", tmp_path).put("ds-read", payload)
    FileStore("local", tmp_path).commit("ds-read", payload.meta.token_guid)

    def crash(source: str, target: str) -> None:
        raise OSError(5, "simulated crash")

    with pytest.raises(StoreError, match=r"could not write 'ds-read'.*simulated crash"):
        FileStore("local", tmp_path, replace=crash).put("ds-read", other_payload(payload))

    assert (tmp_path / "ds-read").read_text() == VALUE
    assert FileStore("local", tmp_path).read_meta("ds-read") == payload.meta
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".ppm-tokens-store",
        "ds-read",
        "ds-read.meta.json",
    ]


def test_crash_between_value_and_metadata_leaves_the_intent_and_the_value_names_its_token(
    tmp_path: Path, payload: SecretPayload
) -> None:
    """The old metadata gives way to the intent of the write before the new value goes in:
    metadata never vouches for a value it does not describe. Old metadata beside the new value
    would name the old token as held, and the next run would retire the new one, whose value
    the store hands out, as an orphan; with the intent, the next run reads the value."""
    FileStore("local", tmp_path).put("ds-read", payload)
    calls: list[str] = []

    def crash_on_the_metadata(source: str, target: str) -> None:
        calls.append(target)
        if len(calls) == 5:  # the old value's copy and record, the intent, the new value
            raise OSError(5, "simulated crash")
        Path(source).replace(target)

    value = Secret(jwt_shaped("new-guid"))
    new = SecretPayload(
        value,
        replace(payload.meta, token_guid="new-guid", value_sha256=value.sha256(), format="raw"),
    )
    with pytest.raises(StoreError, match="metadata"):
        FileStore("local", tmp_path, replace=crash_on_the_metadata).put("ds-read", new)

    store = FileStore("local", tmp_path)
    assert calls[0].endswith("ds-read.previous") and calls[1].endswith("previous.meta.json")
    assert calls[2].endswith("ds-read.meta.json") and calls[3].endswith("ds-read")
    assert calls[4].endswith("ds-read.meta.json")
    assert store.read_value_hash("ds-read") == new.meta.value_sha256
    assert store.read_meta("ds-read") is None  # never the old token's
    (state,) = store.read_states(["ds-read"]).values()
    assert state.pending == PendingWrite("new-guid", (payload.meta.token_guid,), None, "raw")
    assert state.value == StoredValue("new-guid", "raw", value.sha256())  # the value's jti
    assert store.restore_previous("ds-read", "new-guid")
    assert store.read_meta("ds-read") == payload.meta
    assert store.read_value_hash("ds-read") == payload.meta.value_sha256


def test_delete_removes_value_metadata_and_empty_subdirectories(
    tmp_path: Path, payload: SecretPayload
) -> None:
    root = tmp_path / "secrets"
    store = FileStore("local", root)
    store.put("team/ds-read", payload)

    store.delete("team/ds-read")
    store.delete("team/ds-read")  # deleting what is not there is not an error

    assert store.read_meta("team/ds-read") is None
    assert store.read_value_hash("team/ds-read") is None
    assert [p.name for p in root.iterdir()] == [".ppm-tokens-store"]


def test_unreadable_metadata_reads_as_missing(tmp_path: Path, payload: SecretPayload) -> None:
    store = FileStore("local", tmp_path)
    store.put("ds-read", payload)
    (tmp_path / "ds-read.meta.json").write_text("{not json")

    assert store.read_meta("ds-read") is None


def test_metadata_without_a_value_reads_as_missing(tmp_path: Path, payload: SecretPayload) -> None:
    store = FileStore("local", tmp_path)
    store.put("ds-read", payload)
    (tmp_path / "ds-read").unlink()

    assert store.read_meta("ds-read") is None


@pytest.mark.parametrize(
    "key",
    [
        "../escape",
        "a/../../b",
        "/etc/passwd",
        "a\0b",
        "",
        "a//b",
        "a/",
        "./a",
        "x.meta.json",
        "x.previous",
        "team/.x.abc.tmp",
        ".ppm-tokens-locks/x",
    ],
)
def test_keys_that_could_leave_the_directory_are_refused(
    tmp_path: Path, payload: SecretPayload, key: str
) -> None:
    store = FileStore("local", tmp_path / "secrets")
    with pytest.raises(StoreError, match="secret key"):
        store.put(key, payload)
    assert not (tmp_path / "secrets").exists()
    assert not (tmp_path / "escape").exists()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)
    return path


@pytest.mark.parametrize("inside", ["secrets", "deep/not/yet/created"])
def test_a_directory_inside_a_git_work_tree_is_refused(tmp_path: Path, inside: str) -> None:
    repo = init_repo(tmp_path / "repo")

    with pytest.raises(StoreError, match="inside the git work tree") as caught:
        FileStore("local", repo / inside)

    assert str(repo) in str(caught.value)
    assert not (repo / inside).exists()


def test_a_symlink_into_a_work_tree_is_refused(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    (repo / "secrets").mkdir()
    (tmp_path / "link").symlink_to(repo / "secrets")

    with pytest.raises(StoreError, match="inside the git work tree"):
        FileStore("local", tmp_path / "link")


def test_open_resolves_relative_paths_against_the_spec_directory(tmp_path: Path) -> None:
    context = StoreContext(spec_dir=tmp_path / "spec", env={})
    config = StoreConfig("local", "file", MappingProxyType({"path": "../secrets"}))

    store = open_file_store(config, context)

    assert store.root == tmp_path / "spec" / ".." / "secrets"


def test_open_expands_home_from_the_given_environment(tmp_path: Path) -> None:
    context = StoreContext(spec_dir=tmp_path, env={"HOME": str(tmp_path / "home")})
    config = StoreConfig("local", "file", MappingProxyType({"path": "~/.local/share/ppm"}))

    assert open_file_store(config, context).root == tmp_path / "home" / ".local/share/ppm"


def test_open_checks_the_work_tree_again(tmp_path: Path) -> None:
    init_repo(tmp_path)
    context = StoreContext(spec_dir=tmp_path, env={})
    config = StoreConfig("local", "file", MappingProxyType({"path": "secrets"}))

    with pytest.raises(StoreError, match="inside the git work tree"):
        open_file_store(config, context)


def test_open_needs_a_path(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="needs a 'path'"):
        open_file_store(StoreConfig("local", "file"), StoreContext(spec_dir=tmp_path, env={}))


def test_parallel_puts_into_a_new_subdirectory_all_succeed(
    tmp_path: Path, payload: SecretPayload
) -> None:
    store = FileStore("local", tmp_path / "secrets")
    keys = [f"team/nested/k{i}" for i in range(8)]
    start = threading.Barrier(len(keys), timeout=10)
    errors: list[BaseException] = []

    def put(key: str) -> None:
        start.wait()
        try:
            store.put(key, payload)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert all(store.read_meta(key) == payload.meta for key in keys)
    assert mode(tmp_path / "secrets" / "team" / "nested") == 0o700


@pytest.mark.timeout(20)
@pytest.mark.parametrize("kind", ["fifo", "huge"])
@pytest.mark.parametrize("where", ["value", "metadata"])
def test_what_is_no_small_regular_file_in_the_store_is_refused_unread(
    tmp_path: Path, payload: SecretPayload, kind: str, where: str
) -> None:
    """A FIFO would hold the run for ever, a file far larger than anything the store writes
    would fill memory: the store reads through the descriptor, to a bound, and says what it
    found. (A link, to /dev/zero or anywhere, is refused already.)"""
    store = FileStore("local", tmp_path / "secrets")
    store.put("ds-read", payload)
    path = tmp_path / "secrets" / ("ds-read" if where == "value" else "ds-read.meta.json")
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        with path.open("wb") as handle:
            handle.truncate(1024**3)  # sparse
    fragment = {"fifo": "a named pipe", "huge": "the limit"}
    with pytest.raises(StoreError, match=fragment[kind]):
        if where == "value":
            store.read_value_hash("ds-read")
        else:
            store.read_meta("ds-read")
