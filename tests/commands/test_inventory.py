"""What the day-2 commands read from the stores: one bulk read per store, as plan reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reconciler.commands.inventory import StoreReading, first_spec, read_stored
from reconciler.commands.runtime import Environment, GlobalOptions
from reconciler.desired import load_spec
from reconciler.errors import UsageError
from reconciler.stores.base import KeyState
from reconciler.stores.file import FileStore


def test_store_metadata_is_read_in_bulk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    entries = "".join(
        f"  - {{name: t{i}, user: u, description: d{i}, scope: repos:read, resources: [pypi]}}\n"
        for i in range(5)
    )
    path = tmp_path / "tokens.yaml"
    path.write_text(
        "version: 1\nnamespace: team\ndefaults: {expires: 90d, store: local}\n"
        f"stores:\n  local: {{type: file, path: {tmp_path / 'secrets'}}}\ntokens:\n{entries}"
    )
    spec = load_spec(path, now=datetime.now(UTC))
    calls: list[int] = []
    many = FileStore._entries

    def counted(store: FileStore, keys: list[str]) -> object:
        calls.append(len(keys))
        return many(store, keys)

    def one(store: FileStore, key: str) -> None:
        raise AssertionError(f"read_meta({key!r}): one read per token")

    monkeypatch.setattr(FileStore, "_entries", counted)
    monkeypatch.setattr(FileStore, "read_meta", one)
    stored, problems = read_stored([spec], Environment({}, tmp_path), StoreReading.SAFE)
    assert problems == []
    assert calls == [5]
    assert stored == {("team", f"t{i}"): KeyState() for i in range(5)}


def test_specs_naming_one_server_two_ways_need_no_server_flag(tmp_path: Path) -> None:
    specs = []
    for name, url in (("a", "https://ppm.example.com"), ("b", "https://PPM.example.com:443/")):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"version: 1\nnamespace: {name}\nserver: {{url: '{url}'}}\ntokens: []\n")
        specs.append(load_spec(path, now=datetime.now(UTC)))
    assert first_spec(specs, GlobalOptions(), Environment({}, tmp_path)) is specs[0]
    other = tmp_path / "c.yaml"
    other.write_text(
        "version: 1\nnamespace: c\nserver: {url: 'https://ppm-eu.example.com'}\ntokens: []\n"
    )
    with pytest.raises(UsageError, match="the specs name different servers"):
        first_spec(
            [*specs, load_spec(other, now=datetime.now(UTC))],
            GlobalOptions(),
            Environment({}, tmp_path),
        )
