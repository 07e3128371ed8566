"""Semantic rules: what the schema cannot say (cross-references, limits, time, the file system).

The rules run on the plain data even when the schema found problems, so one run reports
everything; each rule checks the types it relies on and skips what the schema already reported.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from reconciler.desired import effective, vault_rules
from reconciler.desired.admin_rules import admin_overwritten, admin_reader, admin_token_problems
from reconciler.desired.effective import Sourced, mapping
from reconciler.desired.loader import Document, JsonPath
from reconciler.desired.locations import (
    DeclaredSecret,
    SecretLocation,
    resolve_store_path,
    secret_locations,
)
from reconciler.desired.lock_place import lock_place_problems
from reconciler.desired.model import ALL_RESOURCES, Scope
from reconciler.desired.server_rules import auth_problems
from reconciler.desired.store_rules import KEY_RULES
from reconciler.desired.store_settings import store_settings
from reconciler.desired.text_rules import unsafe_text, user_problems
from reconciler.desired.timing import (
    duration_bounds,
    expiry_problems,
    policy_problems,
    rotation_problems,
)
from reconciler.desired.where import describe
from reconciler.ownership import DESCRIPTION_LIMIT, marker, stored_description
from reconciler.problems import Problem, Severity
from reconciler.sanitize import EXCERPT, cut, has_unsafe_characters, quoted
from reconciler.urls import UrlError, canonical_url, without_credentials

GitRootFinder = Callable[[Path], Path | None]

_DEPRECATED = {Scope.METADATA_READ, Scope.METADATA_ADMIN}


def find_git_root(path: Path) -> Path | None:
    """The git work tree holding `path` (or where it would be created), if any."""
    try:
        # Resolved as the store will open it: `..` may leave a repository, a symlink may enter one.
        candidate = path.resolve()
        for directory in (candidate, *candidate.parents):
            if (directory / ".git").exists():
                return directory
    except (OSError, ValueError):  # unreadable directories, a NUL in the path
        return None
    return None


def _shown(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, ValueError):
        return path


@dataclass(frozen=True)
class Context:
    document: Document
    now: datetime
    base_dir: Path  # the spec file's directory
    git_root_of: GitRootFinder

    @property
    def data(self) -> Mapping[str, object]:
        return mapping(self.document.data)

    def error(self, path: JsonPath, message: str, *, on_key: bool = False) -> Problem:
        return self.document.problem(path, message, on_key=on_key)

    def clock_error(self, path: JsonPath, message: str) -> Problem:
        """An error the date makes (Problem.clock): the same value was fine on an earlier day."""
        return replace(self.error(path, message), clock=True)

    def warning(self, path: JsonPath, message: str) -> Problem:
        return self.document.problem(path, message, severity=Severity.WARNING)

    def name(self, path: JsonPath) -> str:
        """How messages name the field at `path`: "token 'ds-read' expires"."""
        return describe(self.data, path)


def character_problems(document: Document) -> list[Problem]:
    """Unsafe characters anywhere in the document. Checked before the schema, so a line break
    or an escape in a name is reported as what it is rather than as a pattern mismatch."""
    ctx = Context(document, datetime.min, Path(), find_git_root)
    return list(unsafe_text(ctx))


def rule_problems(
    document: Document, *, now: datetime, base_dir: Path, git_root_of: GitRootFinder
) -> list[Problem]:
    ctx = Context(document, now, base_dir, git_root_of)
    problems: list[Problem] = []
    whole_file = (
        _unique_names,
        _defaults,
        policy_problems,
        duration_bounds,
        _stores,
        _unique_secrets,
        _lock,
        _lock_apart,
        _token_env,
        auth_problems,
        store_settings,
        _server_url,
        admin_token_problems,
    )
    for rule in whole_file:
        problems.extend(rule(ctx))
    for index, token in effective.entries(document.data):
        if token.get("state") == "absent":
            problems.extend(_store_reference(ctx, index))
            continue
        for token_rule in (
            user_problems,
            _description,
            _scope,
            _expiry,
            _rotation,
            _store_reference,
        ):
            problems.extend(token_rule(ctx, index))
    return problems


# -- whole-file rules -------------------------------------------------------------------------


_LOCK_STORE_TYPES = {"file": "file", "vault": "vault"}  # lock type -> the store type it uses


def _lock(ctx: Context) -> Iterator[Problem]:
    """`lock.store` names a store of the lock's own type; dynamodb needs `lock.table`."""
    lock = mapping(ctx.data.get("lock"))
    kind = lock.get("type")
    if not isinstance(kind, str):
        return
    if kind == "dynamodb" and "table" not in lock:
        yield ctx.error(("lock",), "lock type dynamodb needs `table`: the DynamoDB table to use")
    path = lock.get("path")
    if kind == "vault" and isinstance(path, str) and (problem := vault_rules.key_problem(path)):
        yield ctx.error(("lock", "path"), f"lock.path {quoted(path)} {problem}")
    wanted = _LOCK_STORE_TYPES.get(kind)
    store = lock.get("store")
    if wanted is None:
        if isinstance(store, str):
            yield ctx.error(("lock", "store"), f"lock type {kind} takes no `store`")
        return
    stores = mapping(ctx.data.get("stores"))
    of_type = sorted(n for n, s in stores.items() if mapping(s).get("type") == wanted)
    hint = (
        f"stores of type {wanted}: {', '.join(of_type)}"
        if of_type
        else (f"declare a store of type {wanted} under stores:")
    )
    if store is None:
        yield ctx.error(
            ("lock",),
            f"lock type {kind} needs `store`: the {wanted} store whose location it uses ({hint})",
        )
    elif isinstance(store, str) and store not in stores:
        yield ctx.error(("lock", "store"), f"lock.store {quoted(store)} is not declared ({hint})")
    elif isinstance(store, str) and mapping(stores[store]).get("type") != wanted:
        actual = mapping(stores[store]).get("type")
        yield ctx.error(
            ("lock", "store"),
            f"lock type {kind} needs a store of type {wanted}, but {quoted(store)} is of type "
            f"{actual} ({hint})",
        )


def _lock_apart(ctx: Context) -> Iterator[Problem]:
    stores = mapping(ctx.data.get("stores"))
    return lock_place_problems(ctx, lambda s, key, name: _locations(ctx, stores, s, key, name))


_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _token_env(ctx: Context) -> Iterator[Problem]:
    """`server.token_env` names a variable. Its value is never quoted: a token pasted here by
    mistake must not reach the terminal or a CI log."""
    name = mapping(ctx.data.get("server")).get("token_env")
    if isinstance(name, str) and name and not _VARIABLE_NAME.fullmatch(name):
        yield ctx.error(
            ("server", "token_env"),
            "server.token_env must be the name of an environment variable (letters, digits "
            "and _, like PPM_EU_TOKEN), never a token (the value is not shown); if it is a token, "
            "revoke that token",
        )


def _server_url(ctx: Context) -> Iterator[Problem]:
    """`server.url` is an address the server can be known by (reconciler.urls): the schema
    checks its scheme, this what else it may not carry."""
    url = mapping(ctx.data.get("server")).get("url")
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        return  # the schema reports it
    try:
        canonical_url(url)
    except UrlError as exc:
        yield ctx.error(("server", "url"), f"server.url {without_credentials(url)!r} {exc}")


def _unique_names(ctx: Context) -> Iterator[Problem]:
    first: dict[str, int] = {}
    for index, token in effective.entries(ctx.data):
        name = token.get("name")
        if not isinstance(name, str):
            continue
        if name in first:
            line = ctx.document.at(("tokens", first[name])).line
            path = ("tokens", index, "name")
            yield ctx.error(
                path,
                f"{ctx.name(path)}: duplicate token name {quoted(name)} (first at line {line})",
            )
        else:
            first[name] = index


def _defaults(ctx: Context) -> Iterator[Problem]:
    defaults = mapping(ctx.data.get("defaults"))
    if isinstance(defaults.get("store"), str):
        yield from _unknown_store(ctx, Sourced(defaults["store"], ("defaults", "store")))
    if "expires" in defaults:
        expires = Sourced(defaults["expires"], ("defaults", "expires"))
        yield from expiry_problems(ctx, expires)
    else:
        expires = Sourced(effective.BUILTIN_EXPIRES, None)
        inheriting = any(
            "expires" not in token and token.get("state") != "absent"
            for _, token in effective.entries(ctx.data)
        )
        if inheriting:
            yield from expiry_problems(ctx, expires)
    yield from rotation_problems(ctx, None, expires, report_defaults=True)


def _stores(ctx: Context) -> Iterator[Problem]:
    for name, store in mapping(ctx.data.get("stores")).items():
        entry = mapping(store)
        if entry.get("type") != "file" or not isinstance(entry.get("path"), str):
            continue
        written = str(entry["path"])
        try:
            path = resolve_store_path(written, ctx.base_dir)
        except RuntimeError:  # no home directory to expand ~ into; the store will say so
            continue
        root = ctx.git_root_of(path)
        if root is not None:
            yield ctx.error(
                ("stores", name, "path"),
                f"store {quoted(name)} path: {cut(written)} ({_shown(path)}) is inside the git "
                "work tree "
                f"{root}: token values must stay out of repositories; use a directory outside it, "
                "such as ~/.local/share/ppm-tokens",
            )


def _unique_secrets(ctx: Context) -> Iterator[Problem]:
    """No two tokens write one place, whichever store entries they name it through (see
    reconciler.desired.locations): what the spec says, without the environment's overrides,
    which the several-spec checks add."""
    first: dict[SecretLocation, tuple[str, str, str, int]] = {}
    names: set[str] = set()
    stores = mapping(ctx.data.get("stores"))
    admin = _admin_reader(ctx, stores)
    for index, token in effective.entries(ctx.data):
        store = effective.setting(ctx.data, index, "store").value
        secret = effective.secret_name(ctx.data, index)
        name = token.get("name")
        if not (isinstance(store, str) and isinstance(secret.value, str) and isinstance(name, str)):
            continue
        if name in names:
            continue  # a duplicate name: that error says it all
        names.add(name)
        places = _locations(ctx, stores, store, secret.value, name)
        read = next((place for place in places if place in admin), None)
        if read is not None:
            where = secret.path or ("tokens", index)
            clash = admin_overwritten(secret.value, store, admin[read], read)
            yield ctx.error(where, f"{ctx.name(where)}: {clash}")
            continue
        shared = next((place for place in places if place in first), None)
        if shared is None:
            line = ctx.document.at(("tokens", index)).line
            for place in places:
                first.setdefault(place, (name, store, secret.value, line))
            continue
        other, other_store, other_secret, line = first[shared]
        where = secret.path or ("tokens", index)
        written = (
            ""
            if (other_store, other_secret) == (store, secret.value)
            else f" as {quoted(other_secret)} in store {quoted(other_store)} (both are "
            f"{shared.shown})"
        )
        yield ctx.error(
            where,
            f"{ctx.name(where)}: secret {quoted(secret.value)} in store {quoted(store)} is already "
            f"used by token {quoted(other)} (line {line}){written}: each token needs its own "
            "secret",
        )


def _admin_reader(ctx: Context, stores: Mapping[str, object]) -> dict[SecretLocation, str]:
    """The places server.auth.store and secret read the admin token from, each with how the
    spec names it; empty without them."""
    read = admin_reader(ctx.data)
    if read is None:
        return {}
    store, key = read
    named = f"store {quoted(store)}, secret {quoted(key)}"
    return dict.fromkeys(_locations(ctx, stores, store, key, ""), named)


def _locations(
    ctx: Context, stores: Mapping[str, object], store: str, key: str, token: str
) -> tuple[SecretLocation, ...]:
    entry = mapping(stores.get(store))
    kind = entry.get("type")
    if not isinstance(kind, str):  # an undeclared store, reported as such: by its name
        return (SecretLocation(("store", store, key), f"secret {key} of store {store}"),)
    declared = DeclaredSecret(store, kind, entry, key, token, ctx.base_dir, {})
    return secret_locations(declared)


# -- per-token rules --------------------------------------------------------------------------


def _description(ctx: Context, index: int) -> Iterator[Problem]:
    token = effective.token(ctx.data, index)
    description, name = token.get("description"), token.get("name")
    if not (isinstance(description, str) and isinstance(name, str)):
        return
    namespace = effective.namespace(ctx.data)
    over = len(stored_description(description, namespace, name)) - DESCRIPTION_LIMIT
    if over > 0:
        tag = " " + marker(namespace, name)
        shown = f" {quoted(tag)}" if len(tag) <= EXCERPT else ""  # a long one is the name's
        path = ("tokens", index, "description")
        yield ctx.error(
            path,
            f"{ctx.name(path)} is {over} character{'s' if over != 1 else ''} too long: PPM "
            f"stores at most {DESCRIPTION_LIMIT}, counting the ownership marker{shown} "
            f"({len(tag)} characters)",
        )


def _scope(ctx: Context, index: int) -> Iterator[Problem]:
    token = effective.token(ctx.data, index)
    try:
        scope = Scope(str(token.get("scope")))
    except ValueError:
        return
    resources = token.get("resources", [])
    if resources == ALL_RESOURCES:
        resources = [ALL_RESOURCES]  # the shorthand `resources: "*"`
    if not isinstance(resources, list):
        return  # the schema reports the type
    names = resources
    path = ("tokens", index)
    field = ctx.name(path)
    if scope in _DEPRECATED:
        yield ctx.warning(
            (*path, "scope"), f"{field} scope {scope} is deprecated by PPM: use repos:read"
        )
    kind = scope.resource_kind
    if kind is None:
        if names:
            yield ctx.error(
                (*path, "resources"), f"{field}: {scope} takes no resources: remove `resources`"
            )
        return
    noun = "repository" if kind == "repo" else "source"
    if not names:
        yield ctx.error(
            (*path, "scope"),
            f'{field}: {scope} needs {noun} names in `resources` (or "*" for all {noun} names)',
        )
    elif ALL_RESOURCES in names and len(names) > 1:
        yield ctx.error(
            (*path, "resources"),
            f'{field} resources: "*" means every {noun} and must be the only entry',
        )


def _expiry(ctx: Context, index: int) -> Iterator[Problem]:
    expires = effective.setting(ctx.data, index, "expires")
    if expires.from_token:
        yield from expiry_problems(ctx, expires)


def _rotation(ctx: Context, index: int) -> Iterator[Problem]:
    expires = effective.setting(ctx.data, index, "expires")
    yield from rotation_problems(ctx, index, expires, report_defaults=False)


def _store_reference(ctx: Context, index: int) -> Iterator[Problem]:
    store = effective.setting(ctx.data, index, "store")
    if store.value is None:
        name = mapping(ctx.data["tokens"][index]).get("name")  # type: ignore[index]
        yield ctx.error(
            ("tokens", index),
            f"token {quoted(name)} has no store: set `store:` on it or `defaults.store`",
        )
        return
    if not isinstance(store.value, str):
        return
    if store.from_token:
        yield from _unknown_store(ctx, store)
    kind = mapping(mapping(ctx.data.get("stores")).get(store.value)).get("type")
    rule = KEY_RULES.get(kind) if isinstance(kind, str) else None
    if rule is not None:
        yield from _secret_key(ctx, effective.secret_name(ctx.data, index), store.value, rule)


# -- shared checks ----------------------------------------------------------------------------


def _unknown_store(ctx: Context, store: Sourced) -> Iterator[Problem]:
    stores = sorted(mapping(ctx.data.get("stores")))
    name = str(store.value)
    if name in stores or store.path is None:
        return
    if not stores:
        yield ctx.error(
            store.path,
            f"{ctx.name(store.path)}: unknown store {quoted(name)}: no `stores:` are declared",
        )
        return
    close = difflib.get_close_matches(name, stores, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}?" if close else f"declared: {', '.join(stores)}"
    yield ctx.error(store.path, f"{ctx.name(store.path)}: unknown store {quoted(name)}: {hint}")


def _secret_key(
    ctx: Context, secret: Sourced, store: str, rule: Callable[[str], str | None]
) -> Iterator[Problem]:
    """The store's own rules for the secret's key (which defaults to the token name)."""
    value = secret.value
    if not isinstance(value, str) or secret.path is None or has_unsafe_characters(value):
        return  # the schema reports the type, unsafe_text the characters
    reason = rule(value)
    if reason is None:
        return
    message = (
        f"{ctx.name(secret.path)}: {quoted(value)} cannot be a secret in store "
        f"{quoted(store)}: {reason}"
    )
    if secret.path[-1] == "name":
        message += " (the secret name defaults to the token name: set `secret:`)"
    yield ctx.error(secret.path, message)
