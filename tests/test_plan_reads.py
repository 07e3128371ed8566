"""What `plan` reads: the live tokens its spec can use, from one listing; the stored metadata of
every declared token, from one bulk read per store, remote stores at the same time."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.commands.plan import LiveState, read_live, read_store_states
from reconciler.desired.model import OnDelete, TokenState
from reconciler.emulator.server import RunningEmulator
from reconciler.ownership import stored_description
from reconciler.plan.model import Plan
from reconciler.plan.planner import plan
from reconciler.secret import Secret
from reconciler.server.driver import SelectiveListing
from reconciler.server.http import HttpDriver
from reconciler.server.model import CreatedToken, LiveToken, Resource, TokenRequest
from reconciler.stores.base import KeyState, SecretMeta, SecretPayload, StoreCapabilities
from reconciler.stores.file import FileStore
from tests.plan.conftest import make_spec, token_spec

WAIT = 10.0  # a bound on a rendezvous that happens at once when reads run together


def create(driver: HttpDriver, description: str) -> CreatedToken:
    expires = datetime.now(UTC) + timedelta(days=30)
    return driver.create_token(
        TokenRequest(description, "u@example.com", "repos:read", ("pypi",), expires)
    )


class PlainDriver:
    """The Driver protocol and nothing more: no selective listing."""

    def __init__(self, inner: HttpDriver) -> None:
        self._inner = inner

    def list_tokens(self) -> list[LiveToken]:
        return self._inner.list_tokens()

    def list_resources(self) -> list[Resource]:
        return self._inner.list_resources()

    def self_guid(self) -> str | None:
        return self._inner.self_guid()


@pytest.fixture
def shared_server(emulator: RunningEmulator) -> Iterator[HttpDriver]:
    """A server three teams share: ours (2 tokens), another team (2), one made by hand."""
    with HttpDriver(emulator.url, Secret(emulator.admin_token())) as driver:
        for name in ("a", "b"):
            create(driver, stored_description("ours", "data-platform", name))
            create(driver, stored_description("theirs", "other-team", name))
        create(driver, "made by hand")
        yield driver


def test_reading_for_a_spec_keeps_what_its_plan_reads_and_plans_alike(
    shared_server: HttpDriver,
) -> None:
    theirs = {t.guid for t in shared_server.list_tokens() if "other-team" in t.description}
    adopted = sorted(theirs)[0]
    spec = make_spec(token_spec("a"), token_spec("c", adopt=adopted))
    assert isinstance(shared_server, SelectiveListing)

    everything = read_live(shared_server)
    kept = read_live(shared_server, spec)
    plain = read_live(PlainDriver(shared_server), spec)  # type: ignore[arg-type]

    assert {t.guid for t in kept.tokens} == {t.guid for t in plain.tokens}
    assert {t.guid for t in kept.tokens} & theirs == {adopted}
    assert len(everything.tokens) - len(kept.tokens) == len(theirs) - 1
    now = datetime.now(UTC)

    def planned(state: LiveState) -> Plan:
        return plan(spec, state.tokens, state.resources, {}, now, server="s")

    assert planned(kept) == planned(everything)


class CountingStore:
    """A store answering from a dict, counting its reads; remote ones meet at `rendezvous`."""

    def __init__(
        self,
        name: str,
        held: Mapping[str, SecretMeta],
        *,
        remote: bool,
        rendezvous: threading.Barrier | None = None,
    ) -> None:
        self.name = name
        self.capabilities = StoreCapabilities(readable_values=True, restorable=True, remote=remote)
        self.held = held
        self.rendezvous = rendezvous
        self.bulk_reads: list[tuple[str, ...]] = []
        self.threads: list[str] = []

    def read_meta(self, key: str) -> SecretMeta | None:
        raise AssertionError("plan reads metadata in bulk")

    def read_meta_many(self, keys: Sequence[str]) -> Mapping[str, SecretMeta | None]:
        raise AssertionError("plan reads what each key holds in one call per store")

    def read_states(self, keys: Sequence[str]) -> Mapping[str, KeyState]:
        self.bulk_reads.append(tuple(keys))
        self.threads.append(threading.current_thread().name)
        if self.rendezvous is not None:
            self.rendezvous.wait(WAIT)  # both remote stores are being read at once
        return {key: KeyState(meta=self.held.get(key)) for key in keys}


def meta(name: str) -> SecretMeta:
    return SecretMeta(
        f"guid-{name}", name, "data-platform", datetime(2026, 1, 1, tzinfo=UTC), None, "repos:read"
    )


def test_stored_metadata_is_read_in_one_call_per_store_remote_stores_together() -> None:
    tokens = [token_spec(f"v{i}", store="vault") for i in range(3)]
    tokens += [token_spec(f"l{i}", store="local") for i in range(3)]
    tokens += [
        token_spec("gone", store="local", state=TokenState.ABSENT, on_delete=OnDelete.DELETE)
    ]
    tokens += [token_spec("kept", store="local", state=TokenState.ABSENT)]
    tokens += [token_spec(f"c{i}", store="ci") for i in range(2)]
    spec = make_spec(*tokens)
    meet = threading.Barrier(2)
    stores = {
        "vault": CountingStore("vault", {"v0": meta("v0")}, remote=True, rendezvous=meet),
        "ci": CountingStore("ci", {}, remote=True, rendezvous=meet),
        "local": CountingStore("local", {"l1": meta("l1"), "gone": meta("gone")}, remote=False),
    }

    found = {
        name: state.meta
        for name, state in read_store_states(spec, stores).items()  # type: ignore[arg-type]
    }

    assert found == {
        "v0": meta("v0"),
        "v1": None,
        "v2": None,
        "l0": None,
        "l1": meta("l1"),
        "l2": None,
        "gone": meta("gone"),
        "c0": None,
        "c1": None,
    }
    assert [s.bulk_reads for s in stores.values()] == [
        [("v0", "v1", "v2")],
        [("c0", "c1")],
        [("l0", "l1", "l2", "gone")],
    ]
    assert not meet.broken
    assert stores["local"].threads == [threading.main_thread().name]


def test_the_file_store_answers_in_bulk_what_it_answers_key_by_key(tmp_path: Path) -> None:
    store = FileStore("local", tmp_path / "secrets")
    for name in ("a", "team/b"):
        store.put(name, SecretPayload(Secret(f"value-of-{name}"), meta(name)))
    (tmp_path / "secrets" / "orphan.meta.json").write_text("{}")
    keys = ["a", "team/b", "missing", "team/missing", "orphan"]
    spec = make_spec(*(token_spec(k.replace("/", "-"), store="local", secret=k) for k in keys))

    found = read_store_states(spec, {"local": store})

    assert {name: state.meta for name, state in found.items()} == {
        k.replace("/", "-"): store.read_meta(k) for k in keys
    }
    assert found["a"] == KeyState(meta("a")) and found["orphan"] == KeyState()
