"""Several specs in one run: the files `-f` names (directories expanded), every spec checked
before anything is sent anywhere, and the rules that hold between specs.

Each spec keeps its own server, namespace, admin token and lock; what this module adds is what
only shows when specs meet: two specs managing one namespace on one server would revoke each
other's tokens on every apply, two specs writing one secret would overwrite each other's
values, and one admin token sent to two servers would hand one server's token to the other.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from reconciler.commands.runtime import Environment, GlobalOptions, admin_token, server_url
from reconciler.errors import SpecError, UsageError
from reconciler.problems import Problem
from reconciler.spec import load_spec
from reconciler.spec.model import Spec
from reconciler.spec.rules import resolve_store_path
from reconciler.urls import server_identity

SPEC_SUFFIXES = (".yaml", ".yml")
DEFAULT_TOKEN_VARIABLE = "PACKAGEMANAGER_TOKEN"


@dataclass(frozen=True)
class SpecFiles:
    paths: tuple[Path, ...]  # in the order given, each directory's specs sorted, no repeats
    notes: tuple[str, ...]  # what each directory held, for people


@dataclass(frozen=True)
class Target:
    """One spec and the server it is planned against (its own, or --server for all)."""

    spec: Spec
    server: str


def expand(given: Sequence[Path]) -> SpecFiles:
    """Files as given; a directory stands for every *.yaml and *.yml under it (recursively,
    sorted, hidden files and directories skipped). A directory with none is a usage error: a
    run that quietly checks nothing would pass in CI. A missing file is left for the spec
    check to report, with the other problems."""
    paths: list[Path] = []
    notes: list[str] = []
    for path in given:
        if not path.is_dir():
            paths.append(path)
            continue
        found = specs_under(path)
        if not found:
            raise UsageError(
                f"{path} holds no spec (no *.yaml or *.yml file under it): "
                "pass -f with a spec file, or a directory that holds specs"
            )
        listed = ", ".join(str(p) for p in found)
        notes.append(f"{path}: {_count(len(found), 'spec file')}: {listed}")
        paths.extend(found)
    return SpecFiles(tuple(_unique(paths)), tuple(notes))


def specs_under(directory: Path) -> list[Path]:
    found: list[Path] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            Path(root) / name
            for name in files
            if name.endswith(SPEC_SUFFIXES) and not name.startswith(".")
        ]
    return sorted(found, key=lambda p: p.relative_to(directory).parts)


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
    problems = namespace_clashes([(t.spec, t.server) for t in targets]) + secret_clashes(specs)
    if problems:
        raise SpecError(problems)
    check_token_sources(targets, options)
    for target in targets:
        admin_token(options, env, target.spec)  # raises when the spec's variable is not set
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


def secret_clashes(specs: Sequence[Spec]) -> list[Problem]:
    """One problem per token whose secret a token of an earlier spec writes too: the same store
    (same type and settings; a file store's directory resolved) and the same key. Within one
    spec the spec rules say it already."""
    first: dict[tuple[object, ...], tuple[Spec, str]] = {}
    problems: list[Problem] = []
    for spec in specs:
        mine: dict[tuple[object, ...], str] = {}
        for index, token in enumerate(spec.tokens):
            key = (*store_identity(spec, token.store), token.secret)
            mine.setdefault(key, token.name)
            earlier = first.get(key)
            if earlier is not None:
                other_spec, other = earlier
                problems.append(
                    Problem(
                        spec.path,
                        token.line,
                        1 if token.line else 0,
                        f"/tokens/{index}",
                        f"token {token.name!r}: secret {token.secret!r} in store "
                        f"{token.store!r} is also written by token {other!r} of "
                        f"{other_spec.path}: the two specs would overwrite each other's "
                        "values; give one of them another secret or store",
                    )
                )
        for key, name in mine.items():
            first.setdefault(key, (spec, name))
    return problems


def store_identity(spec: Spec, store: str) -> tuple[object, ...]:
    """What makes two stores one: their type and settings, a file store's path as it opens."""
    config = spec.stores[store]
    options = dict(config.options)
    path = options.get("path")
    if config.type == "file" and isinstance(path, str):
        resolved = resolve_store_path(path, Path(spec.path).parent)
        with contextlib.suppress(OSError, ValueError):
            resolved = resolved.resolve()  # through symlinks, as the store opens it
        options["path"] = str(resolved)
    return (config.type, *sorted((key, repr(value)) for key, value in options.items()))


_NAMESPACE_KEY = re.compile(r"namespace\s*:")


def namespace_line(path: Path) -> int:
    """The line of the top-level `namespace:` key (0 when the file leaves it to the default)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return 0
    return next((n for n, line in enumerate(lines, 1) if _NAMESPACE_KEY.match(line)), 0)


def token_source(spec: Spec, options: GlobalOptions) -> str:
    """Where a spec's admin token comes from, as people name it."""
    if options.token_file is not None:
        return f"--token-file {options.token_file}"
    return spec.server.token_env or DEFAULT_TOKEN_VARIABLE


def check_token_sources(targets: Sequence[Target], options: GlobalOptions) -> None:
    """One admin token is for one server: the same token sent to a second server would hand
    it to whoever runs that server, and it could not authenticate there anyway."""
    servers: dict[str, dict[str, Target]] = {}
    for target in targets:
        source = token_source(target.spec, options)
        servers.setdefault(source, {}).setdefault(server_identity(target.server), target)
    for source, reached in servers.items():
        if len(reached) < 2:
            continue
        first, second = list(reached.values())[:2]
        fix = (
            "leave out --token-file and name each server's token with server.token_env"
            if options.token_file is not None
            else "give the specs of each server their own variable with server.token_env"
        )
        raise UsageError(
            f"{first.spec.path} (on {first.server}) and {second.spec.path} (on "
            f"{second.server}) would both authenticate with {source}: one server's admin "
            f"token would be sent to another; {fix} (README: Many specs in one repository)"
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
