"""A store's directory must be its own: shared directories are refused, the first write marks
the directory, and a directory holding someone else's files is never written to or swept."""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from types import MappingProxyType

import pytest

from reconciler.desired.file_rules import shared_directory, written_path_problem
from reconciler.desired.model import StoreConfig
from reconciler.errors import StoreError
from reconciler.stores.base import SecretPayload
from reconciler.stores.command import open_command_store
from reconciler.stores.file import FileStore, open_file_store
from reconciler.stores.registry import StoreContext

HOME = PurePosixPath("/home/alice")


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/", "filesystem root"),
        ("/srv", "right below the filesystem root"),
        ("/tmp", "temporary directory"),
        ("/var/tmp", "temporary directory"),
        ("/dev/shm", "temporary directory"),
        ("/home", "holds the home directory"),
        ("/home/alice", "is the home directory"),
        ("/home/bob", "is a home directory"),
        ("/Users/carol", "is a home directory"),
        ("/home/alice/.config", "is ~/.config, where other programs keep files"),
        ("/home/alice/.local/share", "~/.local/share"),
        ("/home/alice/.local/share/ppm-tokens", None),
        ("/home/alice/secrets", None),
        ("/tmp/ppm-tokens", None),
        ("/srv/ppm-tokens", None),
    ],
)
def test_shared_directories(path: str, reason: str | None) -> None:
    found = shared_directory(PurePosixPath(path), HOME)
    assert (found is None) if reason is None else (found is not None and reason in found)


@pytest.mark.parametrize(
    ("written", "reason"),
    [
        ("~", "is the home directory"),
        ("~/", "is the home directory"),
        ("~/.", "is the home directory"),
        ("~/x/..", "is the home directory"),
        ("~/.local/state", "~/.local/state"),
        ("~//.cache/", "~/.cache"),
        ("/", "filesystem root"),
        ("//tmp/", "right below the filesystem root"),
        ("/var/tmp/../tmp", "temporary directory"),
        ("../../..", "filesystem root"),  # from /srv/specs/team
        ("~/.local/share/ppm-tokens", None),
        ("../ppm-tokens", None),
    ],
)
def test_paths_as_a_spec_writes_them(written: str, reason: str | None) -> None:
    found = written_path_problem(written, PurePosixPath("/srv/specs/team"))
    assert (found is None) if reason is None else (found is not None and reason in found)


def open_file(path: str, home: Path) -> FileStore:
    config = StoreConfig("local", "file", MappingProxyType({"path": path}))
    scratch = home.parent.parent / "scratch"
    context = StoreContext(spec_dir=home, env={"HOME": str(home), "TMPDIR": str(scratch)})
    return open_file_store(config, context)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home directory as it looks: other programs' files, some with names the store once
    swept (a `.previous`, a `.tmp`)."""
    home = tmp_path / "home" / "alice"
    (home / ".config").mkdir(parents=True)
    for name in (".bashrc", ".bashrc.previous", ".viminfo.x1y2.tmp", "notes.txt"):
        (home / name).write_text(name)
    return home


@pytest.mark.parametrize("path", ["~", "~/.config", "~/.."])
def test_the_file_store_refuses_the_home_directory_and_others_it_shares(
    home: Path, path: str
) -> None:
    with pytest.raises(StoreError, match=r"so it needs one of its own, such as ~/\.local/share/"):
        open_file(path, home)


def test_the_temporary_directory_itself_is_refused(home: Path) -> None:
    with pytest.raises(StoreError, match="is a temporary directory every program shares"):
        open_file(str(home.parent.parent / "scratch"), home)  # TMPDIR, in this run


def test_a_directory_holding_files_the_store_did_not_write_is_refused_untouched(
    home: Path,
) -> None:
    shared = home / "documents"
    shared.mkdir()
    (shared / "report.txt").write_text("mine")
    (shared / "report.txt.previous").write_text("mine too")
    before = sorted(p.name for p in shared.iterdir())

    with pytest.raises(StoreError) as refused:
        open_file(str(shared), home)

    message = str(refused.value)
    assert "holds 'report.txt', which this store did not write" in message
    assert f"create the empty file {shared}/.ppm-tokens-store" in message
    assert sorted(p.name for p in shared.iterdir()) == before


def test_the_first_write_marks_the_directory_which_then_may_hold_anything(
    home: Path, payload: SecretPayload
) -> None:
    root = home / "secrets"
    open_file(str(root), home).put("team/ds-read", payload)
    assert (root / ".ppm-tokens-store").is_file()

    (root / "README").write_text("what these files are")
    store = open_file(str(root), home)
    assert store.read_meta("team/ds-read") == payload.meta


def test_a_directory_an_earlier_version_filled_is_taken_as_the_stores(home: Path) -> None:
    """No marker yet, but nothing a file store would not write: values beside their metadata,
    a kept copy, a temporary file, lock records, subdirectories of the same."""
    root = home / "secrets"
    (root / "team").mkdir(parents=True)
    (root / ".ppm-tokens-locks" / "abc").mkdir(parents=True)
    (root / ".ppm-tokens-locks" / "abc" / "000000000001.json").write_text("{}")
    for directory in (root, root / "team"):
        for name in ("ds-read", "ds-read.meta.json", "ds-read.previous", ".ds-read.a1b2c3d4.tmp"):
            (directory / name).write_text("x")
    (root / "empty").mkdir()

    open_file(str(root), home)

    (root / "team" / "orphan").write_text("a value without its metadata")
    with pytest.raises(StoreError, match="holds 'team/orphan', which this store did not write"):
        open_file(str(root), home)


def test_a_command_stores_state_dir_is_held_to_the_same_rule(home: Path) -> None:
    options = {"command": ["true"], "state_dir": "~"}
    config = StoreConfig("op", "command", MappingProxyType(options))
    context = StoreContext(spec_dir=home, env={"HOME": str(home)})
    with pytest.raises(StoreError, match=r"is the home directory.*\(state_dir\)"):
        open_command_store(config, context)
