"""Several specs in one run: the files `-f` names (directories expanded), every spec checked
before anything is sent anywhere, and the rules that hold between specs.

Each spec keeps its own server, namespace, admin token and lock; what this module adds is what
only shows when specs meet: two specs managing one namespace on one server would revoke each
other's tokens on every apply, two specs writing one secret would overwrite each other's
values, and one admin token sent to two servers would hand one server's token to the other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from reconciler.commands.runtime import (
    Environment,
    GlobalOptions,
    check_admin_source,
    server_url,
)
from reconciler.desired import load_spec
from reconciler.desired.admin_rules import admin_overwritten
from reconciler.desired.locations import DeclaredSecret, SecretLocation, secret_locations
from reconciler.desired.lock_place import VaultLockPlace, vault_lock_place
from reconciler.desired.model import AuthType, IdentitySource, Spec, TokenSpec
from reconciler.errors import SpecError, UsageError
from reconciler.inputs import boundary_of, leaves
from reconciler.problems import Problem
from reconciler.sanitize import for_terminal, quoted
from reconciler.server.federation import describe
from reconciler.urls import server_identity

SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULT_TOKEN_VARIABLE = "PACKAGEMANAGER_TOKEN"
STORED_SOURCE = "the admin token in "  # then where the store keeps it


@dataclass(frozen=True)
class SpecFiles:
    paths: tuple[Path, ...]  # in the order given, each directory's specs sorted, no repeats
    notes: tuple[str, ...]  # what each directory held, for people
    refused: tuple[Problem, ...] = ()  # directories and entries not read (links leading out)


@dataclass(frozen=True)
class Target:
    """One spec and the server it is planned against (its own, or --server for all)."""

    spec: Spec
    server: str


def expand(given: Sequence[Path]) -> SpecFiles:
    """Files as given; a directory stands for every *.yaml and *.yml under it (recursively,
    sorted, hidden files and directories skipped). A directory with none is a usage error: a
    run that quietly checks nothing would pass in CI. A missing file is left for the spec
    check to report, with the other problems. A directory, or an entry found under one, that
    a symbolic link leads out of its place is refused (SpecError, exit 3) before anything is
    read; `find` returns such refusals instead, for `validate` to show with every other
    problem."""
    found = find(given)
    if found.refused:
        raise SpecError(found.refused)
    return found


def find(given: Sequence[Path]) -> SpecFiles:
    """`expand`, refusals returned in `refused` rather than raised."""
    paths: list[Path] = []
    notes: list[str] = []
    refused: list[Problem] = []
    for path in given:
        if not path.is_dir():
            paths.append(path)
            continue
        why = leaves(path, boundary_of(path))
        if why is not None:
            refused.append(_refusal(path, why, "a directory of specs"))
            continue
        found, links_out = specs_under(path)
        refused += [_refusal(entry, why, "a spec") for entry, why in links_out]
        if not found and not links_out:
            raise UsageError(
                f"{for_terminal(str(path))} holds no spec (no *.yaml or *.yml file under it): "
                "pass -f with a spec file, or a directory that holds specs"
            )
        listed = ", ".join(str(p) for p in found)
        notes.append(for_terminal(f"{path}: {_count(len(found), 'spec file')}: {listed}"))
        paths.extend(found)
    return SpecFiles(tuple(_unique(paths)), tuple(notes), tuple(refused))


def _refusal(path: Path, why: str, what: str) -> Problem:
    # A pull request can turn any entry into a link to a file on the runner: never read it.
    return Problem(str(path), 0, 0, "", f"not read: {why}, and {what} is read only there")


def specs_under(directory: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The specs under `directory`, sorted by path, and the entries named like one that a
    symbolic link leads out of it (or into a hidden file), each with how, left unread."""
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root) / name
            for name in files
            if name.endswith(SPEC_SUFFIXES) and not name.startswith(".")
        ]
    found.sort(key=lambda p: p.relative_to(directory).parts)
    inside: list[Path] = []
    links_out: list[tuple[Path, str]] = []
    for entry in found:
        why = leaves(entry, directory)
        if why is None:
            inside.append(entry)
        else:
            links_out.append((entry, why))
    return inside, links_out


def _unique(paths: Sequence[Path]) -> Iterator[Path]:
    """The same file named twice (`-f tokens/ -f tokens/a.yaml`) is one spec, not a clash."""
    seen: set[Path] = set()
    for path in paths:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            yield path


def load_all(paths: Sequence[Path], *, now: datetime) -> tuple[Spec, ...]:
    """Every spec, or SpecError with every error of every file: one invalid spec stops the
    whole run before any request (I7)."""
    specs: list[Spec] = []
    errors: list[Problem] = []
    for path in paths:
        try:
            specs.append(load_spec(path, now=now))
        except SpecError as exc:
            errors.extend(exc.problems)
    if errors:
        raise SpecError(errors)
    return tuple(specs)


def resolve(specs: Sequence[Spec], options: GlobalOptions, env: Environment) -> tuple[Target, ...]:
    """Each spec's server, checked before any request: no two specs share a namespace on one
    server (exit 3), and every spec has an admin token that no other server gets (exit 1)."""
    targets = tuple(Target(spec, server_url(options, env, spec)) for spec in specs)
    problems = namespace_clashes([(t.spec, t.server) for t in targets])
    problems += secret_clashes(specs, env.variables)
    if problems:
        raise SpecError(problems)
    check_token_sources(targets, options, env)
    for target in targets:
        check_admin_source(options, env, target.spec)  # raises when none can be had
    return targets


def namespace_clashes(entries: Sequence[tuple[Spec, str | None]]) -> list[Problem]:
    """One problem per spec whose namespace an earlier spec manages on the same server. A
    server of None is "from --server or PACKAGEMANAGER_ADDRESS" (validate, offline), which
    then applies to every spec, so it matches any server."""
    problems: list[Problem] = []
    for index, (spec, server) in enumerate(entries):
        for earlier, earlier_server in entries[:index]:
            if earlier.namespace == spec.namespace and _same_server(server, earlier_server):
                problems.append(_clash(spec, earlier, server or earlier_server))
                break
    return problems


def _same_server(one: str | None, other: str | None) -> bool:
    return one is None or other is None or server_identity(one) == server_identity(other)


def _clash(spec: Spec, earlier: Spec, server: str | None) -> Problem:
    where = f"on {server}" if server else "on the same server (--server or PACKAGEMANAGER_ADDRESS)"
    line = namespace_line(Path(spec.path))
    named = "namespace" if line else "the default namespace"
    return Problem(
        spec.path,
        line,
        1 if line else 0,
        "/namespace",
        f"{named} {spec.namespace!r} {where} is also managed by {earlier.path}: two specs "
        "with one namespace on one server revoke each other's tokens on every apply; give "
        "each spec its own namespace, or merge the two files",
    )


def secret_clashes(specs: Sequence[Spec], env: Mapping[str, str]) -> list[Problem]:
    """One problem per token whose secret an earlier token writes too: the same place
    (reconciler.desired.locations), however each spec's store entries name it. Within one spec
    the spec rules said it already, from the spec alone; what is left there is what `env`
    makes one place (VAULT_ADDR for two vault stores, AWS_REGION for a store without region).
    Offline `validate` passes an empty `env`."""
    first: dict[SecretLocation, tuple[Spec, str]] = {}
    problems: list[Problem] = []
    readers = _admin_readers(specs, env)
    locks = _vault_lock_places(specs, env)
    for spec in specs:
        spec_dir = Path(spec.path).parent
        for index, token in enumerate(spec.tokens):
            config = spec.stores[token.store]
            declared = DeclaredSecret(
                token.store, config.type, config.options, token.secret, token.name, spec_dir, env
            )
            places = secret_locations(declared)
            clash = _lock_clash(spec, token, places, locks) or _reader_clash(
                spec, token, places, readers
            )
            if clash is None:
                shared = next((place for place in places if place in first), None)
                if shared is None:
                    for place in places:
                        first.setdefault(place, (spec, token.name))
                    continue
                other_spec, other = first[shared]
                whose = f"of {other_spec.path}" if other_spec is not spec else "of this spec"
                clash = (
                    f"secret {token.secret!r} in store {token.store!r} is also written by token "
                    f"{other!r} {whose} (both are {shared.shown}): each apply would overwrite "
                    "the other's value; give one of them another secret or store"
                )
            line = token.line
            problems.append(
                Problem(
                    spec.path,
                    line,
                    1 if line else 0,
                    f"/tokens/{index}",
                    f"token {token.name!r}: {clash}",
                )
            )
    return problems


def _lock_clash(
    spec: Spec, token: TokenSpec, places: Sequence[SecretLocation], locks: Sequence[_LockPlace]
) -> str | None:
    """Why the token may not write where another spec's vault lock keeps its record (that
    spec's own were refused by its rules)."""
    for place in places:
        for lock in locks:
            if lock.spec is not spec and lock.place.holds(place):
                return (
                    f"secret {token.secret!r} in store {token.store!r} is where the vault lock "
                    f"of {lock.spec.path} keeps its record ({lock.place.said}, {place.shown}): its "
                    "next apply would overwrite the token's value; give the token another "
                    "secret, or that spec another lock.path"
                )
    return None


def _reader_clash(
    spec: Spec,
    token: TokenSpec,
    places: Sequence[SecretLocation],
    readers: Mapping[SecretLocation, str],
) -> str | None:
    """Why the token may not write where a spec reads its admin token: only a spec's own admin
    token (server.auth.token) may be what another reads."""
    read = next((place for place in places if place in readers), None)
    if read is None or token.name == spec.server.auth.token:
        return None
    return admin_overwritten(token.secret, token.store, readers[read], read)


@dataclass(frozen=True)
class _LockPlace:
    spec: Spec
    place: VaultLockPlace


def _vault_lock_places(specs: Sequence[Spec], env: Mapping[str, str]) -> list[_LockPlace]:
    """Where each spec with a vault lock keeps its record, as its own rules read it."""
    places: list[_LockPlace] = []
    for spec in specs:
        store = spec.lock.options.get("store")
        config = spec.stores.get(store) if isinstance(store, str) else None
        if spec.lock.type != "vault" or config is None or config.type != "vault":
            continue
        declared = DeclaredSecret(
            config.name, config.type, config.options, "", "", Path(spec.path).parent, env
        )
        held = vault_lock_place(
            secret_locations(declared),
            config.options.get("prefix"),
            spec.namespace,
            spec.lock.options.get("path"),
        )
        if held is not None:
            places.append(_LockPlace(spec, held))
    return places


def _admin_readers(specs: Sequence[Spec], env: Mapping[str, str]) -> dict[SecretLocation, str]:
    """Where each spec with server.auth.store reads its admin token, each place with how that
    spec names it."""
    readers: dict[SecretLocation, str] = {}
    for spec in specs:
        stored = spec.server.auth.stored
        config = spec.stores.get(stored.store) if stored is not None else None
        if stored is None or config is None:
            continue
        spec_dir = Path(spec.path).parent
        declared = DeclaredSecret(
            stored.store, config.type, config.options, stored.secret, "", spec_dir, env
        )
        named = f"store {quoted(stored.store)}, secret {quoted(stored.secret)} of {spec.path}"
        for place in secret_locations(declared):
            readers.setdefault(place, named)
    return readers


def refuse_secret_clashes(spec: Spec, env: Environment) -> None:
    """For a run of one spec (which `resolve` does not see): two of its tokens that the
    environment puts in one place are refused (exit 3) before any request, as between specs."""
    problems = secret_clashes([spec], env.variables)
    if problems:
        raise SpecError(problems)


_NAMESPACE_KEY = re.compile(r"namespace\s*:")


def namespace_line(path: Path) -> int:
    """The line of the top-level `namespace:` key (0 when the file leaves it to the default)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    return next((n for n, line in enumerate(lines, 1) if _NAMESPACE_KEY.match(line)), 0)


def token_source(spec: Spec, options: GlobalOptions, env: Environment | None = None) -> str:
    """Where a spec's admin token comes from, as people name it."""
    if options.token_file is not None:
        return f"--token-file {options.token_file}"
    variable = spec.server.token_env or DEFAULT_TOKEN_VARIABLE
    kept = spec.admin_store()
    if kept is not None and env is not None and not env.variables.get(variable, "").strip():
        # Two specs reading one stored admin token: the same token, whatever each calls the
        # store.
        config = spec.stores[kept.store]
        declared = DeclaredSecret(
            kept.store,
            config.type,
            config.options,
            kept.secret,
            spec.server.auth.token or "",
            Path(spec.path).parent,
            env.variables,
        )
        return f"{STORED_SOURCE}{secret_locations(declared)[0].shown}"
    if spec.server.auth.type is AuthType.IDENTITY_FEDERATION:
        # One identity token sent to two servers hands it to whoever runs the other one.
        identity = spec.server.auth.identity_token
        if identity.source is IdentitySource.FILE:
            path = Path(str(identity.value)).expanduser()
            path = path if path.is_absolute() else Path(spec.path).resolve().parent / path
            identity = replace(identity, value=str(path))
        return describe(identity)
    return spec.server.token_env or DEFAULT_TOKEN_VARIABLE


def check_token_sources(
    targets: Sequence[Target], options: GlobalOptions, env: Environment | None = None
) -> None:
    """One admin token is for one server: the same token sent to a second server would hand
    it to whoever runs that server, and it could not authenticate there anyway."""
    servers: dict[str, dict[str, Target]] = {}
    for target in targets:
        source = token_source(target.spec, options, env)
        servers.setdefault(source, {}).setdefault(server_identity(target.server), target)
    for source, reached in servers.items():
        if len(reached) < 2:
            continue
        first, second = list(reached.values())[:2]
        if options.token_file is not None:
            fix = "leave out --token-file and name each server's token with server.token_env"
        elif first.spec.server.auth.type is AuthType.IDENTITY_FEDERATION:
            fix = (
                "give the specs of each server their own identity token "
                "(server.auth.identity_token: another file, or another audience)"
            )
        elif source.startswith(STORED_SOURCE):
            fix = (
                "give each server its own admin token, kept under its own secret "
                "(server.auth.token or server.auth.store)"
            )
        else:
            fix = "give the specs of each server their own variable with server.token_env"
        raise UsageError(
            f"{first.spec.path} (on {first.server}) and {second.spec.path} (on "
            f"{second.server}) would both authenticate with {source}: one server's admin "
            f"token would be sent to another; {fix} (docs/many-specs.md)"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
