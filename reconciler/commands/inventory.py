"""What the day-2 commands read: the specs they were given, the server's tokens (and resources),
and, when asked, what each declared token's store holds. One read each; the pure parts in
`reconciler.ops` work from the snapshot.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from reconciler.commands.runtime import (
    Environment,
    GlobalOptions,
    admin_credential,
    open_driver,
    server_url,
    store_context,
)
from reconciler.desired import load_spec
from reconciler.desired.model import Spec, TokenSpec, TokenState
from reconciler.errors import ReconcilerError, UsageError
from reconciler.ops.audit import StoreProblem
from reconciler.ops.view import TokenView, build_views
from reconciler.server.driver import Driver
from reconciler.server.model import LiveToken, Resource
from reconciler.stores.base import KeyState, SecretStore
from reconciler.stores.registry import open_store
from reconciler.urls import server_identity

DEFAULT_SPEC = Path("tokens.yaml")


class StoreReading(StrEnum):
    NONE = "none"  # never touch a store
    SAFE = "safe"  # every store, except commands that a spec names to read metadata
    ALL = "all"  # those too (`--store-commands`)


@dataclass(frozen=True)
class Snapshot:
    server: str
    now: datetime
    specs: tuple[Spec, ...]
    tokens: tuple[LiveToken, ...]
    resources: tuple[Resource, ...] | None  # None: not read
    stored: Mapping[tuple[str, str], KeyState]  # (namespace, name); missing: not read
    store_problems: tuple[StoreProblem, ...]
    self_guid: str | None
    views: tuple[TokenView, ...]
    exchanged: bool = False  # the admin token came from identity federation

    @property
    def namespaces(self) -> frozenset[str]:
        return frozenset(spec.namespace for spec in self.specs)


def load_specs(paths: Sequence[Path], env: Environment, now: datetime) -> tuple[Spec, ...]:
    """The specs given with -f; without any, tokens.yaml when the directory has one."""
    if not paths and (env.cwd / DEFAULT_SPEC).is_file():
        paths = [DEFAULT_SPEC]
    specs = tuple(load_spec(path, now=now) for path in paths)
    seen: dict[str, str] = {}
    for spec in specs:
        if spec.namespace in seen:
            raise UsageError(
                f"{seen[spec.namespace]} and {spec.path} both declare namespace "
                f"{spec.namespace!r}: give one spec per namespace"
            )
        seen[spec.namespace] = spec.path
    return specs


def first_spec(specs: Sequence[Spec], options: GlobalOptions, env: Environment) -> Spec | None:
    """The spec whose server settings apply. Specs of different servers need --server or
    PACKAGEMANAGER_ADDRESS to say which one this run reads."""
    urls = {server_identity(spec.server.url) for spec in specs if spec.server.url}
    if len(urls) > 1 and not (options.server or env.variables.get("PACKAGEMANAGER_ADDRESS")):
        raise UsageError(
            f"the specs name different servers ({', '.join(sorted(urls))}): pass --server URL"
        )
    return specs[0] if specs else None


def _reads_by_command(spec: Spec, store: str) -> bool:
    config = spec.stores.get(store)
    return config is not None and config.type == "command" and "read_command" in config.options


def open_spec_stores(
    spec: Spec, env: Environment, reading: StoreReading
) -> tuple[dict[str, SecretStore], list[StoreProblem]]:
    """The stores `spec`'s present tokens use, each opened once; problems instead of errors."""
    opened: dict[str, SecretStore] = {}
    problems: list[StoreProblem] = []
    if reading is StoreReading.NONE:
        return opened, problems
    # --store-commands is the user's leave to run the read_commands the spec names.
    context = store_context(spec, env, run_read_commands=reading is StoreReading.ALL)
    for name in dict.fromkeys(t.store for t in spec.tokens if t.state is TokenState.PRESENT):
        if reading is StoreReading.SAFE and _reads_by_command(spec, name):
            problems.append(
                StoreProblem(
                    spec.namespace,
                    name,
                    "not read: its read_command runs only with --store-commands",
                    skipped=True,
                )
            )
            continue
        config = spec.stores.get(name)
        try:
            if config is None:
                raise UsageError(f"store '{name}' is not declared under stores:")
            opened[name] = open_store(config, context)
        except ReconcilerError as exc:
            problems.append(StoreProblem(spec.namespace, name, str(exc), skipped=False))
    return opened, problems


def read_stored(
    specs: Sequence[Spec], env: Environment, reading: StoreReading
) -> tuple[dict[tuple[str, str], KeyState], list[StoreProblem]]:
    stored: dict[tuple[str, str], KeyState] = {}
    problems: list[StoreProblem] = []
    for spec in specs:
        stores, opened_problems = open_spec_stores(spec, env, reading)
        problems.extend(opened_problems)
        wanted: dict[str, list[TokenSpec]] = {}
        for token in spec.tokens:
            if token.state is TokenState.PRESENT and token.store in stores:
                wanted.setdefault(token.store, []).append(token)
        for name, tokens in wanted.items():
            try:
                # One bulk read per store (a directory scan, a list call), as plan reads them.
                found = stores[name].read_states([t.secret for t in tokens])
            except ReconcilerError as exc:
                problems.append(StoreProblem(spec.namespace, name, str(exc), False))
                continue
            stored.update({(spec.namespace, t.name): found[t.secret] for t in tokens})
    return stored, problems


@contextmanager
def connected(
    specs: Sequence[Spec],
    options: GlobalOptions,
    env: Environment,
    *,
    now: datetime,
    resources: bool = False,
    reading: StoreReading = StoreReading.NONE,
) -> Iterator[tuple[Snapshot, Driver]]:
    """The snapshot, and the driver that read it, open for what the command does next."""
    spec = first_spec(specs, options, env)
    server = server_url(options, env, spec)
    credential = admin_credential(options, env, spec)
    driver = open_driver(options, env, spec, credential=credential)
    try:
        tokens = tuple(driver.list_tokens())
        listed = tuple(driver.list_resources()) if resources else None
        stored, problems = read_stored(specs, env, reading)
        self_guid = driver.self_guid()
        views = build_views(tokens, specs, now, self_guid=self_guid, stored=stored)
        snapshot = Snapshot(
            server=server,
            now=now,
            specs=tuple(specs),
            tokens=tokens,
            resources=listed,
            stored=stored,
            store_problems=tuple(problems),
            self_guid=self_guid,
            views=views,
            exchanged=credential.exchanged is not None,
        )
        yield snapshot, driver
    finally:
        driver.close()


def take_snapshot(
    specs: Sequence[Spec],
    options: GlobalOptions,
    env: Environment,
    *,
    now: datetime,
    resources: bool = False,
    reading: StoreReading = StoreReading.NONE,
) -> Snapshot:
    """The snapshot alone, for a command that needs the server no further."""
    with connected(specs, options, env, now=now, resources=resources, reading=reading) as (
        snapshot,
        _,
    ):
        return snapshot
