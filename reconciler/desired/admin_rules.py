"""Rules for the admin token kept in a store (`server.auth.token`, or `server.auth.store` and
`secret`): what it names must exist, be a global:admin token, and be readable back from where
it is kept, or the next run could not authenticate at all."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from typing import Protocol

from reconciler.desired import effective
from reconciler.desired.effective import mapping
from reconciler.desired.loader import JsonPath
from reconciler.desired.model import AuthType, Scope, SecretFormat
from reconciler.problems import Problem

# Store types whose values ppm-tokens cannot read back: a job's `${{ secrets.NAME }}` does.
WRITE_ONLY = frozenset({"github"})


class _Context(Protocol):
    @property
    def data(self) -> Mapping[str, object]: ...

    def error(self, path: JsonPath, message: str, *, on_key: bool = False) -> Problem: ...


def admin_token_problems(ctx: _Context) -> Iterator[Problem]:
    auth = mapping(mapping(ctx.data.get("server")).get("auth"))
    named = auth.get("token")
    stored = auth.get("store")
    if auth.get("type") == AuthType.IDENTITY_FEDERATION:
        for key in ("token", "store", "secret"):
            if key in auth:
                yield ctx.error(
                    ("server", "auth", key),
                    f"server.auth.{key} is for type token: with identity-federation the admin "
                    "token comes from the server in exchange for an identity token, and lasts "
                    "one run; nothing stores or rotates it",
                    on_key=True,
                )
        return
    if isinstance(named, str) and isinstance(stored, str):
        yield ctx.error(
            ("server", "auth", "store"),
            "server.auth gives both `token` (the declared admin token, read from its own store) "
            "and `store`: keep one",
            on_key=True,
        )
        return
    if isinstance(named, str):
        yield from _self_token(ctx, named)
    elif isinstance(stored, str):
        yield from _reader(ctx, stored, ("server", "auth", "store"), github_reader=False)


def _self_token(ctx: _Context, named: str) -> Iterator[Problem]:
    path: JsonPath = ("server", "auth", "token")
    entries = {
        entry.get("name"): index
        for index, entry in effective.entries(ctx.data)
        if isinstance(entry.get("name"), str)
    }
    index = entries.get(named)
    if index is None:
        names = sorted(str(name) for name in entries)
        close = difflib.get_close_matches(named, names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else "declare it under tokens:"
        yield ctx.error(path, f"server.auth.token names no declared token {named!r}: {hint}")
        return
    token = effective.token(ctx.data, index)
    where = f"token {named!r}, named by server.auth.token as the admin token the runs use,"
    if token.get("state") == "absent":
        yield ctx.error(
            ("tokens", index, "state"),
            f"{where} cannot be absent: the runs would revoke the token they authenticate with",
        )
        return
    scope = token.get("scope")
    if isinstance(scope, str) and scope != Scope.GLOBAL_ADMIN.value:
        yield ctx.error(
            ("tokens", index, "scope"),
            f"{where} has scope {scope}: listing, creating and revoking tokens need global:admin",
        )
    written = effective.setting(ctx.data, index, "format")
    if written.value != SecretFormat.RAW.value and written.path is not None:
        yield ctx.error(
            written.path,
            f"{where} must be stored as the value alone (format raw): it is read back, by "
            "ppm-tokens or by a job's secret, as the token itself",
        )
    store = effective.setting(ctx.data, index, "store")
    if isinstance(store.value, str):
        yield from _reader(
            ctx, store.value, store.path or ("tokens", index), github_reader=True, token=named
        )


def _reader(
    ctx: _Context,
    store: str,
    path: JsonPath,
    *,
    github_reader: bool,
    token: str | None = None,
) -> Iterator[Problem]:
    """The store the admin token is read from must hand its value back (or, for the self
    token, be a GitHub secret, which the job reads)."""
    entry = mapping(mapping(ctx.data.get("stores")).get(store))
    kind = entry.get("type")
    if not entry:
        if token is None:  # a token's unknown store is reported by the token's rules
            declared = ", ".join(sorted(mapping(ctx.data.get("stores")))) or "none"
            yield ctx.error(path, f"server.auth.store {store!r} is not declared ({declared})")
        return
    what = f"token {token!r}" if token else "server.auth.store"
    if kind in WRITE_ONLY and not github_reader:
        yield ctx.error(
            path,
            f"{what}: store {store!r} ({kind}) cannot hand its values back; pass the secret to "
            "the job as PACKAGEMANAGER_TOKEN (`${{ secrets.NAME }}`) instead of server.auth.store",
        )
    if kind == "command" and "read_value_command" not in entry:
        yield ctx.error(
            ("stores", store),
            f"store {store!r} keeps the admin token ({what}) but has no read_value_command, so "
            "no run could read it back: add one that prints the stored value",
        )
